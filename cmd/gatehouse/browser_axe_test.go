package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// TestBrowserAxePages runs axe (WCAG 2.2 AA, as TestBrowserNewcomer does)
// on the pages the newcomer's way does not visit: the password change, the
// re-authentication, the security page with its security keys section,
// the recovery-code entry, the consent page of a third-party client, an
// error page, the sign-out confirmation and the signed-out page, and the
// admin console's client pages and audit log. Each page gets a screenshot
// in the test's artifact directory.
func TestBrowserAxePages(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	axe := axeSource(t)
	const (
		email    = "root@example.com"
		password = "correct horse battery staple"
	)
	// On localhost, a secure context, so that WebAuthn is on.
	g := startLocalGatehouse(t, "sqlite", "GATEHOUSE_MAIL_SMTP_HOST=")
	g.createUser(email, "Root", password)
	if out := g.cli("", "users", "grant-admin", email); !strings.Contains(out, "has the administrator role") {
		t.Fatalf("users grant-admin printed %q", out)
	}
	start := time.Now()
	b := &newcomerBrowser{startChromium(t, chromium), axe, t.ArtifactDir(), "axe"}
	axeCanary(b)
	// check runs axe on the page (b.check) after checking that its
	// heading contains want.
	check := func(name, want string) {
		t.Helper()
		if h := totpText(b.headlessChromium, "h1"); !strings.Contains(h, want) {
			b.fail("check "+name, fmt.Errorf("heading %q, want %q in it", h, want))
		}
		b.check(name)
	}
	open := func(step, u, waitFor string) {
		t.Helper()
		totpDo(b.headlessChromium, step, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	}

	// Signed in with the password.
	open("open the front door", g.base+"/", "#email")
	regFillPassword(b.headlessChromium, email, password)
	newcomerSubmitPassword(b, g.base)

	// The password change and the re-authentication.
	open("open the password change", g.base+"/account/password", "h1")
	check("password", "Change your password")
	open("open the re-authentication", g.base+"/account/reauth?next="+url.QueryEscape("/account/password"), "h1")
	check("reauth", "Confirm it's you")

	// The security page, with WebAuthn on: its security keys section.
	open("open the security page", g.base+"/account/security", "h1")
	if n := totpEval[int](b.headlessChromium, "look for the security keys section", `document.querySelectorAll("#webauthn-name").length`); n == 0 {
		t.Error("the security page has no security keys section")
	}
	check("security-keys", "Two-factor authentication")

	// The authenticator app, then the recovery-code entry on the way in.
	secret := newcomerEnableTOTP(b, g.base)
	newcomerSignOut(b, g.base)
	newcomerPasswordToCode(b, g.base, email, password)
	totpClickThrough(b.headlessChromium, "use a recovery code", `a[href*="method=recovery"]`, "#code", ".alert")
	regNoAlert(b.headlessChromium, "open the recovery-code entry")
	check("recovery", "Two-factor authentication")
	newcomerPasswordToCode(b, g.base, email, password)
	totpType(b.headlessChromium, "enter the code", "#code", totpCode(t, secret, time.Now().Add(totp.Period)))
	totpClickThrough(b.headlessChromium, "submit the code", `form[action="/login/otp"] button[type="submit"]`, "h1")
	regNoAlert(b.headlessChromium, "submit the code")
	newcomerAtHome(b, g.base)

	// The consent page of a third-party client, then Allow.
	rp := newTOTPRP(t, g.base)
	rp.configure(g.createClient("--name", "Axxon Datacenter", "--consent", "--redirect-uri", rp.srv.URL+"/cb"))
	open("start the client's sign-in", rp.srv.URL+"/login", `button[value="allow"]`)
	check("consent", "Allow Axxon Datacenter access")
	totpClickThrough(b.headlessChromium, "allow", `button[value="allow"]`, "#rp-status, #rp-error")
	totpRPResult(b.headlessChromium, rp, 1)

	// An error page: an unknown client.
	totpDo(b.headlessChromium, "open /authorize with an unknown client",
		chromedp.Navigate(g.base+"/authorize?response_type=code&scope=openid&client_id=no-such-client&redirect_uri="+url.QueryEscape("https://nowhere.example/cb")),
		chromedp.WaitVisible(chromedp.CSS("h1")))
	check("error", "Sign-in request refused")

	// The admin console's client pages and audit log.
	open("open the clients", g.base+"/admin/clients", "h1")
	check("admin-clients", "Clients")
	open("open the new client form", g.base+"/admin/clients/new", "#name")
	check("admin-client-new", "New client")
	totpDo(b.headlessChromium, "fill in the new client",
		chromedp.SendKeys(chromedp.CSS("#name"), "Wiki"),
		chromedp.SendKeys(chromedp.CSS("#redirect_uris"), "https://wiki.example.com/cb"),
	)
	totpClickThrough(b.headlessChromium, "create the client", `form[action="/admin/clients"] button[type="submit"]`, "#secret", ".alert")
	// The page's .alert is the warning that the secret is shown once.
	if v := totpEval[string](b.headlessChromium, "read the secret", `document.querySelector("#secret")?.value ?? ""`); len(v) < 20 {
		b.fail("create the client", fmt.Errorf("secret %q", v))
	}
	check("admin-client-secret", "Client created")
	totpClickThrough(b.headlessChromium, "open the client", `.links a[href^="/admin/clients/"]`, "#redirect_uris")
	check("admin-client", "Wiki")
	totpClickThrough(b.headlessChromium, "open the delete confirmation", `a[href$="/delete"]`, `form[action$="/delete"] button`)
	check("admin-client-delete", "Delete client")
	open("open the audit log", g.base+"/admin/audit", "h1")
	check("admin-audit", "Audit log")

	// The sign-out confirmation (no id_token_hint) and the signed-out page.
	open("open end_session without a hint", g.base+"/end_session", `form button[type="submit"]`)
	check("logout", "Sign out of")
	totpClickThrough(b.headlessChromium, "confirm the sign-out", `form button[type="submit"]`, "h1")
	check("signed-out", "Signed out")
	t.Logf("the pages took %s", time.Since(start).Round(time.Millisecond))
}
