package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// clientCall is one request of a client to the token, introspection or
// revocation endpoint.
type clientCall struct {
	method string
	path   string
	query  string     // raw query string
	form   url.Values // the POSTed body, form-encoded
	basic  *client    // HTTP Basic credentials, or none
}

// clientAnswer is the answer to a clientCall.
type clientAnswer struct {
	status int
	header http.Header
	raw    string
	json   map[string]any // nil unless the body is a JSON object
}

func (g *gatehouse) call(t *testing.T, c clientCall) clientAnswer {
	t.Helper()
	u := g.base + c.path
	if c.query != "" {
		u += "?" + c.query
	}
	var body io.Reader
	if c.form != nil {
		body = strings.NewReader(c.form.Encode())
	}
	req, err := http.NewRequest(c.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.basic != nil {
		req.SetBasicAuth(url.QueryEscape(c.basic.ID), url.QueryEscape(c.basic.Secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := clientAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.json)
	return a
}

// wantOAuthError checks that a is a JSON OAuth error code with status.
func (a clientAnswer) wantOAuthError(t *testing.T, status int, code string) {
	t.Helper()
	if a.status != status || a.json["error"] != code {
		t.Errorf("answer %d %q, want %d with error %q", a.status, a.raw, status, code)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, a.raw)
	}
}

// TestClientEndpointErrors checks the HTTP rules of the token,
// introspection and revocation endpoints: POST only, no repeated
// parameter, JSON errors with RFC 6749 §5.2's statuses, and the Basic
// challenge on a 401 to a client that used Basic.
func TestClientEndpointErrors(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			rp := newRelyingParty(t, g)
			good := &rp.client
			bad := &client{ID: rp.client.ID, Secret: "not-the-secret"}
			cc := func(extra ...string) url.Values {
				v := url.Values{"grant_type": {"client_credentials"}}
				for i := 0; i+1 < len(extra); i += 2 {
					v.Add(extra[i], extra[i+1])
				}
				return v
			}
			challenge := `Basic realm="` + g.base + `"`
			tests := []struct {
				name      string
				call      clientCall
				status    int
				code      string
				challenge bool // WWW-Authenticate: Basic expected
			}{
				// RFC 6749 §5.2, RFC 7009 §2.2.1: Basic failed, 401 with a challenge.
				{"token, wrong Basic secret", clientCall{method: "POST", path: "/oauth/token", form: cc(), basic: bad}, 401, "invalid_client", true},
				{"introspect, wrong Basic secret", clientCall{method: "POST", path: "/oauth/introspect", form: url.Values{"token": {"x"}}, basic: bad}, 401, "invalid_client", true},
				{"revoke, wrong Basic secret", clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"x"}}, basic: bad}, 401, "invalid_client", true},
				{"token, wrong secret in the body", clientCall{method: "POST", path: "/oauth/token",
					form: cc("client_id", bad.ID, "client_secret", bad.Secret)}, 401, "invalid_client", false},
				// RFC 7662 §2.3: introspection errors are JSON.
				{"introspect, no client authentication", clientCall{method: "POST", path: "/oauth/introspect", form: url.Values{"token": {"x"}}}, 401, "invalid_client", false},
				{"introspect, no token", clientCall{method: "POST", path: "/oauth/introspect", form: url.Values{}, basic: good}, 400, "invalid_request", false},
				{"revoke, no token", clientCall{method: "POST", path: "/revoke", form: url.Values{}, basic: good}, 400, "invalid_request", false},
				// RFC 6749 §3.1, §3.2: no parameter more than once.
				{"token, grant_type twice", clientCall{method: "POST", path: "/oauth/token",
					form: url.Values{"grant_type": {"client_credentials", "client_credentials"}}, basic: good}, 400, "invalid_request", false},
				{"token, grant_type in the query and the body", clientCall{method: "POST", path: "/oauth/token",
					query: "grant_type=client_credentials", form: cc(), basic: good}, 400, "invalid_request", false},
				{"token, code twice", clientCall{method: "POST", path: "/oauth/token",
					form: url.Values{"grant_type": {"authorization_code"}, "code": {"a", "b"}, "redirect_uri": {rpRedirect}}, basic: good}, 400, "invalid_request", false},
				{"introspect, token twice", clientCall{method: "POST", path: "/oauth/introspect", form: url.Values{"token": {"a", "b"}}, basic: good}, 400, "invalid_request", false},
				{"revoke, token twice", clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"a", "b"}}, basic: good}, 400, "invalid_request", false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a := g.call(t, tt.call)
					a.wantOAuthError(t, tt.status, tt.code)
					if got := a.header.Get("WWW-Authenticate"); tt.challenge && got != challenge {
						t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
					}
				})
			}

			// RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1: POST only.
			for _, c := range []clientCall{
				{method: "GET", path: "/oauth/token", query: "grant_type=client_credentials", basic: good},
				{method: "GET", path: "/oauth/introspect", query: "token=x", basic: good},
				{method: "GET", path: "/revoke", query: "token=x", basic: good},
				{method: "PUT", path: "/oauth/token", form: cc(), basic: good},
			} {
				t.Run(c.method+" "+c.path, func(t *testing.T) {
					a := g.call(t, c)
					a.wantOAuthError(t, http.StatusMethodNotAllowed, "invalid_request")
					if a.header.Get("Allow") != "POST" {
						t.Errorf("Allow %q, want POST", a.header.Get("Allow"))
					}
					if a.json["access_token"] != nil {
						t.Errorf("a token was issued: %s", a.raw)
					}
				})
			}

			// The rules leave good requests alone.
			a := g.call(t, clientCall{method: "POST", path: "/oauth/token", form: cc(), basic: good})
			if a.status != http.StatusOK || a.json["access_token"] == nil {
				t.Fatalf("client_credentials = %d %s", a.status, a.raw)
			}
			tok := a.json["access_token"].(string)
			if in := rp.introspect(tok); in["active"] != true {
				t.Errorf("introspection of a fresh token = %v", in)
			}
			rp.revokeToInactive(t, tok, "a client_credentials token")
		})
	}
}

// TestClientCredentialsScope checks that a client_credentials response
// names the granted scopes whenever scopes were asked for (RFC 6749 §5.1):
// none granted is an empty scope.
func TestClientCredentialsScope(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			plain := g.createClient("--name", "Reports", "--redirect-uri", rpRedirect, "--grant-type", allGrants)
			ops := g.createClient("--name", "Operations", "--admin")
			tests := []struct {
				name   string
				client client
				scope  string // asked
				want   any    // the response's scope; nil for none
			}{
				{"user scopes dropped", plain, "openid profile", ""},
				{"admin scope granted", ops, "gatehouse:admin", "gatehouse:admin"},
				{"admin scope among dropped ones", ops, "openid gatehouse:admin", "gatehouse:admin"},
				{"no scope asked", plain, "", nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					form := url.Values{"grant_type": {"client_credentials"}}
					if tt.scope != "" {
						form.Set("scope", tt.scope)
					}
					a := g.call(t, clientCall{method: "POST", path: "/oauth/token", form: form, basic: &tt.client})
					if a.status != http.StatusOK {
						t.Fatalf("client_credentials = %d %s", a.status, a.raw)
					}
					if got := a.json["scope"]; got != tt.want {
						t.Errorf("scope %#v, want %#v (%s)", got, tt.want, a.raw)
					}
				})
			}
		})
	}
}

// TestClientCredentialsOnlyClient checks that a client for the
// client_credentials grant alone is registered without a redirect URI,
// gets tokens, and is refused at /authorize with the error page.
func TestClientCredentialsOnlyClient(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			m := g.createClient("--name", "Nightly export", "--grant", "client_credentials")
			a := g.call(t, clientCall{method: "POST", path: "/oauth/token",
				form: url.Values{"grant_type": {"client_credentials"}}, basic: &m})
			if a.status != http.StatusOK || a.json["access_token"] == nil {
				t.Fatalf("client_credentials = %d %s", a.status, a.raw)
			}

			b := newBrowser(t)
			resp := b.get(g.base + "/authorize?" + url.Values{
				"client_id": {m.ID}, "response_type": {"code"}, "scope": {"openid"},
				"redirect_uri": {rpRedirect}, "state": {"s"},
				"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			}.Encode())
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("/authorize for a client_credentials client = %d %s %q, want the error page",
					resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"))
			}

			for _, args := range [][]string{
				{"--name", "Web app"}, // a redirect URI is still required without --grant
				{"--name", "Both", "--grant", "client_credentials", "--redirect-uri", rpRedirect},
				{"--name", "Public", "--grant", "client_credentials", "--public"},
				{"--name", "Other", "--grant", "password"},
			} {
				if _, _, err := g.tryCLI("", append([]string{"clients", "create"}, args...)...); err == nil {
					t.Errorf("clients create %v succeeded", args)
				}
			}
		})
	}
}

// TestClientEndpointEmptyParameters sends the token, introspection and
// revocation endpoints parameters without a value (scope=, resource=,
// client_id=, token_type_hint=), in the body and the query: RFC 6749 §3.2
// treats them as omitted. The code exchange and the refresh succeed with
// the grant's scope, introspection and revocation work. Before, an empty
// resource was invalid_target and an empty scope at the refresh
// invalid_scope.
func TestClientEndpointEmptyParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)
			f := rp.newFlow()
			code := rp.signIn(newBrowser(t), f, alice, alicePass)
			const granted = "openid email profile offline_access"
			empty := url.Values{"scope": {""}, "resource": {""}, "client_id": {""}}

			form := url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}
			for k, v := range empty {
				form[k] = v
			}
			a := g.call(t, clientCall{method: http.MethodPost, path: "/oauth/token", form: form,
				query: "nonce=&audience=", basic: &rp.client})
			if a.status != http.StatusOK || a.json["id_token"] == nil || a.json["scope"] != granted {
				t.Fatalf("code exchange with empty parameters = %d %s, want 200 with an ID token and scope %q", a.status, a.raw, granted)
			}
			access, _ := a.json["access_token"].(string)
			refresh, _ := a.json["refresh_token"].(string)
			rp.remember(access, refresh)

			form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
			for k, v := range empty {
				form[k] = v
			}
			a = g.call(t, clientCall{method: http.MethodPost, path: "/oauth/token", form: form, basic: &rp.client})
			if a.status != http.StatusOK || a.json["scope"] != granted {
				t.Fatalf("refresh with empty parameters = %d %s, want 200 with scope %q", a.status, a.raw, granted)
			}
			access, _ = a.json["access_token"].(string)
			rp.remember(access, a.json["refresh_token"].(string))

			hint := url.Values{"token": {access}, "token_type_hint": {""}, "client_id": {""}}
			a = g.call(t, clientCall{method: http.MethodPost, path: "/oauth/introspect", form: hint, basic: &rp.client})
			if a.status != http.StatusOK || a.json["active"] != true {
				t.Errorf("introspection with empty parameters = %d %s, want active", a.status, a.raw)
			}
			// An empty value beside a real one is no repeat: the empty one
			// is as good as omitted.
			beside := url.Values{"token": {access}, "token_type_hint": {"", "access_token"}}
			a = g.call(t, clientCall{method: http.MethodPost, path: "/oauth/introspect", form: beside, query: "token=", basic: &rp.client})
			if a.status != http.StatusOK || a.json["active"] != true {
				t.Errorf("introspection with empty values beside real ones = %d %s, want active", a.status, a.raw)
			}
			a = g.call(t, clientCall{method: http.MethodPost, path: "/revoke", form: hint, basic: &rp.client})
			if a.status != http.StatusOK {
				t.Errorf("revocation with empty parameters = %d %s, want 200", a.status, a.raw)
			}
			if in := rp.introspect(access); in["active"] != false {
				t.Errorf("after the revocation: %v, want inactive", in)
			}
		})
	}
}

// TestMalformedBasicChallenge sends the endpoints where clients
// authenticate Authorization headers of the Basic scheme whose
// credentials cannot be read: not base64, no colon, a scheme in lower
// case. Each is 401 invalid_client with the Basic challenge, which RFC
// 6749 §5.2 requires whenever the client tried the Authorization header;
// before, only credentials that parsed got it.
func TestMalformedBasicChallenge(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			challenge := `Basic realm="` + g.base + `"`
			noColon := base64.StdEncoding.EncodeToString([]byte("no-colon"))
			for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/oauth/par"} {
				for _, header := range []string{"Basic !!!not-base64", "Basic " + noColon, "basic " + noColon, "BASIC"} {
					form := url.Values{"grant_type": {"client_credentials"}, "token": {"x"},
						"response_type": {"code"}, "scope": {"openid"}}
					req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(form.Encode()))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", header)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var body struct {
						Error string `json:"error"`
					}
					json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" ||
						resp.Header.Get("WWW-Authenticate") != challenge {
						t.Errorf("%s with %q: %d %q, WWW-Authenticate %q; want 401 invalid_client and %q",
							path, header, resp.StatusCode, body.Error, resp.Header.Get("WWW-Authenticate"), challenge)
					}
				}
			}
		})
	}
}
