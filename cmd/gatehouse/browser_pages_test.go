package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPages drives a real Chromium through the enhancements of
// templates/static/pages.js: the emailed code's countdown ticks down;
// Resend stays disabled during its cooldown (both rendered by the server
// first) and is enabled when it ends; the key for manual entry of the
// authenticator app, shown in groups of four, gets a visible copy button
// that says when it copied. Screenshots go to the test's artifact
// directory (go test -artifacts keeps them).
func TestBrowserPages(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	// A short resend cooldown, so that its end comes within the test.
	g := startGatehouse(t, backends[0], "GATEHOUSE_SECOND_FACTOR_EMAIL_RESEND_COOLDOWN=5s")
	const (
		email    = "ada@example.com"
		password = "correct horse battery staple"
	)
	g.createUser(email, "Ada Lovelace", password)
	rp := newTOTPRP(t, g.base)
	rp.configure(g.createClient("--name", "Pages RP", "--redirect-uri", rp.srv.URL+"/cb"))
	b := startChromium(t, chromium)
	shots := t.ArtifactDir()

	totpPasswordStep(b, rp, g.base, email, password, "#rp-status, #rp-error")
	totpRPResult(b, rp, 1)

	// Turning email codes on emails a code: its page counts down.
	const emailOn = `form[action="/account/security/email/enable"] button[type="submit"]`
	totpDo(b, "open the security page",
		chromedp.Navigate(g.base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(emailOn)),
	)
	totpClickThrough(b, "turn email codes on", emailOn, "#code-left", ".alert")
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail("turn email codes on", fmt.Errorf("the page answered %q", msg))
	}
	first := pagesSeconds(b, "#code-left .countdown")
	wait := pagesSeconds(b, "#resend-wait .countdown")
	if first < 50 || first > 60 || wait < 3 || wait > 5 {
		t.Errorf("code valid for %d s, Resend in %d s; want about 60 and 5", first, wait)
	}
	if !totpEval[bool](b, "check Resend is disabled", `document.querySelector("button[data-wait]").disabled`) {
		t.Error("Resend is enabled during its cooldown")
	}
	time.Sleep(2500 * time.Millisecond)
	if later := pagesSeconds(b, "#code-left .countdown"); later > first-2 || later < first-4 {
		t.Errorf("the countdown went from %d to %d s in 2.5 s", first, later)
	}
	if later := pagesSeconds(b, "#resend-wait .countdown"); later > wait-2 {
		t.Errorf("Resend's countdown went from %d to %d s in 2.5 s", wait, later)
	}
	totpShot(b, filepath.Join(shots, "pages-code-countdown.png"))
	// The cooldown ends: Resend is enabled and its note gone.
	totpDo(b, "wait for Resend", chromedp.WaitEnabled(chromedp.CSS("button[data-wait]")))
	if totpEval[bool](b, "look for the cooldown note", `!!document.getElementById("resend-wait")`) {
		t.Error("the cooldown note stays after the cooldown")
	}

	// The authenticator app's enrolment: the key in groups of four, and a
	// copy button that pages.js shows.
	const appOn = `form[action="/account/security/totp/enable"] button[type="submit"]`
	totpDo(b, "open the security page",
		chromedp.Navigate(g.base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(appOn)),
	)
	totpClickThrough(b, "turn the authenticator app on", appOn, "#secret", ".alert")
	key := totpRead(b, "read the key", chromedp.Value(chromedp.CSS("#secret")))
	groups := strings.Fields(key)
	if len(groups) < 4 || len(groups[0]) != 4 {
		t.Errorf("key for manual entry %q, want groups of four", key)
	}
	const copyButton = `button[data-copy-for="secret"]`
	if !totpEval[bool](b, "check the copy button is shown",
		`(() => { const c = document.querySelector('`+copyButton+`'); return !!c && !c.hidden && c.getBoundingClientRect().width > 0 })()`) {
		t.Fatal("no visible copy button next to the key")
	}
	if label := totpText(b, copyButton); label != "Copy" {
		t.Errorf("copy button says %q", label)
	}
	totpDo(b, "copy the key", chromedp.Click(chromedp.CSS(copyButton)))
	copied := ""
	for range 50 {
		if copied = totpText(b, "#page-status"); copied != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if copied != "Key copied" {
		t.Errorf("after Copy the page says %q, want \"Key copied\"", copied)
	}
	totpShot(b, filepath.Join(shots, "pages-totp-key.png"))
}

// pagesSeconds reads the m:ss countdown of the element sel as seconds.
func pagesSeconds(b *headlessChromium, sel string) int {
	b.t.Helper()
	text := totpText(b, sel)
	m, s, ok := strings.Cut(text, ":")
	mins, err1 := strconv.Atoi(m)
	secs, err2 := strconv.Atoi(s)
	if !ok || err1 != nil || err2 != nil || len(s) != 2 {
		b.fail("read "+sel, fmt.Errorf("countdown %q, want m:ss", text))
	}
	return mins*60 + secs
}
