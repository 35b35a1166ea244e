package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// totpScreenshotsEnv names a directory that keeps the screenshots of
// TestBrowserTOTP; without it they go to the test's temporary directory.
const totpScreenshotsEnv = "GATEHOUSE_TEST_SCREENSHOTS"

// totpStepTimeout bounds one step of TestBrowserTOTP: a page load, a form
// submission and the checks of the page it leads to.
const totpStepTimeout = 30 * time.Second

// Texts of the two-factor pages (DESIGN.md fixes the error messages).
const (
	totpCodeLead    = "Enter the 6-digit code from your authenticator app."
	totpEnabledInfo = "The authenticator app is enabled."
	totpBlockedMsg  = "You have reached the limit of attempts. Please try again later in 10 minutes."
	totpWrongMsg    = "Invalid One Time Password! (Attempts left: %d)"
	acrMFA          = "urn:gatehouse:loa:2"
)

// TestBrowserTOTP drives a real Chromium through the authenticator app's
// life: a password sign-in, turning the app on from the security page with
// a code computed from the key the page shows, a sign-in that asks for the
// app's code and yields amr [pwd otp mfa], and three wrong codes that end
// in the block message.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGatehouse(t, backend)
			const (
				email    = "grace@example.com"
				name     = "Grace Hopper"
				password = "correct horse battery staple"
			)
			g.createUser(email, name, password)

			rp := newTOTPRP(t, g.base)
			c := g.createClient("--name", "TOTP RP", "--redirect-uri", rp.srv.URL+"/cb")
			if c.Secret == "" {
				t.Fatal("confidential client has no secret")
			}
			rp.configure(c)

			b := startChromium(t, chromium)
			shots := totpShotDir(t)

			// 1. A password-only sign-in: the user has no second factor yet.
			totpPasswordStep(b, rp, g.base, email, password, "#rp-status, #rp-error")
			got := totpRPResult(b, rp, 1)
			if !slices.Equal(got.AMR, []string{"pwd"}) || got.Email != email {
				t.Fatalf("first sign-in: relying party got email %q, amr %q; want %q, [pwd]", got.Email, got.AMR, email)
			}

			// 2. Turn the authenticator app on from the security page.
			secret := totpEnable(b, g.base, email, filepath.Join(shots, "totp-enroll-"+backend+".png"))

			// 3. Sign out from the account page.
			totpSignOut(b, g.base)

			// 4. Sign in again: the password leads to the code page.
			totpPasswordStep(b, rp, g.base, email, password, "#code")
			totpCheckCodePage(b, g.base)
			totpShot(b, filepath.Join(shots, "totp-code-"+backend+".png"))
			// The step the app showed when it was turned on is used up;
			// the next step's code is within the accepted drift.
			code := totpCode(t, secret, time.Now().Add(totp.Period))
			totpSubmitCode(b, code, "#rp-status, #rp-error, .alert")
			if msg := totpText(b, ".alert"); msg != "" {
				b.fail("submit the code", fmt.Errorf("the code page answered %q", msg))
			}
			got = totpRPResult(b, rp, 2)
			if shown := totpRead(b, "read the amr", chromedp.Text(chromedp.CSS("#rp-amr"))); shown != "pwd otp mfa" {
				t.Errorf("relying party page shows amr %q, want \"pwd otp mfa\"", shown)
			}
			if !slices.Equal(got.AMR, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("second sign-in: ID token amr = %q, want [pwd otp mfa]", got.AMR)
			}
			if got.ACR != acrMFA {
				t.Errorf("second sign-in: ID token acr = %q, want %q", got.ACR, acrMFA)
			}
			if got.Email != email || !got.EmailVerified {
				t.Errorf("second sign-in: ID token email %q (verified %t), want %q", got.Email, got.EmailVerified, email)
			}

			// 5. Sign out by forgetting the cookies, then three wrong codes.
			{
				ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
				if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
					b.fail("clear the cookies", err)
				}
				cancel()
			}
			totpPasswordStep(b, rp, g.base, email, password, "#code")
			for left := 2; left >= 1; left-- {
				totpSubmitCode(b, totpWrongCode(t, secret), ".alert")
				want := fmt.Sprintf(totpWrongMsg, left)
				if msg := totpText(b, ".alert"); msg != want {
					b.fail("enter a wrong code", fmt.Errorf("alert %q, want %q", msg, want))
				}
			}
			totpSubmitCode(b, totpWrongCode(t, secret), ".alert")
			if msg := totpText(b, ".alert"); msg != totpBlockedMsg {
				b.fail("enter the third wrong code", fmt.Errorf("alert %q, want %q", msg, totpBlockedMsg))
			}
			if n := totpEval[int](b, "count the code inputs", `document.querySelectorAll("#code").length`); n != 0 {
				t.Errorf("the block page still shows %d code input(s)", n)
			}
			totpShot(b, filepath.Join(shots, "totp-blocked-"+backend+".png"))
			if n := rp.count(); n != 2 {
				t.Errorf("relying party completed %d sign-ins, want 2", n)
			}
		})
	}
}

// totpShotDir is where the screenshots go: $GATEHOUSE_TEST_SCREENSHOTS or
// a temporary directory.
func totpShotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(totpScreenshotsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// totpShot saves a full-page PNG screenshot to path.
func totpShot(b *headlessChromium, path string) {
	b.t.Helper()
	shot := totpRead(b, "screenshot "+filepath.Base(path), chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}

// totpRead runs one action under its own step timeout.
func totpRead[T any](b *headlessChromium, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
	defer cancel()
	return browserRun(b, ctx, step, a)
}

// totpEval evaluates a JavaScript expression under a step timeout.
func totpEval[T any](b *headlessChromium, step, expr string) T {
	b.t.Helper()
	return totpRead(b, step, chromedp.Evaluate[T](expr))
}

// totpText returns the text of the first element matching sel, or "".
func totpText(b *headlessChromium, sel string) string {
	b.t.Helper()
	return totpEval[string](b, "read "+sel,
		fmt.Sprintf(`document.querySelector(%q)?.innerText.trim() ?? ""`, sel))
}

// totpDo runs steps under their own step timeout.
func totpDo(b *headlessChromium, step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
	defer cancel()
	b.do(ctx, step, steps...)
}

// totpType types text into the element sel matches, under its own step
// timeout. Chromium can drop the node a query just found when the page's
// document is replaced under it (CDP error -32000, "Could not find node
// with given id"): a page a click-through waited for can still be swapped
// for its settled document. The step then empties the field and types
// again, at most three times, into a node queried afresh.
func totpType(b *headlessChromium, step, sel, text string) {
	b.t.Helper()
	var err error
	for try := range 3 {
		ctx, cancel := context.WithTimeout(b.ctx, totpStepTimeout)
		steps := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(sel))}
		if try > 0 {
			steps = append(steps, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)))
		}
		err = chromedp.Do(ctx, append(steps, chromedp.SendKeys(chromedp.CSS(sel), text))...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
	}
	if err != nil {
		b.fail(step, err)
	}
}

// totpClickThrough clicks the element click matches, which submits a form
// or follows a link, and waits for an element matching any of the
// comma-free selectors in waitFor on the next page. It marks the current
// document first, so that an element of the page it leaves never counts.
func totpClickThrough(b *headlessChromium, step, click string, waitFor ...string) {
	b.t.Helper()
	fresh := make([]string, len(waitFor))
	for i, sel := range waitFor {
		fresh[i] = "html:not([data-totp-stale]) " + sel
	}
	totpDo(b, step,
		chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.totpStale = "1"`),
		chromedp.Click(chromedp.CSS(click)),
		chromedp.WaitVisible(chromedp.CSS(strings.Join(fresh, ", "))),
	)
}

// totpPasswordStep starts a sign-in at the relying party and submits the
// password; waitFor lists the elements any of which ends the step.
func totpPasswordStep(b *headlessChromium, rp *totpRP, base, email, password, waitFor string) {
	b.t.Helper()
	totpDo(b, "open the login page",
		chromedp.Navigate(rp.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?") {
		b.t.Fatalf("login page at %s, want %s/login?…", loc, base)
	}
	totpDo(b, "fill in the password form",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	sels := append(strings.Split(waitFor, ", "), ".alert")
	totpClickThrough(b, "submit the password", `form[action="/login"] button[type="submit"]`, sels...)
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail("submit the password", fmt.Errorf("the page answered %q", msg))
	}
}

// totpRPResult checks that the browser is on the relying party's page of
// sign-in number n and returns what the relying party saw.
func totpRPResult(b *headlessChromium, rp *totpRP, n int) totpClaims {
	b.t.Helper()
	if msg := totpText(b, "#rp-error"); msg != "" {
		b.fail("finish the sign-in", fmt.Errorf("relying party: %s", msg))
	}
	loc := totpRead(b, "read the location", chromedp.Location())
	if !strings.HasPrefix(loc, rp.srv.URL+"/cb?") {
		b.fail("finish the sign-in", fmt.Errorf("browser at %s, want %s/cb?…", loc, rp.srv.URL))
	}
	got := rp.results()
	if len(got) != n {
		b.t.Fatalf("relying party completed %d sign-ins, want %d", len(got), n)
	}
	last := got[n-1]
	if shown := totpText(b, "#rp-email"); shown != last.Email {
		b.t.Errorf("relying party page shows email %q, want %q", shown, last.Email)
	}
	if status := totpText(b, "#rp-status"); status != "verified" {
		b.t.Errorf("relying party page shows status %q, want \"verified\"", status)
	}
	return last
}

// totpEnable turns the authenticator app on from the security page and
// returns its secret; it saves a screenshot of the enrolment page to shot.
func totpEnable(b *headlessChromium, base, email, shot string) string {
	t := b.t
	t.Helper()
	const turnOn = `form[action="/account/security/totp/enable"] button[type="submit"]`
	totpDo(b, "open the security page",
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(turnOn)),
	)
	if label := totpText(b, turnOn); label != "Turn on" {
		t.Errorf("authenticator button says %q, want \"Turn on\"", label)
	}
	totpClickThrough(b, "turn the authenticator app on", turnOn, "#otpauth", ".alert")
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail("turn the authenticator app on", fmt.Errorf("the page answered %q", msg))
	}

	// The key, as a link and as text.
	href := totpRead(b, "read the otpauth link", chromedp.AttributeValue(chromedp.CSS("#otpauth"), "href"))
	link, err := url.Parse(href.Value)
	if err != nil || link.Scheme != "otpauth" || link.Host != "totp" {
		t.Fatalf("otpauth link %q (%v), want otpauth://totp/…", href.Value, err)
	}
	secret := link.Query().Get("secret")
	if secret == "" {
		t.Fatalf("otpauth link %q has no secret", href.Value)
	}
	if shown := totpRead(b, "read the key", chromedp.Value(chromedp.CSS("#secret"))); strings.ReplaceAll(shown, " ", "") != secret {
		t.Errorf("key for manual entry %q, link's secret %q", shown, secret)
	}
	if label, _ := url.PathUnescape(link.Path); label != "/Gatehouse:"+email || link.Query().Get("issuer") != "Gatehouse" {
		t.Errorf("otpauth link %q: want label Gatehouse:%s and issuer Gatehouse", href.Value, email)
	}

	// The QR code: a PNG data URL that decodes, and that the browser shows.
	src := totpRead(b, "read the QR code", chromedp.AttributeValue(chromedp.CSS("figure.qr img"), "src"))
	data, ok := strings.CutPrefix(src.Value, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code src %.40q…, want a data:image/png;base64 URL", src.Value)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("QR code data URL: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("QR code PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != 240 || sz.Y != 240 {
		t.Errorf("QR code is %v pixels, want 240×240", sz)
	}
	var dark, light int
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				dark++
			} else {
				light++
			}
		}
	}
	if dark < 240*240/10 || light < 240*240/10 {
		t.Errorf("QR code has %d dark and %d light pixels: not a QR code", dark, light)
	}
	if w := totpEval[int](b, "check the QR code is shown",
		`(() => { const i = document.querySelector("figure.qr img"); return i.complete && i.getBoundingClientRect().width > 0 ? i.naturalWidth : 0 })()`); w != 240 {
		t.Errorf("the browser shows the QR code %d pixels wide, want 240", w)
	}
	totpShot(b, shot)

	// The app's code for now enables it.
	totpType(b, "enter the code", "#code", totpCode(t, secret, time.Now()))
	totpClickThrough(b, "apply the code", `form[action="/account/security/totp/enable-confirm"] button[type="submit"]`, "#recovery-codes", ".alert")
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail("apply the code", fmt.Errorf("the page answered %q", msg))
	}
	// The first factor comes with ten recovery codes, shown once.
	if n := totpEval[int](b, "count the recovery codes", `document.querySelectorAll("#recovery-codes li").length`); n != 10 {
		t.Errorf("recovery page shows %d codes, want 10", n)
	}
	totpClickThrough(b, "continue after the recovery codes", `a.button`, ".info", ".alert")
	if info := totpText(b, ".info"); info != totpEnabledInfo {
		t.Errorf("security page says %q, want %q", info, totpEnabledInfo)
	}
	if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, base+"/account/security") {
		t.Errorf("after enabling at %s, want %s/account/security…", loc, base)
	}
	const turnOff = `form[action="/account/security/totp/disable"] button[type="submit"]`
	if label := totpText(b, turnOff); label != "Turn off" {
		t.Errorf("authenticator button now says %q, want \"Turn off\"", label)
	}
	return secret
}

// totpSignOut signs out with the account page's button.
func totpSignOut(b *headlessChromium, base string) {
	b.t.Helper()
	const signOut = `form[action="/logout"] button[type="submit"]`
	totpDo(b, "open the account page",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(signOut)),
	)
	totpClickThrough(b, "sign out", signOut, "h1")
	if h := totpText(b, "h1"); h != "Signed out" {
		b.fail("sign out", fmt.Errorf("page heading %q, want \"Signed out\"", h))
	}
}

// totpCheckCodePage checks the texts and the input of the code page.
func totpCheckCodePage(b *headlessChromium, base string) {
	t := b.t
	t.Helper()
	if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login/otp?") {
		t.Errorf("code page at %s, want %s/login/otp?…", loc, base)
	}
	if h := totpText(b, "h1"); h != "Two-factor authentication" {
		t.Errorf("code page heading %q, want \"Two-factor authentication\"", h)
	}
	if lead := totpText(b, ".lead"); lead != totpCodeLead {
		t.Errorf("code page says %q, want %q", lead, totpCodeLead)
	}
	for attr, want := range map[string]string{"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "6"} {
		got := totpRead(b, "read #code "+attr, chromedp.AttributeValue(chromedp.CSS("#code"), attr))
		if !got.Exists || got.Value != want {
			t.Errorf("#code %s = %q (present %t), want %q", attr, got.Value, got.Exists, want)
		}
	}
	if focused := totpEval[bool](b, "check the focus", `document.activeElement?.id === "code"`); !focused {
		t.Error("the code input does not have the focus")
	}
}

// totpSubmitCode types code into the code page and submits it.
func totpSubmitCode(b *headlessChromium, code string, waitFor string) {
	b.t.Helper()
	totpType(b, "enter the code", "#code", code)
	totpClickThrough(b, "submit the code", `form[action="/login/otp"] button[type="submit"]`, strings.Split(waitFor, ", ")...)
}

// totpCode is the authenticator app's code for secret at time at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.Code(secret, at)
	if err != nil {
		t.Fatalf("totp code: %v", err)
	}
	return code
}

// totpWrongCode returns a code that is none of secret's codes near now.
func totpWrongCode(t *testing.T, secret string) string {
	t.Helper()
	now := time.Now()
	var near []string
	for k := -3; k <= 3; k++ {
		near = append(near, totpCode(t, secret, now.Add(time.Duration(k)*totp.Period)))
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555", "666666", "777777"} {
		if !slices.Contains(near, c) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// totpRP is a confidential OIDC client like browserRP whose page shows the
// ID token's amr and acr, and which records every verified sign-in instead
// of insisting on a password-only one.
type totpRP struct {
	*browserRP
	mu     sync.Mutex
	claims []totpClaims
}

// totpClaims are the ID token claims TestBrowserTOTP checks.
type totpClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	AuthTime      int64    `json:"auth_time"`
}

func newTOTPRP(t *testing.T, issuer string) *totpRP {
	rp := &totpRP{browserRP: &browserRP{t: t, issuer: issuer, pending: map[string]browserPending{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /cb", rp.totpCallback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *totpRP) results() []totpClaims {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.claims)
}

func (rp *totpRP) count() int { return len(rp.results()) }

func (rp *totpRP) totpCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c, err := rp.totpFinish(r)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		totpRPPage.Execute(w, map[string]any{"Error": err.Error()})
		return
	}
	rp.mu.Lock()
	rp.claims = append(rp.claims, c)
	rp.mu.Unlock()
	totpRPPage.Execute(w, map[string]any{"Claims": c, "AMR": strings.Join(c.AMR, " ")})
}

var totpRPPage = template.Must(template.New("rp").Parse(`<!doctype html>
<html><head><title>Relying party</title></head>
<body>{{with .Error}}<p>Sign-in failed: <span id="rp-error">{{.}}</span></p>{{else}}
<p>Signed in as <span id="rp-email">{{.Claims.Email}}</span>: <span id="rp-status">verified</span></p>
<p>amr <span id="rp-amr">{{.AMR}}</span>, acr <span id="rp-acr">{{.Claims.ACR}}</span></p>{{end}}</body></html>
`))

// totpFinish checks state, exchanges the code with its PKCE verifier and
// verifies the ID token and its nonce.
func (rp *totpRP) totpFinish(r *http.Request) (totpClaims, error) {
	var c totpClaims
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return c, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	rp.browserRP.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	oauth, verifier := rp.oauth, rp.verifier
	rp.browserRP.mu.Unlock()
	if !ok {
		return c, fmt.Errorf("unknown state %q", q.Get("state"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	tok, err := oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.codeVerifier))
	if err != nil {
		return c, fmt.Errorf("code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return c, errors.New("token response has no id_token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return c, fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != p.nonce {
		return c, fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, p.nonce)
	}
	if err := idt.Claims(&c); err != nil {
		return c, fmt.Errorf("ID token claims: %w", err)
	}
	if c.AuthTime == 0 {
		return c, errors.New("ID token has no auth_time")
	}
	return c, nil
}
