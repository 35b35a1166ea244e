package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// axeEnv names axe-core's axe.min.js, which .ci/run installs with npm (a
// pinned version, outside the work tree) and the newcomer test injects
// into every page it visits.
const axeEnv = "GATEHOUSE_TEST_AXE"

// axeTags are the WCAG rule sets axe runs.
const axeTags = `['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']`

// axeExcluded lists the axe rules not checked on a page, by the page's
// name in the test, each with the reason. Empty: every page passes every
// rule.
var axeExcluded = map[string][]string{}

// axeSource reads axe.min.js from $GATEHOUSE_TEST_AXE, or skips the test
// (fails it when GATEHOUSE_TEST_REQUIRE_BROWSER=1).
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv(axeEnv)
	if path == "" {
		msg := axeEnv + " is not set (install axe-core with npm, e.g. `npm install --prefix ~/.cache/gatehouse-axe axe-core@4.14.1`, and set it to node_modules/axe-core/axe.min.js; .ci/run does)"
		if os.Getenv(browserRequireEnv) == "1" {
			t.Fatalf("%s, but %s=1", msg, browserRequireEnv)
		}
		t.Skip(msg)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", axeEnv, err)
	}
	return string(src)
}

// axeViolation is one failed axe rule on a page.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// newcomerBrowser is a browser with what the test needs to check each
// page: axe's source and where screenshots go.
type newcomerBrowser struct {
	*headlessChromium
	axe, shots, who string
}

// check saves a full-page screenshot of the page the browser shows as
// name and runs axe on it; every violation fails the test. Runtime.evaluate
// is not subject to the page's Content-Security-Policy.
func (b *newcomerBrowser) check(name string) {
	t := b.t
	t.Helper()
	totpShot(b.headlessChromium, filepath.Join(b.shots, "newcomer-"+b.who+"-"+name+".png"))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	vs := b.axeRun(ctx, name, axeExcluded[name])
	loc := totpRead(b.headlessChromium, "read the location", chromedp.Location())
	for _, v := range vs {
		t.Errorf("axe: %s (%s) at %s: %s [%s] %s", name, loc, strings.Join(v.Targets, " | "), v.ID, v.Impact, v.Help)
	}
	t.Logf("axe: %s (%s): %d violation(s)", name, loc, len(vs))
}

// axeRun runs axe on the page the browser shows, without the rules
// excluded, and returns the violations.
func (b *newcomerBrowser) axeRun(ctx context.Context, name string, excluded []string) []axeViolation {
	b.t.Helper()
	b.do(ctx, "inject axe into "+name, chromedp.Evaluate[chromedp.Void](`if (typeof axe === "undefined") {`+b.axe+"\n}"))
	var rules string
	for _, id := range excluded {
		rules += fmt.Sprintf("%q: {enabled: false}, ", id)
	}
	// Violations fail; what axe could not decide ("incomplete", e.g. a
	// contrast over a background image) is only logged.
	expr := `axe.run(document, {runOnly: ` + axeTags + `, rules: {` + rules + `}}).then(r => JSON.stringify({
		violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" "))})),
		incomplete: r.incomplete.map(v => v.id)}))`
	out := browserRun(b.headlessChromium, ctx, "run axe on "+name, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	var res struct {
		Violations []axeViolation `json:"violations"`
		Incomplete []string       `json:"incomplete"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		b.t.Fatalf("axe on %s: %v: %s", name, err, out)
	}
	if len(res.Incomplete) > 0 {
		b.t.Logf("axe: %s: needs review (not failed): %s", name, strings.Join(res.Incomplete, ", "))
	}
	return res.Violations
}

// axeCanary checks that axe, as injected and run, does report violations:
// a page with an image without alternative text and an unlabelled input
// must fail image-alt and label.
func axeCanary(b *newcomerBrowser) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	b.do(ctx, "open the canary page",
		chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>Canary</title><main><h1>Canary</h1><img src="data:,"><input type="text"></main></html>`),
		chromedp.WaitReady(chromedp.CSS("h1")))
	var ids []string
	for _, v := range b.axeRun(ctx, "canary", nil) {
		ids = append(ids, v.ID)
	}
	if !slices.Contains(ids, "image-alt") || !slices.Contains(ids, "label") {
		b.t.Fatalf("axe finds %q on the canary page, want image-alt and label among them", ids)
	}
}

// TestBrowserNewcomer does what a newcomer does with no application and
// no SMTP server (the mail outbox): opens the front door, registers,
// confirms the address with the emailed link, signs in, turns the
// authenticator app on, signs out and back in with password and code, and
// lands on the account home. Three wrong codes from another address on the
// way block that address. Then an administrator, in a second browser,
// finds the newcomer, their events and the block in the admin console.
// Every page gets a screenshot (the test's artifact directory) and an axe
// check against WCAG 2.2 AA.
func TestBrowserNewcomer(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	axe := axeSource(t)
	const (
		email         = "newcomer@example.com"
		name          = "Nell Newcomer"
		password      = "a newcomer's long password"
		adminEmail    = "root@example.com"
		adminPassword = "correct horse battery staple"
		otherIP       = "203.0.113.7"
	)
	// No SMTP host: the mail goes to the outbox. Loopback is a trusted
	// proxy, so that X-Forwarded-For can stand for another address.
	g := newGatehouse(t, databaseURL(t, "sqlite"),
		"GATEHOUSE_MAIL_SMTP_HOST=",
		"GATEHOUSE_HTTP_TRUSTED_PROXIES=127.0.0.1/32",
	)
	g.start()
	shots := t.ArtifactDir()
	start := time.Now()
	b := &newcomerBrowser{startChromium(t, chromium), axe, shots, "user"}
	axeCanary(b)

	// 1. The front door sends a stranger to sign in, which links to
	// registration.
	totpDo(b.headlessChromium, "open the front door", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if loc := totpRead(b.headlessChromium, "read the location", chromedp.Location()); !strings.HasPrefix(loc, g.base+"/login?") {
		t.Fatalf("the front door shows %s, want %s/login?…", loc, g.base)
	}
	b.check("front-door")
	totpClickThrough(b.headlessChromium, "follow \"Create an account\"", `a[href^="/register"]`, "#password2", ".alert")
	regNoAlert(b.headlessChromium, "open the registration form")
	b.check("register")

	// 2. Register.
	totpDo(b.headlessChromium, "fill in the registration form",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#password2"), password),
	)
	totpClickThrough(b.headlessChromium, "submit the registration", `form[action="/register"] button[type="submit"]`, ".lead", ".alert")
	regNoAlert(b.headlessChromium, "submit the registration")
	if h := totpText(b.headlessChromium, "h1"); h != regCheckEmailTitle {
		t.Errorf("after registering, heading %q, want %q", h, regCheckEmailTitle)
	}
	b.check("check-email")

	// 3. The confirmation email, from the outbox, and its link.
	m := outboxNext(t, g.outbox, 0)
	link := regConfirmLinkRE.FindString(m.text)
	if !strings.HasPrefix(link, g.base+"/register/confirm?token=") {
		t.Fatalf("confirmation email %s has link %q, want %s/register/confirm?token=…:\n%s", m.file, link, g.base, m.text)
	}
	const confirmButton = `form[action="/register/confirm"] button[type="submit"]`
	totpDo(b.headlessChromium, "open the confirmation link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(confirmButton+", .alert")))
	regNoAlert(b.headlessChromium, "open the confirmation link")
	b.check("confirm")
	totpClickThrough(b.headlessChromium, "confirm the email", confirmButton, ".info", ".alert")
	regNoAlert(b.headlessChromium, "confirm the email")
	if h := totpText(b.headlessChromium, "h1"); h != regConfirmedTitle {
		t.Errorf("after confirming, heading %q, want %q", h, regConfirmedTitle)
	}
	b.check("confirmed")

	// 4. Sign in: the sign-in the registration started continues to the
	// account home.
	totpClickThrough(b.headlessChromium, "continue signing in", `a[href^="/login?authRequestID="]`, "#password", ".alert")
	regFillPassword(b.headlessChromium, email, password)
	newcomerSubmitPassword(b, g.base)
	b.check("home")

	// 5. The authenticator app.
	secret := newcomerEnableTOTP(b, g.base)

	// 6. Sign out.
	newcomerSignOut(b, g.base)

	// 7. Three wrong codes from another address block it.
	newcomerHeaders(b, network.Headers{"X-Forwarded-For": otherIP})
	newcomerPasswordToCode(b, g.base, email, password)
	b.check("code")
	wrong := totpWrongCode(t, secret)
	for i := range 3 {
		totpSubmitCode(b.headlessChromium, wrong, ".alert")
		if i == 0 {
			b.check("wrong-code")
		}
	}
	b.check("blocked")
	t.Logf("after three wrong codes from %s the page says %q", otherIP, totpText(b.headlessChromium, ".alert"))
	newcomerHeaders(b, network.Headers{})

	// 8. Sign back in with password and code: the account home.
	newcomerPasswordToCode(b, g.base, email, password)
	totpType(b.headlessChromium, "enter the code", "#code", totpCode(t, secret, time.Now().Add(totp.Period)))
	totpClickThrough(b.headlessChromium, "submit the code", `form[action="/login/otp"] button[type="submit"]`, "h1")
	regNoAlert(b.headlessChromium, "submit the code")
	newcomerAtHome(b, g.base)
	b.check("home-again")

	// 9. The administrator, in a second browser, with the authenticator app.
	g.createUser(adminEmail, "Root", adminPassword)
	if out := g.cli("", "users", "grant-admin", adminEmail); !strings.Contains(out, "has the administrator role") {
		t.Fatalf("users grant-admin printed %q", out)
	}
	a := &newcomerBrowser{startChromium(t, chromium), axe, shots, "admin"}
	totpDo(a.headlessChromium, "open the front door", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	regFillPassword(a.headlessChromium, adminEmail, adminPassword)
	newcomerSubmitPassword(a, g.base)
	adminSecret := newcomerEnableTOTP(a, g.base)
	newcomerSignOut(a, g.base)
	newcomerPasswordToCode(a, g.base, adminEmail, adminPassword)
	totpType(a.headlessChromium, "enter the code", "#code", totpCode(t, adminSecret, time.Now().Add(totp.Period)))
	totpClickThrough(a.headlessChromium, "submit the code", `form[action="/login/otp"] button[type="submit"]`, "h1")
	newcomerAtHome(a, g.base)
	a.check("home")

	totpDo(a.headlessChromium, "open the console", chromedp.Navigate(g.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := totpText(a.headlessChromium, "h1"); h != "Admin console" {
		a.fail("open the console", fmt.Errorf("heading %q", h))
	}
	a.check("console")

	// The newcomer, by a search.
	totpDo(a.headlessChromium, "search the users", chromedp.Navigate(g.base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("h1")))
	a.check("users")
	totpDo(a.headlessChromium, "search for the newcomer",
		chromedp.Navigate(g.base+"/admin/users?q=newcomer"), chromedp.WaitVisible(chromedp.CSS("tbody a")))
	if n := totpEval[int](a.headlessChromium, "count the users found", `document.querySelectorAll("tbody tr").length`); n != 1 {
		t.Errorf("the search for \"newcomer\" finds %d users, want 1", n)
	}
	a.check("users-search")
	totpClickThrough(a.headlessChromium, "open the newcomer", "tbody a", "h1")
	if h := totpText(a.headlessChromium, "h1"); h != email {
		a.fail("open the newcomer", fmt.Errorf("heading %q, want %q", h, email))
	}
	if dd := totpText(a.headlessChromium, "dd"); dd != name {
		t.Errorf("the newcomer's page gives the name %q, want %q", dd, name)
	}
	// Their recent events: the registration, the sign-ins and the wrong
	// codes from the other address.
	events := totpText(a.headlessChromium, `section[aria-labelledby="events-h"]`)
	for _, want := range []string{"user.registered", "email.confirmed", "factor.enabled", "signin.succeeded", "code.failed", "code.blocked", otherIP, "127.0.0.1"} {
		if !strings.Contains(events, want) {
			t.Errorf("the newcomer's recent events do not show %q:\n%s", want, events)
		}
	}
	t.Logf("the newcomer's recent events:\n%s", events)
	a.check("user")

	// The block of the other address.
	totpDo(a.headlessChromium, "open the blocks", chromedp.Navigate(g.base+"/admin/blocks"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := totpEval[[]string](a.headlessChromium, "read the blocks", `[...document.querySelectorAll("tbody th")].map(th => th.innerText.trim())`); len(got) != 1 || got[0] != otherIP {
		t.Errorf("the blocks page shows %q blocked, want [%s]", got, otherIP)
	}
	if cells := totpEval[[]string](a.headlessChromium, "read the block", `[...document.querySelectorAll("tbody tr:first-child td")].map(td => td.innerText.trim())`); len(cells) < 3 || cells[0] != "ip" || cells[1] != "otp" || cells[2] != "3" {
		t.Errorf("the block of %s: kind, step, failures %q, want ip, otp, 3", otherIP, cells)
	}
	a.check("blocks")

	// The newcomer's events in the audit log.
	totpDo(a.headlessChromium, "open the audit log", chromedp.Navigate(g.base+"/admin/audit?ip="+otherIP), chromedp.WaitVisible(chromedp.CSS("h1")))
	a.check("audit")
	t.Logf("the newcomer's way took %s", time.Since(start).Round(time.Millisecond))
}

// newcomerSubmitPassword submits the filled-in sign-in form, which ends on
// the account home.
func newcomerSubmitPassword(b *newcomerBrowser, base string) {
	b.t.Helper()
	totpClickThrough(b.headlessChromium, "sign in", `form[action="/login"] button[type="submit"]`, "h1")
	regNoAlert(b.headlessChromium, "sign in")
	newcomerAtHome(b, base)
}

// newcomerAtHome checks that the browser is on the account home.
func newcomerAtHome(b *newcomerBrowser, base string) {
	b.t.Helper()
	if loc := totpRead(b.headlessChromium, "read the location", chromedp.Location()); loc != base+"/" {
		b.fail("land on the account home", fmt.Errorf("at %s, want %s/", loc, base))
	}
	if h := totpText(b.headlessChromium, "h1"); h != "Your account" {
		b.fail("land on the account home", fmt.Errorf("heading %q", h))
	}
}

// newcomerPasswordToCode opens the front door, signs in with the
// password and waits for the code page.
func newcomerPasswordToCode(b *newcomerBrowser, base, email, password string) {
	b.t.Helper()
	totpDo(b.headlessChromium, "open the front door", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	regFillPassword(b.headlessChromium, email, password)
	totpClickThrough(b.headlessChromium, "submit the password", `form[action="/login"] button[type="submit"]`, "#code", ".alert")
	regNoAlert(b.headlessChromium, "submit the password")
}

// newcomerEnableTOTP turns the authenticator app on at
// /account/security, checking each page, and returns the key.
func newcomerEnableTOTP(b *newcomerBrowser, base string) string {
	t := b.t
	t.Helper()
	const turnOn = `form[action="/account/security/totp/enable"] button[type="submit"]`
	totpDo(b.headlessChromium, "open the security page", chromedp.Navigate(base+"/account/security"), chromedp.WaitVisible(chromedp.CSS(turnOn)))
	b.check("security")
	totpClickThrough(b.headlessChromium, "turn the authenticator app on", turnOn, "#secret", ".alert")
	regNoAlert(b.headlessChromium, "turn the authenticator app on")
	b.check("totp-enrol")
	secret := strings.ReplaceAll(regValue(b.headlessChromium, "#secret"), " ", "")
	if secret == "" {
		t.Fatal("the enrolment page shows no key")
	}
	totpType(b.headlessChromium, "enter the code", "#code", totpCode(t, secret, time.Now()))
	totpClickThrough(b.headlessChromium, "apply the code", `form[action="/account/security/totp/enable-confirm"] button[type="submit"]`, "#recovery-codes", ".alert")
	regNoAlert(b.headlessChromium, "apply the code")
	b.check("recovery-codes")
	totpClickThrough(b.headlessChromium, "continue after the recovery codes", `a.button`, ".info", ".alert")
	if info := totpText(b.headlessChromium, ".info"); info != totpEnabledInfo {
		t.Errorf("security page says %q, want %q", info, totpEnabledInfo)
	}
	b.check("security-totp-on")
	return secret
}

// newcomerSignOut signs out with the account home's button.
func newcomerSignOut(b *newcomerBrowser, base string) {
	b.t.Helper()
	const signOut = `form[action="/logout"] button[type="submit"]`
	totpDo(b.headlessChromium, "open the account home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(signOut)))
	totpClickThrough(b.headlessChromium, "sign out", signOut, "h1")
	if h := totpText(b.headlessChromium, "h1"); h != "Signed out" {
		b.fail("sign out", fmt.Errorf("page heading %q, want \"Signed out\"", h))
	}
	b.check("signed-out")
}

// newcomerHeaders makes the browser send headers with every request.
func newcomerHeaders(b *newcomerBrowser, h network.Headers) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		b.fail("set the request headers", err)
	}
}
