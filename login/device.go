package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// A browser that has signed in to an account gets a device cookie for it.
// At the password step, a valid device cookie for the account being
// signed in to moves the account's failure counter to one of that device
// alone (lockout.Limiter.ReserveOnDevice), and so does an address the
// account signed in from successfully in the last 30 days (the audit
// log): wrong passwords sent from anywhere else cannot lock the owner out
// of their own browser or address, while they still block the account
// everywhere else, and the per-IP limit applies to everyone. The cookie holds a random id and a MAC binding it
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
		Name:     h.CookieName(deviceCookie),
		Value:    id + "." + h.deviceMAC(id, u),
		Path:     h.CookiePath(),
		MaxAge:   int(deviceLifetime / time.Second),
		HttpOnly: true,
		Secure:   h.Secure,
		// Only the same-site password form reads it.
		SameSite: http.SameSiteStrictMode,
	})
}

// knownAddressAge is how far back a successful sign-in from an address
// makes it one of the account's own (knownAddress).
const knownAddressAge = 30 * 24 * time.Hour

// passwordDevice returns the counter of failures a password attempt for u
// from r counts on instead of u's account counter, or "" for the account
// counter: the browser's device cookie for u, or else the client address
// when u signed in successfully from it within knownAddressAge. So wrong
// passwords sent from elsewhere block the account everywhere but in its
// owner's browser and at its owner's address.
func (h *Handler) passwordDevice(r *http.Request, u *storage.User, ip netip.Addr) (string, error) {
	if device := h.deviceOf(r, u); device != "" {
		return device, nil
	}
	if u == nil {
		return "", nil
	}
	known, err := h.Store.Events(r.Context(), storage.EventFilter{UserID: u.ID, IP: ip.String(),
		Type: storage.EventSigninSucceeded, Since: h.Now().Add(-knownAddressAge), Limit: 1})
	if err != nil {
		return "", fmt.Errorf("load sign-ins from this address: %w", err)
	}
	if len(known) == 0 {
		return "", nil
	}
	return "ip-" + lockout.IPKey(ip), nil
}

// deviceOf returns the id of the browser's device cookie when it was
// issued for u with its current password, or "".
func (h *Handler) deviceOf(r *http.Request, u *storage.User) string {
	c, err := r.Cookie(h.CookieName(deviceCookie))
	if err != nil || len(c.Value) > 64 || u == nil {
		return ""
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || len(id) != 22 || !hmac.Equal([]byte(mac), []byte(h.deviceMAC(id, u))) {
		return ""
	}
	return id
}
