package main

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// ipPrefix is the path of the issuer in TestIssuerPath: the server answers
// under it as a reverse proxy that passes /id/… unchanged would send.
const ipPrefix = "/id"

// TestIssuerPath runs Gatehouse with the issuer http://127.0.0.1:PORT/id:
// discovery, the protocol endpoints, a sign-in with a password and an
// authenticator app through go-oidc, refresh, userinfo, introspection,
// revocation, PAR, end_session, the account area, the console and emailed
// links all live under /id; nothing outside it answers but the probes. Every
// answer the browsers get is audited (ipAudit): each redirect, cookie path,
// link, form action, script and stylesheet stays under /id.
func TestIssuerPath(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := ipStart(t, databaseURL(t, backend))
			base := e.g.base
			origin := strings.TrimSuffix(base, ipPrefix)
			audit := &ipAudit{t: t, origin: origin}

			// Outside the base path nothing answers but the probes.
			for _, p := range []string{"/.well-known/openid-configuration", "/keys", "/authorize", "/login", "/account",
				"/static/gatehouse.css", "/", "/admin", "/idx/login", "/id.css", "/signed-out"} {
				if resp := ipGet(t, origin+p); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s (outside the issuer's path) = %d, want 404", p, resp.StatusCode)
				}
			}
			for _, p := range []string{"/healthz", "/readyz", ipPrefix + "/healthz", ipPrefix + "/readyz"} {
				if resp := ipGet(t, origin+p); resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", p, resp.StatusCode)
				}
			}

			// Discovery (OpenID Connect Discovery §4) at the issuer's path,
			// every endpoint under it.
			doc := ipJSON(t, base+"/.well-known/openid-configuration")
			if doc["issuer"] != base {
				t.Errorf("discovery issuer = %v, want %s", doc["issuer"], base)
			}
			n := 0
			for k, v := range doc {
				if s, ok := v.(string); ok && (strings.HasSuffix(k, "_endpoint") || k == "jwks_uri") {
					n++
					if !strings.HasPrefix(s, base+"/") {
						t.Errorf("discovery %s = %s, not under %s/", k, s, base)
					}
				}
			}
			if n < 7 {
				t.Errorf("discovery names %d endpoints:\n%v", n, doc)
			}
			if keys := ipJSON(t, doc["jwks_uri"].(string)); len(keys["keys"].([]any)) == 0 {
				t.Error("JWKS without keys")
			}
			if meta := ipJSON(t, base+"/.well-known/oauth-authorization-server"); meta["issuer"] != base {
				t.Errorf("RFC 8414 metadata issuer = %v", meta["issuer"])
			}

			rp := e.rp
			u := e.newUser(t, "path@example.com")
			tfCLI(t, e.g, "", "users", "grant-admin", u.email)

			// The account area: sign in with the password, turn the
			// authenticator app on, following the pages' own forms.
			e.ipEnableTOTP(t, audit.browser(), u)

			// A relying party's sign-in: password, then the app's code.
			b2 := audit.browser()
			f := rp.newFlow()
			login, at := b2.follow(f.authURL, rpRedirect)
			if login == nil || login.StatusCode != http.StatusOK || !strings.HasPrefix(at, base+"/login?authRequestID=") {
				t.Fatalf("the authorization request landed at %s, want %s/login", at, base)
			}
			form := ipForm(t, login.body, ipPrefix+"/login")
			form.Set("email", u.email)
			form.Set("password", u.pass)
			resp := b2.post(origin+ipPrefix+"/login", form)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), ipPrefix+"/login/otp?authRequestID=") {
				t.Fatalf("password = %d %q, want 303 to %s/login/otp", resp.StatusCode, resp.Header.Get("Location"), ipPrefix)
			}
			codePage := ipPage(t, b2, redirectTarget(resp))
			resp = tfPostCode(b2, origin+ipPrefix+"/login/otp", ipForm(t, codePage.body, ipPrefix+"/login/otp"), e.code(u))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("code = %d, alert %q", resp.StatusCode, tfAlert(resp.body))
			}
			final, at := b2.follow(redirectTarget(resp), rpRedirect)
			if final != nil {
				t.Fatalf("after the code, landed on %s (%d)", at, final.StatusCode)
			}
			tok, idt, c := rp.exchange(rp.codeFrom(at, f), f) // go-oidc checks iss against the issuer with its path
			tfClaims(t, c, tfAMRTOTP, tfACR2)
			if idt.Issuer != base {
				t.Errorf("ID token iss = %s, want %s", idt.Issuer, base)
			}

			// Userinfo, refresh, introspection and revocation at the
			// discovered endpoints.
			info, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil || info.Email != u.email {
				t.Errorf("userinfo = %v, %v", info, err)
			}
			status, refreshed := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
			if status != http.StatusOK || refreshed["access_token"] == nil {
				t.Fatalf("refresh = %d %v", status, refreshed)
			}
			if raw, _ := refreshed["id_token"].(string); raw != "" {
				if _, err := rp.verifier.Verify(t.Context(), raw); err != nil {
					t.Errorf("refreshed ID token: %v", err)
				}
			}
			access, _ := refreshed["access_token"].(string)
			rp.remember(access)
			if in := rp.introspect(access); in["active"] != true || in["iss"] != nil && in["iss"] != base {
				t.Errorf("introspection = %v", in)
			}
			rp.revokeToInactive(t, access, "the refreshed access token")

			// Pushed authorization requests: the request_uri opens the
			// login page under /id.
			status, pushed := rp.postJSON(doc["pushed_authorization_request_endpoint"].(string), url.Values{
				"response_type": {"code"}, "client_id": {rp.client.ID}, "redirect_uri": {rpRedirect}, "scope": {"openid"},
				"state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			}, rp.client.ID, rp.client.Secret)
			if status != http.StatusCreated {
				t.Fatalf("PAR = %d %v", status, pushed)
			}
			parURL := doc["authorization_endpoint"].(string) + "?" + url.Values{"client_id": {rp.client.ID}, "request_uri": {pushed["request_uri"].(string)}}.Encode()
			if page, at := audit.browser().follow(parURL, rpRedirect); page == nil || page.StatusCode != http.StatusOK ||
				!strings.HasPrefix(at, base+"/login?authRequestID=") {
				t.Errorf("the pushed request landed at %s", at)
			}

			// The pages the signed-in browser reaches, the console too:
			// the audit checks each one's links.
			for _, p := range []string{"/", "/account", "/account/security", "/account/password", "/account/reauth?next=/account",
				"/end_session", "/admin", "/admin/clients",
				"/admin/clients/" + url.PathEscape(rp.client.ID), "/admin/users", "/admin/blocks", "/admin/audit"} {
				ipPage(t, b2, base+p)
			}
			if resp, at := b2.follow(base+"/lang?to=en&back=/account/security", ""); resp == nil || at != base+"/account/security" {
				t.Errorf("the language switch went back to %s, want %s/account/security", at, base)
			}

			// end_session with the ID token: back to the application, and
			// the session is over.
			raw, _ := tok.Extra("id_token").(string)
			logout := doc["end_session_endpoint"].(string) + "?" + url.Values{"id_token_hint": {raw},
				"post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}.Encode()
			if page, at := b2.follow(logout, rpLogout); page != nil || !strings.HasPrefix(at, rpLogout) {
				t.Fatalf("end_session landed on %s", at)
			}
			if resp := b2.get(base + "/account"); resp.StatusCode == http.StatusOK {
				t.Error("the account page is open after end_session")
			}

			// Pages without a session, and the emailed reset link.
			anon := audit.browser()
			for _, p := range []string{"/register", "/recover", "/signed-out"} {
				ipPage(t, anon, base+p)
			}
			rec := ipPage(t, anon, base+"/recover")
			form = ipForm(t, rec.body, ipPrefix+"/recover")
			form.Set("email", u.email)
			if resp := anon.post(origin+ipPrefix+"/recover", form); resp.StatusCode >= 400 {
				t.Fatalf("recover = %d", resp.StatusCode)
			}
			link := e.ipMailLink(t, u.email, base+"/recover/reset?token=")
			reset := ipPage(t, anon, link)
			ipForm(t, reset.body, ipPrefix+"/recover/reset")

			audit.fetchAssets()
			audit.mu.Lock()
			defer audit.mu.Unlock()
			t.Logf("audited %d pages, %d links, %d cookies, %d redirects, %d assets", audit.pages, audit.refs, audit.cookies, audit.redirects, len(audit.assets))
			if audit.pages < 20 || audit.refs < 200 || audit.cookies < 5 || audit.redirects < 10 {
				t.Errorf("the audit saw only %d pages, %d links, %d cookies and %d redirects", audit.pages, audit.refs, audit.cookies, audit.redirects)
			}
		})
	}
}

// ipStart starts Gatehouse as tfStart does, with the issuer at ipPrefix
// and registration open.
func ipStart(t *testing.T, dsn string) *tfEnv {
	t.Helper()
	e := &tfEnv{mail: tfNewSink(t), dsn: dsn, clockFile: filepath.Join(t.TempDir(), "clock")}
	e.advance(0)
	e.extra = []string{
		"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
		"GATEHOUSE_MAIL_SMTP_PORT=" + strconv.Itoa(e.mail.port()),
		"GATEHOUSE_MAIL_SMTP_TLS=none",
		"GATEHOUSE_TEST_CLOCK_FILE=" + e.clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
		"GATEHOUSE_REGISTRATION_ENABLED=true",
	}
	e.g = newGatehouse(t, dsn, e.extra...)
	e.g.base += ipPrefix
	e.g.env = append(e.g.env, "GATEHOUSE_ISSUER="+e.g.base) // the last one wins
	e.g.start()
	e.rp = newRelyingParty(t, e.g)
	return e
}

// ipEnableTOTP signs u in with the password in b and turns the
// authenticator app on from the security page, following the pages' own
// forms under ipPrefix.
func (e *tfEnv) ipEnableTOTP(t *testing.T, b *browser, u *tfUser) {
	t.Helper()
	base, rp := e.g.base, e.rp
	origin := strings.TrimSuffix(base, ipPrefix)
	rp.signIn(b, rp.newFlow(), u.email, u.pass)
	sec := ipPage(t, b, base+"/account/security")
	page := b.post(origin+ipPrefix+"/account/security/totp/enable", ipForm(t, sec.body, ipPrefix+"/account/security/totp/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("totp/enable = %d:\n%s", page.StatusCode, page.body)
	}
	u.secret = tfSecret(t, page.body)
	resp := tfPostCode(b, origin+ipPrefix+"/account/security/totp/enable-confirm",
		ipForm(t, page.body, ipPrefix+"/account/security/totp/enable-confirm"), e.code(u))
	codes, next, ok := tfRecovery(resp)
	if !ok || len(codes) != 10 || next != ipPrefix+"/account/security?done=totp-on" {
		t.Fatalf("enabling the app = %d %q, recovery codes %d leading to %q", resp.StatusCode, resp.Header.Get("Location"), len(codes), next)
	}
	if sec := ipPage(t, b, origin+next); !strings.Contains(sec.body, `action="`+ipPrefix+`/account/security/totp/disable"`) {
		t.Fatalf("the app is not on:\n%s", sec.body)
	}
}

// ipMailLink waits for an email to to with a link starting with prefix
// and returns the link.
func (e *tfEnv) ipMailLink(t *testing.T, to, prefix string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(prefix) + `[A-Za-z0-9_%=-]+`)
	for range 500 {
		e.mail.mu.Lock()
		for _, m := range e.mail.msgs {
			if slices.Contains(m.to, to) {
				if l := re.FindString(m.raw); l != "" {
					e.mail.mu.Unlock()
					return l
				}
			}
		}
		e.mail.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no email to %s with a link starting with %s", to, prefix)
	return ""
}

func ipGet(t *testing.T, u string) *response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(body)}
}

func ipJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp := ipGet(t, u)
	var v map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.body), &v) != nil {
		t.Fatalf("GET %s = %d %.200s", u, resp.StatusCode, resp.body)
	}
	return v
}

// ipPage GETs u in b and wants a page (200).
func ipPage(t *testing.T, b *browser, u string) *response {
	t.Helper()
	resp := b.get(u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %q\n%.500s", u, resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	return resp
}

// ipForm is tfForm that fails the test when page has no such form.
func ipForm(t *testing.T, page, action string) url.Values {
	t.Helper()
	for _, m := range tfFormRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == action {
			return formFields(m[2])
		}
	}
	t.Fatalf("no form posting to %s in:\n%s", action, page)
	return nil
}

// ipAudit checks every answer of the server to its browsers: a redirect
// within the site goes under ipPrefix, every cookie's Path is under it,
// and every link, form action, script, stylesheet, image and WebAuthn
// endpoint of an HTML page that points into the site is under ipPrefix.
type ipAudit struct {
	t      *testing.T
	origin string // http://127.0.0.1:PORT

	mu                              sync.Mutex
	pages, refs, cookies, redirects int
	assets                          []string // same-site scripts and stylesheets
}

func (a *ipAudit) browser() *browser {
	b := newBrowser(a.t)
	b.c.Transport = a
	return b
}

var ipRefRE = regexp.MustCompile(`\s(href|src|action|formaction|data-begin|data-finish|data-code-url)="([^"]*)"`)

// under reports whether the site's URL u is under ipPrefix.
func under(p string) bool { return p == ipPrefix || strings.HasPrefix(p, ipPrefix+"/") }

func (a *ipAudit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || "http://"+req.URL.Host != a.origin {
		return resp, err
	}
	t := a.t
	a.mu.Lock()
	defer a.mu.Unlock()
	if loc := resp.Header.Get("Location"); loc != "" {
		a.redirects++
		if u, err := req.URL.Parse(loc); err != nil || u.Host == req.URL.Host && !under(u.Path) {
			t.Errorf("%s %s redirects to %q, outside %s", req.Method, req.URL.Path, loc, ipPrefix)
		}
	}
	for _, c := range resp.Cookies() {
		a.cookies++
		// The login's cookies are for ipPrefix, the demo's for its /demo.
		if !under(c.Path) || strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("%s %s sets the cookie %s with Path %q, outside %s", req.Method, req.URL.Path, c.Name, c.Path, ipPrefix)
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	a.pages++
	for _, m := range ipRefRE.FindAllStringSubmatch(string(body), -1) {
		ref := html.UnescapeString(m[2])
		u, err := req.URL.Parse(ref)
		if err != nil {
			t.Errorf("%s: bad %s %q", req.URL.Path, m[1], ref)
			continue
		}
		if u.Scheme != "http" || u.Host != req.URL.Host {
			continue // another site, data:, mailto:, otpauth:, #fragment
		}
		a.refs++
		if !under(u.Path) {
			t.Errorf("%s %s has %s=%q, outside %s", req.Method, req.URL.Path, m[1], ref, ipPrefix)
		}
		if m[1] == "src" || strings.HasSuffix(u.Path, ".css") {
			if !slices.Contains(a.assets, u.String()) {
				a.assets = append(a.assets, u.String())
			}
		}
	}
	return resp, nil
}

// fetchAssets checks that every script and stylesheet the pages named
// answers.
func (a *ipAudit) fetchAssets() {
	a.mu.Lock()
	assets := slices.Clone(a.assets)
	a.mu.Unlock()
	if len(assets) < 3 {
		a.t.Errorf("the pages named only these scripts and stylesheets: %v", assets)
	}
	for _, u := range assets {
		if resp := ipGet(a.t, u); resp.StatusCode != http.StatusOK || resp.body == "" {
			a.t.Errorf("GET %s = %d", u, resp.StatusCode)
		}
	}
}
