package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of the step-up (issue 15 §3): with only a session
// cookie older than session.reauth_window, sensitive account changes are
// refused and lead to "Confirm it's you"; after the password (and the
// second factor) they work. An email change tells the old address, whose
// link puts it back once and signs the account out everywhere.

const (
	suSubjConfirm = "Confirm your new email address"
	suSubjChanged = "Your email address was changed"
	suRestored    = "Your old email address is back, and your account was signed out everywhere. Sign in again, and change your password if someone else may know it."
)

func TestStepUp(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := ssStart(t, databaseURL(t, backend))
			t.Run("a stale session changes nothing", e.testStaleRefused)
			t.Run("wrong passwords at re-authentication block", e.testReauthLimiter)
			t.Run("others' wrong passwords do not stop the owner's re-authentication", e.testReauthDespiteOthers)
			t.Run("re-authentication returns only to this site", e.testReauthNext)
			t.Run("the old address can revert an email change", e.testRevertEmail)
		})
	}
}

// suStale returns a browser signed in as u whose sign-in is older than the
// re-authentication window, and a second browser of u.
func (e *ssEnv) suStale(t *testing.T, u *ssUser, setup func(b *browser)) (stale, other *browser) {
	t.Helper()
	stale, other = e.session(t, u), e.session(t, u)
	if setup != nil {
		setup(stale)
	}
	e.advance(6 * time.Minute)
	return stale, other
}

// suPath is where resp redirects to, as a path of e's server when it is
// one.
func (e *ssEnv) suPath(resp *response) string {
	return strings.TrimPrefix(redirectTarget(resp), e.g.base)
}

// suReauth answers resp, a redirect to the re-authentication page, with
// the password and code, and returns the answer.
func (e *ssEnv) suReauth(t *testing.T, b *browser, resp *response, pass, code string) *response {
	t.Helper()
	loc := e.suPath(resp)
	if !strings.HasPrefix(loc, "/account/reauth?next=") {
		t.Fatalf("answer %d to %s, want a redirect to /account/reauth", resp.StatusCode, loc)
	}
	page := b.get(e.g.base + loc)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, "Confirm it&#39;s you") || !strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatalf("GET %s = %d:\n%s", loc, page.StatusCode, page.body)
	}
	form := ssWith(ssForm(t, page.body, "/account/reauth"), "password", pass)
	if code != "" {
		form.Set("code", code)
	}
	return b.post(e.g.base+"/account/reauth", form)
}

// testStaleRefused: each sensitive action of a stale session redirects to
// the re-authentication page and changes nothing; after it, they work.
func (e *ssEnv) testStaleRefused(t *testing.T) {
	u := e.newUser(t, "stale@example.com")
	b, other := e.suStale(t, u, func(b *browser) { e.enableTOTP(t, b, u) })
	account := b.get(e.g.base + "/account")
	security := b.get(e.g.base + "/account/security")
	if account.StatusCode != http.StatusOK || security.StatusCode != http.StatusOK {
		t.Fatalf("the account pages answer %d and %d to a stale session", account.StatusCode, security.StatusCode)
	}
	otherID := acSessionRE.FindStringSubmatch(account.body)
	if otherID == nil {
		t.Fatalf("the account page lists no other session:\n%s", account.body)
	}
	codes := e.mail.count(u.email, ssSubjCode)
	for _, tt := range []struct {
		path string
		page *response
		set  []string
		next string
	}{
		{"/account/email", account, []string{"email", "thief@example.net"}, "/account"},
		{"/account/sessions/end", account, []string{"session", otherID[1]}, "/account"},
		{"/account/sessions/end-others", account, nil, "/account"},
		{"/account/security/totp/disable", security, nil, "/account/security"},
		{"/account/security/totp/disable-confirm", security, []string{"code", e.code(u)}, "/account/security"},
		{"/account/security/email/enable", security, nil, "/account/security"},
		{"/account/security/recovery/regenerate", security, nil, "/account/security"},
		{"/account/security/recovery/regenerate-confirm", security, []string{"code", e.code(u)}, "/account/security"},
	} {
		form := ssForm(t, tt.page.body, strings.Replace(tt.path, "-confirm", "", 1))
		r := b.post(e.g.base+tt.path, ssWith(form, tt.set...))
		if got, want := e.suPath(r), "/account/reauth?next="+url.QueryEscape(tt.next); r.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("POST %s from a stale session = %d %s, want 303 %s", tt.path, r.StatusCode, got, want)
		}
	}
	// Nothing changed: the app is on, the other browser signed in, no mail
	// went out, the email is the same.
	if !strings.Contains(b.get(e.g.base+"/account/security").body, `action="/account/security/totp/disable"`) {
		t.Errorf("the authenticator app was turned off without re-authentication")
	}
	if r := other.get(e.g.base + "/account"); r.StatusCode != http.StatusOK {
		t.Errorf("the other browser was signed out without re-authentication: %d", r.StatusCode)
	}
	if n := e.mail.count("thief@example.net", suSubjConfirm); n != 0 {
		t.Errorf("%d confirmation emails went to the new address without re-authentication", n)
	}
	if n := e.mail.count(u.email, ssSubjCode); n != codes {
		t.Errorf("%d codes were emailed without re-authentication", n-codes)
	}
	if show := e.g.cli("", "users", "show", u.email); !strings.Contains(show, u.email) {
		t.Errorf("users show %s after the refused change:\n%s", u.email, show)
	}

	// The wrong code fails under the code limiter, the right one passes.
	r := b.post(e.g.base+"/account/sessions/end-others", ssForm(t, account.body, "/account/sessions/end-others"))
	if f := e.suReauth(t, b, r, u.pass, e.wrongCode(u)); f.StatusCode != http.StatusUnauthorized || ssAlert(f.body) != ssWrongCode {
		t.Errorf("re-authentication with a wrong code = %d %q, want 401 %q", f.StatusCode, ssAlert(f.body), ssWrongCode)
	}
	if f := e.suReauth(t, b, r, u.pass, ""); f.StatusCode != http.StatusUnauthorized {
		t.Errorf("re-authentication without the code = %d, want 401", f.StatusCode)
	}
	ok := e.suReauth(t, b, r, u.pass, e.code(u))
	if got := e.suPath(ok); ok.StatusCode != http.StatusSeeOther || got != "/account" {
		t.Fatalf("re-authentication = %d %s %q, want 303 /account", ok.StatusCode, got, ssAlert(ok.body))
	}
	// Now the actions work.
	account = b.get(e.g.base + "/account")
	if r := b.post(e.g.base+"/account/sessions/end-others", ssForm(t, account.body, "/account/sessions/end-others")); e.suPath(r) != "/account?done=others" {
		t.Errorf("sign out everywhere else after re-authentication = %d %s", r.StatusCode, e.suPath(r))
	}
	if r := other.get(e.g.base + "/account"); !signInAsked(r) {
		t.Errorf("the other browser is still signed in: %d", r.StatusCode)
	}
	security = b.get(e.g.base + "/account/security")
	page := b.post(e.g.base+"/account/security/totp/disable", ssForm(t, security.body, "/account/security/totp/disable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("totp/disable after re-authentication = %d %s", page.StatusCode, e.suPath(page))
	}
	r = b.post(e.g.base+"/account/security/totp/disable-confirm", ssWith(ssForm(t, page.body, "/account/security/totp/disable-confirm"), "code", e.code(u)))
	if got := e.suPath(r); got != "/account/security?done=totp-off" {
		t.Errorf("totp/disable-confirm after re-authentication = %d %s %q", r.StatusCode, got, ssAlert(r.body))
	}
	e.mail.wait(t, u.email, "Two-factor authentication changed", 2) // on, then off

	// The window runs out again.
	e.advance(6 * time.Minute)
	account = b.get(e.g.base + "/account")
	r = b.post(e.g.base+"/account/email", ssWith(ssForm(t, account.body, "/account/email"), "email", "thief@example.net"))
	if !strings.HasPrefix(e.suPath(r), "/account/reauth?") {
		t.Errorf("email change %v after the re-authentication = %d %s", 6*time.Minute, r.StatusCode, e.suPath(r))
	}
}

// testReauthLimiter: wrong passwords at the re-authentication count
// against the sign-in's password limiter of the account.
func (e *ssEnv) testReauthLimiter(t *testing.T) {
	rp := e.relyingParty(t)
	u := e.newUser(t, "reauth-limit@example.com")
	b, _ := e.suStale(t, u, nil)
	account := b.get(e.g.base + "/account")
	r := b.post(e.g.base+"/account/sessions/end-others", ssForm(t, account.body, "/account/sessions/end-others"))
	var f *response
	for i := range 5 { // password.max_attempts
		f = e.suReauth(t, b, r, "wrong password", "")
		if i < 4 && (f.StatusCode != http.StatusUnauthorized || ssAlert(f.body) != "The password is not correct.") {
			t.Errorf("wrong password %d = %d %q", i+1, f.StatusCode, ssAlert(f.body))
		}
	}
	if f.StatusCode != http.StatusTooManyRequests || ssAlert(f.body) != ssPwdBlocked {
		t.Errorf("5th wrong password = %d %q, want 429 %q", f.StatusCode, ssAlert(f.body), ssPwdBlocked)
	}
	if f := e.suReauth(t, b, r, u.pass, ""); f.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password while blocked = %d, want 429", f.StatusCode)
	}
	e.wantDeviceBlocked(t, rp, b, u)
}

// wantDeviceBlocked checks where wrong passwords sent from b, a signed-in
// browser of u, were counted: on b's own counter (its device cookie). The
// password sign-in is refused with b's device cookie, from any address,
// but not in a browser without it: guesses from one browser do not lock
// the account's owner out elsewhere (README, Security notes).
func (e *ssEnv) wantDeviceBlocked(t *testing.T, rp *relyingParty, b *browser, u *ssUser) {
	t.Helper()
	withDevice := e.browser(t)
	base, _ := url.Parse(e.g.base)
	for _, c := range b.c.Jar.Cookies(base) {
		if c.Name == "gh_device" {
			withDevice.c.Jar.SetCookies(base, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		}
	}
	if r := tryPassword(t, rp, withDevice, u.email, u.pass); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("sign-in with the blocked browser's device cookie from another IP = %d, want 429", r.StatusCode)
	}
	if r := tryPassword(t, rp, e.browser(t), u.email, u.pass); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in from another browser and IP = %d, want 303: the owner's browser's failures lock out nobody else", r.StatusCode)
	}
}

// testReauthDespiteOthers: wrong passwords sent from other browsers block
// the account, but the signed-in owner still re-authenticates (and changes
// the password) in their own browser, whose failures count apart.
func (e *ssEnv) testReauthDespiteOthers(t *testing.T) {
	rp := e.relyingParty(t)
	u := e.newUser(t, "reauth-others@example.com")
	b, _ := e.suStale(t, u, nil)
	for range 5 { // password.max_attempts
		tryPassword(t, rp, e.browser(t), u.email, "wrong password")
	}
	if r := tryPassword(t, rp, e.browser(t), u.email, u.pass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password from another browser after 5 wrong ones = %d, want 429", r.StatusCode)
	}
	account := b.get(e.g.base + "/account")
	r := b.post(e.g.base+"/account/sessions/end-others", ssForm(t, account.body, "/account/sessions/end-others"))
	if f := e.suReauth(t, b, r, u.pass, ""); f.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner's re-authentication while others blocked the account = %d %q, want 303", f.StatusCode, ssAlert(f.body))
	}
	form := ssWith(ssForm(t, b.get(e.g.base+"/account/password").body, "/account/password"),
		"current", u.pass, "password", "another long password here", "password2", "another long password here")
	if r := b.post(e.g.base+"/account/password", form); r.StatusCode != http.StatusOK || ssInfo(r.body) != ssChanged {
		t.Fatalf("the owner's password change while others blocked the account = %d %q", r.StatusCode, ssAlert(r.body))
	}
}

// testReauthNext: the page returns to paths of the account area only.
func (e *ssEnv) testReauthNext(t *testing.T) {
	u := e.newUser(t, "reauth-next@example.com")
	b, _ := e.suStale(t, u, nil)
	for _, tt := range []struct{ next, want string }{
		{"/account/security", "/account/security"},
		{"/account/security?x=1", "/account/security?x=1"},
		{"https://evil.example/account", "/account"},
		{"//evil.example/account", "/account"},
		{"/\\evil.example/account", "/account"},
		{"/account/../login", "/account"},
		{"/logout", "/account"},
		{"javascript:alert(1)", "/account"},
	} {
		page := b.get(e.g.base + "/account/reauth?next=" + url.QueryEscape(tt.next))
		if got := ssForm(t, page.body, "/account/reauth").Get("next"); got != tt.want {
			t.Errorf("next=%q: the form returns to %q, want %q", tt.next, got, tt.want)
		}
		r := b.post(e.g.base+"/account/reauth", ssWith(ssForm(t, page.body, "/account/reauth"), "password", u.pass, "next", tt.next))
		if got := e.suPath(r); r.StatusCode != http.StatusSeeOther || got != tt.want {
			t.Errorf("next=%q: re-authentication goes to %d %q, want %q", tt.next, r.StatusCode, got, tt.want)
		}
	}
}

// testRevertEmail: the old address gets a link that puts it back, once,
// and signs the account out everywhere.
func (e *ssEnv) testRevertEmail(t *testing.T) {
	u := e.newUser(t, "revert@example.com")
	b := e.session(t, u)
	other := e.session(t, u)
	account := b.get(e.g.base + "/account")
	r := b.post(e.g.base+"/account/email", ssWith(ssForm(t, account.body, "/account/email"), "email", "taken-over@example.net"))
	if got := e.suPath(r); got != "/account?done=email-sent" {
		t.Fatalf("email change = %d %s", r.StatusCode, got)
	}
	token := e.mail.link(t, "taken-over@example.net", suSubjConfirm, 1, "/account/email/confirm")
	confirm := b.get(e.g.base + "/account/email/confirm?token=" + token)
	if got := e.suPath(b.post(e.g.base+"/account/email/confirm", ssForm(t, confirm.body, "/account/email/confirm"))); got != "/account?done=email" {
		t.Fatalf("confirm = %s", got)
	}
	revert := e.mail.link(t, u.email, suSubjChanged, 1, "/account/email/revert")
	if body := e.mail.wait(t, u.email, suSubjChanged, 1).body; !strings.Contains(body, "taken-over@example.net") || !strings.Contains(body, "72 hours") {
		t.Errorf("the old address's email:\n%s", body)
	}

	// Opening the link asks first; the form uses it.
	fresh := e.browser(t)
	page := fresh.get(e.g.base + "/account/email/revert?token=" + revert)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET the revert link = %d %q", page.StatusCode, ssAlert(page.body))
	}
	form := ssForm(t, page.body, "/account/email/revert")
	done := fresh.post(e.g.base+"/account/email/revert", form)
	if done.StatusCode != http.StatusOK || ssInfo(done.body) != suRestored {
		t.Fatalf("POST the revert link = %d %q %q", done.StatusCode, ssInfo(done.body), ssAlert(done.body))
	}
	if show := e.g.cli("", "users", "show", u.email); !strings.Contains(show, u.email) {
		t.Errorf("users show %s after the revert:\n%s", u.email, show)
	}
	for name, br := range map[string]*browser{"the changing browser": b, "another browser": other} {
		if r := br.get(e.g.base + "/account"); !signInAsked(r) {
			t.Errorf("%s is still signed in after the revert: %d", name, r.StatusCode)
		}
	}
	if r := tryPassword(t, e.relyingParty(t), e.browser(t), "taken-over@example.net", u.pass); r.StatusCode == http.StatusSeeOther {
		t.Errorf("the new address still signs in after the revert")
	}
	// Once only.
	again := fresh.post(e.g.base+"/account/email/revert", form)
	if again.StatusCode != http.StatusBadRequest {
		t.Errorf("the revert link worked twice: %d", again.StatusCode)
	}
}
