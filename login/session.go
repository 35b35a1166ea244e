package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Cookie names; under https they carry the __Host- prefix, which pins them
// to this host, path / and Secure (__Secure- under an issuer's path:
// CookieName).
const (
	sessionCookie = "gh_session"
	flowCookie    = "gh_flow"
)

func (h *Handler) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     h.CookieName(base),
		Value:    value,
		Path:     h.CookiePath(),
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   h.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{
		Name: h.CookieName(base), Value: "", Path: h.CookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: h.Secure, SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) cookieValue(r *http.Request, base string) string {
	c, err := r.Cookie(h.CookieName(base))
	if err != nil || len(c.Value) != 43 { // 32 random bytes, base64url
		return ""
	}
	return c.Value
}

// newSecret returns 256 random bits, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionID is the stored form of a session cookie value.
func sessionID(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

func bindingHash(flow string) []byte {
	sum := sha256.Sum256([]byte("flow:" + flow))
	return sum[:]
}

// SessionID returns the stored id of the browser's SSO session, or "".
func (h *Handler) SessionID(r *http.Request) string {
	v := h.cookieValue(r, sessionCookie)
	if v == "" {
		return ""
	}
	return sessionID(v)
}

// ClearSession deletes the browser's session cookie.
func (h *Handler) ClearSession(w http.ResponseWriter) { h.clearCookie(w, sessionCookie) }

// currentSession returns the browser's live session, or nil.
func (h *Handler) currentSession(r *http.Request) (*storage.Session, error) {
	id := h.SessionID(r)
	if id == "" {
		return nil, nil
	}
	s, err := h.Store.SessionByID(r.Context(), id, h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newSession is a new session for u, signed in now with amr, and the
// cookie value that names it; nothing is stored yet.
func (h *Handler) newSession(r *http.Request, u *storage.User, amr []string) (*storage.Session, string) {
	now := h.Now()
	value := newSecret()
	return &storage.Session{
		ID:         sessionID(value),
		UserID:     u.ID,
		AuthTime:   now,
		AMR:        amr,
		IP:         h.ClientIP(r).String(),
		UserAgent:  truncate(r.UserAgent(), 256),
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(h.SessionLifetime),
		IdleUntil:  now.Add(h.SessionIdle),
	}, value
}

// replaceSession makes the stored session s, new, replace the browser's
// session, if it has one (sessionCommitted), so no session id survives a
// sign-in (no fixation). A new session of the same user continues the old
// one (its clients and sid, for back-channel logout); another user's old
// session ends.
func (h *Handler) replaceSession(r *http.Request, s *storage.Session) error {
	if old := h.SessionID(r); old != "" {
		return h.Store.ReplaceSession(r.Context(), old, s.ID, s.CreatedAt)
	}
	return nil
}

// rotateSession gives the browser's session sess a new id and cookie after
// a step that raised what it proves, a re-authentication (reauth: its
// time becomes the session's ReauthAt) or a password change, so that a
// session id learnt before the step (a fixed or stolen cookie) is worth
// nothing after it. The session keeps its user, factors, times, grants
// and sid. It returns r with the new cookie, for the forms of a page that
// the request still renders.
func (h *Handler) rotateSession(w http.ResponseWriter, r *http.Request, sess *storage.Session, reauth bool) (*http.Request, error) {
	now := h.Now()
	var reauthAt time.Time
	if reauth {
		reauthAt = now
	}
	value := newSecret()
	err := h.Store.RotateSession(r.Context(), sess.ID, sessionID(value), now, reauthAt)
	if errors.Is(err, storage.ErrNotFound) {
		// Ended (or rotated by a parallel request) meanwhile.
		return nil, userError(http.StatusUnauthorized, "Not signed in", "You are not signed in.")
	}
	if err != nil {
		return nil, fmt.Errorf("rotate session: %w", err)
	}
	sess.ID = sessionID(value)
	if reauth {
		sess.ReauthAt = reauthAt
	}
	h.setCookie(w, sessionCookie, value, sess.ExpiresAt.Sub(now))
	return withCookie(r, h.CookieName(sessionCookie), value), nil
}

// withCookie returns a shallow copy of r whose cookie name has value
// instead of what r carried.
func withCookie(r *http.Request, name, value string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Header.Del("Cookie")
	for _, c := range r.Cookies() {
		if c.Name != name {
			r2.AddCookie(c)
		}
	}
	r2.AddCookie(&http.Cookie{Name: name, Value: value})
	return r2
}

// flowValue returns the browser's flow cookie, setting a new one if absent.
func (h *Handler) flowValue(w http.ResponseWriter, r *http.Request) string {
	if v := h.cookieValue(r, flowCookie); v != "" {
		return v
	}
	v := newSecret()
	h.setCookie(w, flowCookie, v, 0)
	return v
}

// csrfToken derives the form token from a cookie value the page's browser
// holds; a cross-site attacker can read neither.
func (h *Handler) csrfToken(purpose, cookie string) string {
	m := hmac.New(sha256.New, h.CSRFKey[:])
	m.Write([]byte(purpose + ":" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) checkCSRF(r *http.Request, purpose, cookie string) error {
	got := r.PostForm.Get("csrf")
	if cookie == "" || got == "" || !hmac.Equal([]byte(got), []byte(h.csrfToken(purpose, cookie))) {
		return userError(http.StatusForbidden, "Request refused", msgForbidden)
	}
	return nil
}

// sessionCSRF is the CSRF token of the forms of a signed-in browser (the
// account area, sign-out), derived from its session cookie.
func (h *Handler) sessionCSRF(r *http.Request) string {
	return h.csrfToken("session", h.cookieValue(r, sessionCookie))
}

// checkSessionCSRF checks the posted form's sessionCSRF.
func (h *Handler) checkSessionCSRF(r *http.Request) error {
	return h.checkCSRF(r, "session", h.cookieValue(r, sessionCookie))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
