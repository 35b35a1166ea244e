package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserIssuerPath signs in with Chromium under the issuer
// http://127.0.0.1:PORT/id: a relying party sends the browser to
// Gatehouse, which shows its login page (its stylesheet loaded from under
// /id), takes the password and the authenticator app's code and sends the
// browser back with a code the relying party redeems; the cookies the
// browser keeps are all under /id; signing out from the account page lands
// on /id/signed-out.
func TestBrowserIssuerPath(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := ipStart(t, databaseURL(t, backend))
			base := e.g.base
			u := e.newUser(t, "browser-path@example.com")
			e.ipEnableTOTP(t, newBrowser(t), u)

			rp := newTOTPRP(t, base)
			rp.configure(e.g.createClient("--name", "Path RP", "--redirect-uri", rp.srv.URL+"/cb"))
			b := startChromium(t, chromium)

			totpDo(b, "open the login page",
				chromedp.Navigate(rp.srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#email")),
			)
			if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?") {
				t.Fatalf("login page at %s, want %s/login?…", loc, base)
			}
			// The stylesheet came from under /id and applies.
			rules := totpEval[int](b, "count the stylesheet's rules",
				`[...document.styleSheets].filter(s => s.href && new URL(s.href).pathname === "`+ipPrefix+`/static/gatehouse.css").reduce((n, s) => n + s.cssRules.length, 0)`)
			if rules == 0 {
				t.Errorf("the login page has no rules from %s/static/gatehouse.css", ipPrefix)
			}
			totpDo(b, "fill in the password form",
				chromedp.SendKeys(chromedp.CSS("#email"), u.email),
				chromedp.SendKeys(chromedp.CSS("#password"), u.pass),
			)
			totpClickThrough(b, "submit the password", `form[action="`+ipPrefix+`/login"] button[type="submit"]`, "#code", ".alert")
			if msg := totpText(b, ".alert"); msg != "" {
				b.fail("submit the password", fmt.Errorf("the page answered %q", msg))
			}
			if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login/otp?") {
				t.Fatalf("code page at %s, want %s/login/otp?…", loc, base)
			}
			totpType(b, "enter the code", "#code", e.code(u))
			totpClickThrough(b, "submit the code", `form[action="`+ipPrefix+`/login/otp"] button[type="submit"]`, "#rp-status", "#rp-error", ".alert")
			if msg := totpText(b, ".alert"); msg != "" {
				b.fail("submit the code", fmt.Errorf("the code page answered %q", msg))
			}
			got := totpRPResult(b, rp, 1)
			if !slices.Equal(got.AMR, []string{"pwd", "otp", "mfa"}) || got.Email != u.email {
				t.Errorf("the relying party got email %q amr %v, want %q [pwd otp mfa]", got.Email, got.AMR, u.email)
			}

			ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
			res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
			cancel()
			if err != nil {
				b.fail("read the cookies", err)
			}
			cookies := res.Cookies
			if len(cookies) == 0 {
				t.Error("the browser keeps no cookie for the issuer")
			}
			for _, c := range cookies {
				if c.Path != ipPrefix || !c.HTTPOnly {
					t.Errorf("cookie %s: path %q, HttpOnly %t; want %s, true", c.Name, c.Path, c.HTTPOnly, ipPrefix)
				}
			}

			const signOut = `form[action="` + ipPrefix + `/logout"] button[type="submit"]`
			totpDo(b, "open the account page",
				chromedp.Navigate(base+"/account"),
				chromedp.WaitVisible(chromedp.CSS(signOut)),
			)
			totpClickThrough(b, "sign out", signOut, "h1")
			if h := totpText(b, "h1"); h != "Signed out" {
				b.fail("sign out", fmt.Errorf("page heading %q, want \"Signed out\"", h))
			}
			if loc := totpRead(b, "read the location", chromedp.Location()); loc != base+"/signed-out" {
				t.Errorf("signed out at %s, want %s/signed-out", loc, base)
			}
		})
	}
}
