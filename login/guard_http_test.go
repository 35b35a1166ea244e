package login

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestOtherBrowserRefused covers the browser binding: no step of a
// sign-in, nor its callback, answers a browser other than the one that
// started it, with other cookies or none, even with the owner's forms
// (auth request id and CSRF token); and what they tried counts nothing.
func TestOtherBrowserRefused(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("owner@example.com")
	if err := hs.store.SetEmailOTP(t.Context(), u.ID, true, hs.clock.Now()); err != nil { // email codes too: Resend is open
		t.Fatal(err)
	}
	const ip = "192.0.2.70" // one address: an attempt counted for anyone shows in the owner's count
	owner := hs.browser(ip)
	id, _, codeForm := hs.codeStep(owner, u.Email, nil)
	q := "?authRequestID=" + url.QueryEscape(id)
	codeForm.Set("code", hs.totpCode(secret))
	loginForm := hs.signInForm(owner, id, u.Email, testPassword)
	consentForm := with(codeForm, "decision", "allow")

	stranger := hs.browser(ip)
	hs.authorize(stranger, testClientID, nil) // a flow cookie of its own
	intruders := map[string]*browser{"no cookies": hs.browser(ip), "another browser": stranger}
	steps := []struct {
		name string
		do   func(b *browser) *response
	}{
		{"show the password form", func(b *browser) *response { return b.get("/login" + q) }},
		{"post the password", func(b *browser) *response { return b.post("/login", loginForm) }},
		{"show the code page", func(b *browser) *response { return b.get("/login/otp" + q) }},
		{"show the email code page", func(b *browser) *response {
			return b.get("/login/otp?method=email&authRequestID=" + url.QueryEscape(id))
		}},
		{"post the right code", func(b *browser) *response { return b.post("/login/otp", codeForm) }},
		{"resend the email code", func(b *browser) *response { return b.post("/login/otp/resend", codeForm) }},
		{"show enrolment", func(b *browser) *response { return b.get("/login/enroll" + q) }},
		{"post an enrolment code", func(b *browser) *response { return b.post("/login/enroll", codeForm) }},
		{"show consent", func(b *browser) *response { return b.get(ConsentPath + q) }},
		{"allow consent", func(b *browser) *response { return b.post(ConsentPath, consentForm) }},
		{"fetch the callback", func(b *browser) *response { return b.get(callbackURL(id)) }},
	}
	for name, b := range intruders {
		for _, step := range steps {
			t.Run(name+"/"+step.name, func(t *testing.T) {
				expectPage(t, step.do(b), http.StatusForbidden, msgOtherBrowser)
			})
		}
	}
	if n := hs.mailed(u.Email, "Your Gatehouse code"); n != 0 {
		t.Errorf("the intruders had %d codes emailed", n)
	}
	if ar := hs.authRequest(id); ar.Done || ar.UserID != u.ID {
		t.Fatalf("the intruders changed the sign-in: done %v user %q", ar.Done, ar.UserID)
	}
	// Nothing was counted: the owner still has all three attempts.
	expectPage(t, owner.post("/login/otp", with(codeForm, "code", otherCode(codeForm.Get("code")))), http.StatusUnauthorized, wrongCode(2))
	hs.expectDone(owner, id, owner.post("/login/otp", codeForm), amrTOTP, ACRMFA)
}

// TestCSRFRefused covers the forms' CSRF tokens: a post of the right
// browser without its page's token is refused and changes nothing.
func TestCSRFRefused(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("csrf@example.com")
	b := hs.browser("192.0.2.75")
	id, _, codeForm := hs.codeStep(b, u.Email, nil)
	codeForm.Set("code", hs.totpCode(secret))
	loginForm := hs.signInForm(b, id, u.Email, testPassword)
	other := hs.browser("192.0.2.76")
	otherToken := hs.signInForm(other, hs.authorize(other, testClientID, nil), "", "").Get("csrf")
	for _, form := range []struct {
		path string
		v    url.Values
	}{{"/login", loginForm}, {"/login/otp", codeForm}} {
		for _, tt := range []struct{ name, token string }{
			{"no token", ""},
			{"a made-up token", strings.Repeat("A", 43)},
			{"another browser's token", otherToken},
		} {
			t.Run(form.path+"/"+tt.name, func(t *testing.T) {
				v := with(form.v, "csrf", tt.token)
				if tt.token == "" {
					v.Del("csrf")
				}
				expectPage(t, b.post(form.path, v), http.StatusForbidden, msgForbidden)
			})
		}
	}
	if ar := hs.authRequest(id); ar.Done || ar.UserID != u.ID || b.cookie(sessionCookie) != "" {
		t.Fatalf("a refused post changed the sign-in: done %v user %q", ar.Done, ar.UserID)
	}
	expectPage(t, b.post("/login/otp", with(codeForm, "code", otherCode(codeForm.Get("code")))), http.StatusUnauthorized, wrongCode(2))
	hs.expectDone(b, id, b.post("/login/otp", codeForm), amrTOTP, ACRMFA)
}

// TestConsent covers a third-party client: its code waits for the user's
// Allow, which is remembered for the same scopes; a new scope asks again,
// prompt=none then gets consent_required, and Deny sends access_denied and
// ends the request.
func TestConsent(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("third", func(c *storage.Client) { c.Consent = true })
	u := hs.user("connie@example.com", nil)
	b := hs.browser("192.0.2.80")
	consentPage := func(id string) string { return ConsentPath + "?authRequestID=" + url.QueryEscape(id) }

	id, resp := hs.submitPassword(b, "third", u.Email, testPassword, nil)
	expectRedirect(t, resp, callbackURL(id))
	expectRedirect(t, b.get(callbackURL(id)), consentPage(id))
	page := b.get(consentPage(id))
	for _, want := range []string{"Allow App third access to your account?", "You are signed in as connie@example.com.",
		"<li>Sign you in and know who you are</li>", "<li>Your email address</li>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("consent page without %q", want)
		}
	}
	form := formOf(t, page.body, ConsentPath)
	expectPage(t, b.post(ConsentPath, with(with(form, "csrf", strings.Repeat("A", 43)), "decision", "allow")), http.StatusForbidden, msgForbidden)
	if len(hs.issued()) != 0 {
		t.Fatal("a code was issued before consent")
	}
	expectRedirect(t, b.post(ConsentPath, with(form, "decision", "allow")), callbackURL(id))
	hs.expectIssued(b, id)
	if g, err := hs.store.ConsentGrant(t.Context(), u.ID, "third"); err != nil || !slices.Equal(g.Scopes, []string{"openid", "email"}) {
		t.Errorf("consent grant = %+v, %v", g, err)
	}

	// The next sign-in (the session's) goes straight through.
	id = hs.authorize(b, "third", nil)
	expectRedirect(t, b.get("/login?authRequestID="+url.QueryEscape(id)), callbackURL(id))
	hs.expectIssued(b, id)

	// A scope not allowed yet, without a page to ask on: consent_required.
	id = hs.authorize(b, "third", func(ar *storage.AuthRequest) {
		ar.Scopes = append(ar.Scopes, "offline_access")
		ar.Prompt = []string{"none"}
	})
	expectRedirect(t, b.get("/login?authRequestID="+url.QueryEscape(id)), callbackURL(id))
	if resp := b.get(callbackURL(id)); resp.status != http.StatusFound || resp.loc != testRedirect+"?error=consent_required" {
		t.Errorf("prompt=none callback = %d %q", resp.status, resp.loc)
	}

	// prompt=consent asks again; Deny answers access_denied and ends it.
	id = hs.authorize(b, "third", func(ar *storage.AuthRequest) { ar.Prompt = []string{"consent"} })
	expectRedirect(t, b.get("/login?authRequestID="+url.QueryEscape(id)), callbackURL(id))
	expectRedirect(t, b.get(callbackURL(id)), consentPage(id))
	form = formOf(t, b.get(consentPage(id)).body, ConsentPath)
	if resp := b.post(ConsentPath, with(form, "decision", "deny")); resp.status != http.StatusFound || resp.loc != testRedirect+"?error=access_denied" {
		t.Errorf("deny = %d %q", resp.status, resp.loc)
	}
	if _, err := hs.store.AuthRequestByID(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("denied auth request still stored: %v", err)
	}
	if got := hs.failures(); len(got) != 2 || got[0].code != "consent_required" || got[1] != (failure{id, "access_denied"}) {
		t.Errorf("errors sent to the client: %v", got)
	}
	if n := len(hs.issued()); n != 2 {
		t.Errorf("%d codes issued, want 2", n)
	}
}

// TestSessionReuse covers single sign-on: the browser's session answers
// a new request without the password unless the request or the client
// asks for more than it has, or it has ended.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("strict", func(c *storage.Client) { c.RequireMFA = true })
	u := hs.user("sso@example.com", nil)
	zero := time.Duration(0)
	for _, tt := range []struct {
		name    string
		client  string
		mod     func(*storage.AuthRequest)
		advance time.Duration
		reused  bool
		fail    string // the OAuth error, with prompt=none
	}{
		{name: "plain request", client: testClientID, reused: true},
		{name: "prompt=login", client: testClientID, mod: func(ar *storage.AuthRequest) { ar.Prompt = []string{"login"} }},
		{name: "max_age exceeded", client: testClientID, mod: func(ar *storage.AuthRequest) { ar.MaxAge = &zero }, advance: time.Second},
		{name: "id_token_hint of another user", client: testClientID, mod: func(ar *storage.AuthRequest) { ar.HintSubject = "u-other" }},
		{name: "acr_values above the session", client: testClientID, mod: func(ar *storage.AuthRequest) { ar.ACRValues = []string{ACRMFA} }},
		{name: "client requires MFA", client: "strict"},
		{name: "client requires MFA, prompt=none", client: "strict", mod: func(ar *storage.AuthRequest) { ar.Prompt = []string{"none"} }, fail: "login_required"},
		{name: "session idle for an hour", client: testClientID, advance: time.Hour + time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			b := hs.browser("192.0.2.90")
			id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
			hs.expectDone(b, id, resp, amrPassword, ACRPassword)
			hs.clock.Advance(tt.advance)
			id = hs.authorize(b, tt.client, tt.mod)
			resp = b.get("/login?authRequestID=" + url.QueryEscape(id))
			switch {
			case tt.reused:
				hs.expectDone(b, id, resp, amrPassword, ACRPassword)
			case tt.fail != "":
				if resp.status != http.StatusFound || resp.loc != testRedirect+"?error="+tt.fail {
					t.Errorf("got %d %q, want the client told %s", resp.status, resp.loc, tt.fail)
				}
			default:
				if resp.status != http.StatusOK || formOf(t, resp.body, "/login").Get("authRequestID") != id {
					t.Errorf("got %d %q, want the password form", resp.status, resp.loc)
				}
				if hs.authRequest(id).Done {
					t.Error("the session answered the request")
				}
			}
		})
	}
}

// TestLogout covers signing out from the account page: the CSRF token is
// required, the session ends in the store, and the next sign-in asks for
// the password again.
func TestLogout(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("leo@example.com", nil)
	b := hs.browser("192.0.2.95")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	sessionID := hs.h.SessionID(b.request(http.MethodGet, "/", nil))
	account := b.get("/account")
	if account.status != http.StatusOK || !strings.Contains(account.body, u.Email) {
		t.Fatalf("account page = %d", account.status)
	}
	form := formOf(t, account.body, "/logout")
	expectPage(t, b.post("/logout", with(form, "csrf", "")), http.StatusForbidden, msgForbidden)
	expectPage(t, hs.browser("192.0.2.96").post("/logout", form), http.StatusForbidden, msgForbidden)
	expectRedirect(t, b.post("/logout", form), "/signed-out")
	if _, err := hs.store.SessionByID(t.Context(), sessionID, hs.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("session after sign-out: %v", err)
	}
	if b.cookie(sessionCookie) != "" {
		t.Error("the session cookie survived sign-out")
	}
	if resp := b.get("/account"); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?client_id="+AccountClientID+"&") {
		t.Errorf("account page after sign-out = %d %q, want a sign-in", resp.status, resp.loc)
	}
	id = hs.authorize(b, testClientID, nil)
	if resp := b.get("/login?authRequestID=" + url.QueryEscape(id)); resp.status != http.StatusOK || hs.authRequest(id).Done {
		t.Errorf("after sign-out a sign-in got %d without the password", resp.status)
	}
}
