package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCookieFlagsHTTPS walks a browser through the sign-in and the account
// area of a login served over https (Handler.Secure) — the language
// switch, a wrong and a right code, the account page, a re-authentication,
// a password change, a sign-out, a sign-in started by the account area,
// and a step refused to another browser — and checks every Set-Cookie of
// every answer, the error answers and the cookies cleared included
// (SECURITY.md SES-01): the __Host- prefix, Secure, HttpOnly, Path=/, no
// Domain, and SameSite Lax or Strict.
func TestCookieFlagsHTTPS(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(h *Handler) { h.Secure = true })
	hs.client(AccountClientID, nil)
	u, secret := hs.appUser("cookies@example.com")
	b := hs.browser("192.0.2.170")

	expectRedirect(t, b.get("/lang?to=ru&back=/signed-out"), "/signed-out")
	b.get("/lang?to=en&back=/signed-out")
	id, _, form := hs.codeStep(b, u.Email, nil)
	expectPage(t, b.post("/login/otp", with(form, "code", otherCode(hs.totpCode(secret)))), http.StatusUnauthorized, wrongCode(2))
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
	if resp := b.get("/account"); resp.status != http.StatusOK {
		t.Fatalf("GET /account = %d", resp.status)
	}
	hs.clock.Advance(hs.h.reauthWindow() + time.Second)
	reauthenticate(hs, b, hs.totpCode(secret))
	hs.clock.Advance(30 * time.Second)
	changePassword(hs, b, hs.totpCode(secret))
	expectRedirect(t, b.post("/logout", url.Values{"csrf": {hs.h.sessionCSRF(b.request(http.MethodGet, "/", nil))}}), "/signed-out")
	if resp := b.get("/account"); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?") {
		t.Fatalf("GET /account signed out = %d %q, want 303 to /authorize", resp.status, resp.loc)
	}
	other := hs.browser("192.0.2.171")
	hs.authorize(other, testClientID, nil)
	expectPage(t, other.get("/login?authRequestID="+url.QueryEscape(hs.authorize(b, testClientID, nil))), http.StatusForbidden, msgOtherBrowser)

	seen := map[string]bool{}
	for _, br := range []*browser{b, other} {
		for _, line := range br.setCookies {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Errorf("Set-Cookie %q: %v", line, err)
				continue
			}
			seen[c.Name] = true
			if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" ||
				(c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) {
				t.Errorf("Set-Cookie %q: want __Host-, Secure, HttpOnly, Path=/, no Domain, SameSite Lax or Strict", line)
			}
		}
	}
	for _, name := range []string{flowCookie, pendingCookie, sessionCookie, deviceCookie, langCookie, accountSignInCookie} {
		if !seen["__Host-"+name] {
			names := make([]string, 0, len(seen))
			for n := range seen {
				names = append(names, n)
			}
			slices.Sort(names)
			t.Errorf("no Set-Cookie of __Host-%s among %v", name, names)
		}
	}
}
