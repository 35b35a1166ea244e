package login

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestFixedFlowCookieGetsNothing: the flow cookie is not rotated during a
// sign-in, and need not be: each step that raises assurance binds the
// browser anew with a value the attacker cannot know. The password step
// sets the pending cookie (pendingToken, keyed with the server's CSRF key
// and naming the request and its user), which every later step of the
// sign-in wants; the completion sets a new session cookie, which the
// callback and the consent page want (checkDoneSession). An attacker who
// planted their flow cookie in the victim's browser, and so holds its
// value in another cookie jar, gets after the victim's password step
// neither the code page nor a sign-in with the right code, and after the
// victim's code step neither the authorization code (the callback), nor a
// session (a re-post of the step, a new sign-in in the attacker's jar,
// the account area); the victim's callback still issues the one code.
// SQLite and PostgreSQL.
func TestFixedFlowCookieGetsNothing(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			u, secret := hs.appUser("fixed-flow@example.com")
			a, v := hs.browser("203.0.113.190"), hs.browser("192.0.2.190")
			id := hs.authorize(a, testClientID, nil)
			fixed := a.cookie(flowCookie)
			// The attacker's flow cookie, planted in the victim's browser,
			// which then starts its sign-in (bound to that value) itself.
			v.jar.SetCookies(v.base, []*http.Cookie{{Name: flowCookie, Value: fixed, Path: "/"}})
			if id2 := hs.authorize(v, testClientID, nil); v.cookie(flowCookie) != fixed || id2 == "" {
				t.Fatalf("the victim's browser flow cookie %q, want the planted %q kept", v.cookie(flowCookie), fixed)
			}
			passwordForm := "/login?authRequestID=" + url.QueryEscape(id)
			attacker := func(t *testing.T) *browser {
				t.Helper()
				b := hs.browser("203.0.113.191")
				b.jar.SetCookies(b.base, []*http.Cookie{{Name: flowCookie, Value: fixed, Path: "/"}})
				return b
			}
			noSession := func(t *testing.T, what string, b *browser, resp *response) {
				t.Helper()
				if c := setCookieNamed(resp, hs.h.CookieName(sessionCookie)); c != nil && c.Value != "" {
					t.Errorf("%s: the attacker's jar got a session cookie", what)
				}
				if resp.status == http.StatusSeeOther && resp.loc == callbackURL(id) {
					t.Errorf("%s: the attacker's jar was sent to the callback", what)
				}
				if b.cookie(sessionCookie) != "" {
					t.Errorf("%s: the attacker's jar holds a session cookie", what)
				}
			}

			// The victim passes the password step.
			resp := v.post("/login", hs.signInForm(v, id, u.Email, testPassword))
			if resp.status != http.StatusSeeOther || resp.loc != "/login/otp?authRequestID="+url.QueryEscape(id) {
				t.Fatalf("the victim's password step = %d %q, want the code step", resp.status, resp.loc)
			}
			form := formOf(t, v.get(resp.loc).body, "/login/otp")
			if v.cookie(flowCookie) != fixed {
				t.Fatalf("the victim's flow cookie changed: the test tests the old value no more")
			}

			t.Run("after the password step", func(t *testing.T) {
				b := attacker(t)
				expectRedirect(t, b.get("/login/otp?authRequestID="+url.QueryEscape(id)), passwordForm)
				// The form the victim has, with the right code: the CSRF
				// token is the flow cookie's, which the attacker holds.
				resp := b.post("/login/otp", with(form, "code", hs.totpCode(secret)))
				expectRedirect(t, resp, passwordForm)
				noSession(t, "the right code", b, resp)
				if hs.authRequest(id).Done {
					t.Fatal("the attacker's code post completed the victim's sign-in")
				}
			})

			// The victim passes the code step: the request is done, and
			// the victim's browser has the new session.
			done := v.post("/login/otp", with(form, "code", hs.totpCode(secret)))
			if done.status != http.StatusSeeOther || done.loc != callbackURL(id) || !hs.authRequest(id).Done {
				t.Fatalf("the victim's code step = %d %q %q, want 303 to the callback", done.status, done.loc, alert(done.body))
			}

			t.Run("after the code step", func(t *testing.T) {
				b := attacker(t)
				resp := b.get(callbackURL(id))
				expectPage(t, resp, http.StatusBadRequest, msgExpired)
				noSession(t, "the callback", b, resp)
				if slices.Contains(hs.issued(), id) {
					t.Fatal("the attacker's jar got the code of the victim's sign-in")
				}
				// The step posted again, as the retry of a lost answer.
				resp = b.post("/login/otp", with(form, "code", hs.totpCode(secret)))
				expectPage(t, resp, http.StatusBadRequest, msgExpired)
				noSession(t, "the code step again", b, resp)
				resp = b.get(passwordForm)
				expectPage(t, resp, http.StatusBadRequest, msgExpired)
				noSession(t, "the sign-in page", b, resp)
				// A new sign-in in the attacker's jar, bound to the same
				// value: no single sign-on, the password is asked.
				id3 := hs.authorize(b, testClientID, nil)
				page := b.get("/login?authRequestID=" + url.QueryEscape(id3))
				if page.status != http.StatusOK || formOf(t, page.body, "/login").Get("authRequestID") != id3 {
					t.Errorf("a new sign-in with the fixed value = %d %q %q, want the password form", page.status, page.loc, alert(page.body))
				}
				noSession(t, "a new sign-in", b, page)
				if acct := b.get("/account"); acct.status == http.StatusOK {
					t.Errorf("the account area with the fixed value = %d, want no account page", acct.status)
				}
				if slices.Contains(hs.issued(), id) || slices.Contains(hs.issued(), id3) {
					t.Fatal("the attacker's jar got a code")
				}
			})

			// The victim's callback issues the one code; then the attacker's
			// jar finds the sign-in over.
			hs.expectIssued(v, id)
			expectEnded(t, attacker(t).get(callbackURL(id)))
		})
	}
}
