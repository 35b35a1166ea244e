package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// bob is a second user, whose ID token is a valid hint for another user.
const (
	bob     = "bob@example.com"
	bobPass = "another horse battery staple"
)

// logoutRequest sends a request as a browser would: with its cookies and,
// when crossSite, the headers of a page of another site (an image, a link
// or a form).
func logoutRequest(t *testing.T, b *browser, method, u string, form url.Values, crossSite bool) *response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if crossSite {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if method == http.MethodPost {
			req.Header.Set("Origin", "https://evil.example")
		}
	}
	return b.do(req)
}

// clearsSession reports whether resp deletes the browser's session cookie.
func clearsSession(resp *response) bool {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "gh_session") && (c.MaxAge < 0 || c.Value == "") {
			return true
		}
	}
	return false
}

// signedInAs reports whether b's Gatehouse session is live: the account
// page opens, and prompt=none gets a code.
func signedInAs(t *testing.T, b *browser, rp *relyingParty) bool {
	t.Helper()
	account := b.get(rp.g.base + "/account")
	f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
	_, at := b.follow(f.authURL, rpRedirect)
	silent := strings.Contains(at, "code=") && !strings.Contains(at, "error=")
	if (account.StatusCode == http.StatusOK) != silent {
		t.Fatalf("/account = %d but prompt=none landed at %s", account.StatusCode, at)
	}
	return silent
}

// signInForHint signs email in with a new browser and returns it with the
// raw ID token.
func signInForHint(t *testing.T, rp *relyingParty, email, password string) (*browser, string) {
	t.Helper()
	b := newBrowser(t)
	f := rp.newFlow()
	tok, _, _ := rp.exchange(rp.signIn(b, f, email, password), f)
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return b, raw
}

// TestEndSessionConfirmation checks RP-initiated logout (OpenID
// RP-Initiated Logout 1.0 §2, §6; SECURITY.md OAU-10, SES-04): only an
// id_token_hint of the session's user signs out at once; anything else
// asks the user, whose POST is CSRF-protected; a refused request clears
// nothing and redirects nowhere.
func TestEndSessionConfirmation(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			g.createUser(bob, "Bob", bobPass)
			rp := newRelyingParty(t, g)
			endSession := g.base + "/end_session"
			confirm := g.base + "/end_session/confirm"
			_, bobHint := signInForHint(t, rp, bob, bobPass)

			t.Run("asked without a valid hint", func(t *testing.T) {
				b, _ := signInForHint(t, rp, alice, alicePass)
				for _, tc := range []struct {
					name  string
					query url.Values
					want  string
				}{
					{"no hint", url.Values{"client_id": {rp.client.ID}, "post_logout_redirect_uri": {rpLogout}, "state": {"s1"}},
						"Sign out of Axxon Datacenter?"},
					{"no parameters", nil, "Sign out of Gatehouse?"},
					{"another user's hint", url.Values{"id_token_hint": {bobHint}, "post_logout_redirect_uri": {rpLogout}},
						"Sign out of Axxon Datacenter?"},
				} {
					resp := logoutRequest(t, b, http.MethodGet, endSession+"?"+tc.query.Encode(), nil, true)
					if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, tc.want) ||
						!strings.Contains(resp.body, `action="/end_session/confirm"`) {
						t.Errorf("%s: GET /end_session = %d, want 200 and the confirmation %q:\n%s", tc.name, resp.StatusCode, tc.want, resp.body)
					}
					if clearsSession(resp) {
						t.Errorf("%s: the confirmation page cleared the session cookie", tc.name)
					}
					if !signedInAs(t, b, rp) {
						t.Fatalf("%s: a cross-site GET /end_session signed the user out", tc.name)
					}
				}
			})

			t.Run("confirmation POST", func(t *testing.T) {
				b, _ := signInForHint(t, rp, alice, alicePass)
				q := url.Values{"client_id": {rp.client.ID}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}
				page := logoutRequest(t, b, http.MethodGet, endSession+"?"+q.Encode(), nil, true)
				form := formFields(page.body)
				if form.Get("csrf") == "" || form.Get("client_id") != rp.client.ID || form.Get("post_logout_redirect_uri") != rpLogout {
					t.Fatalf("the confirmation form carries %v:\n%s", form, page.body)
				}
				noToken := url.Values{}
				for k, v := range form {
					if k != "csrf" {
						noToken[k] = v
					}
				}
				wrongToken := url.Values{"csrf": {strings.Repeat("A", 43)}}
				for k, v := range noToken {
					wrongToken[k] = v
				}
				for _, tc := range []struct {
					name      string
					form      url.Values
					crossSite bool
				}{
					{"no token", noToken, false},
					{"a wrong token", wrongToken, false},
					{"a cross-site POST with the token", form, true},
				} {
					resp := logoutRequest(t, b, http.MethodPost, confirm, tc.form, tc.crossSite)
					if resp.StatusCode != http.StatusForbidden || clearsSession(resp) {
						t.Errorf("%s: POST = %d (clears cookie %v), want 403:\n%s", tc.name, resp.StatusCode, clearsSession(resp), resp.body)
					}
					if !signedInAs(t, b, rp) {
						t.Fatalf("%s: the refused POST signed the user out", tc.name)
					}
				}
				resp := logoutRequest(t, b, http.MethodPost, confirm, form, false)
				at := redirectTarget(resp)
				if lu, _ := url.Parse(at); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(at, rpLogout) || lu.Query().Get("state") != "bye" {
					t.Fatalf("confirmed POST = %d to %q, want 303 to %s with state", resp.StatusCode, at, rpLogout)
				}
				if signedInAs(t, b, rp) {
					t.Error("still signed in after the confirmed POST")
				}
				// The form replayed after the sign-out ends nothing more.
				if resp := logoutRequest(t, b, http.MethodPost, confirm, form, false); resp.StatusCode != http.StatusForbidden {
					t.Errorf("replayed POST without a session = %d, want 403", resp.StatusCode)
				}
			})

			t.Run("confirmation without a client lands on the signed-out page", func(t *testing.T) {
				b, _ := signInForHint(t, rp, alice, alicePass)
				page := logoutRequest(t, b, http.MethodGet, endSession, nil, false)
				resp := logoutRequest(t, b, http.MethodPost, confirm, formFields(page.body), false)
				if at := redirectTarget(resp); resp.StatusCode != http.StatusSeeOther || at != g.base+"/signed-out" {
					t.Fatalf("confirmed POST = %d to %q, want 303 to /signed-out", resp.StatusCode, at)
				}
				if signedInAs(t, b, rp) {
					t.Error("still signed in after the confirmed POST")
				}
			})

			t.Run("valid hint signs out at once", func(t *testing.T) {
				b, hint := signInForHint(t, rp, alice, alicePass)
				q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye-state"}}
				resp := logoutRequest(t, b, http.MethodGet, endSession+"?"+q.Encode(), nil, true)
				at := redirectTarget(resp)
				if lu, _ := url.Parse(at); resp.StatusCode != http.StatusFound || !strings.HasPrefix(at, rpLogout) || lu.Query().Get("state") != "bye-state" {
					t.Fatalf("GET /end_session with the hint = %d to %q, want 302 to %s with state", resp.StatusCode, at, rpLogout)
				}
				if !clearsSession(resp) || signedInAs(t, b, rp) {
					t.Error("still signed in after end_session with a valid hint")
				}
			})

			t.Run("refused requests change nothing", func(t *testing.T) {
				b, hint := signInForHint(t, rp, alice, alicePass)
				for _, tc := range []struct {
					name  string
					query url.Values
				}{
					{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}},
					{"registered URI with a query appended", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLogout + "?foo=bar"}}},
					{"unregistered URI for client_id", url.Values{"client_id": {rp.client.ID}, "post_logout_redirect_uri": {"https://evil.example/"}}},
					{"unknown client", url.Values{"client_id": {"no-such-client"}, "post_logout_redirect_uri": {rpLogout}}},
					{"malformed hint", url.Values{"id_token_hint": {"not.a.token"}, "post_logout_redirect_uri": {rpLogout}}},
					{"hint with a forged signature", url.Values{"id_token_hint": {hint[:len(hint)-4] + "AAAA"}}},
					{"hint for another client_id", url.Values{"id_token_hint": {hint}, "client_id": {"other"}}},
				} {
					resp := logoutRequest(t, b, http.MethodGet, endSession+"?"+tc.query.Encode(), nil, true)
					if resp.StatusCode >= 300 && resp.StatusCode < 400 || resp.StatusCode == http.StatusOK {
						t.Errorf("%s: GET /end_session = %d (Location %q), want an error page", tc.name, resp.StatusCode, resp.Header.Get("Location"))
					}
					if clearsSession(resp) {
						t.Errorf("%s: the refusal cleared the session cookie", tc.name)
					}
					if !signedInAs(t, b, rp) {
						t.Fatalf("%s: the refused request signed the user out", tc.name)
					}
				}
			})

			t.Run("not signed in goes straight back", func(t *testing.T) {
				b := newBrowser(t)
				q := url.Values{"client_id": {rp.client.ID}, "post_logout_redirect_uri": {rpLogout}, "state": {"s"}}
				resp := logoutRequest(t, b, http.MethodGet, endSession+"?"+q.Encode(), nil, true)
				if at := redirectTarget(resp); resp.StatusCode != http.StatusFound || at != rpLogout+"?state=s" {
					t.Errorf("GET /end_session without a session = %d to %q, want 302 to %s?state=s", resp.StatusCode, at, rpLogout)
				}
			})
		})
	}
}

// TestCredentialResponsesNoStore checks that every answer of the token,
// userinfo, introspection and revocation endpoints, errors included,
// forbids caching (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3, RFC 7662
// §4; SECURITY.md OAU-14, SES-06), and carries a JSON answer's headers.
func TestCredentialResponsesNoStore(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g)

			send := func(method, path string, form url.Values, basic bool, bearer string) (*http.Response, map[string]any) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, err := http.NewRequest(method, g.base+path, body)
				if err != nil {
					t.Fatal(err)
				}
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if basic {
					req.SetBasicAuth(url.QueryEscape(rp.client.ID), url.QueryEscape(rp.client.Secret))
				}
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				return resp, out
			}

			// A code, exchanged by hand to see the token response's headers.
			b := newBrowser(t)
			f := rp.newFlow()
			code := rp.signIn(b, f, alice, alicePass)
			type check struct {
				name       string
				method     string
				path       string
				form       url.Values
				basic      bool
				bearer     string
				wantStatus int
			}
			run := func(tc check) map[string]any {
				t.Helper()
				resp, out := send(tc.method, tc.path, tc.form, tc.basic, tc.bearer)
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("%s: %s %s = %d %v, want %d", tc.name, tc.method, tc.path, resp.StatusCode, out, tc.wantStatus)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control = %q, want no-store", tc.name, cc)
				}
				if p := resp.Header.Get("Pragma"); p != "no-cache" {
					t.Errorf("%s: Pragma = %q, want no-cache", tc.name, p)
				}
				// A JSON answer's headers: no sniffing, a policy that
				// allows nothing and no framing.
				if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
					t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", tc.name, v)
				}
				if v := resp.Header.Get("Content-Security-Policy"); v != "default-src 'none'; frame-ancestors 'none'" {
					t.Errorf("%s: Content-Security-Policy = %q, want default-src 'none'; frame-ancestors 'none'", tc.name, v)
				}
				return out
			}
			tokens := run(check{"authorization_code grant", http.MethodPost, "/oauth/token", url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {f.verifier},
			}, true, "", http.StatusOK})
			access, _ := tokens["access_token"].(string)
			refresh, _ := tokens["refresh_token"].(string)
			if access == "" || refresh == "" {
				t.Fatalf("token response %v lacks tokens", tokens)
			}
			rp.remember(access, refresh)
			run(check{"userinfo", http.MethodGet, "/userinfo", nil, false, access, http.StatusOK})
			run(check{"introspection", http.MethodPost, "/oauth/introspect", url.Values{"token": {access}}, true, "", http.StatusOK})
			refreshed := run(check{"refresh_token grant", http.MethodPost, "/oauth/token", url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {refresh},
			}, true, "", http.StatusOK})
			access2, _ := refreshed["access_token"].(string)
			if access2 == "" {
				t.Fatalf("refresh answered %v", refreshed)
			}
			rp.remember(access2)
			run(check{"revocation", http.MethodPost, "/revoke", url.Values{"token": {access2}}, true, "", http.StatusOK})

			// Errors, each endpoint's own.
			for _, tc := range []check{
				{"refresh token reused", http.MethodPost, "/oauth/token", url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {refresh},
				}, true, "", http.StatusBadRequest},
				{"code replayed", http.MethodPost, "/oauth/token", url.Values{
					"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {f.verifier},
				}, true, "", http.StatusBadRequest},
				{"password grant", http.MethodPost, "/oauth/token", url.Values{
					"grant_type": {"password"}, "username": {alice}, "password": {alicePass},
				}, true, "", http.StatusBadRequest},
				{"wrong client secret", http.MethodPost, "/oauth/token", url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {rp.client.ID}, "client_secret": {"wrong"},
				}, false, "", http.StatusUnauthorized},
				{"no grant_type", http.MethodPost, "/oauth/token", url.Values{}, true, "", http.StatusBadRequest},
				{"body too large", http.MethodPost, "/oauth/token", url.Values{"x": {strings.Repeat("a", 70<<10)}}, true, "", http.StatusRequestEntityTooLarge},
				{"userinfo without a token", http.MethodGet, "/userinfo", nil, false, "", http.StatusUnauthorized},
				{"userinfo with a revoked token", http.MethodGet, "/userinfo", nil, false, access2, http.StatusUnauthorized},
				{"introspection without client authentication", http.MethodPost, "/oauth/introspect", url.Values{"token": {access}}, false, "", http.StatusUnauthorized},
				{"revocation without client authentication", http.MethodPost, "/revoke", url.Values{"token": {access}}, false, "", http.StatusUnauthorized},
			} {
				run(tc)
			}
		})
	}
}
