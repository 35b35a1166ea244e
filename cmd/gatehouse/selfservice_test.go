package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"log"
	"mime"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/login/totp"
)

// End-to-end tests of account self-service (issue 4): registration with an
// emailed confirmation link, password recovery and the password change in
// the account area. They run the real binary on both backends, with a real
// SMTP server inside the test and the server's clock moved through
// GATEHOUSE_TEST_CLOCK_FILE.

// Texts the pages show.
const (
	ssBadCredentials = "Invalid email or password."
	ssCheckEmail     = "Check your email to confirm your address."
	ssConfirmed      = "Your email is confirmed. You can now sign in."
	ssLinkUsed       = "This link has expired or was already used."
	ssRecoverSent    = "If an account exists for "
	ssResetDone      = "Your password was changed. Sign in with it now."
	ssChanged        = "Your password was changed. You were signed out everywhere else."
	ssWrongCurrent   = "Your current password is not correct."
	ssTooCommon      = "This password is too common. Choose another one."
	ssDiffer         = "The two passwords are not the same."
	ssWrongCode      = "Invalid One Time Password! (Attempts left: 2)"
	ssBlocked        = "You have reached the limit of attempts. Please try again later in 60 minutes."
	ssPwdBlocked     = "You have reached the limit of attempts. Please try again later in 10 minutes."
)

// Subjects of the emails.
const (
	ssSubjConfirm  = "Confirm your email address for Gatehouse"
	ssSubjExisting = "Someone tried to register with your address"
	ssSubjReset    = "Reset your Gatehouse password"
	ssSubjChanged  = "Your Gatehouse password was changed"
	ssSubjCode     = "Your Gatehouse code"
)

func TestSelfService(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			t.Run("flows", func(t *testing.T) {
				t.Parallel()
				e := ssStart(t, databaseURL(t, backend))
				t.Run("register, confirm, sign in", e.testRegister)
				t.Run("registration form checks", e.testRegisterChecks)
				t.Run("duplicate registration reveals nothing", e.testDuplicate)
				t.Run("recovery answers the same", e.testRecoverSameAnswer)
				t.Run("reset ends sessions and tokens", e.testReset)
				t.Run("reset keeps the second factor", e.testResetKeepsTOTP)
				t.Run("password change without a factor", e.testChange)
				t.Run("password change with the authenticator app", e.testChangeTOTP)
				t.Run("password change with email codes", e.testChangeEmail)
				t.Run("wrong current passwords block", e.testChangeLimiter)
				t.Run("registration and recovery limits", e.testLimits)
				t.Run("recovery limits at once", e.testLimitsAtOnce)
				// These move the clock by a day: last.
				t.Run("reset link expires", e.testResetExpires)
				t.Run("confirmation link expires", e.testConfirmExpires)
			})
			t.Run("registration disabled", func(t *testing.T) {
				t.Parallel()
				e := ssStart(t, databaseURL(t, backend), "GATEHOUSE_REGISTRATION_ENABLED=false")
				b := e.browser(t)
				if r := b.get(e.g.base + "/register"); r.StatusCode != http.StatusNotFound {
					t.Errorf("GET /register = %d, want 404", r.StatusCode)
				}
				page, _ := b.follow(e.rp.newFlow().authURL, rpRedirect)
				if page == nil || strings.Contains(page.body, `href="/register`) || !strings.Contains(page.body, `href="/recover?authRequestID=`) {
					t.Errorf("the sign-in page links to /register, or not to /recover, with registration off")
				}
			})
		})
	}
}

// testRegister registers, is refused before confirming, confirms (once)
// and signs in through the relying party.
func (e *ssEnv) testRegister(t *testing.T) {
	rp := e.relyingParty(t)
	b := e.browser(t)
	email, pass := "reg-new@example.com", "a fresh registration password"
	f := rp.newFlow()
	login, _ := b.follow(f.authURL, rpRedirect)
	if login == nil || login.StatusCode != http.StatusOK {
		t.Fatal("no sign-in page")
	}
	arID := formFields(login.body).Get("authRequestID")
	for _, link := range []string{`href="/recover?authRequestID=` + arID + `"`, `href="/register?authRequestID=` + arID + `"`} {
		if !strings.Contains(login.body, link) {
			t.Errorf("the sign-in page lacks the link %s", link)
		}
	}

	reg := b.get(e.g.base + "/register?authRequestID=" + url.QueryEscape(arID))
	if reg.StatusCode != http.StatusOK {
		t.Fatalf("GET /register = %d", reg.StatusCode)
	}
	for _, field := range []string{
		`name="email" type="email" autocomplete="username"`,
		`name="name" type="text" autocomplete="name"`,
		`name="password" type="password" autocomplete="new-password"`,
		`name="password2" type="password" autocomplete="new-password"`,
		`<label for="email">`, `<label for="name">`, `<label for="password">`, `<label for="password2">`,
	} {
		if !strings.Contains(reg.body, field) {
			t.Errorf("the registration form lacks %s", field)
		}
	}
	form := ssForm(t, reg.body, "/register")
	if form.Get("authRequestID") != arID {
		t.Errorf("the registration form does not carry the sign-in: %v", form)
	}
	done := e.register(t, b, form, email, "Reg New", pass)
	if done.StatusCode != http.StatusOK || !strings.Contains(done.body, ssCheckEmail) {
		t.Fatalf("POST /register = %d:\n%s", done.StatusCode, done.body)
	}
	token := e.mail.link(t, email, ssSubjConfirm, 1, "/register/confirm")

	// Before the confirmation, the right password fails like a wrong one.
	right := ssPasswordAt(t, b, e.g.base, arID, email, pass)
	wrong := ssPasswordAt(t, b, e.g.base, arID, email, "not the password at all")
	if right.StatusCode != http.StatusUnauthorized || ssAlert(right.body) != ssBadCredentials ||
		wrong.StatusCode != right.StatusCode || ssAlert(wrong.body) != ssAlert(right.body) {
		t.Errorf("unconfirmed sign-in = %d %q; wrong password = %d %q; want both 401 %q",
			right.StatusCode, ssAlert(right.body), wrong.StatusCode, ssAlert(wrong.body), ssBadCredentials)
	}

	// Opening the link (twice: mail scanners do) does not use it up.
	var page *response
	for range 2 {
		page = b.get(e.g.base + "/register/confirm?token=" + token)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("GET confirm = %d:\n%s", page.StatusCode, page.body)
		}
	}
	cform := ssForm(t, page.body, "/register/confirm")
	if cform.Get("token") != token {
		t.Fatalf("the confirmation form does not carry the token: %v", cform)
	}
	ok := b.post(e.g.base+"/register/confirm", cform)
	if ok.StatusCode != http.StatusOK || ssInfo(ok.body) != ssConfirmed {
		t.Fatalf("POST confirm = %d %q:\n%s", ok.StatusCode, ssInfo(ok.body), ok.body)
	}
	cont := `href="/login?authRequestID=` + arID + `"`
	if !strings.Contains(ok.body, cont) {
		t.Errorf("the confirmation does not offer to continue the sign-in (%s)", cont)
	}
	again := b.post(e.g.base+"/register/confirm", cform)
	if again.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(again.body), ssLinkUsed) {
		t.Errorf("second confirmation = %d %q, want 400 %q", again.StatusCode, ssAlert(again.body), ssLinkUsed)
	}

	// Continue the sign-in that the registration started.
	resp := ssPasswordAt(t, b, e.g.base, arID, email, pass)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after confirming = %d %q", resp.StatusCode, ssAlert(resp.body))
	}
	_, at := b.follow(redirectTarget(resp), rpRedirect)
	_, _, c := rp.exchange(rp.codeFrom(at, f), f)
	if c.Email != email || !c.EmailVerified || c.Name != "Reg New" || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Errorf("claims = %+v", c)
	}
}

// testRegisterChecks covers the form's refusals: a common password,
// different passwords, a bad address, CSRF.
func (e *ssEnv) testRegisterChecks(t *testing.T) {
	b := e.browser(t)
	email := "reg-checks@example.com"
	page := b.get(e.g.base + "/register")
	form := ssForm(t, page.body, "/register")
	for _, c := range []struct {
		email, pass, again, alert string
	}{
		{email, "password123", "password123", ssTooCommon},
		{email, "a good long password", "a good long passworD", ssDiffer},
		{email, "short", "short", "Use at least 8 characters."},
		{"not an address", "a good long password", "a good long password", "Enter a valid email address."},
		{email, email, email, ssTooCommon},
	} {
		resp := b.post(e.g.base+"/register", ssWith(form, "email", c.email, "name", "Checks", "password", c.pass, "password2", c.again))
		if resp.StatusCode != http.StatusBadRequest || ssAlert(resp.body) != c.alert {
			t.Errorf("register %q/%q = %d %q, want 400 %q", c.email, c.pass, resp.StatusCode, ssAlert(resp.body), c.alert)
		}
		if strings.Contains(resp.body, c.pass) && c.pass != c.email {
			t.Errorf("the refused form shows the password back")
		}
	}
	if resp := b.post(e.g.base+"/register", ssWith(form, "csrf", "forged", "email", email, "name", "x", "password", "a good long password", "password2", "a good long password")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("register with a forged CSRF token = %d, want 403", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.g.base+"/register", strings.NewReader(ssWith(form, "email", email, "name", "x", "password", "a good long password", "password2", "a good long password").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site registration = %d, want 403", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)
	if n := e.mail.count(email, ""); n != 0 {
		t.Errorf("%d emails to %s after refused registrations", n, email)
	}
}

// testDuplicate registers taken addresses: the page is the same, the
// owners are warned, nothing changes, and an unconfirmed account can only
// be claimed through a reset link.
func (e *ssEnv) testDuplicate(t *testing.T) {
	rp := e.relyingParty(t)
	fresh, verified := "dup-fresh@example.com", "dup-verified@example.com"
	verifiedPass := "the verified owner's password"
	e.g.createUser(verified, "Verified Owner", verifiedPass)

	submit := func(email, pass string) *response {
		b := e.browser(t)
		return e.register(t, b, ssForm(t, b.get(e.g.base+"/register").body, "/register"), email, "Someone", pass)
	}
	first := submit(fresh, "the first registrant's password")
	token := e.mail.link(t, fresh, ssSubjConfirm, 1, "/register/confirm")
	second := submit(fresh, "the second registrant's password")
	third := submit(verified, "an attacker's password here")
	masked := strings.ReplaceAll(third.body, verified, fresh)
	if first.StatusCode != http.StatusOK || second.StatusCode != first.StatusCode || third.StatusCode != first.StatusCode ||
		second.body != first.body || masked != first.body {
		t.Errorf("registrations of a new, an unconfirmed and a confirmed address differ: %d %d %d\n%s\n---\n%s\n---\n%s",
			first.StatusCode, second.StatusCode, third.StatusCode, first.body, second.body, third.body)
	}

	// The confirmed owner is warned, and their password still works.
	warn := e.mail.wait(t, verified, ssSubjExisting, 1)
	if strings.Contains(warn.body, "token=") {
		t.Errorf("the warning to a confirmed owner carries a link:\n%s", warn.body)
	}
	f := rp.newFlow()
	rp.exchange(rp.signIn(e.browser(t), f, verified, verifiedPass), f)
	if r := tryPassword(t, rp, e.browser(t), verified, "an attacker's password here"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the second registration's password signs in: %d", r.StatusCode)
	}

	// The unconfirmed owner gets a reset link, which confirms the address
	// with the password of whoever reads the mail, and voids the old
	// confirmation link.
	reset := e.mail.link(t, fresh, ssSubjExisting, 1, "/recover/reset")
	b := e.browser(t)
	e.reset(t, b, reset, "the mailbox owner's password")
	f = rp.newFlow()
	rp.exchange(rp.signIn(e.browser(t), f, fresh, "the mailbox owner's password"), f)
	for _, p := range []string{"the first registrant's password", "the second registrant's password"} {
		if r := tryPassword(t, rp, e.browser(t), fresh, p); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s signs in: %d", p, r.StatusCode)
		}
	}
	page := b.get(e.g.base + "/register/confirm?token=" + token)
	if r := b.post(e.g.base+"/register/confirm", ssForm(t, page.body, "/register/confirm")); r.StatusCode != http.StatusBadRequest {
		t.Errorf("the first confirmation link works after the reset: %d", r.StatusCode)
	}
	if n := e.mail.count(fresh, ssSubjConfirm); n != 1 {
		t.Errorf("%d confirmation emails to %s, want 1", n, fresh)
	}
}

// testRecoverSameAnswer asks for recovery of a known and an unknown
// address.
func (e *ssEnv) testRecoverSameAnswer(t *testing.T) {
	known, unknown := "rec-known@example.com", "rec-unknown@example.com"
	e.g.createUser(known, "Known", "the known user's password")
	rp := e.relyingParty(t)
	ask := func(email string) *response {
		b := e.browser(t)
		login, _ := b.follow(rp.newFlow().authURL, rpRedirect)
		arID := formFields(login.body).Get("authRequestID")
		page := b.get(e.g.base + "/recover?authRequestID=" + url.QueryEscape(arID))
		if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `name="email" type="email" autocomplete="username"`) {
			t.Fatalf("GET /recover = %d:\n%s", page.StatusCode, page.body)
		}
		return b.post(e.g.base+"/recover", ssWith(ssForm(t, page.body, "/recover"), "email", email))
	}
	a, b := ask(known), ask(unknown)
	if a.StatusCode != http.StatusOK || !strings.Contains(a.body, ssRecoverSent+known) {
		t.Fatalf("recover known = %d:\n%s", a.StatusCode, a.body)
	}
	if b.StatusCode != a.StatusCode || strings.ReplaceAll(b.body, unknown, known) != a.body {
		t.Errorf("recovery answers differ:\n%s\n---\n%s", a.body, b.body)
	}
	e.mail.wait(t, known, ssSubjReset, 1)
	time.Sleep(200 * time.Millisecond)
	if n := e.mail.count(unknown, ""); n != 0 {
		t.Errorf("%d emails to an unknown address", n)
	}
}

// testReset resets a password: the link works once, the new password must
// pass the policy, every session and token dies.
func (e *ssEnv) testReset(t *testing.T) {
	rp := e.relyingParty(t)
	email, old := "reset@example.com", "the password before the reset"
	e.g.createUser(email, "Reset User", old)

	// A browser with a session and the tokens of an application.
	b1 := e.browser(t)
	f := rp.newFlow()
	tok, _, _ := rp.exchange(rp.signIn(b1, f, email, old), f)

	b := e.browser(t)
	token := e.askReset(t, b, email, 1)
	var page *response
	for range 2 { // opening the link does not use it up
		page = b.get(e.g.base + "/recover/reset?token=" + token)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("GET reset = %d:\n%s", page.StatusCode, page.body)
		}
	}
	for _, field := range []string{`name="password" type="password" autocomplete="new-password"`, `name="password2" type="password" autocomplete="new-password"`} {
		if !strings.Contains(page.body, field) {
			t.Errorf("the reset form lacks %s", field)
		}
	}
	form := ssForm(t, page.body, "/recover/reset")
	for _, c := range []struct{ pass, again, alert string }{
		{"password123", "password123", ssTooCommon},
		{"the new password here", "the new password there", ssDiffer},
		{email, email, ssTooCommon}, // checked once the link is used: it is renewed
	} {
		resp := b.post(e.g.base+"/recover/reset", ssWith(form, "password", c.pass, "password2", c.again))
		if resp.StatusCode != http.StatusBadRequest || ssAlert(resp.body) != c.alert {
			t.Fatalf("reset with %q = %d %q, want 400 %q", c.pass, resp.StatusCode, ssAlert(resp.body), c.alert)
		}
		form = ssForm(t, resp.body, "/recover/reset")
	}
	const newPass = "the password after the reset"
	ok := b.post(e.g.base+"/recover/reset", ssWith(form, "password", newPass, "password2", newPass))
	if ok.StatusCode != http.StatusOK || ssInfo(ok.body) != ssResetDone {
		t.Fatalf("reset = %d %q:\n%s", ok.StatusCode, ssInfo(ok.body), ok.body)
	}
	if !strings.Contains(ok.body, `href="/login?authRequestID=`) {
		t.Errorf("the reset does not offer to continue the sign-in it was asked from")
	}
	if r := b.post(e.g.base+"/recover/reset", ssWith(form, "password", "yet another password", "password2", "yet another password")); r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed) {
		t.Errorf("second use of the reset link = %d %q", r.StatusCode, ssAlert(r.body))
	}
	e.mail.wait(t, email, ssSubjChanged, 1)

	// The old session no longer signs in silently.
	f2 := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
	if _, at := b1.follow(f2.authURL, rpRedirect); ssQuery(at, "error") != "login_required" {
		t.Errorf("prompt=none with the old session = %s, want error=login_required", at)
	}
	// Its refresh and access tokens are revoked.
	if status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh after the reset = %d %v, want 400 invalid_grant", status, out)
	}
	if in := rp.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("access token after the reset: %v", in)
	}
	// Only the new password works.
	if r := tryPassword(t, rp, e.browser(t), email, old); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password signs in: %d", r.StatusCode)
	}
	f3 := rp.newFlow()
	rp.exchange(rp.signIn(e.browser(t), f3, email, newPass), f3)
}

// testResetKeepsTOTP resets the password of a user with the authenticator
// app: the next sign-in still asks for a code.
func (e *ssEnv) testResetKeepsTOTP(t *testing.T) {
	rp := e.relyingParty(t)
	u := e.newUser(t, "reset-totp@example.com")
	e.enableTOTP(t, e.session(t, u), u)

	b := e.browser(t)
	token := e.askReset(t, b, u.email, 1)
	u.pass = "the password after the reset"
	e.reset(t, b, token, u.pass)

	f := rp.newFlow()
	login, _ := b.follow(f.authURL, rpRedirect)
	resp := b.post(e.g.base+"/login", ssWith(formFields(login.body), "email", u.email, "password", u.pass))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
		t.Fatalf("sign-in after the reset = %d %q, want 303 to the code page", resp.StatusCode, resp.Header.Get("Location"))
	}
	page := b.get(redirectTarget(resp))
	code := b.post(e.g.base+"/login/otp", ssWith(ssForm(t, page.body, "/login/otp"), "code", e.code(u)))
	if code.StatusCode != http.StatusSeeOther {
		t.Fatalf("code = %d %q", code.StatusCode, ssAlert(code.body))
	}
	_, at := b.follow(redirectTarget(code), rpRedirect)
	_, _, c := rp.exchange(rp.codeFrom(at, f), f)
	if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr after the reset = %v", c.AMR)
	}
}

// testChange changes the password of a user without a second factor.
func (e *ssEnv) testChange(t *testing.T) {
	rp := e.relyingParty(t)
	u := e.newUser(t, "change@example.com")
	other := e.browser(t)
	f := rp.newFlow()
	tok, _, _ := rp.exchange(rp.signIn(other, f, u.email, u.pass), f)
	b := e.session(t, u)

	account := b.get(e.g.base + "/account")
	if !strings.Contains(account.body, `href="/account/password"`) {
		t.Errorf("the account page does not link to the password change")
	}
	page := b.get(e.g.base + "/account/password")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /account/password = %d", page.StatusCode)
	}
	for _, field := range []string{`autocomplete="current-password"`, `name="password" type="password" autocomplete="new-password"`, `name="password2" type="password" autocomplete="new-password"`} {
		if !strings.Contains(page.body, field) {
			t.Errorf("the password form lacks %s", field)
		}
	}
	if strings.Contains(page.body, `name="code"`) {
		t.Errorf("the password form asks for a code from a user without a factor")
	}
	form := ssForm(t, page.body, "/account/password")
	const newPass = "the changed password"
	for _, c := range []struct {
		current, pass, again string
		status               int
		alert                string
	}{
		{"not the current one", newPass, newPass, http.StatusUnauthorized, ssWrongCurrent},
		{u.pass, "password123", "password123", http.StatusBadRequest, ssTooCommon},
		{u.pass, newPass, newPass + "!", http.StatusBadRequest, ssDiffer},
	} {
		r := b.post(e.g.base+"/account/password", ssWith(form, "current", c.current, "password", c.pass, "password2", c.again))
		if r.StatusCode != c.status || ssAlert(r.body) != c.alert {
			t.Errorf("change (%q, %q) = %d %q, want %d %q", c.current, c.pass, r.StatusCode, ssAlert(r.body), c.status, c.alert)
		}
	}
	if r := b.post(e.g.base+"/account/password", ssWith(form, "csrf", "forged", "current", u.pass, "password", newPass, "password2", newPass)); r.StatusCode != http.StatusForbidden {
		t.Errorf("change with a forged CSRF token = %d, want 403", r.StatusCode)
	}
	ok := b.post(e.g.base+"/account/password", ssWith(form, "current", u.pass, "password", newPass, "password2", newPass))
	if ok.StatusCode != http.StatusOK || ssInfo(ok.body) != ssChanged {
		t.Fatalf("change = %d %q:\n%s", ok.StatusCode, ssInfo(ok.body), ok.body)
	}
	e.mail.wait(t, u.email, ssSubjChanged, 1)

	// This browser stays signed in; the other one is signed out and its
	// tokens revoked.
	if r := b.get(e.g.base + "/account"); r.StatusCode != http.StatusOK {
		t.Errorf("the changing browser lost its session: %d", r.StatusCode)
	}
	f2 := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
	if _, at := other.follow(f2.authURL, rpRedirect); ssQuery(at, "error") != "login_required" {
		t.Errorf("prompt=none in the other browser = %s, want error=login_required", at)
	}
	if status, _ := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status != http.StatusBadRequest {
		t.Errorf("refresh after the change = %d, want 400", status)
	}
	if r := tryPassword(t, rp, e.browser(t), u.email, u.pass); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password signs in: %d", r.StatusCode)
	}
	f3 := rp.newFlow()
	rp.exchange(rp.signIn(e.browser(t), f3, u.email, newPass), f3)
}

// testChangeTOTP changes the password of a user with the authenticator
// app: a wrong code is refused, the right one accepted.
func (e *ssEnv) testChangeTOTP(t *testing.T) {
	u := e.newUser(t, "change-totp@example.com")
	b := e.session(t, u)
	e.enableTOTP(t, b, u)
	page := b.get(e.g.base + "/account/password")
	if !strings.Contains(page.body, `autocomplete="one-time-code"`) || !strings.Contains(page.body, "authenticator app") {
		t.Fatalf("the password form does not ask for the app's code:\n%s", page.body)
	}
	form := ssWith(ssForm(t, page.body, "/account/password"), "current", u.pass, "password", "the changed password", "password2", "the changed password")
	if r := b.post(e.g.base+"/account/password", ssWith(form, "code", e.wrongCode(u))); r.StatusCode != http.StatusUnauthorized || ssAlert(r.body) != ssWrongCode {
		t.Errorf("change with a wrong code = %d %q, want 401 %q", r.StatusCode, ssAlert(r.body), ssWrongCode)
	}
	if r := b.post(e.g.base+"/account/password", ssWith(form, "code", "")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("change without a code = %d, want 401", r.StatusCode)
	}
	ok := b.post(e.g.base+"/account/password", ssWith(form, "code", e.code(u)))
	if ok.StatusCode != http.StatusOK || ssInfo(ok.body) != ssChanged {
		t.Fatalf("change with the right code = %d %q", ok.StatusCode, ssAlert(ok.body))
	}
}

// testChangeEmail changes the password of a user with email codes: "Send
// me a code" emails one for this session.
func (e *ssEnv) testChangeEmail(t *testing.T) {
	u := e.newUser(t, "change-email@example.com")
	b := e.session(t, u)
	e.enableEmail(t, b, u)
	page := b.get(e.g.base + "/account/password")
	if !strings.Contains(page.body, `action="/account/password/code"`) || !strings.Contains(page.body, `autocomplete="one-time-code"`) {
		t.Fatalf("the password form offers no emailed code:\n%s", page.body)
	}
	form := ssWith(ssForm(t, page.body, "/account/password"), "current", u.pass, "password", "the changed password", "password2", "the changed password")
	// Without a code sent, any code is wrong.
	if r := b.post(e.g.base+"/account/password", ssWith(form, "code", "123456")); r.StatusCode != http.StatusUnauthorized || ssAlert(r.body) != ssWrongCode {
		t.Errorf("change before a code was sent = %d %q", r.StatusCode, ssAlert(r.body))
	}
	n := e.mail.count(u.email, ssSubjCode)
	sent := b.post(e.g.base+"/account/password/code", ssForm(t, page.body, "/account/password/code"))
	if sent.StatusCode != http.StatusOK || !strings.HasPrefix(ssInfo(sent.body), "We sent a 6-digit code to") {
		t.Fatalf("send code = %d %q %q", sent.StatusCode, ssInfo(sent.body), ssAlert(sent.body))
	}
	code := e.mail.code(t, u.email, n)
	if r := b.post(e.g.base+"/account/password", ssWith(form, "code", wrongCodeFor(code))); r.StatusCode != http.StatusUnauthorized || ssAlert(r.body) != "Invalid One Time Password! (Attempts left: 1)" {
		t.Errorf("change with a wrong code = %d %q", r.StatusCode, ssAlert(r.body))
	}
	ok := b.post(e.g.base+"/account/password", ssWith(form, "code", code))
	if ok.StatusCode != http.StatusOK || ssInfo(ok.body) != ssChanged {
		t.Fatalf("change with the emailed code = %d %q", ok.StatusCode, ssAlert(ok.body))
	}
	// The code worked once.
	page = b.get(e.g.base + "/account/password")
	form = ssWith(ssForm(t, page.body, "/account/password"), "current", "the changed password", "password", "a third password here", "password2", "a third password here")
	if r := b.post(e.g.base+"/account/password", ssWith(form, "code", code)); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the emailed code worked twice: %d", r.StatusCode)
	}
}

// testChangeLimiter: wrong current passwords count against the sign-in's
// password limiter for the account.
func (e *ssEnv) testChangeLimiter(t *testing.T) {
	rp := e.relyingParty(t)
	u := e.newUser(t, "change-limit@example.com")
	b := e.session(t, u)
	form := ssWith(ssForm(t, b.get(e.g.base+"/account/password").body, "/account/password"), "password", "the changed password", "password2", "the changed password")
	var r *response
	for range 5 { // password.max_attempts
		r = b.post(e.g.base+"/account/password", ssWith(form, "current", "wrong current password"))
	}
	if r.StatusCode != http.StatusTooManyRequests || ssAlert(r.body) != ssPwdBlocked {
		t.Errorf("5th wrong current password = %d %q, want 429 %q", r.StatusCode, ssAlert(r.body), ssPwdBlocked)
	}
	e.wantDeviceBlocked(t, rp, b, u)
}

// testLimits: registrations and recovery requests are limited per IP
// (10 an hour) and per address (5 an hour; past it, the answer is the
// same but nothing is sent).
func (e *ssEnv) testLimits(t *testing.T) {
	b := e.browser(t)
	form := ssForm(t, b.get(e.g.base+"/register").body, "/register")
	for i := range 10 {
		if r := e.register(t, b, form, fmt.Sprintf("limit-%d@example.com", i), "Limit", "a password for limits"); r.StatusCode != http.StatusOK {
			t.Fatalf("registration %d = %d %q", i+1, r.StatusCode, ssAlert(r.body))
		}
	}
	if r := e.register(t, b, form, "limit-x@example.com", "Limit", "a password for limits"); r.StatusCode != http.StatusTooManyRequests || ssAlert(r.body) != ssBlocked {
		t.Errorf("11th registration from one IP = %d %q, want 429 %q", r.StatusCode, ssAlert(r.body), ssBlocked)
	}

	email := "limit-rec@example.com"
	e.g.createUser(email, "Limit", "a password for limits")
	var first string
	for i := range 6 {
		b := e.browser(t)
		r := b.post(e.g.base+"/recover", ssWith(ssForm(t, b.get(e.g.base+"/recover").body, "/recover"), "email", email))
		if i == 0 {
			first = r.body
		}
		if r.StatusCode != http.StatusOK || r.body != first {
			t.Fatalf("recovery %d = %d, or another page", i+1, r.StatusCode)
		}
	}
	e.mail.wait(t, email, ssSubjReset, 5)
	time.Sleep(300 * time.Millisecond)
	if n := e.mail.count(email, ssSubjReset); n != 5 {
		t.Errorf("%d reset emails for 6 requests, want 5", n)
	}
	b = e.browser(t)
	form = ssForm(t, b.get(e.g.base+"/recover").body, "/recover")
	for i := range 11 {
		r := b.post(e.g.base+"/recover", ssWith(form, "email", fmt.Sprintf("nobody-%d@example.com", i)))
		want, alert := http.StatusOK, ""
		if i == 10 {
			want, alert = http.StatusTooManyRequests, ssBlocked
		}
		if r.StatusCode != want || ssAlert(r.body) != alert {
			t.Fatalf("recovery %d from one IP = %d %q, want %d %q", i+1, r.StatusCode, ssAlert(r.body), want, alert)
		}
	}
}

// testLimitsAtOnce: recovery requests posted all at once keep the limits
// per address and per IP: 20 for one address from 20 IPs send it 5 reset
// emails, and 20 from one IP for 20 addresses get 10 answers, the rest the
// block.
func (e *ssEnv) testLimitsAtOnce(t *testing.T) {
	const n = 20
	email := "limit-burst@example.com"
	e.g.createUser(email, "Limit", "a password for limits")
	bs, forms := make([]*browser, n), make([]url.Values, n)
	for i := range n {
		bs[i] = e.browser(t)
		forms[i] = ssWith(ssForm(t, bs[i].get(e.g.base+"/recover").body, "/recover"), "email", email)
	}
	for i, r := range tfBurst(n, func(i int) (*response, error) { return tfRawPost(bs[i], e.g.base+"/recover", forms[i]) }) {
		if r.err != nil || r.resp.StatusCode != http.StatusOK || !strings.Contains(r.resp.body, ssRecoverSent) {
			t.Fatalf("recovery %d for one address = %v %v", i, r.err, r.resp)
		}
	}
	e.mail.wait(t, email, ssSubjReset, 5)
	time.Sleep(300 * time.Millisecond)
	if got := e.mail.count(email, ssSubjReset); got != 5 {
		t.Errorf("%d recovery requests at once for one address sent %d reset emails, want 5", n, got)
	}

	b := e.browser(t)
	form := ssForm(t, b.get(e.g.base+"/recover").body, "/recover")
	ok, blocked := 0, 0
	for i, r := range tfBurst(n, func(i int) (*response, error) {
		return tfRawPost(b, e.g.base+"/recover", ssWith(form, "email", fmt.Sprintf("nobody-burst-%d@example.com", i)))
	}) {
		switch {
		case r.err != nil:
			t.Fatalf("recovery %d from one IP: %v", i, r.err)
		case r.resp.StatusCode == http.StatusOK:
			ok++
		case r.resp.StatusCode == http.StatusTooManyRequests && ssAlert(r.resp.body) == ssBlocked:
			blocked++
		default:
			t.Errorf("recovery %d from one IP = %d %q", i, r.resp.StatusCode, ssAlert(r.resp.body))
		}
	}
	if ok != 10 || blocked != n-10 {
		t.Errorf("%d recovery requests at once from one IP: %d answered, %d blocked; want 10 and %d", n, ok, blocked, n-10)
	}
}

// testResetExpires: a reset link is dead after 30 minutes.
func (e *ssEnv) testResetExpires(t *testing.T) {
	email := "reset-expires@example.com"
	e.g.createUser(email, "Expires", "the password that stays")
	b := e.browser(t)
	token := e.askReset(t, b, email, 1)
	page := b.get(e.g.base + "/recover/reset?token=" + token)
	e.advance(30*time.Minute + time.Second)
	r := b.post(e.g.base+"/recover/reset", ssWith(ssForm(t, page.body, "/recover/reset"), "password", "a password too late", "password2", "a password too late"))
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed) {
		t.Errorf("reset after 30 minutes = %d %q", r.StatusCode, ssAlert(r.body))
	}
	rp := e.relyingParty(t)
	f := rp.newFlow()
	rp.exchange(rp.signIn(e.browser(t), f, email, "the password that stays"), f)
}

// testConfirmExpires: a confirmation link is dead after 24 hours, and the
// account stays unusable.
func (e *ssEnv) testConfirmExpires(t *testing.T) {
	b := e.browser(t)
	email, pass := "reg-expires@example.com", "a registration left too long"
	e.register(t, b, ssForm(t, b.get(e.g.base+"/register").body, "/register"), email, "Late", pass)
	token := e.mail.link(t, email, ssSubjConfirm, 1, "/register/confirm")
	page := b.get(e.g.base + "/register/confirm?token=" + token)
	e.advance(24*time.Hour + time.Minute)
	r := b.post(e.g.base+"/register/confirm", ssForm(t, page.body, "/register/confirm"))
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed) {
		t.Errorf("confirmation after 24 hours = %d %q", r.StatusCode, ssAlert(r.body))
	}
	if r := tryPassword(t, e.relyingParty(t), e.browser(t), email, pass); r.StatusCode != http.StatusUnauthorized || ssAlert(r.body) != ssBadCredentials {
		t.Errorf("sign-in with an expired confirmation = %d %q", r.StatusCode, ssAlert(r.body))
	}
}

// ---- the environment ----

// ssEnv is one gatehouse with its SMTP sink and movable clock.
type ssEnv struct {
	g         *gatehouse
	rp        *relyingParty
	mail      *ssSink
	clockFile string

	mu     sync.Mutex
	offset time.Duration
	ips    int
}

func ssStart(t *testing.T, dsn string, extra ...string) *ssEnv {
	t.Helper()
	e := &ssEnv{mail: ssNewSink(t), clockFile: filepath.Join(t.TempDir(), "clock")}
	e.advance(0)
	e.g = newGatehouse(t, dsn, append([]string{
		"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
		"GATEHOUSE_MAIL_SMTP_PORT=" + strconv.Itoa(e.mail.port()),
		"GATEHOUSE_MAIL_SMTP_TLS=none",
		"GATEHOUSE_TEST_CLOCK_FILE=" + e.clockFile,
		// The tests move the server's clock, not the database's.
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
	}, extra...)...)
	e.g.start()
	e.rp = newRelyingParty(t, e.g)
	return e
}

// browser returns a new browser connecting from a loopback address no
// other browser of e uses, so that per-IP limits do not add up across
// tests.
func (e *ssEnv) browser(t *testing.T) *browser {
	e.mu.Lock()
	e.ips++
	n := e.ips
	e.mu.Unlock()
	return newBrowser(t).from(fmt.Sprintf("127.0.%d.%d", 40+n/250, 1+n%250))
}

// relyingParty is e's relying party seen from the (sub)test t.
func (e *ssEnv) relyingParty(t *testing.T) *relyingParty {
	return &relyingParty{t: t, g: e.g, client: e.rp.client, provider: e.rp.provider, oauth: e.rp.oauth, verifier: e.rp.verifier}
}

// now is the server's time.
func (e *ssEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.offset)
}

// advance moves the server's clock forward by d.
func (e *ssEnv) advance(d time.Duration) {
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

// register posts the registration form.
func (e *ssEnv) register(t *testing.T, b *browser, form url.Values, email, name, pass string) *response {
	t.Helper()
	return b.post(e.g.base+"/register", ssWith(form, "email", email, "name", name, "password", pass, "password2", pass))
}

// askReset asks for a reset link for email in b and returns the token of
// the nth reset email.
func (e *ssEnv) askReset(t *testing.T, b *browser, email string, n int) string {
	t.Helper()
	rp := e.relyingParty(t)
	login, _ := b.follow(rp.newFlow().authURL, rpRedirect)
	page := b.get(e.g.base + "/recover?authRequestID=" + url.QueryEscape(formFields(login.body).Get("authRequestID")))
	r := b.post(e.g.base+"/recover", ssWith(ssForm(t, page.body, "/recover"), "email", email))
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, ssRecoverSent) {
		t.Fatalf("POST /recover = %d:\n%s", r.StatusCode, r.body)
	}
	return e.mail.link(t, email, ssSubjReset, n, "/recover/reset")
}

// reset sets a new password with the reset link's token.
func (e *ssEnv) reset(t *testing.T, b *browser, token, pass string) {
	t.Helper()
	page := b.get(e.g.base + "/recover/reset?token=" + token)
	r := b.post(e.g.base+"/recover/reset", ssWith(ssForm(t, page.body, "/recover/reset"), "password", pass, "password2", pass))
	if r.StatusCode != http.StatusOK || ssInfo(r.body) != ssResetDone {
		t.Fatalf("reset = %d %q %q", r.StatusCode, ssInfo(r.body), ssAlert(r.body))
	}
}

// ssUser is a test user; secret and last describe its authenticator app.
type ssUser struct {
	email, pass string
	secret      string
	last        int64 // the last time step used
}

func (e *ssEnv) newUser(t *testing.T, email string) *ssUser {
	t.Helper()
	u := &ssUser{email: email, pass: "the password of " + email, last: -1}
	e.g.createUser(email, "Test User", u.pass)
	return u
}

// session signs u in with the password alone and returns the browser.
func (e *ssEnv) session(t *testing.T, u *ssUser) *browser {
	t.Helper()
	rp := e.relyingParty(t)
	b := e.browser(t)
	rp.signIn(b, rp.newFlow(), u.email, u.pass)
	return b
}

// enableTOTP turns the authenticator app on from the account pages.
func (e *ssEnv) enableTOTP(t *testing.T, b *browser, u *ssUser) {
	t.Helper()
	sec := b.get(e.g.base + "/account/security")
	page := b.post(e.g.base+"/account/security/totp/enable", ssForm(t, sec.body, "/account/security/totp/enable"))
	m := regexp.MustCompile(`<a href="([^"]+)" id="otpauth">`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no otpauth link:\n%s", page.body)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	u.secret, u.last = link.Query().Get("secret"), -1
	r := b.post(e.g.base+"/account/security/totp/enable-confirm", ssWith(ssForm(t, page.body, "/account/security/totp/enable-confirm"), "code", e.code(u)))
	if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusOK {
		t.Fatalf("totp/enable-confirm = %d %q", r.StatusCode, ssAlert(r.body))
	}
	if !strings.Contains(b.get(e.g.base+"/account/security").body, `action="/account/security/totp/disable"`) {
		t.Fatalf("the authenticator app is not on")
	}
}

// enableEmail turns email codes on from the account pages.
func (e *ssEnv) enableEmail(t *testing.T, b *browser, u *ssUser) {
	t.Helper()
	n := e.mail.count(u.email, ssSubjCode)
	sec := b.get(e.g.base + "/account/security")
	page := b.post(e.g.base+"/account/security/email/enable", ssForm(t, sec.body, "/account/security/email/enable"))
	r := b.post(e.g.base+"/account/security/email/enable-confirm", ssWith(ssForm(t, page.body, "/account/security/email/enable-confirm"), "code", e.mail.code(t, u.email, n)))
	if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusOK {
		t.Fatalf("email/enable-confirm = %d %q", r.StatusCode, ssAlert(r.body))
	}
	if !strings.Contains(b.get(e.g.base+"/account/security").body, `action="/account/security/email/disable"`) {
		t.Fatalf("email codes are not on")
	}
}

// code returns the app's code for a time step u has not used yet and the
// server accepts now, moving the server's clock on if needed.
func (e *ssEnv) code(u *ssUser) string {
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

// wrongCode returns a code the app does not show around now.
func (e *ssEnv) wrongCode(u *ssUser) string {
	cur := e.now().Unix() / 30
	var valid []string
	for s := cur - 2; s <= cur+3; s++ {
		c, _ := totp.Code(u.secret, time.Unix(s*30, 0))
		valid = append(valid, c)
	}
	w := wrongCodeFor(valid[2])
	for slices.Contains(valid, w) {
		w = wrongCodeFor(w)
	}
	return w
}

// ---- pages ----

var (
	ssFormRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	ssAlertRE = regexp.MustCompile(`(?s)<p class="alert" role="alert">(.*?)</p>`)
	ssInfoRE  = regexp.MustCompile(`(?s)<p class="info" role="status">(.*?)</p>`)
)

// ssForm returns the hidden fields of the form of page posting to action.
func ssForm(t *testing.T, page, action string) url.Values {
	t.Helper()
	for _, m := range ssFormRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == action {
			return formFields(m[2])
		}
	}
	t.Fatalf("no form posting to %s:\n%s", action, page)
	return nil
}

// ssWith returns a copy of form with the key, value pairs kv set.
func ssWith(form url.Values, kv ...string) url.Values {
	v := url.Values{}
	for k, vs := range form {
		v[k] = slices.Clone(vs)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func ssAlert(page string) string {
	if m := ssAlertRE.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

func ssInfo(page string) string {
	if m := ssInfoRE.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

func ssQuery(u, key string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Query().Get(key)
}

// ssPasswordAt opens the sign-in page of the auth request arID in b and
// submits email and password.
func ssPasswordAt(t *testing.T, b *browser, base, arID, email, pass string) *response {
	t.Helper()
	page := b.get(base + "/login?authRequestID=" + url.QueryEscape(arID))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /login = %d %q", page.StatusCode, ssAlert(page.body))
	}
	return b.post(base+"/login", ssWith(ssForm(t, page.body, "/login"), "email", email, "password", pass))
}

// ---- the SMTP sink ----

// ssSink is a real SMTP server (emersion/go-smtp) that keeps what it
// receives.
type ssSink struct {
	addr string
	mu   sync.Mutex
	msgs []ssMail
	// delay, when set, is how long each message's DATA waits before it is
	// accepted: a slow mail server.
	delay atomic.Int64
}

// ssMail is a received message: body is its decoded text/plain part and
// html its text/html part.
type ssMail struct {
	to      []string
	subject string
	body    string
	html    string
}

func ssNewSink(t *testing.T) *ssSink {
	t.Helper()
	s := &ssSink{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &ssSMTPSession{sink: s}, nil
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
	t.Cleanup(func() {
		srv.Close()
		ln.Close() // Close misses a listener Serve has not registered yet
		<-done
	})
	return s
}

func (s *ssSink) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// matching returns the messages to whose subject starts with subject.
func (s *ssSink) matching(to, subject string) []ssMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ssMail
	for _, m := range s.msgs {
		if slices.Contains(m.to, to) && strings.HasPrefix(m.subject, subject) {
			out = append(out, m)
		}
	}
	return out
}

func (s *ssSink) count(to, subject string) int { return len(s.matching(to, subject)) }

// wait waits for the nth such message (1-based) and returns it.
func (s *ssSink) wait(t *testing.T, to, subject string, n int) ssMail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := s.matching(to, subject); len(m) >= n {
			return m[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages %q to %s, want %d", s.count(to, subject), subject, to, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// link waits for the nth message and returns the token of its link to
// path, checking the link is absolute.
func (s *ssSink) link(t *testing.T, to, subject string, n int, path string) string {
	t.Helper()
	m := s.wait(t, to, subject, n)
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+` + regexp.QuoteMeta(path) + `\?token=([A-Za-z0-9_-]{43})\b`)
	c := re.FindStringSubmatch(m.body)
	if c == nil {
		t.Fatalf("no link to %s in %q:\n%s", path, m.subject, m.body)
	}
	return c[1]
}

// code waits for the code email to after the first n and returns its
// code, which is alone on a line of the text and not in the subject.
func (s *ssSink) code(t *testing.T, to string, n int) string {
	t.Helper()
	m := s.wait(t, to, ssSubjCode, n+1)
	c := tfMailCode(tfMail{raw: m.body})
	if c == "" || strings.Contains(m.subject, c) {
		t.Fatalf("code email %q:\n%s", m.subject, m.body)
	}
	return c
}

type ssSMTPSession struct {
	sink *ssSink
	to   []string
}

func (s *ssSMTPSession) Reset()                               { s.to = nil }
func (s *ssSMTPSession) Logout() error                        { return nil }
func (s *ssSMTPSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *ssSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

func (s *ssSMTPSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(s.sink.delay.Load()))
	m := ssMail{to: s.to, body: string(raw)}
	if msg, err := netmail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			m.subject = msg.Header.Get("Subject")
		}
		m.body, m.html = tfParts(msg)
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, m)
	s.sink.mu.Unlock()
	return nil
}
