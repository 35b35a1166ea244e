package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var (
	amrPassword = []string{"pwd"}
	amrTOTP     = []string{"pwd", "otp", "mfa"}
	amrEmail    = []string{"pwd", "email", "mfa"}
)

// blocked10 is the block message as a fresh 10-minute block shows it.
var blocked10 = strings.Replace(msgBlocked, "%d", "10", 1)

// wrongCode is the wrong-code message with n attempts left.
func wrongCode(n int) string { return strings.Replace(msgWrongCode, "%d", string(rune('0'+n)), 1) }

// TestPasswordStep covers the first step: every refusal shows one message
// and starts no session; the right password of an account without a second
// factor completes the request with amr pwd.
func TestPasswordStep(t *testing.T) {
	hs := newHarness(t)
	hs.user("alice@example.com", nil)
	hs.user("off@example.com", func(u *storage.User) { u.Disabled = true })
	hs.user("new@example.com", func(u *storage.User) { u.EmailVerified = false })
	for _, tt := range []struct{ name, email, pass string }{
		{"wrong password", "alice@example.com", "not the password"},
		{"unknown account", "nobody@example.com", testPassword},
		{"disabled account", "off@example.com", testPassword},
		{"unconfirmed address", "new@example.com", testPassword},
		{"empty password", "alice@example.com", ""},
		{"password with a space added", "alice@example.com", testPassword + " "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := hs.browser("192.0.2.1")
			id, resp := hs.submitPassword(b, testClientID, tt.email, tt.pass, nil)
			expectPage(t, resp, http.StatusUnauthorized, msgBadCredentials)
			if b.cookie(sessionCookie) != "" {
				t.Error("a refused password started a session")
			}
			if ar := hs.authRequest(id); ar.Done || ar.UserID != "" {
				t.Errorf("auth request after a refusal: done %v user %q", ar.Done, ar.UserID)
			}
		})
	}
	t.Run("right password, no second factor", func(t *testing.T) {
		b := hs.browser("192.0.2.1")
		id, resp := hs.submitPassword(b, testClientID, "  Alice@Example.com ", testPassword, nil)
		hs.expectDone(b, id, resp, amrPassword, ACRPassword)
		sess, err := hs.store.SessionByID(t.Context(), hs.h.SessionID(b.request(http.MethodGet, "/", nil)), hs.clock.Now())
		if err != nil || sess.UserID != "u-alice" || !slices.Equal(sess.AMR, amrPassword) || sess.IP != "192.0.2.1" {
			t.Errorf("session = %+v, %v", sess, err)
		}
	})
}

// TestTOTPStep covers the code step of an account with the authenticator
// app: the password leads to the code page, a wrong code counts down, the
// right one completes the request with amr otp and acr loa:2.
func TestTOTPStep(t *testing.T) {
	hs := newHarness(t)
	u := hs.user("tom@example.com", nil)
	secret, _ := hs.enrollTOTP(u)

	b := hs.browser("192.0.2.2")
	id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	form := formOf(t, page.body, "/login/otp")
	if form.Get("method") != factorTOTP || form.Get("authRequestID") != id || form.Get("csrf") == "" {
		t.Errorf("code form = %v", form)
	}
	if strings.Contains(page.body, "/login/otp/resend") {
		t.Error("an app-only user is offered Resend")
	}
	if ar := hs.authRequest(id); ar.Done || ar.UserID != u.ID {
		t.Errorf("after the password: done %v user %q, want pending for %s", ar.Done, ar.UserID, u.ID)
	}
	if b.cookie(sessionCookie) != "" {
		t.Error("the password alone started a session")
	}
	right := hs.totpCode(secret)
	expectPage(t, b.post("/login/otp", with(form, "code", otherCode(right))), http.StatusUnauthorized, wrongCode(2))
	expectPage(t, b.post("/login/otp", with(form, "code", "12ab56")), http.StatusUnauthorized, wrongCode(1))
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", right)), amrTOTP, ACRMFA)
	if b.cookie(sessionCookie) == "" {
		t.Error("no session after the second factor")
	}
	// The step is over: the form cannot be posted again.
	expectEnded(t, b.post("/login/otp", with(form, "code", right)))
}

// TestWrongCodesBlockIP covers the IP block: the third wrong code blocks
// the client IP for 10 minutes, for every step and every account, ends the
// pending sign-in and tells the owner; other IPs are unaffected; the
// minutes count down and the block ends with them.
func TestWrongCodesBlockIP(t *testing.T) {
	hs := newHarness(t)
	u := hs.user("bob@example.com", nil)
	other := hs.user("carol@example.com", nil)
	secret, _ := hs.enrollTOTP(u)
	const ip = "203.0.113.7"

	b := hs.browser(ip)
	id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	form := formOf(t, page.body, "/login/otp")
	wrong := otherCode(hs.totpCode(secret))
	expectPage(t, b.post("/login/otp", with(form, "code", wrong)), http.StatusUnauthorized, wrongCode(2))
	expectPage(t, b.post("/login/otp", with(form, "code", wrong)), http.StatusUnauthorized, wrongCode(1))
	resp := b.post("/login/otp", with(form, "code", wrong))
	blockedAt := hs.clock.Now()
	expectPage(t, resp, http.StatusTooManyRequests, blocked10)
	if strings.Contains(resp.body, `name="code"`) {
		t.Error("the block page still offers the code form")
	}
	if n := hs.mailed(u.Email, "Sign-ins to your Gatehouse account were blocked"); n != 1 {
		t.Errorf("%d block emails to the owner, want 1", n)
	}
	// The pending sign-in ended: even the right code goes back to the password.
	expectRedirect(t, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), "/login?authRequestID="+url.QueryEscape(id))
	if ar := hs.authRequest(id); ar.UserID != "" || ar.Done {
		t.Errorf("blocked sign-in still pending: user %q done %v", ar.UserID, ar.Done)
	}
	// Every account's password step is closed to the IP, on sight and on post.
	for _, who := range []string{u.Email, other.Email} {
		_, resp := hs.submitPassword(hs.browser(ip), testClientID, who, testPassword, nil)
		expectPage(t, resp, http.StatusTooManyRequests, blocked10)
	}
	shown := hs.browser(ip)
	expectPage(t, shown.get("/login?authRequestID="+hs.authorize(shown, testClientID, nil)), http.StatusTooManyRequests, blocked10)
	// Another IP signs in to the same account.
	b2 := hs.browser("203.0.113.8")
	id2, page := hs.toStep(b2, testClientID, u.Email, "/login/otp", nil)
	hs.expectDone(b2, id2, b2.post("/login/otp", with(formOf(t, page.body, "/login/otp"), "code", hs.totpCode(secret))), amrTOTP, ACRMFA)

	// The minutes count down...
	hs.clock.Advance(blockedAt.Add(5*time.Minute + 30*time.Second).Sub(hs.clock.Now()))
	_, resp = hs.submitPassword(hs.browser(ip), testClientID, other.Email, testPassword, nil)
	expectPage(t, resp, http.StatusTooManyRequests, strings.Replace(msgBlocked, "%d", "5", 1))
	// ...and the block ends.
	hs.clock.Advance(blockedAt.Add(10*time.Minute + time.Second).Sub(hs.clock.Now()))
	b3 := hs.browser(ip)
	id3, page := hs.toStep(b3, testClientID, u.Email, "/login/otp", nil)
	hs.expectDone(b3, id3, b3.post("/login/otp", with(formOf(t, page.body, "/login/otp"), "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
}
