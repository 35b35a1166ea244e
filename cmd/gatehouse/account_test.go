package main

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"golang.org/x/oauth2"
)

// acStart starts a gatehouse with an SMTP sink on backend.
func acStart(t *testing.T, backend string) *tfEnv {
	dsn := "sqlite:" + t.TempDir() + "/gatehouse.db"
	if backend == "postgres" {
		dsn = pgtest.DSN(t)
	}
	return tfStart(t, dsn)
}

// acEnableTOTP turns the authenticator app on and returns the recovery
// codes shown once.
func acEnableTOTP(t *testing.T, e *tfEnv, b *browser, u *tfUser) []string {
	t.Helper()
	page := b.post(e.g.base+"/account/security/totp/enable", tfForm(t, e.security(t, b).body, "/account/security/totp/enable"))
	u.secret, u.last = tfSecret(t, page.body), -1
	resp := tfPostCode(b, e.g.base+"/account/security/totp/enable-confirm", tfForm(t, page.body, "/account/security/totp/enable-confirm"), e.code(u))
	codes, next, ok := tfRecovery(resp)
	if !ok || len(codes) != 10 || next != "/account/security?done=totp-on" {
		t.Fatalf("enabling the first factor: recovery page %t, %d codes, next %q\n%s", ok, len(codes), next, resp.body)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !regexp.MustCompile(`^[a-z2-9]{5}-[a-z2-9]{5}$`).MatchString(c) || seen[c] {
			t.Fatalf("recovery code %q malformed or repeated", c)
		}
		seen[c] = true
	}
	return codes
}

var acLeftRE = regexp.MustCompile(`<p class="state" id="recovery-left">(\d+) left</p>`)

func acLeft(t *testing.T, e *tfEnv, b *browser) string {
	t.Helper()
	m := acLeftRE.FindStringSubmatch(e.security(t, b).body)
	if m == nil {
		return "none"
	}
	return m[1]
}

// acRecoverySignIn signs u in with a recovery code and returns the
// response of the code step.
func acRecoverySignIn(t *testing.T, e *tfEnv, b *browser, u *tfUser, code string) (*flow, *response) {
	t.Helper()
	rp := tfRP(t, e.rp)
	f, page := e.codePage(t, rp, b, u)
	if !strings.Contains(page.body, "Use a recovery code") {
		t.Fatalf("code page offers no recovery code")
	}
	ar := tfQuery(t, page.Request.URL.String(), "authRequestID")
	rec := b.get(e.g.base + "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar))
	if rec.StatusCode != http.StatusOK || !strings.Contains(rec.body, "Enter one of your recovery codes") {
		t.Fatalf("recovery code page = %d", rec.StatusCode)
	}
	return f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, rec.body, "/login/otp"), code)
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := acStart(t, backend)
			u := e.newUser(t, "rec@example.com")
			b := e.session(t, u, "127.0.0.60")
			codes := acEnableTOTP(t, e, b, u)
			if got := acLeft(t, e, b); got != "10" {
				t.Fatalf("security page shows %s recovery codes left, want 10", got)
			}

			// A recovery code signs in once, in any case and without the dash.
			signer := newBrowser(t).from("127.0.0.61")
			f, resp := acRecoverySignIn(t, e, signer, u, strings.ToUpper(strings.ReplaceAll(codes[0], "-", "")))
			c := tfFinish(t, tfRP(t, e.rp), signer, f, resp)
			tfClaims(t, c, []string{"pwd", "otp", "mfa"}, "urn:gatehouse:loa:2")
			if got := acLeft(t, e, b); got != "9" {
				t.Errorf("after using one code, %s left, want 9", got)
			}
			e.mail.wait(t, u.email, "A recovery code was used", 1)

			// The same code again counts as a wrong code.
			_, resp = acRecoverySignIn(t, e, newBrowser(t).from("127.0.0.62"), u, codes[0])
			tfExpect(t, resp, http.StatusUnauthorized, "Invalid One Time Password! (Attempts left: 2)")

			// New codes need a valid code; a wrong one counts.
			page := b.post(e.g.base+"/account/security/recovery/regenerate", tfForm(t, e.security(t, b).body, "/account/security/recovery/regenerate"))
			if page.StatusCode != http.StatusOK {
				t.Fatalf("regenerate = %d", page.StatusCode)
			}
			form := tfForm(t, page.body, "/account/security/recovery/regenerate-confirm")
			resp = tfPostCode(b, e.g.base+"/account/security/recovery/regenerate-confirm", form, e.wrongTOTP(u))
			tfExpect(t, resp, http.StatusForbidden, "Invalid One Time Password! (Attempts left: 2)")
			resp = tfPostCode(b, e.g.base+"/account/security/recovery/regenerate-confirm", form, e.code(u))
			fresh, _, ok := tfRecovery(resp)
			if !ok || len(fresh) != 10 || slices.Contains(fresh, codes[1]) {
				t.Fatalf("regenerated: page %t with %d codes", ok, len(fresh))
			}
			// An old unused code no longer works; a new one does.
			_, resp = acRecoverySignIn(t, e, newBrowser(t).from("127.0.0.63"), u, codes[1])
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("an old recovery code after regeneration = %d, want 401", resp.StatusCode)
			}
			signer = newBrowser(t).from("127.0.0.64")
			f, resp = acRecoverySignIn(t, e, signer, u, fresh[3])
			c = tfFinish(t, tfRP(t, e.rp), signer, f, resp)
			tfClaims(t, c, []string{"pwd", "otp", "mfa"}, "urn:gatehouse:loa:2")

			// Turning the last factor off drops the codes.
			page = b.post(e.g.base+"/account/security/totp/disable", tfForm(t, e.security(t, b).body, "/account/security/totp/disable"))
			resp = tfPostCode(b, e.g.base+"/account/security/totp/disable-confirm", tfForm(t, page.body, "/account/security/totp/disable-confirm"), e.code(u))
			tfRedirect(t, resp, "/account/security?done=totp-off")
			if got := acLeft(t, e, b); got != "none" {
				t.Errorf("without a factor the security page still shows %s recovery codes", got)
			}
		})
	}
}

var acSessionRE = regexp.MustCompile(`<input type="hidden" name="session" value="([^"]+)">`)

func TestAccountPage(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := acStart(t, backend)
			u := e.newUser(t, "acct@example.com")
			phone := e.session(t, u, "127.0.0.70")
			laptop := e.session(t, u, "127.0.0.71")
			third := e.session(t, u, "127.0.0.72")

			page := laptop.get(e.g.base + "/account")
			if page.StatusCode != http.StatusOK {
				t.Fatalf("GET /account = %d", page.StatusCode)
			}
			for _, want := range []string{"127.0.0.70", "127.0.0.71", "127.0.0.72", "(this browser)", "Signed in"} {
				if !strings.Contains(page.body, want) {
					t.Errorf("account page lacks %q", want)
				}
			}
			others := acSessionRE.FindAllStringSubmatch(page.body, -1)
			if len(others) != 2 {
				t.Fatalf("account page offers to end %d other sessions, want 2", len(others))
			}

			// End one other session: that browser is signed out.
			form := tfForm(t, page.body, "/account/sessions/end")
			form.Set("session", others[0][1])
			tfRedirect(t, laptop.post(e.g.base+"/account/sessions/end", form), "/account?done=session")
			signedOut := 0
			for _, b := range []*browser{phone, third} {
				if signInAsked(b.get(e.g.base + "/account")) {
					signedOut++
				}
			}
			if signedOut != 1 {
				t.Fatalf("%d browsers signed out after ending one session, want 1", signedOut)
			}
			// Sign out everywhere else.
			page = laptop.get(e.g.base + "/account")
			tfRedirect(t, laptop.post(e.g.base+"/account/sessions/end-others", tfForm(t, page.body, "/account/sessions/end-others")), "/account?done=others")
			for _, b := range []*browser{phone, third} {
				if r := b.get(e.g.base + "/account"); !signInAsked(r) {
					t.Errorf("another browser still signed in after 'sign out everywhere else': %d", r.StatusCode)
				}
			}
			f := tfRP(t, e.rp).newFlow(oauth2.SetAuthURLParam("prompt", "none"))
			if _, at := phone.follow(f.authURL, rpRedirect); !strings.Contains(at, "error=login_required") {
				t.Errorf("an ended session still answers prompt=none: %s", at)
			}
			if r := laptop.get(e.g.base + "/account"); r.StatusCode != http.StatusOK {
				t.Fatalf("this browser was signed out too: %d", r.StatusCode)
			}

			// The name changes at once and reaches the ID token.
			page = laptop.get(e.g.base + "/account")
			nf := tfForm(t, page.body, "/account/name")
			nf.Set("name", "Ada Byron")
			tfRedirect(t, laptop.post(e.g.base+"/account/name", nf), "/account?done=name")
			rp := tfRP(t, e.rp)
			f = rp.newFlow()
			_, _, c := rp.exchange(rp.signIn(laptop, f, u.email, u.pass), f)
			if c.Name != "Ada Byron" {
				t.Errorf("name claim = %q after the change", c.Name)
			}

			// The email changes only through the link sent to the new address.
			page = laptop.get(e.g.base + "/account")
			ef := tfForm(t, page.body, "/account/email")
			ef.Set("email", "Ada@New.Example")
			tfRedirect(t, laptop.post(e.g.base+"/account/email", ef), "/account?done=email-sent")
			e.mail.wait(t, "ada@new.example", "Confirm your new email address", 1)
			link := acLink(t, e, "ada@new.example", "Confirm your new email address")
			if show := tfCLI(t, e.g, "", "users", "show", u.email); !strings.Contains(show, u.email) {
				t.Fatalf("email changed before the link was opened")
			}
			// Opening the link asks first; its form changes the address.
			confirm := func() *response {
				t.Helper()
				b := newBrowser(t)
				page := b.get(link)
				if page.StatusCode != http.StatusOK {
					t.Fatalf("GET the email link = %d", page.StatusCode)
				}
				return b.post(e.g.base+"/account/email/confirm", tfForm(t, page.body, "/account/email/confirm"))
			}
			tfRedirect(t, confirm(), "/account?done=email")
			if r := confirm(); r.StatusCode != http.StatusBadRequest {
				t.Errorf("the email link worked twice: %d", r.StatusCode)
			}
			e.mail.wait(t, u.email, "Your email address was changed", 1)
			f = rp.newFlow()
			_, _, c = rp.exchange(rp.signIn(newBrowser(t), f, "ada@new.example", u.pass), f)
			if c.Email != "ada@new.example" {
				t.Errorf("email claim = %q after the change", c.Email)
			}
		})
	}
}

var acLinkRE = regexp.MustCompile(`https?://[^\s]+/account/email/confirm\?token=[A-Za-z0-9_%-]+`)

// acLink returns the confirmation link of the latest message to to.
func acLink(t *testing.T, e *tfEnv, to, subject string) string {
	t.Helper()
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	for i := len(e.mail.msgs) - 1; i >= 0; i-- {
		m := e.mail.msgs[i]
		if slices.Contains(m.to, to) && strings.HasPrefix(m.subject, subject) {
			raw := strings.ReplaceAll(m.raw, "=\r\n", "")
			raw = strings.ReplaceAll(raw, "=3D", "=")
			if l := acLinkRE.FindString(raw); l != "" {
				return l
			}
		}
	}
	t.Fatalf("no link in a message %q to %s", subject, to)
	return ""
}
