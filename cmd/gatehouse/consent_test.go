package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// The scopes as the consent page describes them in English and Russian.
const (
	scopeOpenID  = "Sign you in and know who you are"
	scopeProfile = "Your name"
	scopeEmail   = "Your email address"
	scopeOffline = "Stay signed in to Axxon Datacenter while you are away"

	scopeOpenIDRu = "Выполнять вход и знать, кто вы"
	scopeEmailRu  = "Ваш адрес электронной почты"
)

var (
	promptConsent = oauth2.SetAuthURLParam("prompt", "consent")
	promptNone    = oauth2.SetAuthURLParam("prompt", "none")
	openIDEmail   = oauth2.SetAuthURLParam("scope", "openid email")
)

// TestConsent drives a third-party client (clients create --consent)
// through the consent page with a real relying party: what the page shows,
// Allow and Deny, remembered grants, prompt=consent and prompt=none, the
// binding of the page to the browser, and revoking from the account page;
// and a first-party client, which never sees the page.
func TestConsent(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			third := newRelyingParty(t, g, "--consent")
			first := newRelyingParty(t, g)
			if out := g.cli("", "clients", "show", third.client.ID); !regexp.MustCompile(`consent:\s+true`).MatchString(out) {
				t.Errorf("clients show of a consent client:\n%s", out)
			}
			if out := g.cli("", "clients", "show", first.client.ID); !regexp.MustCompile(`consent:\s+false`).MatchString(out) {
				t.Errorf("clients show of a first-party client:\n%s", out)
			}
			t.Run("allow, remember, ask for new scopes, revoke", func(t *testing.T) { consentAllow(t, g, third) })
			t.Run("deny", func(t *testing.T) { consentDeny(t, g, third) })
			t.Run("languages", func(t *testing.T) { consentLanguages(t, g, third) })
			t.Run("bound to the browser", func(t *testing.T) { consentBound(t, g, third) })
			t.Run("first-party client", func(t *testing.T) { consentFirstParty(t, g, first, third) })
			t.Run("clients update", func(t *testing.T) { consentUpdate(t, g, first) })
		})
	}
}

// toConsent signs email in through f in b and returns the consent page it
// lands on.
func toConsent(t *testing.T, g *gatehouse, b *browser, f *flow, email string) *response {
	t.Helper()
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil {
		t.Fatalf("went to the client without consent: %s", at)
	}
	if strings.Contains(page.body, `autocomplete="current-password"`) {
		form := formFields(page.body)
		form.Set("email", email)
		form.Set("password", alicePass)
		resp := b.post(g.base+"/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /login = %d:\n%s", resp.StatusCode, resp.body)
		}
		page, at = b.follow(resp.Header.Get("Location"), rpRedirect)
		if page == nil {
			t.Fatalf("after the password, went to the client without consent: %s", at)
		}
	}
	if page.StatusCode != http.StatusOK || !strings.Contains(at, "/login/consent?") {
		t.Fatalf("expected the consent page, got %s (%d):\n%s", at, page.StatusCode, page.body)
	}
	return page
}

// answer posts the consent page's form with decision and returns where
// the browser ends: the client's redirect, or a page.
func answer(t *testing.T, g *gatehouse, b *browser, page *response, decision string) (*response, string) {
	t.Helper()
	form := formFields(page.body)
	form.Set("decision", decision)
	resp := b.post(g.base+"/login/consent", form)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /login/consent (%s) = %d:\n%s", decision, resp.StatusCode, resp.body)
	}
	return b.follow(redirectTarget(resp), rpRedirect)
}

// wantScopes checks that the consent page names the application and shows
// exactly the scopes of want among all.
func wantScopes(t *testing.T, page *response, want ...string) {
	t.Helper()
	if !strings.Contains(page.body, "Axxon Datacenter") {
		t.Errorf("the consent page does not name the application:\n%s", page.body)
	}
	for _, s := range []string{scopeOpenID, scopeProfile, scopeEmail, scopeOffline} {
		shown := strings.Contains(page.body, s)
		wanted := strings.Contains(strings.Join(want, "\n"), s)
		if shown != wanted {
			t.Errorf("consent page: scope %q shown %t, want %t:\n%s", s, shown, wanted, page.body)
		}
	}
}

// wantError checks that at is the client's redirect with error code, the
// flow's state and the issuer.
func wantError(t *testing.T, g *gatehouse, at string, f *flow, code string) {
	t.Helper()
	if !strings.HasPrefix(at, rpRedirect) {
		t.Fatalf("ended at %s, want the client's redirect with error=%s", at, code)
	}
	u, _ := url.Parse(at)
	q := u.Query()
	if q.Get("error") != code || q.Get("state") != f.state || q.Get("iss") != g.base || q.Get("code") != "" {
		t.Errorf("redirect = %s, want error=%s with state %s and iss %s", at, code, f.state, g.base)
	}
}

// noCode checks that fetching the callback of the consent page's request
// gives no code.
func noCode(t *testing.T, g *gatehouse, b *browser, page *response) {
	t.Helper()
	id := formFields(page.body).Get("authRequestID")
	if id == "" {
		t.Fatalf("no authRequestID on the consent page:\n%s", page.body)
	}
	resp, at := b.follow(g.base+"/authorize/callback?id="+url.QueryEscape(id), rpRedirect)
	if resp == nil || strings.Contains(at, "code=") {
		t.Fatalf("the callback before consent went to %s", at)
	}
}

func consentAllow(t *testing.T, g *gatehouse, rp *relyingParty) {
	const email = "allow@example.com"
	g.createUser(email, "Allow", alicePass)
	b := newBrowser(t)

	// The first sign-in asks for openid and email.
	f := rp.newFlow(openIDEmail)
	page := toConsent(t, g, b, f, email)
	wantScopes(t, page, scopeOpenID, scopeEmail)
	if !strings.Contains(page.body, email) {
		t.Errorf("the consent page does not say who is signed in")
	}
	noCode(t, g, b, page)
	_, at := answer(t, g, b, page, "allow")
	rp.exchange(rp.codeFrom(at, f), f)

	// The same scopes again: no page.
	f = rp.newFlow(openIDEmail)
	if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "code=") {
		t.Fatalf("the second sign-in did not skip the consent page: %s", at)
	}

	// New scopes ask again; the page lists every scope asked for.
	f = rp.newFlow()
	page = toConsent(t, g, b, f, email)
	wantScopes(t, page, scopeOpenID, scopeProfile, scopeEmail, scopeOffline)
	_, at = answer(t, g, b, page, "allow")
	tok, _, _ := rp.exchange(rp.codeFrom(at, f), f)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}

	// Remembered: prompt=none gets a code, and so does a plain sign-in.
	f = rp.newFlow(promptNone)
	if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "code=") {
		t.Fatalf("prompt=none with a remembered grant = %s, want a code", at)
	}
	// prompt=consent always asks.
	f = rp.newFlow(promptConsent)
	page = toConsent(t, g, b, f, email)
	wantScopes(t, page, scopeOpenID, scopeProfile, scopeEmail, scopeOffline)
	_, at = answer(t, g, b, page, "allow")
	rp.codeFrom(at, f)

	// The account page lists the application, and revokes it.
	account := b.get(g.base + "/account")
	if account.StatusCode != http.StatusOK || !strings.Contains(account.body, `id="apps"`) ||
		!strings.Contains(account.body, "Axxon Datacenter") || !strings.Contains(account.body, scopeOffline) {
		t.Fatalf("the account page does not list the application (%d):\n%s", account.StatusCode, account.body)
	}
	csrf := formFields(account.body).Get("csrf")
	if r := b.post(g.base+"/account/apps/revoke", url.Values{"client": {rp.client.ID}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without CSRF = %d, want 403", r.StatusCode)
	}
	if r := b.post(g.base+"/account/apps/revoke", url.Values{"csrf": {csrf}, "client": {rp.client.ID}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d:\n%s", r.StatusCode, r.body)
	}
	status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh after revoking = %d %v, want 400 invalid_grant", status, out)
	}
	if account := b.get(g.base + "/account"); strings.Contains(account.body, `id="apps"`) {
		t.Errorf("the account page still lists the application after revoking")
	}
	events := g.cli("", "audit", "--user", email)
	for _, e := range []string{"consent.granted", "consent.revoked"} {
		if !strings.Contains(events, e) {
			t.Errorf("no %s audit event:\n%s", e, events)
		}
	}

	// The next sign-in asks again; prompt=none gets consent_required.
	f = rp.newFlow(promptNone)
	_, at = b.follow(f.authURL, rpRedirect)
	wantError(t, g, at, f, "consent_required")
	f = rp.newFlow()
	page = toConsent(t, g, b, f, email)
	_, at = answer(t, g, b, page, "allow")
	rp.codeFrom(at, f)
}

func consentDeny(t *testing.T, g *gatehouse, rp *relyingParty) {
	const email = "deny@example.com"
	g.createUser(email, "Deny", alicePass)
	b := newBrowser(t)
	f := rp.newFlow()
	page := toConsent(t, g, b, f, email)
	_, at := answer(t, g, b, page, "deny")
	wantError(t, g, at, f, "access_denied")
	// The denied request yields no code afterwards either.
	id := formFields(page.body).Get("authRequestID")
	if _, at := b.follow(g.base+"/authorize/callback?id="+url.QueryEscape(id), rpRedirect); strings.Contains(at, "code=") {
		t.Errorf("the callback after Deny gave a code: %s", at)
	}
	if events := g.cli("", "audit", "--user", email); !strings.Contains(events, "consent.denied") {
		t.Errorf("no consent.denied audit event:\n%s", events)
	}
}

func consentLanguages(t *testing.T, g *gatehouse, rp *relyingParty) {
	const email = "lang@example.com"
	g.createUser(email, "Lang", alicePass)
	wantRussian := func(page *response) {
		t.Helper()
		for _, s := range []string{`<html lang="ru">`, scopeOpenIDRu, scopeEmailRu, "Разрешить", "Отказать"} {
			if !strings.Contains(page.body, s) {
				t.Errorf("the Russian consent page lacks %q:\n%s", s, page.body)
			}
		}
		if strings.Contains(page.body, scopeOpenID) {
			t.Errorf("the Russian consent page has English")
		}
	}
	b := newBrowser(t)
	f := rp.newFlow(openIDEmail, oauth2.SetAuthURLParam("ui_locales", "ru"))
	wantRussian(toConsent(t, g, b, f, email))

	b = newBrowser(t)
	b.header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	f = rp.newFlow(openIDEmail)
	wantRussian(toConsent(t, g, b, f, email))

	b = newBrowser(t)
	f = rp.newFlow(openIDEmail, oauth2.SetAuthURLParam("ui_locales", "en"))
	page := toConsent(t, g, b, f, email)
	wantScopes(t, page, scopeOpenID, scopeEmail)
	for _, s := range []string{`<html lang="en">`, ">Allow<", ">Deny<"} {
		if !strings.Contains(page.body, s) {
			t.Errorf("the English consent page lacks %q", s)
		}
	}
}

func consentBound(t *testing.T, g *gatehouse, rp *relyingParty) {
	const email = "bound@example.com"
	g.createUser(email, "Bound", alicePass)
	b := newBrowser(t)
	f := rp.newFlow()
	page := toConsent(t, g, b, f, email)
	form := formFields(page.body)
	form.Set("decision", "allow")

	// A browser without cookies, and one with a flow of its own.
	if r := newBrowser(t).post(g.base+"/login/consent", form); r.StatusCode != http.StatusForbidden {
		t.Errorf("consent from a browser without cookies = %d, want 403", r.StatusCode)
	}
	other := newBrowser(t)
	other.follow(rp.newFlow().authURL, rpRedirect)
	if r := other.post(g.base+"/login/consent", form); r.StatusCode != http.StatusForbidden {
		t.Errorf("consent from another browser = %d, want 403", r.StatusCode)
	}
	if r := other.get(g.base + "/login/consent?authRequestID=" + url.QueryEscape(form.Get("authRequestID"))); r.StatusCode != http.StatusForbidden {
		t.Errorf("the consent page in another browser = %d, want 403", r.StatusCode)
	}
	// The right browser without the CSRF token, or with a wrong one.
	noCSRF := url.Values{"authRequestID": {form.Get("authRequestID")}, "decision": {"allow"}}
	if r := b.post(g.base+"/login/consent", noCSRF); r.StatusCode != http.StatusForbidden {
		t.Errorf("consent without CSRF = %d, want 403", r.StatusCode)
	}
	noCSRF.Set("csrf", "x"+form.Get("csrf"))
	if r := b.post(g.base+"/login/consent", noCSRF); r.StatusCode != http.StatusForbidden {
		t.Errorf("consent with a wrong CSRF token = %d, want 403", r.StatusCode)
	}
	// None of that consented: the callback still gives no code, and the
	// user is asked.
	noCode(t, g, b, page)
	_, at := answer(t, g, b, page, "allow")
	rp.codeFrom(at, f)
}

func consentFirstParty(t *testing.T, g *gatehouse, first, third *relyingParty) {
	const email = "first@example.com"
	g.createUser(email, "First", alicePass)
	b := newBrowser(t)
	first.signIn(b, first.newFlow(), email, alicePass)
	// prompt=consent does not bring a page to a first-party client.
	f := first.newFlow(promptConsent)
	if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "code=") {
		t.Errorf("a first-party client with prompt=consent = %s, want a code", at)
	}
	// Signed in, the third-party client still needs consent: prompt=none
	// gets consent_required.
	f = third.newFlow(promptNone)
	_, at := b.follow(f.authURL, rpRedirect)
	wantError(t, g, at, f, "consent_required")
}

func consentUpdate(t *testing.T, g *gatehouse, rp *relyingParty) {
	const email = "update@example.com"
	g.createUser(email, "Update", alicePass)
	out := g.cli("", "clients", "update", rp.client.ID, "--consent=true")
	if !strings.Contains(out, "consent: true") {
		t.Errorf("clients update --consent=true printed %q", out)
	}
	b := newBrowser(t)
	f := rp.newFlow()
	page := toConsent(t, g, b, f, email)
	_, at := answer(t, g, b, page, "allow")
	rp.codeFrom(at, f)

	g.cli("", "clients", "update", rp.client.ID, "--consent=false")
	f = rp.newFlow(promptConsent)
	if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "code=") {
		t.Errorf("after --consent=false, prompt=consent = %s, want a code", at)
	}

	// The admin API shows and sets the switch.
	token := adminToken(t, g, g.createClient("--name", "Operations", "--admin"))
	var c struct {
		Consent *bool `json:"consent"`
	}
	r := adminCall(t, g, token, http.MethodGet, "/api/clients/"+rp.client.ID, "")
	if err := json.Unmarshal([]byte(r.body), &c); r.status != http.StatusOK || err != nil || c.Consent == nil || *c.Consent {
		t.Errorf("GET client = %d %s, want consent false", r.status, r.body)
	}
	r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+rp.client.ID+"/settings", `{"consent":true}`)
	c.Consent = nil
	if err := json.Unmarshal([]byte(r.body), &c); r.status != http.StatusOK || err != nil || c.Consent == nil || !*c.Consent {
		t.Errorf("PATCH settings = %d %s, want consent true", r.status, r.body)
	}
	if r := adminCall(t, g, token, http.MethodPatch, "/api/clients/"+rp.client.ID+"/settings", `{"consent":"yes"}`); r.status != http.StatusBadRequest {
		t.Errorf("PATCH settings with a consent that is no boolean = %d, want 400", r.status)
	}
	f = rp.newFlow(promptNone)
	_, at = b.follow(f.authURL, rpRedirect)
	if !strings.Contains(at, "code=") {
		t.Errorf("consent on again, prompt=none with the grant = %s, want a code", at)
	}
	r = adminCall(t, g, token, http.MethodPost, "/api/clients", `{"name":"Third","redirect_uris":["`+rpRedirect+`"],"consent":true}`)
	c.Consent = nil
	if err := json.Unmarshal([]byte(r.body), &c); r.status != http.StatusCreated || err != nil || c.Consent == nil || !*c.Consent {
		t.Errorf("POST client with consent = %d %s", r.status, r.body)
	}
}

// TestConsentBrowser drives a real Chromium through a third-party
// client's sign-in: the consent page lists the scopes, and clicking Allow
// ends at the relying party with a verified ID token.
func TestConsentBrowser(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGatehouse(t, backend)
			const email = "ada@example.com"
			g.createUser(email, "Ada Lovelace", alicePass)
			rp := newBrowserRP(t, g.base)
			rp.configure(g.createClient("--name", "Browser RP", "--redirect-uri", rp.srv.URL+"/cb", "--consent"))

			b := startChromium(t, chromium)
			ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
			defer cancel()
			b.do(ctx, "sign in",
				chromedp.Navigate(rp.srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#email")),
				chromedp.SendKeys(chromedp.CSS("#email"), email),
				chromedp.SendKeys(chromedp.CSS("#password"), alicePass),
				chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS("#scopes, .alert")),
			)
			scopes := browserRun(b, ctx, "read the scopes", chromedp.Text(chromedp.CSS("#scopes")))
			for _, s := range []string{scopeOpenID, scopeProfile, scopeEmail} {
				if !strings.Contains(scopes, s) {
					t.Errorf("the consent page's scopes %q lack %q", scopes, s)
				}
			}
			b.do(ctx, "allow",
				chromedp.Click(chromedp.CSS(`button[value="allow"]`)),
				chromedp.WaitVisible(chromedp.CSS("#rp-status")),
			)
			if status := browserRun(b, ctx, "read the status", chromedp.Text(chromedp.CSS("#rp-status"))); status != "verified" {
				t.Errorf("relying party status %q, want verified", status)
			}
			if n := rp.signIns(); n != 1 {
				t.Errorf("relying party completed %d sign-ins, want 1", n)
			}
		})
	}
}

// TestConsentSecondFactor checks that the consent page comes after every
// factor: with the password done and the authenticator app's code still
// to come, neither the page, nor its answer, nor the callback goes
// anywhere.
func TestConsentSecondFactor(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			u := e.newUser(t, "mfa@example.com")
			e.enableTOTP(t, e.session(t, u, "127.0.0.1"), u)
			rp := newRelyingParty(t, e.g, "--consent")

			b := newBrowser(t)
			f, codePage := e.codePage(t, rp, b, u)
			form := tfForm(t, codePage.body, "/login/otp")
			id := form.Get("authRequestID")
			if r := b.get(e.g.base + "/login/consent?authRequestID=" + url.QueryEscape(id)); r.StatusCode != http.StatusBadRequest {
				t.Errorf("the consent page before the second factor = %d, want 400", r.StatusCode)
			}
			early := url.Values{"authRequestID": {id}, "csrf": {form.Get("csrf")}, "decision": {"allow"}}
			if r := b.post(e.g.base+"/login/consent", early); r.StatusCode != http.StatusBadRequest {
				t.Errorf("allowing before the second factor = %d, want 400", r.StatusCode)
			}
			if _, at := b.follow(e.g.base+"/authorize/callback?id="+url.QueryEscape(id), rpRedirect); strings.Contains(at, "code=") {
				t.Fatalf("the callback before the second factor gave a code: %s", at)
			}

			resp := tfPostCode(b, e.g.base+"/login/otp", form, e.code(u))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("code step = %d; alert %q", resp.StatusCode, tfAlert(resp.body))
			}
			page, at := b.follow(redirectTarget(resp), rpRedirect)
			if page == nil || !strings.Contains(at, "/login/consent?") {
				t.Fatalf("after the second factor, landed at %s, want the consent page", at)
			}
			_, at = answer(t, e.g, b, page, "allow")
			_, _, c := rp.exchange(rp.codeFrom(at, f), f)
			tfClaims(t, c, tfAMRTOTP, tfACR2)
		})
	}
}
