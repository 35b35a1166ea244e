package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// TestBrowserAdmin drives a real Chromium into the admin console: an
// administrator (users grant-admin) signs in with the password, turns the
// authenticator app on, signs in again with password and code, and visits
// each area of /admin, creating a client on the way. A full-page
// screenshot of each page goes to $GATEHOUSE_TEST_SCREENSHOTS or the
// test's temporary directory.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	g := startGatehouse(t, "sqlite")
	const (
		email    = "root@example.com"
		password = "correct horse battery staple"
	)
	g.createUser(email, "Root", password)
	if out := g.cli("", "users", "grant-admin", email); !strings.Contains(out, "has the administrator role") {
		t.Fatalf("users grant-admin printed %q", out)
	}
	rp := newTOTPRP(t, g.base)
	rp.configure(g.createClient("--name", "Admin RP", "--redirect-uri", rp.srv.URL+"/cb"))

	b := startChromium(t, chromium)
	shots := totpShotDir(t)
	shot := func(name string) { totpShot(b, filepath.Join(shots, "admin-"+name+".png")) }

	// Without a second factor the console says to turn one on.
	totpPasswordStep(b, rp, g.base, email, password, "#rp-status, #rp-error")
	totpRPResult(b, rp, 1)
	totpDo(b, "open the console", chromedp.Navigate(g.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := totpText(b, "h1"); h != "Turn on two-factor first" {
		b.fail("open the console without a second factor", fmt.Errorf("heading %q", h))
	}
	shot("no-second-factor")

	// Password and authenticator code.
	secret := totpEnable(b, g.base, email, filepath.Join(shots, "admin-totp-enroll.png"))
	totpSignOut(b, g.base)
	totpPasswordStep(b, rp, g.base, email, password, "#code")
	totpSubmitCode(b, totpCode(t, secret, time.Now().Add(totp.Period)), "#rp-status, #rp-error, .alert")
	if got := totpRPResult(b, rp, 2); !slices.Contains(got.AMR, "mfa") {
		t.Fatalf("second sign-in: amr %q, want a second factor", got.AMR)
	}

	pages := []struct{ path, heading string }{
		{"/admin", "Admin console"},
		{"/admin/clients", "Clients"},
		{"/admin/users", "Users"},
		{"/admin/blocks", "Blocks"},
		{"/admin/audit", "Audit log"},
	}
	for _, p := range pages {
		totpDo(b, "open "+p.path, chromedp.Navigate(g.base+p.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		if h := totpText(b, "h1"); h != p.heading {
			b.fail("open "+p.path, fmt.Errorf("heading %q, want %q", h, p.heading))
		}
		shot(strings.ReplaceAll(strings.TrimPrefix(p.path, "/"), "/", "-"))
	}

	// A user's page, from the list.
	totpDo(b, "open the users", chromedp.Navigate(g.base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("tbody a")))
	totpClickThrough(b, "open the user", "tbody a", "h1")
	if h := totpText(b, "h1"); h != email {
		b.fail("open the user", fmt.Errorf("heading %q, want %q", h, email))
	}
	shot("user")

	// A new client: the secret is shown once, with a Copy button.
	totpDo(b, "open the new client form",
		chromedp.Navigate(g.base+"/admin/clients/new"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "Wiki"),
		chromedp.SendKeys(chromedp.CSS("#redirect_uris"), "https://wiki.example.com/cb"),
	)
	shot("client-new")
	totpClickThrough(b, "create the client", `form[action="/admin/clients"] button[type="submit"]`, "#secret", ".alert")
	if v := totpEval[string](b, "read the secret", `document.querySelector("#secret")?.value ?? ""`); len(v) < 20 {
		b.fail("create the client", fmt.Errorf("secret %q", v))
	}
	if hidden := totpEval[bool](b, "check the copy button", `document.querySelector("button[data-copy]").hidden`); hidden {
		t.Error("the Copy button is hidden although JavaScript runs")
	}
	shot("client-secret")
	totpClickThrough(b, "open the client", `a[href^="/admin/clients/"]`, "#redirect_uris")
	shot("client")
}
