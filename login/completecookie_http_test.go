package login

import (
	"net/http"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// setCookieNamed returns the Set-Cookie of resp that sets the cookie
// name, or nil.
func setCookieNamed(resp *response, name string) *http.Cookie {
	for _, line := range resp.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == name {
			return c
		}
	}
	return nil
}

// TestCodeStepNoSessionCookieOnFailedCompletion: a code step whose
// completion failed and rolled back (CompleteSignIn returns an error
// before it writes anything) answers 503 without setting the session
// cookie: the cookie is set only once the completion has committed, so
// the browser never holds the id of a session that does not exist. The
// retry with the same code then signs in, and sets the cookie of the
// session it made. For the authenticator app, emailed codes and recovery
// codes, SQLite and PostgreSQL. (A completion that did commit with its
// answer lost is TestRetryAfterLostAnswer's.)
func TestCodeStepNoSessionCookieOnFailedCompletion(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		for _, factor := range []string{factorTOTP, factorEmail, factorRecovery} {
			t.Run(backend+"/"+factor, func(t *testing.T) {
				fault := &completionFault{}
				hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
				var (
					u    *storage.User
					code string
					amr  = amrTOTP
					acr  = ACRMFA
				)
				switch factor {
				case factorEmail:
					u = hs.user("cookie-email@example.com", func(u *storage.User) { u.EmailOTP = true })
					amr, acr = amrEmail, ACREmail
				default:
					u = hs.user("cookie-"+factor+"@example.com", nil)
					secret, codes := hs.enrollTOTP(u)
					code = hs.totpCode(secret)
					if factor == factorRecovery {
						code = codes[0]
					}
				}
				b := hs.browser("192.0.2.140")
				id, _, form := hs.codeStep(b, u.Email, nil)
				if factor == factorEmail {
					code, _ = hs.mailCode(u.Email)
				}
				form = with(with(form, "method", factor), "code", code)
				name := hs.h.CookieName(sessionCookie)
				before := b.cookie(sessionCookie)

				fault.armed.Store(true)
				first := b.post("/login/otp", form)
				if first.status != http.StatusServiceUnavailable {
					t.Fatalf("the code post whose completion failed = %d %q, want 503", first.status, alert(first.body))
				}
				if fault.armed.Load() {
					t.Fatal("the fault did not fire")
				}
				if c := setCookieNamed(first, name); c != nil {
					t.Errorf("the 503 of a completion that rolled back sets the session cookie: %s=%s (Max-Age %d)", c.Name, c.Value, c.MaxAge)
				}
				if got := b.cookie(sessionCookie); got != before {
					t.Errorf("the browser's session cookie after the 503 = %q, want it unchanged (%q)", got, before)
				}

				retry := b.post("/login/otp", form)
				c := setCookieNamed(retry, name)
				if c == nil || c.Value == "" {
					t.Errorf("the retry that signs in sets no session cookie")
				}
				hs.expectDone(b, id, retry, amr, acr)
				if c != nil {
					sess, err := hs.store.SessionByID(t.Context(), sessionID(c.Value), hs.clock.Now())
					if err != nil || sess.UserID != u.ID {
						t.Errorf("the retry's session cookie names no session of %s: %v", u.ID, err)
					}
				}
			})
		}
	}
}
