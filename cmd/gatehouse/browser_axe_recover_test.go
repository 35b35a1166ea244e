package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// recoverLinkRE finds the password reset link in its email.
var recoverLinkRE = regexp.MustCompile(`https?://\S+/recover/reset\?token=\S+`)

// TestBrowserAxeRecovery runs axe (as TestBrowserNewcomer does) on the
// pages of a forgotten password — the request, the notice, the reset page
// from the emailed link, and the reset page refusing a weak password with
// its field error — and on the sign-in's enrolment step of a client that
// requires a second factor, for a user who has none. Each page gets a
// screenshot in the test's artifact directory.
func TestBrowserAxeRecovery(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	axe := axeSource(t)
	const email = "forgetful@example.com"
	g := startLocalGatehouse(t, "sqlite", "GATEHOUSE_MAIL_SMTP_HOST=")
	g.createUser(email, "Forgetful", "the first long password")
	mfaApp := g.createClient("--name", "Strict app", "--public", "--require-mfa", "--redirect-uri", biLocalCB)
	b := &newcomerBrowser{startChromium(t, chromium), axe, t.ArtifactDir(), "axe-recovery"}
	axeCanary(b)
	check := func(name, want string) {
		t.Helper()
		if h := totpText(b.headlessChromium, "h1"); !strings.Contains(h, want) {
			b.fail("check "+name, fmt.Errorf("heading %q, want %q in it", h, want))
		}
		b.check(name)
	}

	// The request and its notice.
	totpDo(b.headlessChromium, "open the recovery", chromedp.Navigate(g.base+"/recover"), chromedp.WaitVisible(chromedp.CSS("#email")))
	check("forgot", "Forgot your password?")
	n := len(outboxFiles(t, g.outbox))
	totpDo(b.headlessChromium, "ask for a reset link", chromedp.SendKeys(chromedp.CSS("#email"), email))
	totpClickThrough(b.headlessChromium, "send the reset link", `form[action="/recover"] button[type="submit"]`, "h1")
	regNoAlert(b.headlessChromium, "send the reset link")
	b.check("recover-notice")

	// The reset page from the emailed link, then the passwords that do not
	// match refused with the field's error (the browser itself refuses a
	// password under the minimum length).
	m := outboxNext(t, g.outbox, n)
	link := recoverLinkRE.FindString(m.text)
	if link == "" {
		t.Fatalf("no reset link in %s:\n%s", m.file, m.text)
	}
	totpDo(b.headlessChromium, "open the reset link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password")))
	check("reset", "")
	totpDo(b.headlessChromium, "passwords that differ", chromedp.SendKeys(chromedp.CSS("#password"), "a new long password"),
		chromedp.SendKeys(chromedp.CSS("#password2"), "another long password"))
	totpClickThrough(b.headlessChromium, "submit the passwords", `form[action="/recover/reset"] button[type="submit"]`, "#password2")
	if n := totpEval[int](b.headlessChromium, "find the field error", `document.querySelectorAll("#password2[aria-invalid=true]").length`); n != 1 {
		t.Error("the repeated password is not marked aria-invalid")
	}
	b.check("reset-error")

	// The enrolment step: a client that requires a second factor, a user
	// without one.
	_, challenge := pkce()
	totpDo(b.headlessChromium, "start a strict sign-in",
		chromedp.Navigate(biAuthorizeURL(g, biAuthQuery(mfaApp.ID, biLocalCB, "axe", challenge))), chromedp.WaitVisible(chromedp.CSS("#email")))
	regFillPassword(b.headlessChromium, email, "the first long password")
	totpClickThrough(b.headlessChromium, "submit the password", `form[action="/login"] button[type="submit"]`, "h1")
	if !strings.Contains(totpEval[string](b.headlessChromium, "where", `location.pathname`), "/login/enroll") {
		t.Fatalf("the strict sign-in did not reach the enrolment step: %s", totpEval[string](b.headlessChromium, "where", `location.href`))
	}
	b.check("enroll")
}
