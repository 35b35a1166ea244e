package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/demo"
	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// TestBrowserDemo drives a real Chromium through the demo of serve --demo
// as a newcomer would: sign in at /demo with the printed password, turn
// the authenticator app on at /account/security, sign out through the demo
// (and Gatehouse's end_session), and sign in again with the password and
// the app's code. The demo's page then shows the verified ID token with
// amr [pwd otp mfa] and acr loa:2; a screenshot of it is saved
// (GATEHOUSE_TEST_SCREENSHOTS names a directory that keeps it).
func TestBrowserDemo(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g, password := startDemo(t, databaseURL(t, backend))
			if password == "" {
				t.Fatalf("serve --demo printed no password:\n%s", g.output())
			}
			b := startChromium(t, chromium)
			shots := totpShotDir(t)

			// 1. The demo's home page and a password-only sign-in.
			totpDo(b, "open the demo",
				chromedp.Navigate(g.base+"/demo"),
				chromedp.WaitVisible(chromedp.CSS("#sign-in")),
			)
			demoPasswordStep(b, g.base, password, "#signed-in")
			if amr := totpText(b, "#amr"); amr != "pwd" {
				t.Errorf("first sign-in: the demo shows amr %q, want \"pwd\"", amr)
			}

			// 2. Turn the authenticator app on (the Gatehouse session of
			// that sign-in opens the security page).
			secret := totpEnable(b, g.base, demo.Email, filepath.Join(shots, "demo-totp-enroll-"+backend+".png"))

			// 3. Sign out through the demo: Gatehouse's end_session sends
			// the browser back to the demo's home page.
			totpDo(b, "open the demo", chromedp.Navigate(g.base+"/demo"), chromedp.WaitVisible(chromedp.CSS("#sign-out")))
			totpClickThrough(b, "sign out", "#sign-out", "#sign-in")
			if loc := totpRead(b, "read the location", chromedp.Location()); loc != g.base+"/demo" {
				t.Errorf("after sign-out at %s, want %s/demo", loc, g.base)
			}

			// 4. Sign in again: password, then the app's code (the next
			// step: the one shown at enrolment is used up).
			demoPasswordStep(b, g.base, password, "#code")
			totpCheckCodePage(b, g.base)
			totpSubmitCode(b, totpCode(t, secret, time.Now().Add(totp.Period)), "#signed-in, .alert")
			if msg := totpText(b, ".alert"); msg != "" {
				b.fail("submit the code", fmt.Errorf("the page answered %q", msg))
			}
			if loc := totpRead(b, "read the location", chromedp.Location()); loc != g.base+"/demo" {
				t.Errorf("claims page at %s, want %s/demo", loc, g.base)
			}
			for sel, want := range map[string]string{
				"#signed-in": "Signed in as " + demo.Email,
				"#amr":       "pwd otp mfa",
				"#acr":       acrMFA,
			} {
				if got := totpText(b, sel); got != want {
					t.Errorf("claims page %s = %q, want %q", sel, got, want)
				}
			}
			if n := totpEval[int](b, "count the claims", `document.querySelectorAll("#claims dt").length`); n < 8 {
				t.Errorf("claims page lists %d claims, want the ID token's (iss, sub, aud, exp, iat, auth_time, nonce, amr, acr, email…)", n)
			}
			shot := filepath.Join(shots, "demo-claims-"+backend+".png")
			totpShot(b, shot)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil || img.Bounds().Dx() < 500 {
				t.Errorf("screenshot %s: %v, %v", shot, err, img.Bounds())
			}
		})
	}
}

// demoPasswordStep starts a sign-in from the demo's home page (which the
// browser shows) and submits the demo user's password; waitFor lists the
// elements any of which ends the step.
func demoPasswordStep(b *headlessChromium, base, password, waitFor string) {
	b.t.Helper()
	totpClickThrough(b, "sign in with Gatehouse", "#sign-in", "#email")
	if loc := totpRead(b, "read the location", chromedp.Location()); len(loc) < len(base+"/login?") || loc[:len(base+"/login?")] != base+"/login?" {
		b.t.Fatalf("login page at %s, want %s/login?…", loc, base)
	}
	totpDo(b, "fill in the password form",
		chromedp.SendKeys(chromedp.CSS("#email"), demo.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	totpClickThrough(b, "submit the password", `form[action="/login"] button[type="submit"]`, waitFor, ".alert")
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail("submit the password", fmt.Errorf("the page answered %q", msg))
	}
}
