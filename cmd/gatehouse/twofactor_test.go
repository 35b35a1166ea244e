package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// End-to-end tests of two-factor sign-in (issue 3): TOTP and emailed
// codes, the account's two-factor settings, attempt limits, IP and account
// blocks, trusted proxies, races, replicas, SMTP outages and enrolment
// during sign-in. Every test runs against the real binary, with a real SMTP
// server in the test and the server's clock moved through
// GATEHOUSE_TEST_CLOCK_FILE.

const (
	tfWrong1 = "Invalid One Time Password! (Attempts left: 2)"
	tfWrong2 = "Invalid One Time Password! (Attempts left: 1)"
	tfNoSend = "We couldn't send the code, try again."
)

var (
	tfAMRTOTP  = []string{"pwd", "otp", "mfa"}
	tfAMREmail = []string{"pwd", "email", "mfa"}
)

const (
	tfACR1     = "urn:gatehouse:loa:1"
	tfACREmail = "urn:gatehouse:loa:1:email" // an emailed code (login/acr.go)
	tfACR2     = "urn:gatehouse:loa:2"
)

func TestTwoFactor(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			t.Run("main", func(t *testing.T) {
				t.Parallel()
				e := tfStart(t, databaseURL(t, backend))
				t.Run("authenticator app", e.testTOTP)
				t.Run("email codes", e.testEmail)
				t.Run("wrong codes and IP block", e.testIPBlock)
				t.Run("per-account cap", e.testAccountCap)
				t.Run("X-Forwarded-For ignored", e.testForwardedIgnored)
				t.Run("SMTP down", e.testSMTPDown)
				t.Run("require MFA", e.testRequireMFA)
				t.Run("users reset-2fa", e.testReset)
				t.Run("users reset-2fa ends what the factors let in", e.testResetEnds)
				t.Run("enrolment is no way around a factor", e.testEnrollBypass)
			})
			t.Run("proxies, races, replicas", func(t *testing.T) {
				t.Parallel()
				e := tfStart(t, databaseURL(t, backend),
					"GATEHOUSE_HTTP_TRUSTED_PROXIES=127.0.0.1/32",
					"GATEHOUSE_LOCKOUT_ACCOUNT_MAX_ATTEMPTS=100")
				t.Run("X-Forwarded-For from a trusted proxy", e.testForwardedTrusted)
				t.Run("parallel submissions of one code", e.testRace)
				t.Run("a burst of wrong codes", e.testBurst)
				t.Run("a burst of resends", e.testResendBurst)
				if backend == "postgres" {
					t.Run("two replicas share a block", e.testReplicas)
				}
			})
		})
	}
}

// testTOTP enables and disables the authenticator app from the account
// page, signs in with it and replays a code.
func (e *tfEnv) testTOTP(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-totp@example.com")
	b := e.session(t, u, "127.0.1.1")
	sec := e.security(t, b)
	if tfHas(sec.body, "totp") || tfHas(sec.body, "email") {
		t.Fatalf("a new user has a factor:\n%s", sec.body)
	}

	// Enrolment page: QR code, key in text and otpauth:// link.
	page := b.post(e.g.base+"/account/security/totp/enable", tfForm(t, sec.body, "/account/security/totp/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("totp/enable = %d:\n%s", page.StatusCode, page.body)
	}
	u.secret = tfSecret(t, page.body)
	if !strings.Contains(page.body, `src="data:image/png;base64,`) {
		t.Errorf("enrolment page without a QR code image")
	}
	confirm := tfForm(t, page.body, "/account/security/totp/enable-confirm")

	// A wrong code is refused and the factor stays off.
	resp := tfPostCode(b, e.g.base+"/account/security/totp/enable-confirm", confirm, e.wrongTOTP(u))
	tfExpect(t, resp, http.StatusForbidden, tfWrong1)
	if got := tfSecret(t, resp.body); got != u.secret {
		t.Errorf("after a wrong code the enrolment shows another secret")
	}
	if tfHas(e.security(t, b).body, "totp") {
		t.Fatal("the authenticator app is on after a wrong code")
	}
	// The right code turns it on.
	resp = tfPostCode(b, e.g.base+"/account/security/totp/enable-confirm", confirm, e.code(u))
	if codes := tfEnabled(t, resp, "/account/security?done=totp-on"); len(codes) != 10 {
		t.Errorf("the first factor came with %d recovery codes, want 10", len(codes))
	}
	sec = b.get(e.g.base + "/account/security?done=totp-on")
	if !tfHas(sec.body, "totp") || tfHas(sec.body, "email") || !strings.Contains(sec.body, "The authenticator app is enabled.") {
		t.Fatalf("security page after enabling:\n%s", sec.body)
	}
	if out := tfCLI(t, e.g, "", "users", "show", u.email); !regexp.MustCompile(`authenticator app:\s+on`).MatchString(out) {
		t.Errorf("users show after enabling:\n%s", out)
	}
	e.mail.wait(t, u.email, "Two-factor authentication changed", 1)
	// The secret is never shown again.
	if strings.Contains(sec.body, u.secret) {
		t.Error("the security page shows the active secret")
	}

	// Sign-in with the app: the code page, then a token with otp and mfa.
	b2 := newBrowser(t).from("127.0.1.2")
	f, codePage := e.codePage(t, rp, b2, u)
	if fields := tfForm(t, codePage.body, "/login/otp"); fields.Get("method") != "totp" || fields.Get("authRequestID") == "" || fields.Get("csrf") == "" {
		t.Errorf("code form fields = %v", fields)
	}
	if strings.Contains(codePage.body, "/login/otp/resend") || strings.Contains(codePage.body, "Send a code to my email instead") {
		t.Errorf("a TOTP-only user is offered email codes:\n%s", codePage.body)
	}
	if !strings.Contains(codePage.body, `name="code"`) || !strings.Contains(codePage.body, `autocomplete="one-time-code"`) {
		t.Errorf("code page without a one-time-code input:\n%s", codePage.body)
	}
	used := e.code(u)
	c := tfFinish(t, rp, b2, f, tfPostCode(b2, e.g.base+"/login/otp", tfForm(t, codePage.body, "/login/otp"), used))
	tfClaims(t, c, tfAMRTOTP, tfACR2)

	// Replay: the same code (time step) in a new sign-in is refused, even
	// though it is still within its validity; a fresh one works.
	b3 := newBrowser(t).from("127.0.1.3")
	f, codePage = e.codePage(t, rp, b3, u)
	form := tfForm(t, codePage.body, "/login/otp")
	tfExpect(t, tfPostCode(b3, e.g.base+"/login/otp", form, used), http.StatusUnauthorized, tfWrong1)
	c = tfFinish(t, rp, b3, f, tfPostCode(b3, e.g.base+"/login/otp", form, e.code(u)))
	tfClaims(t, c, tfAMRTOTP, tfACR2)

	// Disabling needs a valid code too.
	page = b.post(e.g.base+"/account/security/totp/disable", tfForm(t, e.security(t, b).body, "/account/security/totp/disable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("totp/disable = %d:\n%s", page.StatusCode, page.body)
	}
	confirm = tfForm(t, page.body, "/account/security/totp/disable-confirm")
	resp = b.post(e.g.base+"/account/security/totp/disable-confirm", confirm) // no code at all
	tfExpect(t, resp, http.StatusForbidden, tfWrong1)
	tfExpect(t, tfPostCode(b, e.g.base+"/account/security/totp/disable-confirm", confirm, e.wrongTOTP(u)), http.StatusForbidden, tfWrong2)
	if !tfHas(e.security(t, b).body, "totp") {
		t.Fatal("the authenticator app was turned off without a valid code")
	}
	resp = tfPostCode(b, e.g.base+"/account/security/totp/disable-confirm", confirm, e.code(u))
	tfRedirect(t, resp, "/account/security?done=totp-off")
	if tfHas(e.security(t, b).body, "totp") {
		t.Fatal("the authenticator app is still on")
	}
	e.mail.wait(t, u.email, "Two-factor authentication changed", 2)

	// Now the password alone signs in again.
	f = rp.newFlow()
	_, _, c = rp.exchange(rp.signIn(newBrowser(t).from("127.0.1.4"), f, u.email, u.pass), f)
	tfClaims(t, c, []string{"pwd"}, tfACR1)
}

// testEmail enables and disables email codes, signs in with them, and
// checks Resend, its cooldown, the 60-second expiry and the switch from the
// authenticator app to email.
func (e *tfEnv) testEmail(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-email@example.com")
	b := e.session(t, u, "127.0.2.1")

	n := e.mail.count(u.email, tfCodeSubject)
	page := b.post(e.g.base+"/account/security/email/enable", tfForm(t, e.security(t, b).body, "/account/security/email/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("email/enable = %d:\n%s", page.StatusCode, page.body)
	}
	code := e.mail.code(t, u.email, n)
	e.checkUntil(t, page.body)
	confirm := tfForm(t, page.body, "/account/security/email/enable-confirm")
	tfForm(t, page.body, "/account/security/email/enable-resend")

	tfExpect(t, tfPostCode(b, e.g.base+"/account/security/email/enable-confirm", confirm, wrongCodeFor(code)), http.StatusForbidden, tfWrong1)
	if tfHas(e.security(t, b).body, "email") {
		t.Fatal("email codes are on after a wrong code")
	}
	// An immediate resend is held back by the cooldown.
	resp := b.post(e.g.base+"/account/security/email/enable-resend", confirm)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(tfAlert(resp.body), "A code was sent a moment ago") {
		t.Fatalf("immediate resend = %d %q", resp.StatusCode, tfAlert(resp.body))
	}
	if codes := tfEnabled(t, tfPostCode(b, e.g.base+"/account/security/email/enable-confirm", confirm, code), "/account/security?done=email-on"); len(codes) != 10 {
		t.Errorf("the first factor came with %d recovery codes, want 10", len(codes))
	}
	if sec := e.security(t, b); !tfHas(sec.body, "email") || tfHas(sec.body, "totp") {
		t.Fatalf("security page after enabling email codes:\n%s", sec.body)
	}
	e.mail.wait(t, u.email, "Two-factor authentication changed", 1)

	// Sign-in with an emailed code, with Resend.
	b2 := newBrowser(t).from("127.0.2.2")
	n = e.mail.count(u.email, tfCodeSubject)
	f, codePage := e.codePage(t, rp, b2, u)
	first := e.mail.code(t, u.email, n)
	e.checkUntil(t, codePage.body)
	form := tfForm(t, codePage.body, "/login/otp")
	if form.Get("method") != "email" {
		t.Errorf("code form method = %q, want email", form.Get("method"))
	}
	resend := tfForm(t, codePage.body, "/login/otp/resend")
	if !slices.Equal(tfSorted(resend), tfSorted(form)) {
		t.Errorf("resend form fields %v differ from the code form's %v", resend, form)
	}
	// Reloading the page sends no second code.
	if again := b2.get(e.g.base + "/login/otp?authRequestID=" + url.QueryEscape(form.Get("authRequestID"))); again.StatusCode != http.StatusOK {
		t.Errorf("reload = %d", again.StatusCode)
	}
	// Nor does an immediate resend: the cooldown.
	resp = b2.post(e.g.base+"/login/otp/resend", resend)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(tfAlert(resp.body), "A code was sent a moment ago") {
		t.Errorf("immediate resend = %d %q", resp.StatusCode, tfAlert(resp.body))
	}
	if got := e.mail.count(u.email, tfCodeSubject); got != n+1 {
		t.Errorf("%d code emails after reload and resend, want 1", got-n)
	}
	tfExpect(t, tfPostCode(b2, e.g.base+"/login/otp", form, wrongCodeFor(first)), http.StatusUnauthorized, tfWrong1)
	// After the cooldown Resend sends a new code and voids the old one;
	// the limiter goes on counting.
	e.advance(31 * time.Second)
	n = e.mail.count(u.email, tfCodeSubject)
	resp = b2.post(e.g.base+"/login/otp/resend", resend)
	if resp.StatusCode != http.StatusOK || !strings.Contains(tfInfo(resp.body), "The previous code no longer works") {
		t.Fatalf("resend = %d info %q alert %q", resp.StatusCode, tfInfo(resp.body), tfAlert(resp.body))
	}
	second := e.mail.code(t, u.email, n)
	if second == first {
		t.Fatal("resend sent the same code")
	}
	tfExpect(t, tfPostCode(b2, e.g.base+"/login/otp", form, first), http.StatusUnauthorized, tfWrong2)
	c := tfFinish(t, rp, b2, f, tfPostCode(b2, e.g.base+"/login/otp", form, second))
	tfClaims(t, c, tfAMREmail, tfACREmail)

	// An emailed code is bound to its sign-in, and valid for 60 seconds.
	b3 := newBrowser(t).from("127.0.2.3")
	n = e.mail.count(u.email, tfCodeSubject)
	f, codePage = e.codePage(t, rp, b3, u)
	code = e.mail.code(t, u.email, n)
	form = tfForm(t, codePage.body, "/login/otp")
	b5 := newBrowser(t).from("127.0.2.5")
	n = e.mail.count(u.email, tfCodeSubject)
	_, otherPage := e.codePage(t, rp, b5, u)
	otherCode := e.mail.code(t, u.email, n)
	tfExpect(t, tfPostCode(b5, e.g.base+"/login/otp", tfForm(t, otherPage.body, "/login/otp"), code), http.StatusUnauthorized, tfWrong1)
	if otherCode == code {
		t.Error("two sign-ins got the same code")
	}
	e.advance(61 * time.Second)
	tfExpect(t, tfPostCode(b3, e.g.base+"/login/otp", form, code), http.StatusUnauthorized, tfWrong1)
	n = e.mail.count(u.email, tfCodeSubject)
	if resp := b3.post(e.g.base+"/login/otp/resend", tfForm(t, codePage.body, "/login/otp/resend")); resp.StatusCode != http.StatusOK {
		t.Fatalf("resend after expiry = %d", resp.StatusCode)
	}
	code = e.mail.code(t, u.email, n)
	c = tfFinish(t, rp, b3, f, tfPostCode(b3, e.g.base+"/login/otp", form, code))
	tfClaims(t, c, tfAMREmail, tfACREmail)

	// With both factors the app is the default, and email one click away.
	e.enableTOTP(t, b, u)
	b4 := newBrowser(t).from("127.0.2.4")
	n = e.mail.count(u.email, tfCodeSubject)
	f, codePage = e.codePage(t, rp, b4, u)
	form = tfForm(t, codePage.body, "/login/otp")
	if form.Get("method") != "totp" || !strings.Contains(codePage.body, "Send a code to my email instead") {
		t.Fatalf("with both factors, the code page is not the app's with a switch to email:\n%s", codePage.body)
	}
	if strings.Contains(codePage.body, "/login/otp/resend") {
		t.Error("the app's code page offers Resend")
	}
	if got := e.mail.count(u.email, tfCodeSubject); got != n {
		t.Error("the app's code page sent an email code")
	}
	sw := regexp.MustCompile(`<a href="([^"]+)">Send a code to my email instead</a>`).FindStringSubmatch(codePage.body)
	if sw == nil {
		t.Fatalf("no link to email codes:\n%s", codePage.body)
	}
	emailPage := b4.get(e.g.base + html.UnescapeString(sw[1]))
	if emailPage.StatusCode != http.StatusOK {
		t.Fatalf("%s = %d", sw[1], emailPage.StatusCode)
	}
	code = e.mail.code(t, u.email, n)
	form = tfForm(t, emailPage.body, "/login/otp")
	if form.Get("method") != "email" {
		t.Errorf("after the switch method = %q", form.Get("method"))
	}
	tfForm(t, emailPage.body, "/login/otp/resend")
	c = tfFinish(t, rp, b4, f, tfPostCode(b4, e.g.base+"/login/otp", form, code))
	tfClaims(t, c, tfAMREmail, tfACREmail)

	// Disabling email codes needs an emailed code.
	n = e.mail.count(u.email, tfCodeSubject)
	page = b.post(e.g.base+"/account/security/email/disable", tfForm(t, e.security(t, b).body, "/account/security/email/disable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("email/disable = %d:\n%s", page.StatusCode, page.body)
	}
	code = e.mail.code(t, u.email, n)
	confirm = tfForm(t, page.body, "/account/security/email/disable-confirm")
	tfForm(t, page.body, "/account/security/email/disable-resend")
	tfExpect(t, b.post(e.g.base+"/account/security/email/disable-confirm", confirm), http.StatusForbidden, tfWrong1)
	tfExpect(t, tfPostCode(b, e.g.base+"/account/security/email/disable-confirm", confirm, wrongCodeFor(code)), http.StatusForbidden, tfWrong2)
	if !tfHas(e.security(t, b).body, "email") {
		t.Fatal("email codes were turned off without a valid code")
	}
	tfRedirect(t, tfPostCode(b, e.g.base+"/account/security/email/disable-confirm", confirm, code), "/account/security?done=email-off")
	if sec := e.security(t, b); tfHas(sec.body, "email") || !tfHas(sec.body, "totp") {
		t.Fatalf("security page after disabling email codes:\n%s", sec.body)
	}
}

// testIPBlock checks the wrong-code messages, the block after the third,
// that it closes every step from that IP only, its end, and the CLI.
func (e *tfEnv) testIPBlock(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-block@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.3.1"), u)
	other := e.newUser(t, "tf-block-other@example.com")

	// Two sign-ins from 127.0.0.2 reach the code page.
	bA := newBrowser(t).from("127.0.0.2")
	_, pageA := e.codePage(t, rp, bA, u)
	formA := tfForm(t, pageA.body, "/login/otp")
	bB := newBrowser(t).from("127.0.0.2")
	_, pageB := e.codePage(t, rp, bB, u)
	formB := tfForm(t, pageB.body, "/login/otp")

	resp := tfPostCode(bA, e.g.base+"/login/otp", formA, e.wrongTOTP(u))
	tfExpect(t, resp, http.StatusUnauthorized, tfWrong1)
	if !strings.Contains(resp.body, `name="code"`) {
		t.Error("after a wrong code the form is gone")
	}
	tfExpect(t, tfPostCode(bA, e.g.base+"/login/otp", formA, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong2)
	resp = tfPostCode(bA, e.g.base+"/login/otp", formA, e.wrongTOTP(u))
	blockedAt := e.now()
	tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
	if strings.Contains(resp.body, `name="code"`) {
		t.Error("the block page still offers the code form")
	}
	// The pending sign-in is over: back to the password.
	resp = tfPostCode(bA, e.g.base+"/login/otp", formA, e.code(u))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?authRequestID=") {
		t.Errorf("code for an ended sign-in = %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The right code from the blocked IP, in another sign-in, is refused.
	tfExpect(t, tfPostCode(bB, e.g.base+"/login/otp", formB, e.code(u)), http.StatusTooManyRequests, blockedText)
	// So is the password form, for every account.
	for _, who := range []*tfUser{other, u} {
		_, resp := tfPassword(t, rp, newBrowser(t).from("127.0.0.2"), who.email, who.pass)
		tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
	}
	// Another IP signs in normally, with the same account.
	b3 := newBrowser(t).from("127.0.0.3")
	f, page := e.codePage(t, rp, b3, u)
	tfClaims(t, tfFinish(t, rp, b3, f, tfPostCode(b3, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)

	if out := tfCLI(t, e.g, "", "blocks", "list"); !strings.Contains(out, "127.0.0.2") {
		t.Errorf("blocks list does not show 127.0.0.2:\n%s", out)
	}

	// The minutes count down, and the block ends after 10 minutes.
	e.advance(blockedAt.Add(5*time.Minute + 30*time.Second).Sub(e.now())) // 4m30s left
	_, resp = tfPassword(t, rp, newBrowser(t).from("127.0.0.2"), other.email, other.pass)
	tfExpect(t, resp, http.StatusTooManyRequests, strings.Replace(blockedText, "10 minutes", "5 minutes", 1))
	e.advance(blockedAt.Add(10*time.Minute + time.Second).Sub(e.now()))
	b2 := newBrowser(t).from("127.0.0.2")
	f, page = e.codePage(t, rp, b2, u)
	tfClaims(t, tfFinish(t, rp, b2, f, tfPostCode(b2, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)

	// An administrator lifts a block.
	b4 := newBrowser(t).from("127.0.0.4")
	_, page = e.codePage(t, rp, b4, u)
	form := tfForm(t, page.body, "/login/otp")
	for range 2 {
		tfPostCode(b4, e.g.base+"/login/otp", form, e.wrongTOTP(u))
	}
	tfExpect(t, tfPostCode(b4, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusTooManyRequests, blockedText)
	if out := tfCLI(t, e.g, "", "blocks", "list"); !strings.Contains(out, "127.0.0.4") {
		t.Errorf("blocks list does not show 127.0.0.4:\n%s", out)
	}
	tfCLI(t, e.g, "", "blocks", "clear", "127.0.0.4")
	if out := tfCLI(t, e.g, "", "blocks", "list"); strings.Contains(out, "127.0.0.4") {
		t.Errorf("blocks list still shows 127.0.0.4 after clear:\n%s", out)
	}
	b4 = newBrowser(t).from("127.0.0.4")
	f, page = e.codePage(t, rp, b4, u)
	tfClaims(t, tfFinish(t, rp, b4, f, tfPostCode(b4, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)

	// The block voids the pending email code: enabling email codes from
	// the account page, three wrong codes, the block lifted, and the code
	// that was sent no longer works.
	v := e.newUser(t, "tf-void@example.com")
	bv := e.session(t, v, "127.0.0.6")
	n := e.mail.count(v.email, tfCodeSubject)
	page = bv.post(e.g.base+"/account/security/email/enable", tfForm(t, e.security(t, bv).body, "/account/security/email/enable"))
	code := e.mail.code(t, v.email, n)
	confirm := tfForm(t, page.body, "/account/security/email/enable-confirm")
	tfExpect(t, tfPostCode(bv, e.g.base+"/account/security/email/enable-confirm", confirm, wrongCodeFor(code)), http.StatusForbidden, tfWrong1)
	tfExpect(t, tfPostCode(bv, e.g.base+"/account/security/email/enable-confirm", confirm, wrongCodeFor(code)), http.StatusForbidden, tfWrong2)
	tfExpect(t, tfPostCode(bv, e.g.base+"/account/security/email/enable-confirm", confirm, wrongCodeFor(code)), http.StatusTooManyRequests, blockedText)
	tfExpect(t, tfPostCode(bv, e.g.base+"/account/security/email/enable-confirm", confirm, code), http.StatusTooManyRequests, blockedText)
	tfCLI(t, e.g, "", "blocks", "clear", "127.0.0.6")
	tfExpect(t, tfPostCode(bv, e.g.base+"/account/security/email/enable-confirm", confirm, code), http.StatusForbidden, tfWrong1)
	if tfHas(e.security(t, bv).body, "email") {
		t.Error("a code voided by the block turned email codes on")
	}
}

// testAccountCap spreads wrong codes for one account over many IPs until
// the per-account cap (default 10) blocks that account's code step.
func (e *tfEnv) testAccountCap(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-cap@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.4.1"), u)
	bystander := e.newUser(t, "tf-cap-other@example.com")
	e.enableTOTP(t, e.session(t, bystander, "127.0.4.2"), bystander)

	for i, ip := range []string{"127.0.0.40", "127.0.0.41", "127.0.0.42"} {
		b := newBrowser(t).from(ip)
		_, page := e.codePage(t, rp, b, u)
		form := tfForm(t, page.body, "/login/otp")
		tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong1)
		tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong2)
		tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusTooManyRequests, blockedText)
		if t.Failed() {
			t.Fatalf("IP %d (%s) failed", i, ip)
		}
	}
	// The tenth wrong code, from a fourth IP, blocks the account.
	mails := e.mail.count(u.email, "Sign-ins to your Gatehouse account were blocked")
	b := newBrowser(t).from("127.0.0.43")
	_, page := e.codePage(t, rp, b, u)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.wrongTOTP(u)), http.StatusTooManyRequests, blockedText)
	e.mail.wait(t, u.email, "Sign-ins to your Gatehouse account were blocked", mails+1)

	// A fresh IP with the right password and code is refused at the code.
	b = newBrowser(t).from("127.0.0.44")
	_, pwForm, resp := tfPasswordForm(t, rp, b, u.email, u.pass)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
		t.Fatalf("password of a code-blocked account = %d %q, want 303 to the code page", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = b.get(redirectTarget(resp))
	tfExpect(t, page, http.StatusTooManyRequests, blockedText)
	// The blocked page has no form: post the one it would have.
	form := url.Values{"authRequestID": {pwForm.Get("authRequestID")}, "method": {"totp"}, "csrf": {pwForm.Get("csrf")}}
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.code(u)), http.StatusTooManyRequests, blockedText)

	// Another user from that IP is unaffected.
	f, page := e.codePage(t, rp, b, bystander)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(bystander))), tfAMRTOTP, tfACR2)

	// The CLI shows the account and lifts its block.
	if out := tfCLI(t, e.g, "", "blocks", "list"); !strings.Contains(out, u.email) {
		t.Errorf("blocks list does not show the account:\n%s", out)
	}
	tfCLI(t, e.g, "", "blocks", "clear", u.email)
	b = newBrowser(t).from("127.0.0.45")
	f, page = e.codePage(t, rp, b, u)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)
}

// testForwardedIgnored: without trusted proxies a fresh X-Forwarded-For
// on every request does not escape the block.
func (e *tfEnv) testForwardedIgnored(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-xff@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.5.1"), u)
	b := newBrowser(t).from("127.0.5.2")
	b.header.Set("X-Forwarded-For", "10.9.8.1")
	_, page := e.codePage(t, rp, b, u)
	form := tfForm(t, page.body, "/login/otp")
	for i, want := range []string{tfWrong1, tfWrong2, blockedText} {
		b.header.Set("X-Forwarded-For", fmt.Sprintf("10.9.8.%d", i+2))
		status := http.StatusUnauthorized
		if i == 2 {
			status = http.StatusTooManyRequests
		}
		tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), status, want)
	}
	b = newBrowser(t).from("127.0.5.2")
	b.header.Set("X-Forwarded-For", "10.1.1.1")
	_, resp := tfPassword(t, rp, b, u.email, u.pass)
	tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
}

// testForwardedTrusted: behind a trusted proxy the rightmost untrusted
// X-Forwarded-For hop is the client.
func (e *tfEnv) testForwardedTrusted(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-proxy@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.0.1"), u)
	via := func(xff string) *browser {
		b := newBrowser(t).from("127.0.0.1")
		b.header.Set("X-Forwarded-For", xff)
		return b
	}
	b := via("10.0.0.7")
	_, page := e.codePage(t, rp, b, u)
	form := tfForm(t, page.body, "/login/otp")
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong1)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong2)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusTooManyRequests, blockedText)

	// 10.0.0.7 is blocked, also behind a second trusted hop.
	for _, xff := range []string{"10.0.0.7", "10.0.0.7, 127.0.0.1", "10.0.0.8, 10.0.0.7"} {
		_, resp := tfPassword(t, rp, via(xff), u.email, u.pass)
		tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
	}
	// 10.0.0.8 signs in, even if it claims to be 10.0.0.7 further left.
	for _, xff := range []string{"10.0.0.8", "10.0.0.7, 10.0.0.8"} {
		b := via(xff)
		f, page := e.codePage(t, rp, b, u)
		tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)
	}
	if out := tfCLI(t, e.g, "", "blocks", "list"); !strings.Contains(out, "10.0.0.7") || strings.Contains(out, "127.0.0.1") {
		t.Errorf("blocks list behind a proxy:\n%s", out)
	}
}

// testRace submits one valid code 20 times at once: exactly one succeeds.
func (e *tfEnv) testRace(t *testing.T) {
	rp := tfRP(t, e.rp)

	t.Run("TOTP, 20 sign-ins", func(t *testing.T) {
		u := e.newUser(t, "tf-race-totp@example.com")
		e.enableTOTP(t, e.session(t, u, "127.0.6.200"), u)
		type pending struct {
			b    *browser
			f    *flow
			form url.Values
		}
		ps := make([]pending, 20)
		for i := range ps {
			b := newBrowser(t).from(fmt.Sprintf("127.0.6.%d", i+1))
			f, page := e.codePage(t, rp, b, u)
			ps[i] = pending{b, f, tfForm(t, page.body, "/login/otp")}
		}
		code := e.code(u)
		results := tfBurst(len(ps), func(i int) (*response, error) {
			return tfRawPost(ps[i].b, e.g.base+"/login/otp", tfWith(ps[i].form, "code", code))
		})
		winner := -1
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("submission %d: %v", i, r.err)
			case r.resp.StatusCode == http.StatusSeeOther:
				if winner >= 0 {
					t.Errorf("submissions %d and %d both succeeded", winner, i)
				}
				winner = i
			case r.resp.StatusCode != http.StatusUnauthorized || tfAlert(r.resp.body) != tfWrong1:
				t.Errorf("submission %d = %d %q, want 401 %q", i, r.resp.StatusCode, tfAlert(r.resp.body), tfWrong1)
			}
		}
		if winner < 0 {
			t.Fatal("no submission succeeded")
		}
		w := ps[winner]
		tfClaims(t, tfFinish(t, rp, w.b, w.f, results[winner].resp), tfAMRTOTP, tfACR2)
	})

	t.Run("email, one sign-in", func(t *testing.T) {
		u := e.newUser(t, "tf-race-email@example.com")
		e.enableEmail(t, e.session(t, u, "127.0.6.201"), u)
		b := newBrowser(t).from("127.0.6.100")
		n := e.mail.count(u.email, tfCodeSubject)
		f, page := e.codePage(t, rp, b, u)
		code := e.mail.code(t, u.email, n)
		form := tfWith(tfForm(t, page.body, "/login/otp"), "code", code)
		// Each submission carries the cookies the browser has now, and
		// keeps none it is given: a cookie set by the answer to one of
		// them (the session of the finished sign-in) would make those
		// sent after it a resumption of the sign-in by its own browser,
		// which goes on to the callback by design.
		otp, err := url.Parse(e.g.base + "/login/otp")
		if err != nil {
			t.Fatal(err)
		}
		var cookies []string
		for _, c := range b.c.Jar.Cookies(otp) {
			cookies = append(cookies, c.String())
		}
		bs := make([]*browser, 20)
		for i := range bs {
			bs[i] = newBrowser(t).from(fmt.Sprintf("127.0.6.%d", 101+i))
			bs[i].c.Jar = nil
			bs[i].header.Set("Cookie", strings.Join(cookies, "; "))
		}
		results := tfBurst(len(bs), func(i int) (*response, error) {
			return tfRawPost(bs[i], e.g.base+"/login/otp", form)
		})
		winner := -1
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("submission %d: %v", i, r.err)
			case r.resp.StatusCode == http.StatusSeeOther && strings.Contains(r.resp.Header.Get("Location"), "/authorize/callback"):
				if winner >= 0 {
					t.Errorf("submissions %d and %d both succeeded", winner, i)
				}
				winner = i
			case r.resp.StatusCode < 400:
				t.Errorf("submission %d = %d %s, want a refusal", i, r.resp.StatusCode, r.resp.Header.Get("Location"))
			}
		}
		if winner < 0 {
			t.Fatal("no submission succeeded")
		}
		b.c.Jar.SetCookies(otp, results[winner].resp.Cookies())
		tfClaims(t, tfFinish(t, rp, b, f, results[winner].resp), tfAMREmail, tfACREmail)
	})
}

// testResendBurst presses Resend 20 times at once once the cooldown is
// over: the cooldown holds, so exactly one new code goes out, and it is
// the one that works.
func (e *tfEnv) testResendBurst(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-resend-burst@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.6.203"), u)
	b := newBrowser(t).from("127.0.6.160")
	n := e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, rp, b, u)
	e.mail.code(t, u.email, n)
	e.advance(31 * time.Second)
	n = e.mail.count(u.email, tfCodeSubject)
	resend := tfForm(t, page.body, "/login/otp/resend")
	results := tfBurst(20, func(int) (*response, error) {
		return tfRawPost(b, e.g.base+"/login/otp/resend", resend)
	})
	sent := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("resend %d: %v", i, r.err)
		case r.resp.StatusCode == http.StatusOK && strings.Contains(tfInfo(r.resp.body), "The previous code no longer works"):
			sent++
		case r.resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(tfAlert(r.resp.body), "A code was sent a moment ago"):
			t.Errorf("resend %d = %d, info %q alert %q; want 200 and a new code, or 429 and the cooldown", i, r.resp.StatusCode, tfInfo(r.resp.body), tfAlert(r.resp.body))
		}
	}
	if got := e.mail.count(u.email, tfCodeSubject) - n; sent != 1 || got != 1 {
		t.Errorf("20 parallel resends: %d pages say a code was sent, %d emails went out; want 1 and 1", sent, got)
	}
	code := e.mail.code(t, u.email, n)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), code)), tfAMREmail, tfACREmail)
}

// testBurst sends 20 wrong codes from one IP at once: the atomic counter
// lets exactly two through as "wrong" before the block refuses the rest.
func (e *tfEnv) testBurst(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-burst@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.6.202"), u)
	b := newBrowser(t).from("127.0.6.150")
	_, page := e.codePage(t, rp, b, u)
	form := tfWith(tfForm(t, page.body, "/login/otp"), "code", e.wrongTOTP(u))
	results := tfBurst(20, func(int) (*response, error) {
		return tfRawPost(b, e.g.base+"/login/otp", form)
	})
	seen := map[string]int{}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("submission %d: %v", i, r.err)
		case r.resp.StatusCode == http.StatusUnauthorized || r.resp.StatusCode == http.StatusTooManyRequests:
			seen[tfAlert(r.resp.body)]++
		case r.resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.resp.Header.Get("Location"), "/login?"):
			seen["back to the password"]++ // the sign-in had ended already
		default:
			t.Errorf("submission %d = %d %q", i, r.resp.StatusCode, r.resp.Header.Get("Location"))
		}
	}
	if seen[tfWrong1] != 1 || seen[tfWrong2] != 1 || seen[blockedText] < 1 || seen[blockedText]+seen["back to the password"] != 18 {
		t.Errorf("outcomes of 20 parallel wrong codes: %v", seen)
	}
}

// testReplicas runs two gatehouse processes on one PostgreSQL schema and
// alternates wrong codes between them: the block comes after exactly
// three, on both.
func (e *tfEnv) testReplicas(t *testing.T) {
	a := e.g
	extra := append(slices.Clone(e.extra),
		"GATEHOUSE_ISSUER="+a.base,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))
	b := newGatehouse(t, e.dsn, extra...)
	b.start()
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-replicas@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.7.100"), u)

	for i, order := range [][]*gatehouse{{a, b, a}, {b, a, b}} {
		ip := fmt.Sprintf("127.0.7.%d", i+1)
		br := newBrowser(t).from(ip)
		f := rp.newFlow()
		page, at := br.follow(f.authURL, rpRedirect)
		if page == nil || page.StatusCode != http.StatusOK {
			t.Fatalf("no login page (landed at %s)", at)
		}
		form := formFields(page.body)
		form.Set("email", u.email)
		form.Set("password", u.pass)
		resp := br.post(order[0].base+"/login", form)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
			t.Fatalf("password on replica = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		codePage := br.get(order[0].base + resp.Header.Get("Location"))
		codeForm := tfForm(t, codePage.body, "/login/otp")
		for j, g := range order {
			resp := tfPostCode(br, g.base+"/login/otp", codeForm, e.wrongTOTP(u))
			want, status := []string{tfWrong1, tfWrong2, blockedText}[j], http.StatusUnauthorized
			if j == 2 {
				status = http.StatusTooManyRequests
			}
			tfExpect(t, resp, status, want)
		}
		// Blocked on both replicas, for the password step too.
		for _, g := range []*gatehouse{a, b} {
			_, page := blockedLoginPage(t, rp, br)
			form := formFields(page.body)
			form.Set("email", u.email)
			form.Set("password", u.pass)
			tfExpect(t, br.post(g.base+"/login", form), http.StatusTooManyRequests, blockedText)
		}
	}
	// A third IP signs in across both replicas.
	br := newBrowser(t).from("127.0.7.3")
	f := rp.newFlow()
	page, _ := br.follow(f.authURL, rpRedirect)
	form := formFields(page.body)
	form.Set("email", u.email)
	form.Set("password", u.pass)
	resp := br.post(b.base+"/login", form)
	codePage := br.get(b.base + resp.Header.Get("Location"))
	resp = tfPostCode(br, a.base+"/login/otp", tfForm(t, codePage.body, "/login/otp"), e.code(u))
	tfClaims(t, tfFinish(t, rp, br, f, resp), tfAMRTOTP, tfACR2)
}

// testSMTPDown stops the SMTP server: the page says so, no attempt is
// consumed, and Resend works as soon as the server is back.
func (e *tfEnv) testSMTPDown(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-smtp@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.8.1"), u)

	b := newBrowser(t).from("127.0.8.2")
	f, resp := tfPassword(t, rp, b, u.email, u.pass)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password = %d", resp.StatusCode)
	}
	e.mail.stop()
	page := b.get(redirectTarget(resp))
	if page.StatusCode != http.StatusOK || tfAlert(page.body) != tfNoSend {
		e.mail.start(t)
		t.Fatalf("code page with SMTP down = %d alert %q", page.StatusCode, tfAlert(page.body))
	}
	form := tfForm(t, page.body, "/login/otp")
	resend := tfForm(t, page.body, "/login/otp/resend")
	// No attempt was consumed: the next wrong code is the first.
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, "123456"), http.StatusUnauthorized, tfWrong1)
	// Resend while still down: the same message, not the cooldown.
	r := b.post(e.g.base+"/login/otp/resend", resend)
	if r.StatusCode != http.StatusOK || tfAlert(r.body) != tfNoSend {
		t.Errorf("resend with SMTP down = %d %q", r.StatusCode, tfAlert(r.body))
	}
	e.mail.start(t)
	n := e.mail.count(u.email, tfCodeSubject)
	r = b.post(e.g.base+"/login/otp/resend", resend)
	if r.StatusCode != http.StatusOK || tfAlert(r.body) != "" || !strings.Contains(r.body, "The code is valid for") {
		t.Fatalf("resend after SMTP is back = %d alert %q info %q", r.StatusCode, tfAlert(r.body), tfInfo(r.body))
	}
	code := e.mail.code(t, u.email, n)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, code)), tfAMREmail, tfACREmail)

	// A failed resend loses nothing: the code the user already has still
	// works once the server is back.
	t.Run("a failed resend keeps the previous code", func(t *testing.T) { e.testFailedResend(t, u) })
}

func (e *tfEnv) testFailedResend(t *testing.T, u *tfUser) {
	rp := tfRP(t, e.rp)
	b := newBrowser(t).from("127.0.8.3")
	n := e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, rp, b, u)
	code := e.mail.code(t, u.email, n)
	form := tfForm(t, page.body, "/login/otp")
	e.advance(31 * time.Second) // past the resend cooldown
	e.mail.stop()
	r := b.post(e.g.base+"/login/otp/resend", tfForm(t, page.body, "/login/otp/resend"))
	e.mail.start(t)
	if r.StatusCode != http.StatusOK || tfAlert(r.body) != tfNoSend {
		t.Errorf("resend with SMTP down = %d %q", r.StatusCode, tfAlert(r.body))
	}
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, code)), tfAMREmail, tfACREmail)
}

// testRequireMFA: a client registered with --require-mfa, or asking
// acr_values for MFA, walks a password-only user through enrolment.
func (e *tfEnv) testRequireMFA(t *testing.T) {
	mfa := newRelyingParty(t, e.g, "--require-mfa")
	rp := tfRP(t, e.rp)

	enrollTOTP := func(t *testing.T, rp *relyingParty, b *browser, f *flow, resp *response, u *tfUser) idClaims {
		t.Helper()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/enroll?authRequestID=") {
			t.Fatalf("password of a user without a factor = %d %q, want 303 to /login/enroll", resp.StatusCode, loc)
		}
		page := b.get(redirectTarget(resp))
		if page.StatusCode != http.StatusOK {
			t.Fatalf("enrolment page = %d:\n%s", page.StatusCode, page.body)
		}
		u.secret, u.last = tfSecret(t, page.body), -1
		form := tfForm(t, page.body, "/login/enroll")
		if form.Get("method") != "totp" || form.Get("authRequestID") != tfQuery(t, redirectTarget(resp), "authRequestID") || form.Get("csrf") == "" {
			t.Errorf("enrolment form = %v", form)
		}
		r := tfPostCode(b, e.g.base+"/login/enroll", form, e.wrongTOTP(u))
		tfExpect(t, r, http.StatusUnauthorized, tfWrong1)
		if tfSecret(t, r.body) != u.secret {
			t.Error("a wrong code changed the secret being enrolled")
		}
		return tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/enroll", form, e.code(u)))
	}

	t.Run("authenticator app", func(t *testing.T) {
		u := e.newUser(t, "tf-enroll-totp@example.com")
		b := newBrowser(t).from("127.0.9.1")
		f, resp := tfPassword(t, mfa, b, u.email, u.pass)
		tfClaims(t, enrollTOTP(t, tfRP(t, mfa), b, f, resp, u), tfAMRTOTP, tfACR2)
		if out := tfCLI(t, e.g, "", "users", "show", u.email); !regexp.MustCompile(`authenticator app:\s+on`).MatchString(out) {
			t.Errorf("users show after enrolment:\n%s", out)
		}
		// Next time the factor is simply asked for.
		b = newBrowser(t).from("127.0.9.2")
		f, page := e.codePage(t, tfRP(t, mfa), b, u)
		tfClaims(t, tfFinish(t, tfRP(t, mfa), b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))), tfAMRTOTP, tfACR2)
	})

	t.Run("email", func(t *testing.T) {
		u := e.newUser(t, "tf-enroll-email@example.com")
		b := newBrowser(t).from("127.0.9.3")
		mrp := tfRP(t, mfa)
		f, resp := tfPassword(t, mrp, b, u.email, u.pass)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/enroll?authRequestID=") {
			t.Fatalf("password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		id := tfQuery(t, redirectTarget(resp), "authRequestID")
		n := e.mail.count(u.email, tfCodeSubject)
		page := b.get(e.g.base + "/login/enroll?method=email&authRequestID=" + url.QueryEscape(id))
		if page.StatusCode != http.StatusOK {
			t.Fatalf("email enrolment = %d:\n%s", page.StatusCode, page.body)
		}
		code := e.mail.code(t, u.email, n)
		form := tfForm(t, page.body, "/login/enroll")
		if form.Get("method") != "email" || form.Get("authRequestID") != id {
			t.Errorf("email enrolment form = %v", form)
		}
		tfExpect(t, tfPostCode(b, e.g.base+"/login/enroll", form, wrongCodeFor(code)), http.StatusUnauthorized, tfWrong1)
		tfClaims(t, tfFinish(t, mrp, b, f, tfPostCode(b, e.g.base+"/login/enroll", form, code)), tfAMREmail, tfACREmail)
		if out := tfCLI(t, e.g, "", "users", "show", u.email); !regexp.MustCompile(`email codes:\s+on`).MatchString(out) {
			t.Errorf("users show after enrolment:\n%s", out)
		}
	})

	t.Run("acr_values", func(t *testing.T) {
		u := e.newUser(t, "tf-enroll-acr@example.com")
		b := newBrowser(t).from("127.0.9.4")
		// A password-only session does not answer a request for MFA.
		f := rp.newFlow()
		_, _, c := rp.exchange(rp.signIn(b, f, u.email, u.pass), f)
		tfClaims(t, c, []string{"pwd"}, tfACR1)
		f, resp := tfPassword(t, rp, b, u.email, u.pass, oauth2.SetAuthURLParam("acr_values", tfACR2))
		tfClaims(t, enrollTOTP(t, rp, b, f, resp, u), tfAMRTOTP, tfACR2)
	})
}

// testEnrollBypass: the enrolment step of a sign-in exists for users
// without a factor. A user who has one must not be able to skip it by
// enrolling another one with the password alone.
func (e *tfEnv) testEnrollBypass(t *testing.T) {
	rp := tfRP(t, e.rp)

	t.Run("email user enrols an authenticator app", func(t *testing.T) {
		u := e.newUser(t, "tf-bypass-email@example.com")
		e.enableEmail(t, e.session(t, u, "127.0.11.1"), u)
		b := newBrowser(t).from("127.0.11.2")
		_, pwForm, resp := tfPasswordForm(t, rp, b, u.email, u.pass)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
			t.Fatalf("password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		id := pwForm.Get("authRequestID")
		page := b.get(e.g.base + "/login/enroll?authRequestID=" + url.QueryEscape(id))
		form := url.Values{"authRequestID": {id}, "method": {"totp"}, "csrf": {pwForm.Get("csrf")}}
		code := "000000"
		if page.StatusCode == http.StatusOK && strings.Contains(page.body, `id="otpauth"`) {
			t.Errorf("GET /login/enroll offers a user with email codes a new authenticator app")
			v := &tfUser{secret: tfSecret(t, page.body), last: -1}
			code = e.code(v)
		}
		r := tfPostCode(b, e.g.base+"/login/enroll", form, code)
		if r.StatusCode == http.StatusSeeOther && strings.Contains(r.Header.Get("Location"), "/authorize/callback") {
			t.Errorf("POST /login/enroll completed the sign-in of a user with email codes without an emailed code")
		}
		if out := tfCLI(t, e.g, "", "users", "show", u.email); !regexp.MustCompile(`authenticator app:\s+off`).MatchString(out) {
			t.Errorf("the password alone enabled an authenticator app:\n%s", out)
		}
	})

	t.Run("app user enrols email codes", func(t *testing.T) {
		u := e.newUser(t, "tf-bypass-totp@example.com")
		e.enableTOTP(t, e.session(t, u, "127.0.11.3"), u)
		b := newBrowser(t).from("127.0.11.4")
		_, pwForm, resp := tfPasswordForm(t, rp, b, u.email, u.pass)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
			t.Fatalf("password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		id := pwForm.Get("authRequestID")
		n := e.mail.count(u.email, tfCodeSubject)
		b.get(e.g.base + "/login/enroll?method=email&authRequestID=" + url.QueryEscape(id))
		code := "000000"
		if e.mail.count(u.email, tfCodeSubject) > n {
			t.Errorf("GET /login/enroll?method=email sent an enrolment code to a user with an authenticator app")
			code = e.mail.code(t, u.email, n)
		}
		form := url.Values{"authRequestID": {id}, "method": {"email"}, "csrf": {pwForm.Get("csrf")}}
		r := tfPostCode(b, e.g.base+"/login/enroll", form, code)
		if r.StatusCode == http.StatusSeeOther && strings.Contains(r.Header.Get("Location"), "/authorize/callback") {
			t.Errorf("POST /login/enroll completed the sign-in of a user with an authenticator app without its code")
		}
		if out := tfCLI(t, e.g, "", "users", "show", u.email); !regexp.MustCompile(`email codes:\s+off`).MatchString(out) {
			t.Errorf("the password alone enabled email codes:\n%s", out)
		}
	})
}

// testReset: users reset-2fa turns every factor off.
func (e *tfEnv) testReset(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-reset@example.com")
	b := e.session(t, u, "127.0.10.1")
	e.enableTOTP(t, b, u)
	e.enableEmail(t, b, u)
	show := regexp.MustCompile(`authenticator app:\s+(on|off)\s+email codes:\s+(on|off)`)
	if m := show.FindStringSubmatch(tfCLI(t, e.g, "", "users", "show", u.email)); m == nil || m[1] != "on" || m[2] != "on" {
		t.Fatalf("users show before the reset: %v", m)
	}
	tfCLI(t, e.g, "", "users", "reset-2fa", u.email)
	if m := show.FindStringSubmatch(tfCLI(t, e.g, "", "users", "show", u.email)); m == nil || m[1] != "off" || m[2] != "off" {
		t.Fatalf("users show after the reset: %v", m)
	}
	f := rp.newFlow()
	_, _, c := rp.exchange(rp.signIn(newBrowser(t).from("127.0.10.2"), f, u.email, u.pass), f)
	tfClaims(t, c, []string{"pwd"}, tfACR1)
}

// testResetEnds: users reset-2fa, like a password reset, ends what the old
// factors let in: the browser sessions (a lost device's among them), the
// tokens, a sign-in past its code step whose callback was not followed
// yet, and a sign-in waiting at the code step, which must not finish with
// the password alone once the factor it waited for is gone.
func (e *tfEnv) testResetEnds(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "tf-reset-ends@example.com")
	lost := e.session(t, u, "127.0.10.3")
	e.enableTOTP(t, lost, u)

	// Tokens from a sign-in with the app.
	signedIn := newBrowser(t).from("127.0.10.4")
	f, page := e.codePage(t, rp, signedIn, u)
	resp := tfPostCode(signedIn, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code step = %d, want 303; alert %q", resp.StatusCode, tfAlert(resp.body))
	}
	p, at := signedIn.follow(redirectTarget(resp), rpRedirect)
	if p != nil {
		t.Fatalf("after the code, landed on %s (%d)", at, p.StatusCode)
	}
	tok, _, _ := rp.exchange(rp.codeFrom(at, f), f)

	// A sign-in past its code step, its callback not followed yet.
	done := newBrowser(t).from("127.0.10.5")
	df, page := e.codePage(t, rp, done, u)
	resp = tfPostCode(done, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code step = %d, want 303; alert %q", resp.StatusCode, tfAlert(resp.body))
	}
	callback := redirectTarget(resp)

	// A sign-in waiting at the code step.
	waiting := newBrowser(t).from("127.0.10.6")
	_, page = e.codePage(t, rp, waiting, u)
	codeURL := page.Request.URL.String()

	out := tfCLI(t, e.g, "", "users", "reset-2fa", u.email)
	if !strings.Contains(out, "sessions ended") {
		t.Errorf("users reset-2fa does not say the sessions ended: %q", out)
	}

	for name, b := range map[string]*browser{"the lost device": lost, "the browser that signed in with the app": signedIn} {
		if r := b.get(e.g.base + "/account/security"); r.StatusCode == http.StatusOK {
			t.Errorf("%s still has a session after users reset-2fa", name)
		}
	}
	if in := rp.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("the access token after users reset-2fa: introspection = %v, want active false", in)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token to check")
	} else if status, _ := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status == http.StatusOK {
		t.Error("the refresh token still works after users reset-2fa")
	}
	if p, at := done.follow(callback, rpRedirect); p == nil {
		if cb, err := url.Parse(at); err != nil {
			t.Fatal(err)
		} else if code := cb.Query().Get("code"); code != "" {
			if _, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(df.verifier)); err == nil {
				t.Error("a sign-in done before users reset-2fa still gave tokens after it")
			}
		}
	}
	if p, at := waiting.follow(codeURL, rpRedirect); p == nil {
		t.Errorf("the sign-in waiting at the code step finished with the password alone after users reset-2fa (%s)", at)
	} else if !strings.Contains(p.body, `autocomplete="current-password"`) {
		t.Errorf("the sign-in waiting at the code step, after users reset-2fa = %d %q, want the password form", p.StatusCode, tfAlert(p.body))
	}
}

// ---- the environment ----

// tfEnv is one gatehouse with its SMTP sink and movable clock.
type tfEnv struct {
	g         *gatehouse
	rp        *relyingParty
	mail      *tfSink
	dsn       string
	extra     []string // the GATEHOUSE_… variables it was started with
	clockFile string

	mu     sync.Mutex
	offset time.Duration
}

func tfStart(t *testing.T, dsn string, extra ...string) *tfEnv {
	t.Helper()
	e := &tfEnv{mail: tfNewSink(t), dsn: dsn, clockFile: filepath.Join(t.TempDir(), "clock")}
	e.advance(0)
	e.extra = append([]string{
		"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
		"GATEHOUSE_MAIL_SMTP_PORT=" + strconv.Itoa(e.mail.port()),
		"GATEHOUSE_MAIL_SMTP_TLS=none",
		"GATEHOUSE_TEST_CLOCK_FILE=" + e.clockFile,
		// The tests move the server's clock, not the database's.
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
		// Many tests send many codes to one account from one address;
		// TestLimitsUnderConcurrency tests the caps themselves.
		"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_ACCOUNT=1000",
		"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_IP=1000",
	}, extra...)
	e.g = newGatehouse(t, dsn, e.extra...)
	e.g.start()
	e.rp = newRelyingParty(t, e.g)
	return e
}

// now is the server's time.
func (e *tfEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.offset)
}

// advance moves the server's clock forward by d.
func (e *tfEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.offset += d
	tmp := e.clockFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(e.offset.String()), 0o600); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, e.clockFile); err != nil {
		panic(err)
	}
}

// tfUser is a test user; secret and last describe its authenticator app.
type tfUser struct {
	email, pass string
	secret      string
	last        int64 // the last time step used
}

func (e *tfEnv) newUser(t *testing.T, email string) *tfUser {
	t.Helper()
	u := &tfUser{email: email, pass: "long password of " + email, last: -1}
	tfCLI(t, e.g, u.pass+"\n", "users", "create", "--email", email, "--name", "Test User", "--password-stdin")
	return u
}

// code returns the app's code for a time step u has not used yet and the
// server accepts now, moving the server's clock on if needed.
func (e *tfEnv) code(u *tfUser) string {
	for {
		cur := e.now().Unix() / 30
		if s := max(cur, u.last+1); s <= cur+1 {
			u.last = s
			c, err := totp.Code(u.secret, time.Unix(s*30, 0))
			if err != nil {
				panic(err)
			}
			return c
		}
		e.advance(30 * time.Second)
	}
}

// wrongTOTP returns a code the app does not show around now.
func (e *tfEnv) wrongTOTP(u *tfUser) string {
	cur := e.now().Unix() / 30
	var valid []string
	for s := cur - 2; s <= cur+3; s++ {
		c, err := totp.Code(u.secret, time.Unix(s*30, 0))
		if err != nil {
			panic(err)
		}
		valid = append(valid, c)
	}
	w := valid[2]
	for slices.Contains(valid, w) {
		w = wrongCodeFor(w)
	}
	return w
}

// session signs u in with the password alone from ip and returns the
// browser, which then holds a session for the account pages.
func (e *tfEnv) session(t *testing.T, u *tfUser, ip string) *browser {
	t.Helper()
	rp := tfRP(t, e.rp)
	b := newBrowser(t).from(ip)
	f := rp.newFlow()
	rp.signIn(b, f, u.email, u.pass)
	return b
}

func (e *tfEnv) security(t *testing.T, b *browser) *response {
	t.Helper()
	r := b.get(e.g.base + "/account/security")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /account/security = %d:\n%s", r.StatusCode, r.body)
	}
	return r
}

// enableTOTP turns the authenticator app on from the account page.
func (e *tfEnv) enableTOTP(t *testing.T, b *browser, u *tfUser) {
	t.Helper()
	page := b.post(e.g.base+"/account/security/totp/enable", tfForm(t, e.security(t, b).body, "/account/security/totp/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("totp/enable = %d:\n%s", page.StatusCode, page.body)
	}
	u.secret, u.last = tfSecret(t, page.body), -1
	resp := tfPostCode(b, e.g.base+"/account/security/totp/enable-confirm", tfForm(t, page.body, "/account/security/totp/enable-confirm"), e.code(u))
	tfEnabled(t, resp, "/account/security?done=totp-on")
}

// enableEmail turns email codes on from the account page.
func (e *tfEnv) enableEmail(t *testing.T, b *browser, u *tfUser) {
	t.Helper()
	n := e.mail.count(u.email, tfCodeSubject)
	page := b.post(e.g.base+"/account/security/email/enable", tfForm(t, e.security(t, b).body, "/account/security/email/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("email/enable = %d:\n%s", page.StatusCode, page.body)
	}
	code := e.mail.code(t, u.email, n)
	resp := tfPostCode(b, e.g.base+"/account/security/email/enable-confirm", tfForm(t, page.body, "/account/security/email/enable-confirm"), code)
	tfEnabled(t, resp, "/account/security?done=email-on")
}

// codePage starts a sign-in of u in b, submits the password and opens the
// code page.
func (e *tfEnv) codePage(t *testing.T, rp *relyingParty, b *browser, u *tfUser) (*flow, *response) {
	t.Helper()
	f, resp := tfPassword(t, rp, b, u.email, u.pass)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?authRequestID=") {
		t.Fatalf("password = %d %q, want 303 to /login/otp?authRequestID=…\n%s", resp.StatusCode, resp.Header.Get("Location"), tfAlert(resp.body))
	}
	page := b.get(redirectTarget(resp))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("code page = %d alert %q", page.StatusCode, tfAlert(page.body))
	}
	return f, page
}

// checkUntil checks that page says how long its emailed code is valid:
// 60 seconds from now, as the countdown the server renders.
func (e *tfEnv) checkUntil(t *testing.T, page string) {
	t.Helper()
	m := regexp.MustCompile(`The code is valid for <span class="countdown" data-countdown="(\d+)">(\d+:\d\d)</span>`).FindStringSubmatch(page)
	if m == nil {
		t.Errorf("the page does not say how long the code is valid: %q", tfInfo(page))
		return
	}
	if left, _ := strconv.Atoi(m[1]); left < 55 || left > 60 {
		t.Errorf("code valid for %s (%s s), want about 1:00", m[2], m[1])
	}
}

// ---- pages and requests ----

// tfRP is base seen from the (sub)test t.
func tfRP(t *testing.T, base *relyingParty) *relyingParty {
	return &relyingParty{t: t, g: base.g, client: base.client, provider: base.provider, oauth: base.oauth, verifier: base.verifier}
}

func tfCLI(t *testing.T, g *gatehouse, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := g.tryCLI(stdin, args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// tfEnvValue returns the value of key in g's environment (the last one
// wins, as in os/exec).
func tfEnvValue(g *gatehouse, key string) string {
	v := ""
	for _, kv := range g.env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// tfPassword starts a sign-in in b and submits the password.
func tfPassword(t *testing.T, rp *relyingParty, b *browser, email, pass string, opts ...oauth2.AuthCodeOption) (*flow, *response) {
	t.Helper()
	f, _, resp := tfPasswordForm(t, rp, b, email, pass, opts...)
	return f, resp
}

// tfPasswordForm is tfPassword that also returns the form it posted.
func tfPasswordForm(t *testing.T, rp *relyingParty, b *browser, email, pass string, opts ...oauth2.AuthCodeOption) (*flow, url.Values, *response) {
	t.Helper()
	f := rp.newFlow(opts...)
	page, at := b.follow(f.authURL, rpRedirect)
	// A blocked IP sees the block instead of the form (429); it may post
	// the form all the same.
	if page != nil && page.StatusCode == http.StatusTooManyRequests {
		f, page = blockedLoginPage(t, rp, b, opts...)
	}
	if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatalf("no login page (landed at %s)", at)
	}
	form := tfForm(t, page.body, "/login")
	form.Set("email", email)
	form.Set("password", pass)
	return f, form, b.post(rp.g.base+"/login", form)
}

// tfFinish follows a successful code step to the client and redeems the
// code.
func tfFinish(t *testing.T, rp *relyingParty, b *browser, f *flow, resp *response) idClaims {
	t.Helper()
	next := redirectTarget(resp)
	if codes, link, ok := tfRecovery(resp); ok {
		// A factor enrolled during the sign-in: its recovery codes first.
		if len(codes) != 10 {
			t.Errorf("%d recovery codes, want 10", len(codes))
		}
		u, err := resp.Request.URL.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		next = u.String()
	} else if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code step = %d, want 303; alert %q", resp.StatusCode, tfAlert(resp.body))
	}
	page, at := b.follow(next, rpRedirect)
	if page != nil {
		t.Fatalf("after the code, landed on %s (%d):\n%s", at, page.StatusCode, page.body)
	}
	_, _, c := rp.exchange(rp.codeFrom(at, f), f)
	return c
}

func tfClaims(t *testing.T, c idClaims, amr []string, acr string) {
	t.Helper()
	if !slices.Equal(c.AMR, amr) || c.ACR != acr {
		t.Errorf("amr %v acr %q, want %v %q", c.AMR, c.ACR, amr, acr)
	}
}

func tfQuery(t *testing.T, u, key string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get(key)
}

var (
	tfRecoveryRE = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
	tfContinueRE = regexp.MustCompile(`<a class="button" href="([^"]+)">`)
)

// tfRecovery returns the recovery codes and the continue link of a
// recovery codes page, or ok false if resp is not one.
func tfRecovery(resp *response) (codes []string, next string, ok bool) {
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `id="recovery-codes"`) {
		return nil, "", false
	}
	for _, m := range tfRecoveryRE.FindAllStringSubmatch(resp.body, -1) {
		codes = append(codes, html.UnescapeString(m[1]))
	}
	if m := tfContinueRE.FindStringSubmatch(resp.body); m != nil {
		next = html.UnescapeString(m[1])
	}
	return codes, next, true
}

// tfEnabled checks the answer to the code that turns a factor on: a
// redirect to next or, with the first factor, the recovery codes (shown
// once) with a link on to next. It returns the codes.
func tfEnabled(t *testing.T, resp *response, next string) []string {
	t.Helper()
	if codes, link, ok := tfRecovery(resp); ok {
		if link != next {
			t.Fatalf("the recovery codes page leads to %q, want %q", link, next)
		}
		return codes
	}
	tfRedirect(t, resp, next)
	return nil
}

func tfRedirect(t *testing.T, resp *response, want string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("got %d %q, want 303 to %s; alert %q", resp.StatusCode, resp.Header.Get("Location"), want, tfAlert(resp.body))
	}
}

// tfExpect checks the status and the page's alert, exactly.
func tfExpect(t *testing.T, resp *response, status int, alert string) {
	t.Helper()
	if resp.StatusCode != status || tfAlert(resp.body) != alert {
		t.Errorf("got %d %q, want %d %q", resp.StatusCode, tfAlert(resp.body), status, alert)
	}
}

func tfWith(form url.Values, key, value string) url.Values {
	v := url.Values{}
	for k, vs := range form {
		v[k] = slices.Clone(vs)
	}
	v.Set(key, value)
	return v
}

func tfPostCode(b *browser, u string, form url.Values, code string) *response {
	b.t.Helper()
	return b.post(u, tfWith(form, "code", code))
}

var (
	tfFormRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	tfAlertRE  = regexp.MustCompile(`(?s)<p class="alert" role="alert">(.*?)</p>`)
	tfInfoRE   = regexp.MustCompile(`(?s)<p class="info" role="status">(.*?)</p>`)
	tfLinkRE   = regexp.MustCompile(`<a href="([^"]+)" id="otpauth">`)
	tfSecretRE = regexp.MustCompile(`<input id="secret"[^>]* value="([^"]*)"`)
)

// tfForm returns the hidden fields of the form of page posting to action.
func tfForm(t *testing.T, page, action string) url.Values {
	t.Helper()
	for _, m := range tfFormRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == action {
			return formFields(m[2])
		}
	}
	t.Fatalf("no form posting to %s:\n%s", action, page)
	return nil
}

func tfSorted(v url.Values) []string {
	var s []string
	for k, vs := range v {
		for _, x := range vs {
			s = append(s, k+"="+x)
		}
	}
	slices.Sort(s)
	return s
}

func tfAlert(page string) string {
	if m := tfAlertRE.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

func tfInfo(page string) string {
	if m := tfInfoRE.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

// tfHas reports whether the security page shows factor ("totp" or
// "email") as on.
func tfHas(page, factor string) bool {
	return strings.Contains(page, `action="/account/security/`+factor+`/disable"`)
}

// tfSecret returns the secret of an enrolment page's otpauth:// link and
// checks that the key for manual entry is the same.
func tfSecret(t *testing.T, page string) string {
	t.Helper()
	m := tfLinkRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no otpauth:// link:\n%s", page)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || link.Scheme != "otpauth" || link.Host != "totp" {
		t.Fatalf("otpauth link %q: %v", m[1], err)
	}
	q := link.Query()
	secret := q.Get("secret")
	if secret == "" || q.Get("issuer") != "Gatehouse" {
		t.Fatalf("otpauth link %q without secret or issuer", link)
	}
	if alg, digits, period := q.Get("algorithm"), q.Get("digits"), q.Get("period"); (alg != "" && alg != "SHA1") || (digits != "" && digits != "6") || (period != "" && period != "30") {
		t.Errorf("otpauth link parameters %q", link.RawQuery)
	}
	if s := tfSecretRE.FindStringSubmatch(page); s == nil || strings.ReplaceAll(html.UnescapeString(s[1]), " ", "") != secret {
		t.Errorf("the key for manual entry (%v) is not the link's secret", s)
	}
	return secret
}

// tfResult is the outcome of one request of a burst.
type tfResult struct {
	resp *response
	err  error
}

// tfBurst runs n requests at once.
func tfBurst(n int, do func(i int) (*response, error)) []tfResult {
	results := make([]tfResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i].resp, results[i].err = do(i)
		})
	}
	close(start)
	wg.Wait()
	return results
}

// tfRawPost is browser.post for other goroutines: it returns errors.
func tfRawPost(b *browser, u string, form url.Values) (*response, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(body)}, err
}

// ---- the SMTP sink ----

// tfCodeSubject begins the subject of every code email; the code itself
// is not in the subject unless mail.code_in_subject is set.
const tfCodeSubject = "Your Gatehouse code"

// tfSink is a real SMTP server (emersion/go-smtp) that keeps what it
// receives; stop and start take it down and up on the same port.
type tfSink struct {
	addr string

	mu   sync.Mutex
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}
	msgs []tfMail
}

// tfMail is a received message: raw is its decoded text/plain part and
// html its text/html part (both required: messages are
// multipart/alternative).
type tfMail struct {
	to      []string
	subject string
	raw     string
	html    string
}

// tfCodeLineRE finds the code of a code email: alone on its line.
var tfCodeLineRE = regexp.MustCompile(`(?m)^(\d{6})\r?$`)

// tfMailCode returns the code in m's text, or "".
func tfMailCode(m tfMail) string {
	if c := tfCodeLineRE.FindStringSubmatch(m.raw); c != nil {
		return c[1]
	}
	return ""
}

func tfNewSink(t *testing.T) *tfSink {
	t.Helper()
	s := &tfSink{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *tfSink) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &tfSMTPSession{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	s.mu.Lock()
	s.srv, s.ln, s.done = srv, ln, done
	s.mu.Unlock()
}

func (s *tfSink) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// stop takes the server down: connections are refused.
func (s *tfSink) stop() {
	s.mu.Lock()
	srv, ln, done := s.srv, s.ln, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	ln.Close()
	<-done
}

// start brings the server back on its address.
func (s *tfSink) start(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMTP sink cannot listen on %s again: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many messages to went to whose subject starts with
// subject.
func (s *tfSink) count(to, subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if slices.Contains(m.to, to) && strings.HasPrefix(m.subject, subject) {
			n++
		}
	}
	return n
}

// wait waits until at least n such messages arrived.
func (s *tfSink) wait(t *testing.T, to, subject string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.count(to, subject) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages %q to %s, want %d", s.count(to, subject), subject, to, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// code waits for the code email to after the first n and returns the
// newest code, checking that the HTML part holds it too and that the
// subject does not.
func (s *tfSink) code(t *testing.T, to string, n int) string {
	t.Helper()
	s.wait(t, to, tfCodeSubject, n+1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		m := s.msgs[i]
		if !slices.Contains(m.to, to) || !strings.HasPrefix(m.subject, tfCodeSubject) {
			continue
		}
		c := tfMailCode(m)
		if c == "" {
			t.Fatalf("the text of the code email holds no code:\n%s", m.raw)
		}
		if !strings.Contains(m.html, ">"+c+"</p>") {
			t.Errorf("the HTML part of the code email does not hold the code:\n%s", m.html)
		}
		if strings.Contains(m.subject, c) {
			t.Errorf("the subject %q holds the code", m.subject)
		}
		return c
	}
	t.Fatalf("no code email to %s", to)
	return ""
}

// tfParts returns the decoded text/plain and text/html parts of the
// multipart/alternative msg; a message of another type yields its raw
// body as text and no HTML, which the tests that look at HTML catch.
func tfParts(msg *netmail.Message) (text, html string) {
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		b, _ := io.ReadAll(msg.Body)
		return string(b), ""
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			return text, html
		}
		var body io.Reader = part
		switch strings.ToLower(part.Header.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, _ := io.ReadAll(body)
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
}

type tfSMTPSession struct {
	sink *tfSink
	to   []string
}

func (s *tfSMTPSession) Reset()                               { s.to = nil }
func (s *tfSMTPSession) Logout() error                        { return nil }
func (s *tfSMTPSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *tfSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

func (s *tfSMTPSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := tfMail{to: s.to, raw: string(raw)}
	if msg, err := netmail.ReadMessage(bytes.NewReader(raw)); err == nil {
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			subject = msg.Header.Get("Subject")
		}
		m.subject = subject
		m.raw, m.html = tfParts(msg)
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, m)
	s.sink.mu.Unlock()
	return nil
}
