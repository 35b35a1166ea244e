package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A browser that has signed in to an account gets a device cookie for it.
// At the password step, a valid device cookie for the account being
// signed in to moves the account's failure counter to one of that device
// alone (lockout.Limiter.ReserveOnDevice): wrong passwords sent from
// anywhere else cannot lock the owner out of their own browser, while
// they still block the account everywhere else, and the per-IP limit
// applies to everyone. The cookie holds a random id and a MAC binding it
// to the user and their password hash; nothing is stored, and a password
// change or reset voids every device cookie.

const (
	deviceCookie   = "gh_device"
	deviceLifetime = 180 * 24 * time.Hour
)

// deviceMAC binds the device id to u and to u's password hash: a new
// password voids every device cookie issued before.
func (h *Handler) deviceMAC(id string, u *storage.User) string {
	m := hmac.New(sha256.New, h.CSRFKey[:])
	m.Write([]byte("device:" + u.ID + ":" + id + ":"))
	m.Write([]byte(u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// setDevice gives the browser a device cookie for u, once it has signed
// in.
func (h *Handler) setDevice(w http.ResponseWriter, u *storage.User) {
	b := make([]byte, 16)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     h.cookieName(deviceCookie),
		Value:    id + "." + h.deviceMAC(id, u),
		Path:     "/",
		MaxAge:   int(deviceLifetime / time.Second),
		HttpOnly: true,
		Secure:   h.Secure,
		// Only the same-site password form reads it.
		SameSite: http.SameSiteStrictMode,
	})
}

// deviceOf returns the id of the browser's device cookie when it was
// issued for u with its current password, or "".
func (h *Handler) deviceOf(r *http.Request, u *storage.User) string {
	c, err := r.Cookie(h.cookieName(deviceCookie))
	if err != nil || len(c.Value) > 64 || u == nil {
		return ""
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || len(id) != 22 || !hmac.Equal([]byte(mac), []byte(h.deviceMAC(id, u))) {
		return ""
	}
	return id
}
