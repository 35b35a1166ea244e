package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/text/language"
)

// The tests in this file do what the OpenID Foundation's conformance suite
// does (../shared/SECURITY.md §2): one subtest per module, named after it,
// through the real binary, a real relying party (go-oidc and x/oauth2) and
// the harness browser. The conformance users have no second factor, like
// the suite's; the second factor has its own tests.

// confEnv is a server with the suite's two confidential clients and a user.
type confEnv struct {
	*tfEnv
	rp2       *relyingParty // the suite's "client2"
	verifiers sync.Map      // state → PKCE verifier of requests made by confPKCE
	// mode is the response_mode the authorization requests ask for: ""
	// (the query) or "form_post" (the Form Post plan).
	mode string
}

func confStart(t *testing.T, backend, mode string) *confEnv {
	t.Helper()
	e := &confEnv{tfEnv: tfStart(t, databaseURL(t, backend)), mode: mode}
	e.g.createUser(alice, "Alice Liddell", alicePass)
	e.rp2 = newRelyingParty(t, e.g)
	return e
}

// authorizeLogin sends the browser to the authorization endpoint with
// params (client_id, redirect_uri, response_type and the env's
// response_mode added unless given), signs in if the login page shows, and
// returns the parameters of the authorization response and whether the
// login page was shown.
func (e *confEnv) authorizeLogin(t *testing.T, b *browser, params url.Values) (url.Values, bool) {
	t.Helper()
	q := e.query(url.Values{"client_id": {e.rp.client.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"}})
	for k, v := range params {
		q[k] = v
	}
	page, at := b.follow(e.g.base+"/authorize?"+q.Encode(), rpRedirect)
	return e.finish(t, b, page, at)
}

// query adds the env's response_mode to q.
func (e *confEnv) query(q url.Values) url.Values {
	if e.mode != "" {
		q.Set("response_mode", e.mode)
	}
	return q
}

// finish completes an authorization request whose answer so far is page
// (nil once it redirected to the client, at at): it signs in if the login
// page shows, and returns the authorization response's parameters and
// whether the login page was shown.
func (e *confEnv) finish(t *testing.T, b *browser, page *response, at string) (url.Values, bool) {
	t.Helper()
	shown := page != nil && strings.Contains(page.body, `autocomplete="current-password"`)
	if shown {
		page, at = e.login(t, b, page, at)
	}
	return e.responseOf(t, page, at), shown
}

// responseOf returns the parameters of an authorization response: the
// query of a redirect to the client (page nil, at its URL) or, in
// form_post mode, the fields of the page that posts them (checked by
// fpParse: a form to the redirect URI, under its CSP, without scripts).
func (e *confEnv) responseOf(t *testing.T, page *response, at string) url.Values {
	t.Helper()
	if e.mode == "form_post" {
		if page == nil {
			t.Fatalf("a form_post request was answered with a redirect to %s", at)
		}
		return fpParse(t, page, rpRedirect).fields
	}
	if page != nil {
		t.Fatalf("the authorization request ended on %s (%d):\n%s", at, page.StatusCode, page.body)
	}
	return responseParams(t, at)
}

// login fills the password form on page and follows on; it returns the page
// it ends on (nil once it leaves for the client) and where.
func (e *confEnv) login(t *testing.T, b *browser, page *response, at string) (*response, string) {
	t.Helper()
	if !strings.Contains(page.body, `autocomplete="current-password"`) {
		return page, at
	}
	form := formFields(page.body)
	form.Set("email", alice)
	form.Set("password", alicePass)
	resp := b.post(e.g.base+"/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d:\n%s", resp.StatusCode, resp.body)
	}
	return b.follow(redirectTarget(resp), rpRedirect)
}

// responseParams returns the query of the redirect to the client.
func responseParams(t *testing.T, at string) url.Values {
	t.Helper()
	u, err := url.Parse(at)
	if err != nil || !strings.HasPrefix(at, rpRedirect) {
		t.Fatalf("the response went to %q, want %s", at, rpRedirect)
	}
	return u.Query()
}

// redeem exchanges code as rp with its Basic credentials.
func redeem(t *testing.T, rp *relyingParty, code, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return rp.tokenRequest(form)
}

// confIDToken verifies the ID token of a token response with go-oidc and
// returns it with its claims.
func confIDToken(t *testing.T, rp *relyingParty, body map[string]any) (*oidc.IDToken, map[string]any, string) {
	t.Helper()
	raw, _ := body["id_token"].(string)
	idt, err := rp.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v (%v)", err, body)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return idt, claims, raw
}

// confFlow runs a whole code flow with a fresh state, nonce and PKCE in b
// and returns the token response; extra adds request parameters.
func (e *confEnv) confFlow(t *testing.T, b *browser, extra url.Values) (map[string]any, url.Values) {
	t.Helper()
	verifier, challenge := pkce()
	state, nonce := randomString(), randomString()
	q := url.Values{"scope": {"openid profile email"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	params, _ := e.authorizeLogin(t, b, q)
	if params.Get("error") != "" || params.Get("code") == "" {
		t.Fatalf("the authorization response has no code: %v", params)
	}
	if params.Get("state") != state {
		t.Fatalf("state = %q, want %q", params.Get("state"), state)
	}
	if params.Get("iss") != e.g.base {
		t.Errorf("iss = %q, want %q (RFC 9207)", params.Get("iss"), e.g.base)
	}
	status, body := redeem(t, e.rp, params.Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("the code exchange = %d %v", status, body)
	}
	e.rp.remember(params.Get("code"))
	return body, params
}

// userinfo calls the userinfo endpoint with req and decodes the answer.
func userinfo(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *confEnv) userinfoURL(t *testing.T) string {
	t.Helper()
	var doc struct {
		UserinfoEndpoint string `json:"userinfo_endpoint"`
	}
	if err := e.rp.provider.Claims(&doc); err != nil || doc.UserinfoEndpoint == "" {
		t.Fatalf("no userinfo_endpoint in discovery: %v", err)
	}
	return doc.UserinfoEndpoint
}

// confModule is one module of a conformance test plan.
type confModule struct {
	name string
	fn   func(*testing.T, *confEnv)
}

// basicModules are the modules of the Basic OP plan
// (oidcc-basic-certification-test-plan); the Form Post plan
// (oidcc-formpost-basic-certification-test-plan) runs them with
// response_mode=form_post.
var basicModules = []confModule{
	{"oidcc-server", confServer},
	{"oidcc-response-type-missing", confResponseTypeMissing},
	{"oidcc-idtoken-signature", confIDTokenSignature},
	{"oidcc-idtoken-unsigned", confIDTokenUnsigned},
	{"oidcc-userinfo-get", confUserinfoGet},
	{"oidcc-userinfo-post-header", confUserinfoPostHeader},
	{"oidcc-userinfo-post-body", confUserinfoPostBody},
	{"oidcc-ensure-request-without-nonce-succeeds-for-code-flow", confWithoutNonce},
	{"oidcc-scope-profile", confScope("openid profile", "name")},
	{"oidcc-scope-email", confScope("openid email", "email", "email_verified")},
	{"oidcc-scope-address", confUnofferedScope("address")},
	{"oidcc-scope-phone", confUnofferedScope("phone")},
	{"oidcc-scope-all", confScope("openid profile email address phone", "name", "email", "email_verified")},
	{"oidcc-alternate-happy-flow", confAlternateHappyFlow},
	{"oidcc-display-page", confDisplay("page")},
	{"oidcc-display-popup", confDisplay("popup")},
	{"oidcc-prompt-login", confPromptLogin},
	{"oidcc-prompt-none-not-logged-in", confPromptNoneNotLoggedIn},
	{"oidcc-prompt-none-logged-in", confPromptNoneLoggedIn},
	{"oidcc-max-age-1", confMaxAge1},
	{"oidcc-max-age-10000", confMaxAge10000},
	{"oidcc-ensure-request-with-unknown-parameter-succeeds", confUnknownParameter},
	{"oidcc-id-token-hint", confIDTokenHint},
	{"oidcc-login-hint", confNoError(url.Values{"login_hint": {alice}})},
	{"oidcc-ui-locales", confNoError(url.Values{"ui_locales": {"ru"}})},
	{"oidcc-claims-locales", confNoError(url.Values{"claims_locales": {"se"}})},
	{"oidcc-ensure-request-with-acr-values-succeeds", confACRValues},
	{"oidcc-codereuse", confCodeReuse},
	{"oidcc-codereuse-30seconds", confCodeReuse30Seconds},
	{"oidcc-ensure-registered-redirect-uri", confRegisteredRedirectURI},
	{"oidcc-ensure-post-request-succeeds", confPostRequest},
	{"oidcc-server-client-secret-post", confClientSecretPost},
	{"oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", confRequestURI},
	{"oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", confRequestObject},
	{"oidcc-claims-essential", confClaimsEssential},
	{"oidcc-ensure-request-object-with-redirect-uri", confRequestObjectRedirectURI},
	{"oidcc-refresh-token", confRefreshToken},
	{"oidcc-ensure-request-with-valid-pkce-succeeds", confValidPKCE},
}

// runConformance runs modules on a fresh server per backend whose
// authorization requests ask for mode.
func runConformance(t *testing.T, mode string, modules []confModule) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := confStart(t, backend, mode)
			for _, m := range modules {
				t.Run(m.name, func(t *testing.T) { m.fn(t, e) })
			}
		})
	}
}

func TestConformanceBasicOP(t *testing.T) { runConformance(t, "", basicModules) }

// TestConformanceFormPostBasicOP runs the Basic OP modules with every
// authorization response delivered as a form post.
func TestConformanceFormPostBasicOP(t *testing.T) { runConformance(t, "form_post", basicModules) }

// oidcc-server: the happy code flow with state and nonce; a valid ID token;
// userinfo works.
func confServer(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	body, _ := e.confFlow(t, b, nil)
	idt, claims, _ := confIDToken(t, e.rp, body)
	if idt.Issuer != e.g.base || !slices.Contains(idt.Audience, e.rp.client.ID) || idt.Subject == "" {
		t.Errorf("ID token iss %q aud %v sub %q", idt.Issuer, idt.Audience, idt.Subject)
	}
	iat, _ := claims["iat"].(float64)
	if exp := idt.Expiry; !exp.After(time.Unix(int64(iat), 0)) {
		t.Errorf("ID token exp %v is not after iat %v", exp, iat)
	}
	if body["token_type"] != "Bearer" {
		t.Errorf("token_type = %v, want Bearer", body["token_type"])
	}
	req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	if status, info := userinfo(t, req); status != http.StatusOK || info["sub"] != idt.Subject {
		t.Errorf("userinfo = %d %v, want the sub %s", status, info, idt.Subject)
	}
}

// oidcc-response-type-missing: an error back to the client (or an error
// page), never a code.
func confResponseTypeMissing(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	q := e.query(url.Values{"client_id": {e.rp.client.ID}, "redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {"rt-missing"}})
	resp := b.get(e.g.base + "/authorize?" + q.Encode())
	var params url.Values
	if e.mode == "form_post" {
		params = e.responseOf(t, resp, "")
	} else {
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET /authorize without response_type = %d, want a redirect with the error", resp.StatusCode)
		}
		params = responseParams(t, redirectTarget(resp))
	}
	if err := params.Get("error"); err != "invalid_request" && err != "unsupported_response_type" {
		t.Errorf("error = %q, want invalid_request or unsupported_response_type (%v)", err, params)
	}
	if params.Get("state") != "rt-missing" || params.Get("code") != "" {
		t.Errorf("the error response %v must echo state and carry no code", params)
	}
}

// oidcc-idtoken-signature: without a requested algorithm the ID token is
// RS256, signed by a key of the JWKS.
func confIDTokenSignature(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), nil)
	_, _, raw := confIDToken(t, e.rp, body)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != "RS256" {
		t.Errorf("alg = %s, want RS256", h.Algorithm)
	}
	found := false
	for _, k := range jwks(t, e.g) {
		if k["kid"] == h.KeyID {
			found = true
		}
	}
	if h.KeyID == "" || !found {
		t.Errorf("the ID token's kid %q is not in the JWKS", h.KeyID)
	}
}

// oidcc-idtoken-unsigned: skipped by the suite unless "none" is offered;
// it never is.
func confIDTokenUnsigned(t *testing.T, e *confEnv) {
	doc := discoveryDoc(t, e.g)
	for _, key := range []string{"id_token_signing_alg_values_supported", "request_object_signing_alg_values_supported",
		"userinfo_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported"} {
		if algs, _ := doc[key].([]any); slices.Contains(algs, any("none")) {
			t.Errorf("%s offers none: %v", key, algs)
		}
	}
}

func confUserinfoGet(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), nil)
	idt, _, _ := confIDToken(t, e.rp, body)
	req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	if status, info := userinfo(t, req); status != http.StatusOK || info["sub"] != idt.Subject {
		t.Errorf("GET userinfo = %d %v, want the sub %s", status, info, idt.Subject)
	}
}

func confUserinfoPostHeader(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), nil)
	idt, _, _ := confIDToken(t, e.rp, body)
	req, _ := http.NewRequest(http.MethodPost, e.userinfoURL(t), nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	if status, info := userinfo(t, req); status != http.StatusOK || info["sub"] != idt.Subject {
		t.Errorf("POST userinfo with the header = %d %v, want the sub %s", status, info, idt.Subject)
	}
}

// oidcc-userinfo-post-body: the token in a form body (RFC 6750 §2.2).
func confUserinfoPostBody(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), nil)
	idt, _, _ := confIDToken(t, e.rp, body)
	form := url.Values{"access_token": {body["access_token"].(string)}}
	req, _ := http.NewRequest(http.MethodPost, e.userinfoURL(t), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, info := userinfo(t, req); status != http.StatusOK || info["sub"] != idt.Subject {
		t.Errorf("POST userinfo with the token in the body = %d %v, want the sub %s", status, info, idt.Subject)
	}
}

func confWithoutNonce(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), url.Values{"nonce": nil})
	_, claims, _ := confIDToken(t, e.rp, body)
	if _, ok := claims["nonce"]; ok {
		t.Errorf("a request without nonce got an ID token with nonce %v", claims["nonce"])
	}
}

// confScope asks for scope and expects claims in userinfo.
func confScope(scope string, claims ...string) func(*testing.T, *confEnv) {
	return func(t *testing.T, e *confEnv) {
		body, _ := e.confFlow(t, newBrowser(t), url.Values{"scope": {scope}})
		req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
		req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
		status, info := userinfo(t, req)
		if status != http.StatusOK {
			t.Fatalf("userinfo = %d %v", status, info)
		}
		for _, c := range claims {
			if _, ok := info[c]; !ok {
				t.Errorf("scope %q: userinfo lacks %s: %v", scope, c, info)
			}
		}
	}
}

// confUnofferedScope: Gatehouse keeps no postal address or phone number,
// does not offer the scope, and a request for it succeeds without it (the
// suite skips these modules then).
func confUnofferedScope(scope string) func(*testing.T, *confEnv) {
	return func(t *testing.T, e *confEnv) {
		if scopes, _ := discoveryDoc(t, e.g)["scopes_supported"].([]any); slices.Contains(scopes, any(scope)) {
			t.Fatalf("discovery offers the scope %s", scope)
		}
		body, _ := e.confFlow(t, newBrowser(t), url.Values{"scope": {"openid " + scope}})
		req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
		req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
		status, info := userinfo(t, req)
		if status != http.StatusOK || info["sub"] == nil {
			t.Fatalf("userinfo = %d %v", status, info)
		}
		if _, ok := info[scope]; ok {
			t.Errorf("userinfo has %s: %v", scope, info)
		}
	}
}

// oidcc-alternate-happy-flow: the scopes in another order and the
// parameters in another order.
func confAlternateHappyFlow(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	verifier, challenge := pkce()
	// url.Values.Encode sorts the keys: build the query by hand, in an
	// order other than that.
	raw := "state=alt&scope=" + url.QueryEscape("email profile openid") + "&code_challenge_method=S256&nonce=alt-nonce" +
		"&redirect_uri=" + url.QueryEscape(rpRedirect) + "&code_challenge=" + challenge +
		"&response_type=code&client_id=" + url.QueryEscape(e.rp.client.ID)
	if e.mode != "" {
		raw = "response_mode=" + e.mode + "&" + raw
	}
	page, at := b.follow(e.g.base+"/authorize?"+raw, rpRedirect)
	params, _ := e.finish(t, b, page, at)
	if params.Get("state") != "alt" || params.Get("code") == "" {
		t.Fatalf("response %v", params)
	}
	if status, body := redeem(t, e.rp, params.Get("code"), verifier); status != http.StatusOK {
		t.Fatalf("exchange = %d %v", status, body)
	} else if _, claims, _ := confIDToken(t, e.rp, body); claims["nonce"] != "alt-nonce" {
		t.Errorf("nonce = %v", claims["nonce"])
	}
}

// confDisplay: display is a hint; the normal login page shows.
func confDisplay(display string) func(*testing.T, *confEnv) {
	return func(t *testing.T, e *confEnv) {
		b := newBrowser(t)
		q := e.query(url.Values{"client_id": {e.rp.client.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"d"}, "display": {display}})
		_, challenge := pkce()
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
		page, at := b.follow(e.g.base+"/authorize?"+q.Encode(), rpRedirect)
		if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, `autocomplete="current-password"`) {
			t.Fatalf("display=%s ended at %s, want the login page", display, at)
		}
		e.confFlow(t, newBrowser(t), url.Values{"display": {display}})
	}
}

// oidcc-prompt-login: a second request with prompt=login signs in again,
// with a later auth_time.
func confPromptLogin(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	first, _ := e.confFlow(t, b, nil)
	_, c1, _ := confIDToken(t, e.rp, first)
	e.advance(2 * time.Second)
	params, shown := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "prompt": {"login"}}))
	if !shown {
		t.Fatal("prompt=login did not show the login page")
	}
	_, c2 := confRedeem(t, e, params)
	if c2["auth_time"].(float64) <= c1["auth_time"].(float64) {
		t.Errorf("auth_time %v after prompt=login, want later than %v", c2["auth_time"], c1["auth_time"])
	}
}

// confPKCE adds a state and a PKCE challenge to q, keeping the verifier
// for confRedeem.
func (e *confEnv) confPKCE(q url.Values) url.Values {
	verifier, challenge := pkce()
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("state", randomString())
	e.verifiers.Store(q.Get("state"), verifier)
	return q
}

// confRedeem redeems the code of params with the verifier confPKCE kept.
func confRedeem(t *testing.T, e *confEnv, params url.Values) (map[string]any, map[string]any) {
	t.Helper()
	if params.Get("code") == "" {
		t.Fatalf("no code: %v", params)
	}
	v, _ := e.verifiers.LoadAndDelete(params.Get("state"))
	verifier, _ := v.(string)
	status, body := redeem(t, e.rp, params.Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange = %d %v", status, body)
	}
	_, claims, _ := confIDToken(t, e.rp, body)
	return body, claims
}

// oidcc-prompt-none-not-logged-in: login_required, with state.
func confPromptNoneNotLoggedIn(t *testing.T, e *confEnv) {
	q := e.confPKCE(url.Values{"scope": {"openid"}, "prompt": {"none"}})
	params, shown := e.authorizeLogin(t, newBrowser(t), q)
	if shown || params.Get("error") != "login_required" || params.Get("state") != q.Get("state") || params.Get("code") != "" {
		t.Errorf("prompt=none without a session: login page %v, response %v; want login_required with state", shown, params)
	}
}

// oidcc-prompt-none-logged-in: no UI; the same sub and auth_time.
func confPromptNoneLoggedIn(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	first, _ := e.confFlow(t, b, nil)
	_, c1, _ := confIDToken(t, e.rp, first)
	params, shown := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "prompt": {"none"}}))
	if shown {
		t.Fatal("prompt=none showed the login page")
	}
	_, c2 := confRedeem(t, e, params)
	if c2["sub"] != c1["sub"] || c2["auth_time"] != c1["auth_time"] {
		t.Errorf("prompt=none: sub %v auth_time %v, want %v and %v", c2["sub"], c2["auth_time"], c1["sub"], c1["auth_time"])
	}
}

// oidcc-max-age-1: after a wait, max_age=1 signs in again.
func confMaxAge1(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	first, _ := e.confFlow(t, b, nil)
	_, c1, _ := confIDToken(t, e.rp, first)
	e.advance(2 * time.Second)
	params, shown := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "max_age": {"1"}}))
	if !shown {
		t.Fatal("max_age=1 after 2 s did not show the login page")
	}
	_, c2 := confRedeem(t, e, params)
	if _, ok := c2["auth_time"]; !ok || c2["auth_time"].(float64) <= c1["auth_time"].(float64) {
		t.Errorf("auth_time %v after max_age=1, want later than %v", c2["auth_time"], c1["auth_time"])
	}
}

// oidcc-max-age-10000: max_age=15000, then 10000: no second sign-in.
func confMaxAge10000(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	params, _ := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "max_age": {"15000"}}))
	_, c1 := confRedeem(t, e, params)
	params, shown := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "max_age": {"10000"}}))
	if shown {
		t.Fatal("max_age=10000 showed the login page")
	}
	_, c2 := confRedeem(t, e, params)
	if c2["sub"] != c1["sub"] || c2["auth_time"] != c1["auth_time"] || c2["auth_time"] == nil {
		t.Errorf("sub %v auth_time %v, want %v and %v", c2["sub"], c2["auth_time"], c1["sub"], c1["auth_time"])
	}
}

func confUnknownParameter(t *testing.T, e *confEnv) {
	e.confFlow(t, newBrowser(t), url.Values{"extra": {"foobar"}})
}

// oidcc-id-token-hint: prompt=none with the first ID token as hint gives
// the same sub silently.
func confIDTokenHint(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	first, _ := e.confFlow(t, b, nil)
	idt, _, raw := confIDToken(t, e.rp, first)
	params, shown := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "prompt": {"none"}, "id_token_hint": {raw}}))
	if shown {
		t.Fatal("prompt=none with id_token_hint showed the login page")
	}
	if _, c := confRedeem(t, e, params); c["sub"] != idt.Subject {
		t.Errorf("sub %v, want %s", c["sub"], idt.Subject)
	}
}

// confNoError: the parameters are accepted and the flow succeeds.
func confNoError(extra url.Values) func(*testing.T, *confEnv) {
	return func(t *testing.T, e *confEnv) { e.confFlow(t, newBrowser(t), extra) }
}

// oidcc-ensure-request-with-acr-values-succeeds: an advertised acr value
// is accepted, and the ID token's acr is one Gatehouse advertises.
func confACRValues(t *testing.T, e *confEnv) {
	advertised, _ := discoveryDoc(t, e.g)["acr_values_supported"].([]any)
	if len(advertised) == 0 {
		t.Fatal("discovery advertises no acr_values_supported")
	}
	body, _ := e.confFlow(t, newBrowser(t), url.Values{"acr_values": {advertised[0].(string)}})
	if _, claims, _ := confIDToken(t, e.rp, body); !slices.Contains(advertised, claims["acr"]) {
		t.Errorf("acr %v is not among %v", claims["acr"], advertised)
	}
}

// oidcc-codereuse: the second redemption is a 400 JSON invalid_grant.
func confCodeReuse(t *testing.T, e *confEnv) {
	params, _ := e.authorizeLogin(t, newBrowser(t), e.confPKCE(url.Values{"scope": {"openid"}}))
	verifier, _ := e.verifiers.Load(params.Get("state"))
	confRedeem(t, e, params)
	status, body := redeem(t, e.rp, params.Get("code"), verifier.(string))
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the second redemption = %d %v, want 400 invalid_grant", status, body)
	}
}

// oidcc-codereuse-30seconds: 30 s later the second redemption fails, and
// the access token of the first stops working.
func confCodeReuse30Seconds(t *testing.T, e *confEnv) {
	params, _ := e.authorizeLogin(t, newBrowser(t), e.confPKCE(url.Values{"scope": {"openid"}}))
	verifier, _ := e.verifiers.Load(params.Get("state"))
	first, _ := confRedeem(t, e, params)
	e.advance(30 * time.Second)
	status, body := redeem(t, e.rp, params.Get("code"), verifier.(string))
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the redemption 30 s later = %d %v, want 400 invalid_grant", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
	req.Header.Set("Authorization", "Bearer "+first["access_token"].(string))
	if status, info := userinfo(t, req); status != http.StatusUnauthorized {
		t.Errorf("userinfo with the first access token after the reuse = %d %v, want 401", status, info)
	}
}

// oidcc-ensure-registered-redirect-uri: a redirect URI with a path added
// gets an error page, no redirect.
func confRegisteredRedirectURI(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	q := e.confPKCE(e.query(url.Values{"client_id": {e.rp.client.ID}, "redirect_uri": {rpRedirect + "/" + randomString()},
		"response_type": {"code"}, "scope": {"openid"}}))
	resp := b.get(e.g.base + "/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("an unregistered redirect_uri = %d (Location %q), want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the error is %q, want a page", resp.Header.Get("Content-Type"))
	}
}

// oidcc-ensure-post-request-succeeds: the authorization request as a form
// POST (OIDC Core §3.1.2.1).
func confPostRequest(t *testing.T, e *confEnv) {
	b := newBrowser(t)
	q := e.confPKCE(e.query(url.Values{"client_id": {e.rp.client.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "nonce": {"post-nonce"}}))
	resp := b.post(e.g.base+"/authorize", q)
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		t.Fatalf("POST /authorize = %d:\n%s", resp.StatusCode, resp.body)
	}
	page, at := b.follow(redirectTarget(resp), rpRedirect)
	params, _ := e.finish(t, b, page, at)
	if _, claims := confRedeem(t, e, params); claims["nonce"] != "post-nonce" {
		t.Errorf("nonce = %v", claims["nonce"])
	}
}

// oidcc-server-client-secret-post: the code redeemed with the secret in the
// body.
func confClientSecretPost(t *testing.T, e *confEnv) {
	post := newRelyingParty(t, e.g, "--token-endpoint-auth-method", "client_secret_post")
	params, _ := e.authorizeLogin(t, newBrowser(t), e.confPKCE(url.Values{"client_id": {post.client.ID}, "scope": {"openid"}}))
	v, _ := e.verifiers.LoadAndDelete(params.Get("state"))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {params.Get("code")}, "redirect_uri": {rpRedirect},
		"code_verifier": {v.(string)}, "client_id": {post.client.ID}, "client_secret": {post.client.Secret}}
	status, body := post.postJSON(post.provider.Endpoint().TokenURL, form, "", "")
	if status != http.StatusOK {
		t.Fatalf("the exchange with client_secret_post = %d %v", status, body)
	}
	if idt, _, _ := confIDToken(t, post, body); !slices.Contains(idt.Audience, post.client.ID) {
		t.Errorf("aud %v", idt.Audience)
	}
}

// The request_uri and request parameters: not offered, so refused with the
// errors of OIDC Core §3.1.2.6 (the suite accepts that).
func confRequestURI(t *testing.T, e *confEnv) {
	if discoveryDoc(t, e.g)["request_uri_parameter_supported"] != false {
		t.Errorf("discovery: request_uri_parameter_supported = %v, want false", discoveryDoc(t, e.g)["request_uri_parameter_supported"])
	}
	q := e.confPKCE(url.Values{"scope": {"openid"}, "request_uri": {"https://rp.example.com/request.jwt"}})
	params, _ := e.authorizeLogin(t, newBrowser(t), q)
	if params.Get("error") != "request_uri_not_supported" || params.Get("code") != "" {
		t.Errorf("request_uri: %v, want request_uri_not_supported", params)
	}
}

// unsignedRequestObject is an unsigned request object (alg none) for rp.
func unsignedRequestObject(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
	body, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

func confRequestObject(t *testing.T, e *confEnv) {
	// Discovery §3: an absent request_parameter_supported means false.
	if v, ok := discoveryDoc(t, e.g)["request_parameter_supported"]; ok && v != false {
		t.Errorf("discovery: request_parameter_supported = %v, want false", v)
	}
	q := e.confPKCE(url.Values{"scope": {"openid"}})
	q.Set("request", unsignedRequestObject(map[string]any{"client_id": e.rp.client.ID, "response_type": "code", "scope": "openid", "state": q.Get("state")}))
	params, _ := e.authorizeLogin(t, newBrowser(t), q)
	if params.Get("error") != "request_not_supported" || params.Get("code") != "" {
		t.Errorf("request: %v, want request_not_supported", params)
	}
}

// oidcc-claims-essential: a claims request is accepted.
func confClaimsEssential(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), url.Values{"scope": {"openid profile"},
		"claims": {`{"userinfo":{"name":{"essential":true}}}`}})
	req, _ := http.NewRequest(http.MethodGet, e.userinfoURL(t), nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	if status, info := userinfo(t, req); status != http.StatusOK || info["name"] != "Alice Liddell" {
		t.Errorf("userinfo = %d %v, want the name", status, info)
	}
}

// oidcc-ensure-request-object-with-redirect-uri: the suite skips it unless
// request objects are offered; a request object never overrides the
// registered redirect.
func confRequestObjectRedirectURI(t *testing.T, e *confEnv) {
	q := e.confPKCE(url.Values{"scope": {"openid"}})
	q.Set("request", unsignedRequestObject(map[string]any{"client_id": e.rp.client.ID, "redirect_uri": "https://evil.example/cb"}))
	params, _ := e.authorizeLogin(t, newBrowser(t), q)
	if params.Get("code") != "" {
		t.Errorf("a request object gave a code: %v", params)
	}
}

// oidcc-refresh-token: refresh gives 200 JSON with no-store; client 2's
// refresh token used by client 1 is invalid_grant.
func confRefreshToken(t *testing.T, e *confEnv) {
	body, _ := e.confFlow(t, newBrowser(t), url.Values{"scope": {"openid offline_access"}, "prompt": {"consent"}})
	rt, _ := body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", body)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest(http.MethodPost, e.rp.provider.Endpoint().TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(e.rp.client.ID), url.QueryEscape(e.rp.client.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var refreshed map[string]any
	json.NewDecoder(resp.Body).Decode(&refreshed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || refreshed["access_token"] == nil {
		t.Fatalf("refresh = %d %v", resp.StatusCode, refreshed)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("refresh Cache-Control = %q, want no-store", cc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("refresh Content-Type = %q", ct)
	}

	// Client 2's refresh token, presented by client 1.
	b2 := newBrowser(t)
	f := e.rp2.newFlow()
	tok2, _, _ := e.rp2.exchange(e.rp2.signIn(b2, f, alice, alicePass), f)
	if tok2.RefreshToken == "" {
		t.Fatal("client 2 got no refresh token")
	}
	status, out := e.rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}})
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("client 2's refresh token at client 1 = %d %v, want 400 invalid_grant", status, out)
	}
}

// oidcc-ensure-request-with-valid-pkce-succeeds, and a wrong verifier fails.
func confValidPKCE(t *testing.T, e *confEnv) {
	e.confFlow(t, newBrowser(t), nil)
	params, _ := e.authorizeLogin(t, newBrowser(t), e.confPKCE(url.Values{"scope": {"openid"}}))
	wrong, _ := pkce()
	if status, body := redeem(t, e.rp, params.Get("code"), wrong); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("a wrong code_verifier = %d %v, want 400 invalid_grant", status, body)
	}
}

// discoveryDoc fetches g's discovery document.
func discoveryDoc(t *testing.T, g *gatehouse) map[string]any {
	t.Helper()
	resp, err := http.Get(g.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
		t.Fatalf("discovery = %d", resp.StatusCode)
	}
	return doc
}

var localeRE = regexp.MustCompile(`^[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,8})*$`)

// TestConformanceConfigOP does oidcc-discovery-endpoint-verification (the
// Config OP plan), and the RP-initiated logout plan's discovery check.
func TestConformanceConfigOP(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	t.Run("oidcc-discovery-endpoint-verification", func(t *testing.T) {
		doc := discoveryDoc(t, g)
		if doc["issuer"] != g.base {
			t.Errorf("issuer %v, want %s (the discovery URL's prefix)", doc["issuer"], g.base)
		}
		for _, key := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"} {
			v, _ := doc[key].(string)
			if !strings.HasPrefix(v, g.base+"/") {
				t.Errorf("%s = %q, want an endpoint of %s", key, v, g.base)
			}
		}
		want := map[string]string{
			"response_types_supported":              "code",
			"subject_types_supported":               "public",
			"id_token_signing_alg_values_supported": "RS256",
			"scopes_supported":                      "openid",
			"grant_types_supported":                 "authorization_code",
			"code_challenge_methods_supported":      "S256",
		}
		for key, value := range want {
			list, ok := doc[key].([]any)
			if !ok || !slices.Contains(list, any(value)) {
				t.Errorf("%s = %v, want an array with %s", key, doc[key], value)
			}
		}
		if claims, _ := doc["claims_supported"].([]any); !slices.Contains(claims, any("sub")) {
			t.Errorf("claims_supported = %v", doc["claims_supported"])
		}
		for _, l := range doc["ui_locales_supported"].([]any) {
			if _, err := language.Parse(l.(string)); err != nil || !localeRE.MatchString(l.(string)) {
				t.Errorf("ui_locales_supported has %q, not a BCP 47 tag", l)
			}
		}
		// The JWKS: valid public keys with distinct kids.
		keys := jwks(t, g)
		kids := map[string]bool{}
		for _, k := range keys {
			raw, _ := json.Marshal(k)
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
				t.Errorf("JWKS key %v: %v (valid %v, public %v)", k["kid"], err, jwk.Valid(), jwk.IsPublic())
			}
			kid, _ := k["kid"].(string)
			if kid == "" || kids[kid] {
				t.Errorf("JWKS kid %q is empty or repeated", kid)
			}
			kids[kid] = true
		}
		if len(keys) == 0 {
			t.Error("the JWKS is empty")
		}
	})
}

// TestConformanceRPInitiatedLogout does the modules of the OpenID
// Foundation's oidcc-rp-initiated-logout-certification-test-plan.
func TestConformanceRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := confStart(t, backend, "")
			// signedIn returns a browser signed in at e and its raw ID token.
			signedIn := func(t *testing.T) (*browser, string) {
				b := newBrowser(t)
				body, _ := e.confFlow(t, b, nil)
				_, _, raw := confIDToken(t, e.rp, body)
				return b, raw
			}
			// signedOut reports whether b's session is gone: prompt=none
			// answers login_required.
			signedOut := func(t *testing.T, b *browser) bool {
				params, _ := e.authorizeLogin(t, b, e.confPKCE(url.Values{"scope": {"openid"}, "prompt": {"none"}}))
				return params.Get("error") == "login_required"
			}
			endSession := func(q url.Values) string { return e.g.base + "/end_session?" + q.Encode() }
			// noRedirect checks that the request stays at Gatehouse with an
			// error or a confirmation page, and that the session lives on
			// until confirmed.
			noRedirect := func(t *testing.T, b *browser, q url.Values) {
				resp := b.get(endSession(q))
				if loc := resp.Header.Get("Location"); loc != "" && !strings.HasPrefix(redirectTarget(resp), e.g.base) {
					t.Fatalf("end_session redirected to %s", loc)
				}
				page, at := b.follow(endSession(q), "")
				if page == nil || (page.StatusCode != http.StatusOK && page.StatusCode != http.StatusBadRequest) {
					t.Fatalf("end_session ended at %s, want an error or confirmation page", at)
				}
				if strings.HasPrefix(at, rpLogout) {
					t.Fatalf("end_session went to the client: %s", at)
				}
			}
			// confirm answers the confirmation page and checks the
			// signed-out page.
			confirm := func(t *testing.T, b *browser, q url.Values) {
				page, at := b.follow(endSession(q), "")
				if page == nil || !strings.Contains(page.body, `action="/end_session/confirm"`) {
					t.Fatalf("end_session ended at %s, want the confirmation page", at)
				}
				resp := b.post(e.g.base+"/end_session/confirm", formFields(page.body))
				page, at = b.follow(redirectTarget(resp), "")
				if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, "signed out") {
					t.Fatalf("the sign-out ended at %s", at)
				}
			}

			t.Run("oidcc-rp-initiated-logout-discovery-endpoint-verification", func(t *testing.T) {
				if v, _ := discoveryDoc(t, e.g)["end_session_endpoint"].(string); v != e.g.base+"/end_session" {
					t.Errorf("end_session_endpoint = %q", v)
				}
			})
			t.Run("oidcc-rp-initiated-logout", func(t *testing.T) {
				b, raw := signedIn(t)
				_, at := b.follow(endSession(url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}), rpLogout)
				if u, _ := url.Parse(at); !strings.HasPrefix(at, rpLogout) || u.Query().Get("state") != "bye" {
					t.Fatalf("ended at %s, want %s with state", at, rpLogout)
				}
				if !signedOut(t, b) {
					t.Error("prompt=none after the logout gave no error")
				}
			})
			t.Run("oidcc-rp-initiated-logout-no-state", func(t *testing.T) {
				b, raw := signedIn(t)
				_, at := b.follow(endSession(url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}}), rpLogout)
				if u, _ := url.Parse(at); !strings.HasPrefix(at, rpLogout) || u.Query().Has("state") {
					t.Fatalf("ended at %s, want %s without state", at, rpLogout)
				}
				if !signedOut(t, b) {
					t.Error("prompt=none after the logout gave no error")
				}
			})
			t.Run("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", func(t *testing.T) {
				b, raw := signedIn(t)
				noRedirect(t, b, url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://evil.example/bye"}, "state": {"s"}})
			})
			t.Run("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", func(t *testing.T) {
				b, raw := signedIn(t)
				noRedirect(t, b, url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout + "?foo=bar"}, "state": {"s"}})
			})
			t.Run("oidcc-rp-initiated-logout-no-id-token-hint", func(t *testing.T) {
				b, _ := signedIn(t)
				noRedirect(t, b, url.Values{"post_logout_redirect_uri": {rpLogout}, "state": {"s"}})
			})
			t.Run("oidcc-rp-initiated-logout-bad-id-token-hint", func(t *testing.T) {
				b, raw := signedIn(t)
				parts := strings.Split(raw, ".")
				sig := []byte(parts[2])
				sig[len(sig)/2] ^= 1
				bad := parts[0] + "." + parts[1] + "." + string(sig)
				noRedirect(t, b, url.Values{"id_token_hint": {bad}, "post_logout_redirect_uri": {rpLogout}, "state": {"s"}})
				if signedOut(t, b) {
					t.Error("a bad id_token_hint signed the user out without confirmation")
				}
			})
			t.Run("oidcc-rp-initiated-logout-modified-id-token-hint", func(t *testing.T) {
				b, raw := signedIn(t)
				parts := strings.Split(raw, ".")
				none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
				noRedirect(t, b, url.Values{"id_token_hint": {none}, "post_logout_redirect_uri": {rpLogout}, "state": {"s"}})
				if signedOut(t, b) {
					t.Error("an unsigned id_token_hint signed the user out without confirmation")
				}
			})
			t.Run("oidcc-rp-initiated-logout-no-params", func(t *testing.T) {
				b, _ := signedIn(t)
				confirm(t, b, nil)
				if !signedOut(t, b) {
					t.Error("still signed in")
				}
			})
			t.Run("oidcc-rp-initiated-logout-no-post-logout-redirect-uri", func(t *testing.T) {
				b, raw := signedIn(t)
				page, at := b.follow(endSession(url.Values{"id_token_hint": {raw}}), "")
				if page == nil || page.StatusCode != http.StatusOK || !strings.Contains(page.body, "signed out") {
					t.Fatalf("ended at %s, want the signed-out page", at)
				}
				if !signedOut(t, b) {
					t.Error("still signed in")
				}
			})
			t.Run("oidcc-rp-initiated-logout-only-state", func(t *testing.T) {
				b, _ := signedIn(t)
				confirm(t, b, url.Values{"state": {"only"}})
				if !signedOut(t, b) {
					t.Error("still signed in")
				}
			})
		})
	}
}

// TestConformanceBackchannelLogout does what the OpenID Foundation's
// back-channel logout plan (oidcc-backchannel-rp-initiated-logout-
// certification-test-plan) does: the relying party ends the session with
// RP-initiated logout and must receive a valid logout token at its
// back-channel logout URI, whatever its endpoint answers.
func TestConformanceBackchannelLogout(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := confStart(t, backend, "")
			recv := newBCReceiver(t)
			rp := newRelyingParty(t, e.g, "--backchannel-logout-uri", recv.url("/rp"))
			// logout ends b's session with its ID token as hint and checks
			// the redirect back to the client with state.
			logout := func(t *testing.T, b *browser, raw string) {
				t.Helper()
				u := e.g.base + "/end_session?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}, "state": {"bc-state"}}.Encode()
				if _, at := b.follow(u, rpLogout); !strings.HasPrefix(at, rpLogout) || !strings.Contains(at, "state=bc-state") {
					t.Fatalf("end_session ended at %s, want %s with state", at, rpLogout)
				}
			}
			signedOut := func(t *testing.T, b *browser) {
				t.Helper()
				params, _ := e.authorizeLogin(t, b, e.confPKCE(url.Values{"client_id": {rp.client.ID}, "scope": {"openid"}, "prompt": {"none"}}))
				if params.Get("error") != "login_required" {
					t.Errorf("prompt=none after the logout = %v, want login_required", params)
				}
			}

			t.Run("oidcc-backchannel-rp-initiated-logout-discovery-endpoint-verification", func(t *testing.T) {
				doc := discoveryDoc(t, e.g)
				if doc["backchannel_logout_supported"] != true || doc["backchannel_logout_session_supported"] != true {
					t.Errorf("backchannel_logout_supported %v, backchannel_logout_session_supported %v; want true",
						doc["backchannel_logout_supported"], doc["backchannel_logout_session_supported"])
				}
				if v, _ := doc["end_session_endpoint"].(string); v == "" {
					t.Error("no end_session_endpoint")
				}
				if claims, _ := doc["claims_supported"].([]any); !slices.Contains(claims, any("sid")) {
					t.Errorf("claims_supported %v lacks sid", claims)
				}
			})
			t.Run("oidcc-backchannel-rp-initiated-logout", func(t *testing.T) {
				b := newBrowser(t)
				raw, sub, sid := bcSignIn(t, rp, b, alice, alicePass)
				n := len(recv.tokens("/rp"))
				logout(t, b, raw)
				verifyLogoutToken(t, e.g, recv.wait("/rp", n+1), rp.client.ID, sub, sid, 0)
				signedOut(t, b)
			})
			t.Run("oidcc-backchannel-rp-initiated-logout-rp-answers-an-error", func(t *testing.T) {
				// The client's endpoint fails once: the user's logout does
				// not wait for it, and the token comes again later.
				b := newBrowser(t)
				raw, sub, sid := bcSignIn(t, rp, b, alice, alicePass)
				recv.mu.Lock()
				recv.failNext["/rp"] = 1
				recv.mu.Unlock()
				n := len(recv.tokens("/rp"))
				start := time.Now()
				logout(t, b, raw)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the logout took %v with a failing back-channel endpoint", d)
				}
				first := recv.wait("/rp", n+1)
				verifyLogoutToken(t, e.g, first, rp.client.ID, sub, sid, 0)
				e.advance(5 * time.Minute)
				again := recv.wait("/rp", n+2)
				verifyLogoutToken(t, e.g, again, rp.client.ID, sub, sid, 5*time.Minute)
				signedOut(t, b)
			})
		})
	}
}
