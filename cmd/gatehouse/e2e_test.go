package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	rpRedirect = "http://127.0.0.1:9/cb" // never contacted: the test stops at it
	rpLogout   = "http://127.0.0.1:9/bye"
	alice      = "alice@example.com"
	alicePass  = "correct horse battery staple"
)

// relyingParty is a registered confidential client seen through go-oidc
// and x/oauth2, as a real application would use Gatehouse.
type relyingParty struct {
	t        *testing.T
	g        *gatehouse
	client   client
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier

	mu   sync.Mutex
	seen []string // codes and tokens handed out, which must never be logged
}

func (rp *relyingParty) remember(secrets ...string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			rp.seen = append(rp.seen, s)
		}
	}
}

// newRelyingParty registers the relying party with extraArgs. A
// confidential one is given every grant, client_credentials included,
// unless extraArgs name its grants (--grant-type).
func newRelyingParty(t *testing.T, g *gatehouse, extraArgs ...string) *relyingParty {
	t.Helper()
	args := append([]string{"--name", "Axxon Datacenter", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpLogout}, extraArgs...)
	if !slices.Contains(extraArgs, "--public") && !slices.Contains(extraArgs, "--grant-type") {
		args = append(args, "--grant-type", allGrants)
	}
	c := g.createClient(args...)
	p, err := oidc.NewProvider(t.Context(), g.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &relyingParty{
		t: t, g: g, client: c, provider: p,
		oauth: &oauth2.Config{
			ClientID: c.ID, ClientSecret: c.Secret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
	}
}

// flow is one authorization request in progress.
type flow struct {
	state, nonce, verifier string
	authURL                string
}

func (rp *relyingParty) newFlow(extra ...oauth2.AuthCodeOption) *flow {
	f := &flow{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	f.authURL = rp.oauth.AuthCodeURL(f.state, opts...)
	return f
}

// signIn runs the whole flow in b, filling the password form if it is
// shown, and returns the code.
func (rp *relyingParty) signIn(b *browser, f *flow, email, password string) string {
	rp.t.Helper()
	page, at := b.follow(f.authURL, rpRedirect)
	if page != nil {
		if !strings.Contains(page.body, `autocomplete="current-password"`) {
			rp.t.Fatalf("expected the login page at %s, got %d:\n%s", at, page.StatusCode, page.body)
		}
		form := formFields(page.body)
		form.Set("email", email)
		form.Set("password", password)
		resp := b.post(rp.g.base+"/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			rp.t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
		}
		page, at = b.follow(resp.Header.Get("Location"), rpRedirect)
		if page != nil {
			rp.t.Fatalf("after login, landed on %s (%d):\n%s", at, page.StatusCode, page.body)
		}
	}
	return rp.codeFrom(at, f)
}

// codeFrom checks the redirect to the client and returns its code.
func (rp *relyingParty) codeFrom(redirect string, f *flow) string {
	rp.t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		rp.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("state") != f.state {
		rp.t.Fatalf("state = %q, want %q (redirect %s)", q.Get("state"), f.state, redirect)
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		rp.t.Fatalf("redirect without code: %s", redirect)
	}
	rp.remember(q.Get("code"))
	return q.Get("code")
}

type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	Nonce         string   `json:"nonce"`
}

// exchange redeems code and verifies the ID token.
func (rp *relyingParty) exchange(code string, f *flow) (*oauth2.Token, *oidc.IDToken, idClaims) {
	rp.t.Helper()
	tok, err := rp.oauth.Exchange(rp.t.Context(), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		rp.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	rp.remember(tok.AccessToken, tok.RefreshToken, raw)
	idt, err := rp.verifier.Verify(rp.t.Context(), raw)
	if err != nil {
		rp.t.Fatalf("verify ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		rp.t.Fatal(err)
	}
	if idt.Nonce != f.nonce {
		rp.t.Fatalf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt, c
}

// tokenRequest posts form to the token endpoint with the client's basic
// credentials and decodes the JSON answer.
func (rp *relyingParty) tokenRequest(form url.Values) (int, map[string]any) {
	rp.t.Helper()
	return rp.postJSON(rp.provider.Endpoint().TokenURL, form, rp.client.ID, rp.client.Secret)
}

func (rp *relyingParty) postJSON(u string, form url.Values, user, pass string) (int, map[string]any) {
	rp.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rp.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (rp *relyingParty) introspect(token string) map[string]any {
	rp.t.Helper()
	status, out := rp.postJSON(rp.g.base+"/oauth/introspect", url.Values{"token": {token}}, rp.client.ID, rp.client.Secret)
	if status != http.StatusOK {
		rp.t.Fatalf("introspect = %d %v", status, out)
	}
	return out
}

// revokeToInactive revokes token as rp's client, without a hint, and
// checks that introspection then reports it inactive; what names it.
func (rp *relyingParty) revokeToInactive(t *testing.T, token, what string) {
	t.Helper()
	if status, out := rp.postJSON(rp.g.base+"/revoke", url.Values{"token": {token}}, rp.client.ID, rp.client.Secret); status != http.StatusOK {
		t.Fatalf("revoke %s = %d %v", what, status, out)
	}
	if in := rp.introspect(token); in["active"] != false {
		t.Errorf("introspection of %s after revocation = %v, want active false", what, in)
	}
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g)
			testOIDC(t, g, rp)
			testKeyRotation(t, g, rp)

			// Nothing secret reached the log.
			logs := g.output()
			for _, s := range append(rp.seen, alicePass, rp.client.Secret) {
				if strings.Contains(logs, s) {
					t.Errorf("the log contains a secret, code or token: %.12s…", s)
				}
			}
			if len(rp.seen) < 20 {
				t.Errorf("only %d codes and tokens were checked against the log", len(rp.seen))
			}
		})
	}
}

func testOIDC(t *testing.T, g *gatehouse, rp *relyingParty) {
	t.Run("code flow with PKCE", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		before := time.Now().Add(-time.Second).Unix()
		code := rp.signIn(b, f, alice, alicePass)
		tok, idt, c := rp.exchange(code, f)
		if idt.Issuer != g.base || !slices.Contains(idt.Audience, rp.client.ID) {
			t.Errorf("iss/aud = %s %v", idt.Issuer, idt.Audience)
		}
		if c.Email != alice || !c.EmailVerified || c.Name != "Alice Liddell" {
			t.Errorf("claims = %+v", c)
		}
		if c.AuthTime < before || c.AuthTime > time.Now().Unix()+1 {
			t.Errorf("auth_time = %d, want about now", c.AuthTime)
		}
		if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR == "" {
			t.Errorf("amr = %v, acr = %q", c.AMR, c.ACR)
		}
		if tok.RefreshToken == "" {
			t.Error("no refresh token despite offline_access")
		}
		ui, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject || ui.Email != alice {
			t.Errorf("userinfo = %+v, want sub %s", ui, idt.Subject)
		}
		if in := rp.introspect(tok.AccessToken); in["active"] != true || in["sub"] != idt.Subject || in["client_id"] != rp.client.ID {
			t.Errorf("introspection = %v", in)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, g.base+"/.well-known/openid-configuration", nil)
		req.Host = "evil.example" // the issuer is static, never taken from Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		json.NewDecoder(resp.Body).Decode(&doc)
		want := map[string]string{
			"issuer":                           g.base,
			"response_types_supported":         "[code]",
			"code_challenge_methods_supported": "[S256]",
			"grant_types_supported":            "[authorization_code refresh_token client_credentials]",
			"acr_values_supported":             "[urn:gatehouse:loa:1 urn:gatehouse:loa:1:email urn:gatehouse:loa:2 urn:gatehouse:loa:3]",
		}
		for k, v := range want {
			if got := fmt.Sprint(doc[k]); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
		if _, ok := doc["device_authorization_endpoint"]; ok {
			t.Error("discovery advertises the device flow")
		}
		if algs := fmt.Sprint(doc["id_token_signing_alg_values_supported"]); strings.Contains(algs, "none") {
			t.Errorf("alg none advertised: %s", algs)
		}
	})

	t.Run("code reuse is refused and revokes its tokens", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		code := rp.signIn(b, f, alice, alicePass)
		tok, _, _ := rp.exchange(code, f)
		status, out := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}})
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("second redemption = %d %v, want 400 invalid_grant", status, out)
		}
		if in := rp.introspect(tok.AccessToken); in["active"] != false {
			t.Errorf("access token of a replayed code still active: %v", in)
		}
		status, out = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if status != http.StatusBadRequest {
			t.Errorf("refresh token of a replayed code still works: %d %v", status, out)
		}
	})

	// The losers that come after the winner's commit are replays: they
	// revoke what the winner got, and at least one of 30 always does (the
	// code's use is serialised: SQLite's one writer, PostgreSQL's row lock).
	t.Run("parallel redemptions: one wins, the replays revoke", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		code := rp.signIn(b, f, alice, alicePass)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []map[string]any
		for range 30 {
			wg.Go(func() {
				status, out := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}})
				if status == http.StatusOK {
					mu.Lock()
					won = append(won, out)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("%d of 30 parallel redemptions succeeded, want 1", len(won))
		}
		at, _ := won[0]["access_token"].(string)
		if in := rp.introspect(at); at == "" || in["active"] != false {
			t.Errorf("the winner's access token after 29 replays: %q %v, want revoked", at, in)
		}
	})

	t.Run("a wrong client secret does not burn the code", func(t *testing.T) {
		f := rp.newFlow()
		code := rp.signIn(newBrowser(t), f, alice, alicePass)
		status, out := rp.postJSON(rp.provider.Endpoint().TokenURL, url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}, rp.client.ID, "wrong-secret")
		if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Fatalf("wrong secret = %d %v, want 401 invalid_client", status, out)
		}
		rp.exchange(code, f)
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		code := rp.signIn(b, f, alice, alicePass)
		status, out := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect}, "code_verifier": {oauth2.GenerateVerifier()}})
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("wrong verifier = %d %v, want 400 invalid_grant", status, out)
		}
		// The refused exchanges did not use the code up: its client's
		// own still succeeds, once.
		status, out = rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect + "/elsewhere"}, "code_verifier": {f.verifier}})
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("another redirect_uri = %d %v, want 400 invalid_grant", status, out)
		}
		rp.exchange(code, f)
	})

	t.Run("a public client's code survives a stranger's tries", func(t *testing.T) {
		pub := newRelyingParty(t, g, "--public")
		f := pub.newFlow()
		code := pub.signIn(newBrowser(t), f, alice, alicePass)
		// Anyone who saw the code knows the public client's id: 20
		// strangers at once, each with a verifier of their own.
		statuses := make(chan int, 20)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				resp, err := http.PostForm(pub.provider.Endpoint().TokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {oauth2.GenerateVerifier()}, "client_id": {pub.client.ID}})
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
		wg.Wait()
		close(statuses)
		for status := range statuses {
			if status != http.StatusBadRequest {
				t.Errorf("a stranger's exchange = %d, want 400", status)
			}
		}
		tok, _, _ := pub.exchange(code, f)
		if tok.AccessToken == "" {
			t.Fatal("the client's own exchange after the strangers' got no access token")
		}
	})

	t.Run("refresh rotation and reuse detection", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		tok, _, _ := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
		rt1 := tok.RefreshToken
		status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
		if status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, out)
		}
		rt2, _ := out["refresh_token"].(string)
		at2, _ := out["access_token"].(string)
		if rt2 == "" || rt2 == rt1 {
			t.Fatalf("refresh did not rotate: %v", out)
		}
		if idt, ok := out["id_token"].(string); !ok || idt == "" {
			t.Errorf("refresh returned no id_token")
		} else if v, err := rp.verifier.Verify(t.Context(), idt); err != nil {
			t.Errorf("refreshed id_token: %v", err)
		} else {
			var c idClaims
			v.Claims(&c)
			if !slices.Equal(c.AMR, []string{"pwd"}) || c.AuthTime == 0 {
				t.Errorf("refreshed id_token lost amr/auth_time: %+v", c)
			}
		}
		status, out = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("reused RT1 = %d %v, want 400 invalid_grant", status, out)
		}
		status, out = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}})
		if status != http.StatusBadRequest {
			t.Fatalf("RT2 after reuse of RT1 = %d %v, want the family revoked", status, out)
		}
		if in := rp.introspect(at2); in["active"] != false {
			t.Errorf("access token of a revoked family still active: %v", in)
		}
	})

	t.Run("another client cannot use the refresh token", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		tok, _, _ := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
		other := g.createClient("--name", "Other", "--redirect-uri", "https://other.example/cb")
		status, out := rp.postJSON(rp.provider.Endpoint().TokenURL,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, other.ID, other.Secret)
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("foreign refresh = %d %v, want 400 invalid_grant", status, out)
		}
		status, _ = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if status != http.StatusOK {
			t.Errorf("owner's refresh after a foreign attempt = %d", status)
		}
	})

	t.Run("revocation then introspection", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		tok, _, _ := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
		revoke := func(token, hint string) {
			t.Helper()
			status, out := rp.postJSON(g.base+"/revoke", url.Values{"token": {token}, "token_type_hint": {hint}}, rp.client.ID, rp.client.Secret)
			if status != http.StatusOK {
				t.Fatalf("revoke %s = %d %v", hint, status, out)
			}
		}
		// Revoking the refresh token kills its access token.
		revoke(tok.RefreshToken, "refresh_token")
		if in := rp.introspect(tok.AccessToken); in["active"] != false {
			t.Errorf("access token alive after its refresh token was revoked: %v", in)
		}
		status, _ := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if status != http.StatusBadRequest {
			t.Errorf("revoked refresh token still refreshes: %d", status)
		}
		// An access token on its own.
		f2 := rp.newFlow()
		tok2, _, _ := rp.exchange(rp.signIn(newBrowser(t), f2, alice, alicePass), f2)
		revoke(tok2.AccessToken, "access_token")
		if in := rp.introspect(tok2.AccessToken); in["active"] != false {
			t.Errorf("revoked access token active: %v", in)
		}
		// Garbage is fine (RFC 7009).
		revoke("not-a-token", "")
		// Introspection needs client authentication.
		status, _ = rp.postJSON(g.base+"/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, "", "")
		if status != http.StatusUnauthorized {
			t.Errorf("unauthenticated introspection = %d, want 401", status)
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"}})
		if status != http.StatusOK {
			t.Fatalf("client_credentials = %d %v", status, out)
		}
		at, _ := out["access_token"].(string)
		if in := rp.introspect(at); in["active"] != true || in["client_id"] != rp.client.ID {
			t.Errorf("introspection = %v", in)
		}
		// The client registered client_secret_basic (the default), so
		// client_secret_post is refused (protocol_clientauth_test.go); a
		// wrong secret is too.
		status, _ = rp.postJSON(rp.provider.Endpoint().TokenURL, url.Values{"grant_type": {"client_credentials"},
			"client_id": {rp.client.ID}, "client_secret": {rp.client.Secret}}, "", "")
		if status != http.StatusUnauthorized {
			t.Errorf("client_secret_post by a client_secret_basic client = %d, want 401", status)
		}
		status, out = rp.postJSON(rp.provider.Endpoint().TokenURL, url.Values{"grant_type": {"client_credentials"}},
			rp.client.ID, rp.client.Secret[:len(rp.client.Secret)-1]+"x")
		if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("wrong secret = %d %v, want 401 invalid_client", status, out)
		}
	})

	t.Run("wrong redirect_uri never redirects", func(t *testing.T) {
		for _, bad := range []string{
			rpRedirect + "/", rpRedirect + "/x", rpRedirect + "?x=1", strings.Replace(rpRedirect, "/cb", "/CB", 1),
			strings.Replace(rpRedirect, "/cb", "/c%62", 1), rpRedirect + "#f", "http://127.0.0.2:9/cb",
			"https://evil.example/cb", "http://127.0.0.1:9@evil.example/cb",
		} {
			u := g.base + "/authorize?" + url.Values{"client_id": {rp.client.ID}, "redirect_uri": {bad},
				"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode()
			resp := newBrowser(t).get(u)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("redirect_uri %q: %d Location=%q type=%q", bad, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("unknown client never redirects", func(t *testing.T) {
		u := g.base + "/authorize?" + url.Values{"client_id": {"nope"}, "redirect_uri": {rpRedirect},
			"response_type": {"code"}, "scope": {"openid"}}.Encode()
		resp := newBrowser(t).get(u)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("unknown client: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("PKCE plain or missing method is refused", func(t *testing.T) {
		for _, method := range []string{"plain", ""} {
			q := url.Values{"client_id": {rp.client.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"st"}, "code_challenge": {strings.Repeat("a", 43)}}
			if method != "" {
				q.Set("code_challenge_method", method)
			}
			resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st" {
				t.Errorf("method %q: %d %s", method, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("public client needs PKCE", func(t *testing.T) {
		pub := g.createClient("--name", "Native", "--public", "--redirect-uri", rpRedirect)
		q := url.Values{"client_id": {pub.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
		resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") == "" {
			t.Errorf("public client without PKCE: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("prompt=none without a session", func(t *testing.T) {
		f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		page, at := newBrowser(t).follow(f.authURL, rpRedirect)
		if page != nil {
			t.Fatalf("prompt=none showed a page (%d)", page.StatusCode)
		}
		q, _ := url.Parse(at)
		if q.Query().Get("error") != "login_required" || q.Query().Get("state") != f.state {
			t.Fatalf("prompt=none redirect = %s, want error=login_required with state", at)
		}
	})

	t.Run("SSO, prompt=login and max_age", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		_, _, first := rp.exchange(rp.signIn(b, f, alice, alicePass), f)

		// The session answers a second request without a form.
		f = rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		page, at := b.follow(f.authURL, rpRedirect)
		if page != nil {
			t.Fatalf("SSO showed a page: %d", page.StatusCode)
		}
		_, _, sso := rp.exchange(rp.codeFrom(at, f), f)
		if sso.AuthTime != first.AuthTime {
			t.Errorf("SSO auth_time = %d, want the session's %d", sso.AuthTime, first.AuthTime)
		}

		time.Sleep(1100 * time.Millisecond) // auth_time has one-second resolution
		for _, opt := range []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("prompt", "login"),
			oauth2.SetAuthURLParam("max_age", "1"),
		} {
			f = rp.newFlow(opt)
			page, _ := b.follow(f.authURL, rpRedirect)
			if page == nil || !strings.Contains(page.body, `autocomplete="current-password"`) {
				t.Fatalf("expected a fresh login form")
			}
			_, _, again := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
			if again.AuthTime <= first.AuthTime {
				t.Errorf("auth_time after re-authentication = %d, want later than %d", again.AuthTime, first.AuthTime)
			}
			first = again
			time.Sleep(1100 * time.Millisecond)
		}
		// max_age=0 with prompt=none cannot be satisfied silently.
		f = rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", "0"))
		_, at = b.follow(f.authURL, rpRedirect)
		if u, _ := url.Parse(at); u.Query().Get("error") != "login_required" {
			t.Errorf("prompt=none max_age=0 = %s, want login_required", at)
		}
	})

	t.Run("wrong password and unknown user look the same", func(t *testing.T) {
		var bodies []string
		for _, creds := range [][2]string{{alice, "wrong password!"}, {"nobody@example.com", "wrong password!"}} {
			b := newBrowser(t)
			f := rp.newFlow()
			page, _ := b.follow(f.authURL, rpRedirect)
			form := formFields(page.body)
			form.Set("email", creds[0])
			form.Set("password", creds[1])
			resp := b.post(g.base+"/login", form)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.body, "Invalid email or password.") {
				t.Fatalf("%s: %d\n%s", creds[0], resp.StatusCode, resp.body)
			}
			body := strings.ReplaceAll(resp.body, form.Get("authRequestID"), "ID")
			body = strings.ReplaceAll(body, form.Get("csrf"), "CSRF")
			bodies = append(bodies, strings.ReplaceAll(body, creds[0], "EMAIL"))
		}
		if bodies[0] != bodies[1] {
			t.Errorf("unknown user and wrong password pages differ")
		}
	})

	t.Run("end_session", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		tok, _, _ := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
		rawID, _ := tok.Extra("id_token").(string)

		// With a registered post_logout_redirect_uri: back to the client, with state.
		u := g.base + "/end_session?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye-state"}}.Encode()
		_, at := b.follow(u, rpLogout)
		if lu, _ := url.Parse(at); !strings.HasPrefix(at, rpLogout) || lu.Query().Get("state") != "bye-state" {
			t.Fatalf("end_session landed at %s, want %s with state", at, rpLogout)
		}
		// The session is gone on the server.
		f = rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "error=login_required") {
			t.Errorf("after logout prompt=none = %s, want login_required", at)
		}

		// Without a registered URI: the signed-out page, never a redirect elsewhere.
		b2 := newBrowser(t)
		f = rp.newFlow()
		rp.exchange(rp.signIn(b2, f, alice, alicePass), f)
		u = g.base + "/end_session?" + url.Values{"client_id": {rp.client.ID}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()
		resp := b2.get(u)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			t.Fatalf("unregistered post_logout_redirect_uri redirected to %s", resp.Header.Get("Location"))
		}
		// Without a hint the user confirms (RP-Initiated Logout §2): a page,
		// then its form, which ends on the signed-out page.
		page, at := b2.follow(g.base+"/end_session", "")
		if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, `action="/end_session/confirm"`) {
			t.Fatalf("end_session without a hint ended at %s, want the confirmation page", at)
		}
		resp = b2.post(g.base+"/end_session/confirm", formFields(page.body))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirming the sign-out = %d:\n%s", resp.StatusCode, resp.body)
		}
		page, at = b2.follow(redirectTarget(resp), "")
		if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, "signed out") {
			t.Fatalf("the confirmed sign-out ended at %s", at)
		}
		f = rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		if _, at := b2.follow(f.authURL, rpRedirect); !strings.Contains(at, "error=login_required") {
			t.Errorf("after logout prompt=none = %s, want login_required", at)
		}
	})

	t.Run("ES256 client", func(t *testing.T) {
		es := newRelyingParty(t, g, "--signing-alg", "ES256")
		es.verifier = es.provider.Verifier(&oidc.Config{ClientID: es.client.ID, SupportedSigningAlgs: []string{oidc.ES256}})
		f := es.newFlow()
		es.exchange(es.signIn(newBrowser(t), f, alice, alicePass), f)
	})

	t.Run("EdDSA client", func(t *testing.T) {
		ed := newRelyingParty(t, g, "--signing-alg", "EdDSA")
		var disc struct {
			Algs []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := ed.provider.Claims(&disc); err != nil || !slices.Contains(disc.Algs, oidc.EdDSA) || disc.Algs[0] != oidc.RS256 {
			t.Fatalf("discovery id_token_signing_alg_values_supported = %v (%v), want RS256 first and EdDSA", disc.Algs, err)
		}
		// A verifier that accepts EdDSA only: an RS256 or ES256 token fails.
		ed.verifier = ed.provider.Verifier(&oidc.Config{ClientID: ed.client.ID, SupportedSigningAlgs: []string{oidc.EdDSA}})
		f := ed.newFlow()
		tok, _, _ := ed.exchange(ed.signIn(newBrowser(t), f, alice, alicePass), f)
		raw, _ := tok.Extra("id_token").(string)
		header, err := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
		if err != nil || !strings.Contains(string(header), `"alg":"EdDSA"`) {
			t.Fatalf("ID token header = %s (%v), want alg EdDSA", header, err)
		}
		// The refresh grant signs the new ID token with EdDSA too.
		next, err := ed.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if raw, _ := next.Extra("id_token").(string); raw == "" {
			t.Error("no ID token from the refresh grant")
		} else if _, err := ed.verifier.Verify(t.Context(), raw); err != nil {
			t.Errorf("verify the refreshed ID token: %v", err)
		}
		// An EdDSA ID token is a valid id_token_hint: sign-out goes back
		// to the client's registered URI, with its state.
		b := newBrowser(t)
		f = ed.newFlow()
		tok, _, _ = ed.exchange(ed.signIn(b, f, alice, alicePass), f)
		raw, _ = tok.Extra("id_token").(string)
		u := g.base + "/end_session?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}, "state": {"ed-bye"}}.Encode()
		if _, at := b.follow(u, rpLogout); !strings.HasPrefix(at, rpLogout) || !strings.Contains(at, "state=ed-bye") {
			t.Errorf("end_session with an EdDSA id_token_hint landed at %s, want %s with state", at, rpLogout)
		}
	})

	t.Run("session cookie flags", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		page, _ := b.follow(f.authURL, rpRedirect)
		form := formFields(page.body)
		form.Set("email", alice)
		form.Set("password", alicePass)
		resp := b.post(g.base+"/login", form)
		var found bool
		for _, c := range resp.Cookies() {
			if c.Name == "gh_session" {
				found = true
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) < 43 {
					t.Errorf("session cookie = %+v", c)
				}
			}
		}
		if !found {
			t.Error("no session cookie after sign-in")
		}
	})
}

// testKeyRotation rotates the signing keys with the CLI while the server
// runs: the JWKS publishes old and new keys, tokens signed before still
// verify, and no private key material is published.
func testKeyRotation(t *testing.T, g *gatehouse, rp *relyingParty) {
	t.Run("keys rotate", func(t *testing.T) {
		f := rp.newFlow()
		tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
		before := jwks(t, g)

		out := g.cli("", "keys", "rotate")
		if !strings.Contains(out, "next") || !strings.Contains(out, "signing") {
			t.Fatalf("keys rotate printed:\n%s", out)
		}
		// Replicas cache keys for up to 10s; the new key shows up by then.
		deadline := time.Now().Add(15 * time.Second)
		var after []map[string]any
		for time.Now().Before(deadline) {
			if after = jwks(t, g); len(after) == 2*len(before) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if len(after) != 2*len(before) {
			t.Fatalf("JWKS has %d keys after rotation, want %d", len(after), 2*len(before))
		}
		for _, k := range after {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS key %v publishes private member %q", k["kid"], private)
				}
			}
		}
		raw, _ := tok.Extra("id_token").(string)
		if _, err := rp.verifier.Verify(t.Context(), raw); err != nil {
			t.Errorf("a token signed before rotation no longer verifies: %v", err)
		}
	})
}

func jwks(t *testing.T, g *gatehouse) []map[string]any {
	t.Helper()
	resp, err := http.Get(g.base + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// jwtClaims are the claims of a JWT access token (RFC 9068).
type jwtClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience any    `json:"aud"` // a string or a list
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

func (c jwtClaims) audience() []string {
	switch a := c.Audience.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// verifyJWTAccessToken checks that raw is a JWT signed with alg by a key
// that g publishes at /keys, the way a resource server would check it
// offline, and returns its claims.
func verifyJWTAccessToken(t *testing.T, g *gatehouse, keys *oidc.RemoteKeySet, raw, alg string) jwtClaims {
	t.Helper()
	if strings.Count(raw, ".") != 2 {
		t.Fatalf("access token %.20s… is not a JWT", raw)
	}
	payload, err := keys.VerifySignature(t.Context(), raw)
	if err != nil {
		t.Fatalf("the access token's signature does not verify with /keys: %v", err)
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
	if err != nil || json.Unmarshal(h, &header) != nil {
		t.Fatalf("access token header %q: %v", h, err)
	}
	if header.Alg != alg {
		t.Errorf("access token alg = %q, want %q (the client's signing algorithm)", header.Alg, alg)
	}
	// RFC 9068 §2.1: a JWT access token says so in its header.
	if header.Typ != "at+jwt" {
		t.Errorf("access token typ = %q, want at+jwt", header.Typ)
	}
	published := false
	for _, k := range jwks(t, g) {
		if k["kid"] == header.Kid && k["alg"] == alg {
			published = true
		}
	}
	if header.Kid == "" || !published {
		t.Errorf("access token kid %q is not a published %s key", header.Kid, alg)
	}
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("access token claims %s: %v", payload, err)
	}
	return c
}

// TestJWTAccessTokens registers a client with --access-token-format jwt and
// checks its access tokens as a resource server and Gatehouse see them:
// JWTs that verify with /keys and carry the right claims, which userinfo
// and introspection accept while they live and refuse once revoked.
func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	const ttl = 5 * time.Minute
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend, "GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL="+ttl.String())
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g, "--access-token-format", "jwt", "--signing-alg", "ES256")
			rp.verifier = rp.provider.Verifier(&oidc.Config{ClientID: rp.client.ID, SupportedSigningAlgs: []string{oidc.ES256}})
			keys := oidc.NewRemoteKeySet(t.Context(), g.base+"/keys")
			if out := g.cli("", "clients", "show", rp.client.ID); !regexp.MustCompile(`access token format:\s+jwt\n`).MatchString(out) {
				t.Errorf("clients show of a jwt client:\n%s", out)
			}
			if out := g.cli("", "clients", "list"); !strings.Contains(out, "ACCESS TOKENS") || !strings.Contains(out, " jwt ") {
				t.Errorf("clients list does not show the access token format:\n%s", out)
			}

			f := rp.newFlow()
			before := time.Now().Add(-time.Second)
			tok, idt, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
			userinfo := func(token string) (*oidc.UserInfo, error) {
				return rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"}))
			}

			t.Run("code flow", func(t *testing.T) {
				c := verifyJWTAccessToken(t, g, keys, tok.AccessToken, oidc.ES256)
				after := time.Now().Add(time.Second)
				// RFC 9068: aud is the resource server (here the default,
				// the issuer), never the client.
				if c.Issuer != g.base || c.Subject != idt.Subject || c.ClientID != rp.client.ID ||
					!slices.Equal(c.audience(), []string{g.base}) || c.ID == "" {
					t.Errorf("access token claims = %+v, want iss %s, sub %s, client_id %s, aud %s, a jti", c, g.base, idt.Subject, rp.client.ID, g.base)
				}
				scopes := strings.Fields(c.Scope)
				slices.Sort(scopes)
				if want := []string{"email", "offline_access", "openid", "profile"}; !slices.Equal(scopes, want) {
					t.Errorf("access token scope = %q, want %v", c.Scope, want)
				}
				if exp := time.Unix(c.Expiry, 0); exp.Before(before.Add(ttl)) || exp.After(after.Add(ttl)) {
					t.Errorf("exp = %s, want the configured %s from now", exp, ttl)
				}
				if iat := time.Unix(c.IssuedAt, 0); iat.Before(before) || iat.After(after) {
					t.Errorf("iat = %s, want now", iat)
				}
				ui, err := userinfo(tok.AccessToken)
				if err != nil || ui.Subject != idt.Subject || ui.Email != alice {
					t.Errorf("userinfo with the JWT = %+v, %v", ui, err)
				}
				in := rp.introspect(tok.AccessToken)
				if in["active"] != true || in["sub"] != idt.Subject || in["client_id"] != rp.client.ID {
					t.Errorf("introspection of the JWT = %v", in)
				}
				// userinfo verified the token's signature; introspection found
				// it verified.
				m, _ := scrapeMetrics(t, g)
				if m[`gatehouse_access_token_signature_checks_total{source="verified"}`] < 1 ||
					m[`gatehouse_access_token_signature_checks_total{source="cache"}`] < 1 ||
					m[`gatehouse_access_token_signature_cache_entries`] < 1 {
					t.Errorf("signature cache metrics after userinfo and introspection of one JWT: verified %v, cache %v, entries %v",
						m[`gatehouse_access_token_signature_checks_total{source="verified"}`],
						m[`gatehouse_access_token_signature_checks_total{source="cache"}`],
						m[`gatehouse_access_token_signature_cache_entries`])
				}
			})

			var refreshed string
			t.Run("refresh", func(t *testing.T) {
				next, err := rp.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				rp.remember(next.AccessToken, next.RefreshToken)
				refreshed = next.AccessToken
				c := verifyJWTAccessToken(t, g, keys, refreshed, oidc.ES256)
				first := verifyJWTAccessToken(t, g, keys, tok.AccessToken, oidc.ES256)
				if c.Subject != idt.Subject || c.ClientID != rp.client.ID || c.ID == "" || c.ID == first.ID {
					t.Errorf("refreshed access token claims = %+v (first jti %s)", c, first.ID)
				}
				if in := rp.introspect(refreshed); in["active"] != true {
					t.Errorf("introspection of the refreshed JWT = %v", in)
				}
			})

			t.Run("revoked", func(t *testing.T) {
				// No token_type_hint: Gatehouse works out that it is an
				// access token.
				rp.revokeToInactive(t, tok.AccessToken, "the JWT")
				if ui, err := userinfo(tok.AccessToken); err == nil {
					t.Errorf("userinfo accepted a revoked JWT: %+v", ui)
				}
				// The refusal, as RFC 6750 §3.1 has it, with the server's
				// security headers; and without a token, a bare challenge.
				for _, c := range []struct{ token, challenge string }{
					{tok.AccessToken, `Bearer error="invalid_token"`},
					{"", "Bearer"},
				} {
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, g.base+"/userinfo", nil)
					if c.token != "" {
						req.Header.Set("Authorization", "Bearer "+c.token)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					got := resp.Header.Get("WWW-Authenticate")
					if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, c.challenge) ||
						resp.Header.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("userinfo with token %t: %d, WWW-Authenticate %q, X-Content-Type-Options %q; want 401, %q, nosniff",
							c.token != "", resp.StatusCode, got, resp.Header.Get("X-Content-Type-Options"), c.challenge)
					}
				}
				// Its signature stays valid: offline checks cannot see
				// revocation, which is why it is introspection's to tell.
				if _, err := keys.VerifySignature(t.Context(), tok.AccessToken); err != nil {
					t.Errorf("the revoked JWT's signature: %v", err)
				}
				if refreshed == "" {
					return
				}
				if in := rp.introspect(refreshed); in["active"] != true {
					t.Errorf("revoking one JWT deactivated another of its family: %v", in)
				}
				g.cli("", "users", "disable", alice)
				if in := rp.introspect(refreshed); in["active"] != false {
					t.Errorf("introspection of a disabled user's JWT = %v, want active false", in)
				}
			})

			t.Run("client_credentials", func(t *testing.T) {
				status, out := clientCredentials(t, g, rp.client, "")
				raw, _ := out["access_token"].(string)
				if status != http.StatusOK || raw == "" {
					t.Fatalf("client_credentials = %d %v", status, out)
				}
				rp.remember(raw)
				c := verifyJWTAccessToken(t, g, keys, raw, oidc.ES256)
				if c.Issuer != g.base || c.Subject != rp.client.ID || c.ClientID != rp.client.ID ||
					!slices.Equal(c.audience(), []string{g.base}) || c.ID == "" {
					t.Errorf("client_credentials access token claims = %+v, want sub and client_id %s, aud %s", c, rp.client.ID, g.base)
				}
				if in := rp.introspect(raw); in["active"] != true || in["sub"] != rp.client.ID {
					t.Errorf("introspection of a client_credentials JWT = %v", in)
				}
				if ui, err := userinfo(raw); err == nil {
					t.Errorf("userinfo with a client_credentials JWT = %+v, want refused (no user)", ui)
				}
				// Not recorded when issued (it has no user to revoke it
				// with), it is recorded when revoked.
				rp.revokeToInactive(t, raw, "the client_credentials JWT")
			})

			t.Run("EdDSA", func(t *testing.T) {
				ed := newRelyingParty(t, g, "--access-token-format", "jwt", "--signing-alg", "EdDSA")
				status, out := clientCredentials(t, g, ed.client, "")
				raw, _ := out["access_token"].(string)
				if status != http.StatusOK || raw == "" {
					t.Fatalf("client_credentials = %d %v", status, out)
				}
				ed.remember(raw)
				verifyJWTAccessToken(t, g, keys, raw, oidc.EdDSA)
				if in := ed.introspect(raw); in["active"] != true || in["sub"] != ed.client.ID {
					t.Fatalf("introspection of an EdDSA JWT = %v", in)
				}
				ed.revokeToInactive(t, raw, "the EdDSA JWT")
			})

			t.Run("opaque client", func(t *testing.T) {
				g.cli("", "users", "enable", alice)
				plain := newRelyingParty(t, g)
				if out := g.cli("", "clients", "show", plain.client.ID); !regexp.MustCompile(`access token format:\s+opaque\n`).MatchString(out) {
					t.Errorf("clients show of a default client:\n%s", out)
				}
				f := plain.newFlow()
				tok, _, _ := plain.exchange(plain.signIn(newBrowser(t), f, alice, alicePass), f)
				// Opaque tokens are encrypted (JWE, five parts), never
				// signed JWTs.
				if _, err := keys.VerifySignature(t.Context(), tok.AccessToken); err == nil || strings.Count(tok.AccessToken, ".") == 2 {
					t.Errorf("a default client got a signed JWT access token %.20s…", tok.AccessToken)
				}
				if in := plain.introspect(tok.AccessToken); in["active"] != true {
					t.Errorf("introspection of an opaque token = %v", in)
				}
				_, out := clientCredentials(t, g, plain.client, "")
				if raw, _ := out["access_token"].(string); raw == "" || strings.Count(raw, ".") == 2 {
					t.Errorf("client_credentials of a default client = %v, want an opaque token", out)
				}
			})

			t.Run("bad format", func(t *testing.T) {
				for _, tc := range []struct {
					args []string
					msg  string
				}{
					{[]string{"--access-token-format", "paseto"}, `--access-token-format "paseto": must be opaque or jwt`},
					{[]string{"--access-token-format", "JWT"}, `--access-token-format "JWT": must be opaque or jwt`},
					{[]string{"--access-token-format", "jwt", "--admin"}, "admin client must use the opaque access token format"},
				} {
					args := append([]string{"clients", "create", "--name", "X", "--redirect-uri", rpRedirect}, tc.args...)
					_, errOut, err := g.tryCLI("", args...)
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errOut, tc.msg) {
						t.Errorf("clients create %s: %v, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), err, errOut, tc.msg)
					}
				}
			})

			// Nothing secret reached the log.
			logs := g.output()
			for _, s := range append(rp.seen, rp.client.Secret) {
				if strings.Contains(logs, s) {
					t.Errorf("the log contains a secret, code or token: %.12s…", s)
				}
			}
		})
	}
}
