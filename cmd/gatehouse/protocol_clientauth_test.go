package main

// Client authentication (issue 16): one token_endpoint_auth_method per
// client, enforced at the token, introspection and revocation endpoints;
// private_key_jwt and client_secret_jwt assertions signed here with
// go-jose, as a relying party would sign them.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientKey is a relying party's signing key and its public JWK.
type clientKey struct {
	priv any
	alg  jose.SignatureAlgorithm
	kid  string
	pub  jose.JSONWebKey
}

func newRSAKey(t *testing.T, kid string) clientKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, alg: jose.RS256, kid: kid,
		pub: jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
}

func newECKey(t *testing.T, kid string) clientKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, alg: jose.ES256, kid: kid, pub: jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Use: "sig"}}
}

// jwksOf is the JWK Set of keys, in JSON.
func jwksOf(t *testing.T, keys ...clientKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.pub)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimsFor are good assertion claims of client id for g's token endpoint.
func claimsFor(g *gatehouse, id string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": id, "sub": id, "aud": g.base + "/oauth/token",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
	}
}

// sign signs claims with key (algorithm alg, header kid when not "").
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (k clientKey) sign(t *testing.T, claims map[string]any) string {
	return sign(t, k.alg, k.priv, k.kid, claims)
}

// withAssertion is form with the client assertion added.
func withAssertion(form url.Values, assertion string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	out.Set("client_assertion_type", jwtBearer)
	out.Set("client_assertion", assertion)
	return out
}

func ccForm() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

// token posts form to the token endpoint.
func (g *gatehouse) token(t *testing.T, form url.Values, basic *client) clientAnswer {
	t.Helper()
	return g.call(t, clientCall{method: "POST", path: "/oauth/token", form: form, basic: basic})
}

func (a clientAnswer) wantToken(t *testing.T, what string) string {
	t.Helper()
	tok, _ := a.json["access_token"].(string)
	if a.status != http.StatusOK || tok == "" {
		t.Fatalf("%s: %d %s, want a token", what, a.status, a.raw)
	}
	return tok
}

// openStoreOf opens g's database directly, for what the CLI cannot do.
func openStoreOf(t *testing.T, g *gatehouse) storage.Store {
	t.Helper()
	u := tfEnvValue(g, "GATEHOUSE_DATABASE_URL")
	var (
		s   storage.Store
		err error
	)
	if strings.HasPrefix(u, "sqlite:") {
		s, err = sqlite.Open(t.Context(), u)
	} else {
		s, err = postgres.Open(t.Context(), u)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestClientAuthMethods checks that each client authenticates with the
// method it registered and no other, at the token, introspection and
// revocation endpoints; that two methods at once are invalid_request; and
// that a client registered before the method could be chosen keeps both
// secret methods until one is pinned.
func TestClientAuthMethods(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			basic := g.createClient("--name", "Basic", "--redirect-uri", rpRedirect, "--grant-type", allGrants)
			post := g.createClient("--name", "Post", "--redirect-uri", rpRedirect, "--token-endpoint-auth-method", "client_secret_post", "--grant-type", allGrants)
			rk := newRSAKey(t, "k1")
			pkjwt := g.createClient("--name", "Keys", "--redirect-uri", rpRedirect, "--token-endpoint-auth-method", "private_key_jwt", "--jwks", jwksOf(t, rk), "--grant-type", allGrants)
			if pkjwt.Secret != "" {
				t.Errorf("a private_key_jwt client got a secret")
			}
			secretForm := func(c client, form url.Values) url.Values {
				out := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}}
				for k, v := range form {
					out[k] = v
				}
				return out
			}
			challenge := `Basic realm="` + g.base + `"`

			// client_secret_basic: Basic only.
			tok := g.token(t, ccForm(), &basic).wantToken(t, "client_secret_basic with Basic")
			g.token(t, secretForm(basic, ccForm()), nil).wantOAuthError(t, 401, "invalid_client")
			a := g.call(t, clientCall{method: "POST", path: "/oauth/introspect", form: secretForm(basic, url.Values{"token": {tok}})})
			a.wantOAuthError(t, 401, "invalid_client")
			a = g.call(t, clientCall{method: "POST", path: "/revoke", form: secretForm(basic, url.Values{"token": {tok}})})
			a.wantOAuthError(t, 401, "invalid_client")
			a = g.call(t, clientCall{method: "POST", path: "/oauth/introspect", form: url.Values{"token": {tok}}, basic: &basic})
			if a.status != 200 || a.json["active"] != true {
				t.Errorf("introspection with Basic = %d %s", a.status, a.raw)
			}

			// client_secret_post: the body only; Basic gets the challenge.
			tok = g.token(t, secretForm(post, ccForm()), nil).wantToken(t, "client_secret_post in the body")
			a = g.token(t, ccForm(), &post)
			a.wantOAuthError(t, 401, "invalid_client")
			if got := a.header.Get("WWW-Authenticate"); got != challenge {
				t.Errorf("Basic refused: WWW-Authenticate %q, want %q", got, challenge)
			}
			a = g.call(t, clientCall{method: "POST", path: "/oauth/introspect", form: secretForm(post, url.Values{"token": {tok}})})
			if a.status != 200 || a.json["active"] != true {
				t.Errorf("introspection with client_secret_post = %d %s", a.status, a.raw)
			}
			g.call(t, clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {tok}}, basic: &post}).wantOAuthError(t, 401, "invalid_client")
			if a := g.call(t, clientCall{method: "POST", path: "/revoke", form: secretForm(post, url.Values{"token": {tok}})}); a.status != 200 {
				t.Errorf("revocation with client_secret_post = %d %s", a.status, a.raw)
			}

			// private_key_jwt: the assertion only.
			tok = g.token(t, withAssertion(ccForm(), rk.sign(t, claimsFor(g, pkjwt.ID))), nil).wantToken(t, "private_key_jwt")
			noSecret := client{ID: pkjwt.ID, Secret: ""}
			g.token(t, ccForm(), &noSecret).wantOAuthError(t, 401, "invalid_client")
			g.token(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {pkjwt.ID}}, nil).wantOAuthError(t, 401, "invalid_client")
			a = g.call(t, clientCall{method: "POST", path: "/oauth/introspect", form: withAssertion(url.Values{"token": {tok}}, rk.sign(t, claimsFor(g, pkjwt.ID)))})
			if a.status != 200 || a.json["active"] != true {
				t.Errorf("introspection with private_key_jwt = %d %s", a.status, a.raw)
			}
			a = g.call(t, clientCall{method: "POST", path: "/revoke", form: withAssertion(url.Values{"token": {tok}}, rk.sign(t, claimsFor(g, pkjwt.ID)))})
			if a.status != 200 {
				t.Errorf("revocation with private_key_jwt = %d %s", a.status, a.raw)
			}
			// A secret client may not switch to an assertion either.
			g.token(t, withAssertion(ccForm(), rk.sign(t, claimsFor(g, basic.ID))), nil).wantOAuthError(t, 401, "invalid_client")

			// RFC 6749 §2.3: one method per request.
			two := []struct {
				name  string
				form  url.Values
				basic *client
			}{
				{"Basic and client_secret", secretForm(basic, ccForm()), &basic},
				{"client_secret and an assertion", withAssertion(secretForm(client{ID: pkjwt.ID, Secret: "a secret"}, ccForm()), rk.sign(t, claimsFor(g, pkjwt.ID))), nil},
				{"Basic and an assertion", withAssertion(ccForm(), rk.sign(t, claimsFor(g, pkjwt.ID))), &basic},
			}
			for _, tt := range two {
				for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke"} {
					form := tt.form
					if path != "/oauth/token" {
						form = cloneForm(form)
						form.Del("grant_type")
						form.Set("token", "x")
					}
					a := g.call(t, clientCall{method: "POST", path: path, form: form, basic: tt.basic})
					if a.status != 400 || a.json["error"] != "invalid_request" {
						t.Errorf("%s at %s: %d %s, want 400 invalid_request", tt.name, path, a.status, a.raw)
					}
				}
			}
			// A secret in the URL is refused.
			a = g.call(t, clientCall{method: "POST", path: "/oauth/token", query: "client_secret=" + url.QueryEscape(post.Secret),
				form: url.Values{"grant_type": {"client_credentials"}, "client_id": {post.ID}}})
			a.wantOAuthError(t, 400, "invalid_request")

			// Registration refuses what cannot work.
			for _, bad := range [][]string{
				{"--public", "--token-endpoint-auth-method", "client_secret_basic"},
				{"--token-endpoint-auth-method", "none"},
				{"--token-endpoint-auth-method", "client_secret_jwk"},
				{"--token-endpoint-auth-method", "private_key_jwt"},
				{"--token-endpoint-auth-method", "client_secret_basic", "--jwks", jwksOf(t, rk)},
			} {
				args := append([]string{"clients", "create", "--name", "X", "--redirect-uri", rpRedirect}, bad...)
				if _, errOut, err := g.tryCLI("", args...); err == nil || errOut == "" {
					t.Errorf("clients create %v: err %v, stderr %q; want a refusal", bad, err, errOut)
				}
			}
			pub := g.createClient("--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb")
			// A public client names itself, in the body or in Basic without
			// a password; a password is a credential it does not have.
			a = g.call(t, clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"x"}, "client_id": {pub.ID}}})
			if a.status != 200 {
				t.Errorf("revocation by a public client = %d %s", a.status, a.raw)
			}
			if a := g.call(t, clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"x"}}, basic: &client{ID: pub.ID}}); a.status != 200 {
				t.Errorf("revocation by a public client in Basic without a password = %d %s", a.status, a.raw)
			}
			g.call(t, clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"x"}}, basic: &client{ID: pub.ID, Secret: "x"}}).wantOAuthError(t, 401, "invalid_client")
			g.call(t, clientCall{method: "POST", path: "/revoke", form: url.Values{"token": {"x"}, "client_id": {pub.ID}, "client_secret": {"x"}}}).wantOAuthError(t, 401, "invalid_client")
			if out := g.cli("", "clients", "show", pub.ID); !strings.Contains(out, "token endpoint auth method:") || !strings.Contains(out, "none") {
				t.Errorf("clients show of a public client:\n%s", out)
			}

			// A client from before the upgrade ("" method) keeps Basic and
			// post, one at a time, until the method is pinned.
			legacy := g.createClient("--name", "Legacy", "--redirect-uri", rpRedirect, "--grant-type", allGrants)
			st := openStoreOf(t, g)
			lc, err := st.ClientByID(t.Context(), legacy.ID)
			if err != nil {
				t.Fatal(err)
			}
			lc.TokenEndpointAuthMethod = ""
			if err := st.SetClientMetadata(t.Context(), lc, time.Now()); err != nil {
				t.Fatal(err)
			}
			if out := g.cli("", "clients", "show", legacy.ID); !strings.Contains(out, "legacy") {
				t.Errorf("clients show of a legacy client does not say legacy:\n%s", out)
			}
			if out := g.cli("", "clients", "list"); !strings.Contains(out, "legacy") {
				t.Errorf("clients list does not show the legacy client as legacy:\n%s", out)
			}
			waitClientChange(t, g, func() bool { return g.token(t, secretForm(legacy, ccForm()), nil).status == 200 })
			g.token(t, ccForm(), &legacy).wantToken(t, "legacy client with Basic")
			g.token(t, secretForm(legacy, ccForm()), nil).wantToken(t, "legacy client with client_secret_post")
			g.token(t, secretForm(legacy, ccForm()), &legacy).wantOAuthError(t, 400, "invalid_request")
			out := g.cli("", "clients", "update", legacy.ID, "--token-endpoint-auth-method", "client_secret_basic")
			if !strings.Contains(out, "client_secret_basic") || strings.Contains(out, "client_secret:") {
				t.Errorf("clients update --token-endpoint-auth-method client_secret_basic printed:\n%s", out)
			}
			waitClientChange(t, g, func() bool { return g.token(t, secretForm(legacy, ccForm()), nil).status == 401 })
			g.token(t, ccForm(), &legacy).wantToken(t, "pinned client with Basic")
		})
	}
}

// waitClientChange waits until done reports a client change seen by the
// server (the PostgreSQL backend caches clients until notified).
func waitClientChange(t *testing.T, g *gatehouse, done func() bool) {
	t.Helper()
	for range 50 {
		if done() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the server did not see the client change")
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestClientAuthPrivateKeyJWT checks the assertions of a private_key_jwt
// client with an inline JWK Set: every check of RFC 7523 §3 and OIDC Core
// §9, and single use, also under 20 parallel uses.
func TestClientAuthPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			rk, ek := newRSAKey(t, "rsa1"), newECKey(t, "ec1")
			anyAlg := newRSAKey(t, "rsa2")
			anyAlg.pub.Algorithm = "" // a key for any RSA algorithm
			c := g.createClient("--name", "Keys", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", jwksOf(t, rk, ek, anyAlg))
			other := newRSAKey(t, "rsa1") // the same kid, another key

			good := func() map[string]any { return claimsFor(g, c.ID) }
			with := func(k string, v any) map[string]any {
				m := good()
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
				return m
			}
			rsaPub, _ := x509.MarshalPKIXPublicKey(rk.priv.(*rsa.PrivateKey).Public())
			rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
			n := rk.priv.(*rsa.PrivateKey).N.Bytes()
			now := time.Now()
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			body, _ := json.Marshal(good())
			unsigned := header + "." + base64.RawURLEncoding.EncodeToString(body) + "."

			accepted := []struct {
				name      string
				assertion string
			}{
				{"RS256, aud the token endpoint", rk.sign(t, good())},
				{"ES256", ek.sign(t, good())},
				{"aud the issuer", rk.sign(t, with("aud", g.base))},
				{"aud a list naming the token endpoint", rk.sign(t, with("aud", []string{"https://other.example", g.base + "/oauth/token"}))},
				{"no kid", sign(t, jose.RS256, rk.priv, "", good())},
				{"PS256", sign(t, jose.PS256, anyAlg.priv, "rsa2", good())},
			}
			for _, tt := range accepted {
				g.token(t, withAssertion(ccForm(), tt.assertion), nil).wantToken(t, tt.name)
			}

			refused := []struct {
				name      string
				assertion string
			}{
				{"wrong aud", rk.sign(t, with("aud", "https://other.example/token"))},
				{"no aud", rk.sign(t, with("aud", nil))},
				{"expired", rk.sign(t, with("exp", now.Add(-2*time.Minute).Unix()))},
				{"exp an hour ahead", rk.sign(t, with("exp", now.Add(time.Hour).Unix()))},
				{"no exp", rk.sign(t, with("exp", nil))},
				{"nbf ahead", rk.sign(t, with("nbf", now.Add(5*time.Minute).Unix()))},
				{"iat ahead", rk.sign(t, with("iat", now.Add(5*time.Minute).Unix()))},
				{"no jti", rk.sign(t, with("jti", nil))},
				{"iss not sub", rk.sign(t, with("iss", "someone-else"))},
				{"sub another client", rk.sign(t, with("sub", "someone-else"))},
				{"alg none", unsigned},
				{"HS256 under the public key's PEM (alg confusion)", sign(t, jose.HS256, rsaPEM, "rsa1", good())},
				{"HS256 under the modulus (alg confusion)", sign(t, jose.HS256, n, "rsa1", good())},
				{"another key, same kid", other.sign(t, good())},
				{"unknown kid", sign(t, jose.RS256, rk.priv, "nope", good())},
				{"PS256 under a key registered for RS256", sign(t, jose.PS256, rk.priv, "rsa1", good())},
				{"garbage", "not.a.jwt"},
			}
			for _, tt := range refused {
				a := g.token(t, withAssertion(ccForm(), tt.assertion), nil)
				if a.status != 401 || a.json["error"] != "invalid_client" || a.json["access_token"] != nil {
					t.Errorf("%s: %d %s, want 401 invalid_client", tt.name, a.status, a.raw)
				}
			}
			// The client_id parameter, when sent, must be the assertion's.
			f := withAssertion(ccForm(), rk.sign(t, good()))
			f.Set("client_id", "someone-else")
			g.token(t, f, nil).wantOAuthError(t, 401, "invalid_client")
			f = withAssertion(ccForm(), rk.sign(t, good()))
			f.Set("client_id", c.ID)
			g.token(t, f, nil).wantToken(t, "with a matching client_id")
			// Another assertion type, or none, is not client authentication.
			f = withAssertion(ccForm(), rk.sign(t, good()))
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			g.token(t, f, nil).wantOAuthError(t, 401, "invalid_client")

			// A jti is used once.
			once := rk.sign(t, good())
			g.token(t, withAssertion(ccForm(), once), nil).wantToken(t, "first use")
			g.token(t, withAssertion(ccForm(), once), nil).wantOAuthError(t, 401, "invalid_client")
			// The same jti in a fresh assertion too.
			again := good()
			again["jti"] = "fixed-jti"
			g.token(t, withAssertion(ccForm(), rk.sign(t, again)), nil).wantToken(t, "jti first use")
			again["exp"] = now.Add(2 * time.Minute).Unix()
			g.token(t, withAssertion(ccForm(), rk.sign(t, again)), nil).wantOAuthError(t, 401, "invalid_client")

			// 20 parallel uses of one assertion: exactly one token.
			if n := parallelUses(t, []*gatehouse{g}, withAssertion(ccForm(), rk.sign(t, good())), 20); n != 1 {
				t.Errorf("20 parallel uses of one assertion: %d tokens, want 1", n)
			}
		})
	}
}

// parallelUses posts form to the token endpoints of gs in turn, n times at
// once, and returns how many got a token.
func parallelUses(t *testing.T, gs []*gatehouse, form url.Values, n int) int {
	t.Helper()
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		g := gs[i%len(gs)]
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, g.base+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			switch {
			case resp.StatusCode == 200 && out["access_token"] != nil:
				ok.Add(1)
			case resp.StatusCode == 401 && out["error"] == "invalid_client":
			default:
				t.Errorf("parallel use: %d %v", resp.StatusCode, out)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

// TestClientAuthReplayAcrossReplicas checks that an assertion is single-use
// across two replicas on one PostgreSQL database.
func TestClientAuthReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	rk := newRSAKey(t, "k1")
	c := a.createClient("--name", "Keys", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", jwksOf(t, rk))
	once := rk.sign(t, claimsFor(a, c.ID)) // the issuer is A's address
	a.token(t, withAssertion(ccForm(), once), nil).wantToken(t, "on A")
	b.token(t, withAssertion(ccForm(), once), nil).wantOAuthError(t, 401, "invalid_client")
	for range 3 {
		if n := parallelUses(t, []*gatehouse{a, b}, withAssertion(ccForm(), rk.sign(t, claimsFor(a, c.ID))), 20); n != 1 {
			t.Errorf("20 parallel uses across two replicas: %d tokens, want 1", n)
		}
	}
}

// jwksServer serves a JWK Set that the test changes, on loopback, and
// counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    string
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// TestClientAuthJWKSURI checks a private_key_jwt client whose keys are at a
// jwks_uri: fetched and cached; a new kid fetches them again (at most once
// per 10 s), an unknown kid after that is refused; a URL that does not
// answer costs one timeout, not a hang.
func TestClientAuthJWKSURI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			k1, k2 := newRSAKey(t, "k1"), newECKey(t, "k2")
			js := newJWKSServer(t, jwksOf(t, k1))
			c := g.createClient("--name", "Rotating", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", js.URL+"/jwks")
			if out := g.cli("", "clients", "show", c.ID); !strings.Contains(out, js.URL+"/jwks") || !strings.Contains(out, "private_key_jwt") {
				t.Errorf("clients show:\n%s", out)
			}
			use := func(k clientKey) clientAnswer {
				return g.token(t, withAssertion(ccForm(), k.sign(t, claimsFor(g, c.ID))), nil)
			}

			use(k1).wantToken(t, "k1")
			use(k1).wantToken(t, "k1 again")
			if n := js.fetches.Load(); n != 1 {
				t.Errorf("%d fetches for two uses, want 1 (cached)", n)
			}
			fetched := time.Now()

			// A kid the set does not hold fetches it again (once the last
			// fetch is 10 s old), and is still refused.
			k3 := newRSAKey(t, "k3")
			time.Sleep(time.Until(fetched.Add(10*time.Second + 500*time.Millisecond)))
			use(k3).wantOAuthError(t, 401, "invalid_client")
			if n := js.fetches.Load(); n != 2 {
				t.Errorf("%d fetches after an unknown kid, want 2", n)
			}
			fetched = time.Now()
			use(k3).wantOAuthError(t, 401, "invalid_client")
			if n := js.fetches.Load(); n != 2 {
				t.Errorf("%d fetches after a second unknown kid at once, want still 2 (rate-limited)", n)
			}

			// Rotation: the client publishes k2; Gatehouse finds it at the
			// next fetch it allows itself.
			js.set(jwksOf(t, k1, k2))
			use(k2).wantOAuthError(t, 401, "invalid_client")
			time.Sleep(time.Until(fetched.Add(10*time.Second + 500*time.Millisecond)))
			use(k2).wantToken(t, "k2 after rotation")
			use(k1).wantToken(t, "k1 after rotation")
			if n := js.fetches.Load(); n != 3 {
				t.Errorf("%d fetches, want 3", n)
			}

			// A JWKS URL that never answers: invalid_client after the
			// fetch timeout, then at once.
			block := make(chan struct{})
			dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-block:
				case <-r.Context().Done():
				}
			}))
			t.Cleanup(dead.Close)
			t.Cleanup(func() { close(block) })
			d := g.createClient("--name", "Dead", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", dead.URL+"/jwks")
			for i, limit := range []time.Duration{8 * time.Second, time.Second} {
				start := time.Now()
				g.token(t, withAssertion(ccForm(), k1.sign(t, claimsFor(g, d.ID))), nil).wantOAuthError(t, 401, "invalid_client")
				if el := time.Since(start); el > limit {
					t.Errorf("use %d with a dead jwks_uri took %s, want under %s", i+1, el, limit)
				}
			}

			// Registration checks the URL and the keys.
			for _, bad := range [][]string{
				{"--jwks-uri", "http://example.com/jwks"},
				{"--jwks-uri", "ftp://127.0.0.1/jwks"},
				{"--jwks-uri", js.URL + "/jwks", "--jwks", jwksOf(t, k1)},
				{"--jwks", `{"keys":[]}`},
				{"--jwks", `not json`},
				{"--jwks", privateJWKS(t, k1)},
				{"--jwks", `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`},
			} {
				args := append([]string{"clients", "create", "--name", "X", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt"}, bad...)
				if _, errOut, err := g.tryCLI("", args...); err == nil || errOut == "" {
					t.Errorf("clients create %v: err %v, stderr %q; want a refusal", bad, err, errOut)
				}
			}
			_, errOut, _ := g.tryCLI("", "clients", "create", "--name", "X", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", privateJWKS(t, k1))
			if !strings.Contains(errOut, "private") {
				t.Errorf("a private key in the JWK Set: stderr %q, want it named", errOut)
			}
			// A file works like the flag.
			path := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(path, []byte(jwksOf(t, k2)), 0o600); err != nil {
				t.Fatal(err)
			}
			f := g.createClient("--name", "File", "--grant", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path)
			g.token(t, withAssertion(ccForm(), k2.sign(t, claimsFor(g, f.ID))), nil).wantToken(t, "keys from --jwks-file")
		})
	}
}

// privateJWKS is a JWK Set holding k's private key.
func privateJWKS(t *testing.T, k clientKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv, KeyID: k.kid}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientAuthSecretJWT checks client_secret_jwt: HMAC assertions under
// the client's secret, which Gatehouse keeps sealed; a wrong secret, an
// asymmetric algorithm or the secret itself are refused; rotation and a
// change of method issue a new secret.
func TestClientAuthSecretJWT(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			c := g.createClient("--name", "HMAC", "--grant", "client_credentials", "--token-endpoint-auth-method", "client_secret_jwt")
			if len(c.Secret) < 64 {
				t.Fatalf("client_secret_jwt secret %d characters, want at least 64 (HS512)", len(c.Secret))
			}
			for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
				g.token(t, withAssertion(ccForm(), sign(t, alg, []byte(c.Secret), "", claimsFor(g, c.ID))), nil).wantToken(t, string(alg))
			}
			wrong := []byte(strings.Repeat("x", len(c.Secret)))
			g.token(t, withAssertion(ccForm(), sign(t, jose.HS256, wrong, "", claimsFor(g, c.ID))), nil).wantOAuthError(t, 401, "invalid_client")
			rk := newRSAKey(t, "k1")
			g.token(t, withAssertion(ccForm(), rk.sign(t, claimsFor(g, c.ID))), nil).wantOAuthError(t, 401, "invalid_client")
			g.token(t, ccForm(), &c).wantOAuthError(t, 401, "invalid_client")
			once := sign(t, jose.HS256, []byte(c.Secret), "", claimsFor(g, c.ID))
			g.token(t, withAssertion(ccForm(), once), nil).wantToken(t, "first use")
			g.token(t, withAssertion(ccForm(), once), nil).wantOAuthError(t, 401, "invalid_client")

			// The secret is not in the database in the clear.
			st := openStoreOf(t, g)
			sealed, err := st.ClientJWTSecret(t.Context(), c.ID)
			if err != nil || strings.Contains(string(sealed), c.Secret) {
				t.Errorf("stored secret: %v, in the clear %t", err, strings.Contains(string(sealed), c.Secret))
			}

			// Rotation: the old secret stops, the new one works.
			out := g.cli("", "clients", "rotate-secret", c.ID)
			fresh := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "client_secret:"))
			waitClientChange(t, g, func() bool {
				return g.token(t, withAssertion(ccForm(), sign(t, jose.HS256, []byte(fresh), "", claimsFor(g, c.ID))), nil).status == 200
			})
			g.token(t, withAssertion(ccForm(), sign(t, jose.HS256, []byte(c.Secret), "", claimsFor(g, c.ID))), nil).wantOAuthError(t, 401, "invalid_client")

			// A Basic client moved to client_secret_jwt gets a new secret
			// (only the old one's hash is kept).
			b := g.createClient("--name", "Moving", "--grant", "client_credentials")
			out = g.cli("", "clients", "update", b.ID, "--token-endpoint-auth-method", "client_secret_jwt")
			_, rest, ok := strings.Cut(out, "client_secret: ")
			if !ok {
				t.Fatalf("clients update to client_secret_jwt printed no secret:\n%s", out)
			}
			moved := strings.Fields(rest)[0]
			waitClientChange(t, g, func() bool {
				return g.token(t, withAssertion(ccForm(), sign(t, jose.HS256, []byte(moved), "", claimsFor(g, b.ID))), nil).status == 200
			})
			g.token(t, ccForm(), &b).wantOAuthError(t, 401, "invalid_client")
		})
	}
}

// TestClientAuthCodeFlowPrivateKeyJWT runs a relying party's authorization
// code flow finished with private_key_jwt: the code exchange and the
// refresh grant authenticate with assertions; a failed authentication does
// not burn the code.
func TestClientAuthCodeFlowPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			const email, password = "alice@example.com", "alice's long password"
			g.createUser(email, "Alice", password)
			rk := newRSAKey(t, "rp-1")
			rp := newRelyingParty(t, g, "--token-endpoint-auth-method", "private_key_jwt", "--jwks", jwksOf(t, rk))
			f := rp.newFlow()
			code := rp.signIn(newBrowser(t), f, email, password)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}

			// Wrong credentials first: refused, and the code survives.
			other := newRSAKey(t, "rp-1")
			g.token(t, withAssertion(form, other.sign(t, claimsFor(g, rp.client.ID))), nil).wantOAuthError(t, 401, "invalid_client")
			g.token(t, form, &client{ID: rp.client.ID, Secret: "guess"}).wantOAuthError(t, 401, "invalid_client")

			a := g.token(t, withAssertion(form, rk.sign(t, claimsFor(g, rp.client.ID))), nil)
			a.wantToken(t, "code exchange with private_key_jwt")
			raw, _ := a.json["id_token"].(string)
			idt, err := rp.verifier.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			if idt.Nonce != f.nonce {
				t.Errorf("nonce %q, want %q", idt.Nonce, f.nonce)
			}
			rt, _ := a.json["refresh_token"].(string)
			if rt == "" {
				t.Fatalf("no refresh token: %s", a.raw)
			}
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			g.token(t, refresh, &client{ID: rp.client.ID}).wantOAuthError(t, 401, "invalid_client")
			a = g.token(t, withAssertion(refresh, rk.sign(t, claimsFor(g, rp.client.ID))), nil)
			a.wantToken(t, "refresh with private_key_jwt")

			// x/oauth2 cannot sign assertions: with the client_id alone it
			// gets nothing.
			cfg := *rp.oauth
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			f2 := rp.newFlow()
			code2 := rp.signIn(newBrowser(t), f2, email, password)
			if _, err := cfg.Exchange(t.Context(), code2, oauth2.VerifierOption(f2.verifier)); err == nil {
				t.Error("a code exchange without client authentication succeeded")
			}
		})
	}
}

// TestClientAuthAdminAPI checks the authentication fields of the admin API:
// registration with keys, a clear refusal of a bad key set, and a change of
// method.
func TestClientAuthAdminAPI(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	ops := g.createClient("--name", "Operations", "--admin")
	token := adminToken(t, g, ops)
	rk := newRSAKey(t, "k1")

	r := adminCall(t, g, token, http.MethodPost, "/api/clients",
		`{"name":"Keys","redirect_uris":["https://app.example.com/cb"],"grant_types":["authorization_code","refresh_token","client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":`+jwksOf(t, rk)+`}`)
	var created map[string]any
	if err := json.Unmarshal([]byte(r.body), &created); err != nil || r.status != http.StatusCreated {
		t.Fatalf("create a private_key_jwt client: %d %s", r.status, r.body)
	}
	if created["token_endpoint_auth_method"] != "private_key_jwt" || created["jwks"] == nil || created["client_secret"] != nil {
		t.Errorf("created client %s", r.body)
	}
	id := created["client_id"].(string)

	for name, body := range map[string]string{
		"private key":     `{"name":"X","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + privateJWKS(t, rk) + `}`,
		"no keys":         `{"name":"X","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`,
		"unknown method":  `{"name":"X","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"tls_client_auth"}`,
		"public, secret":  `{"name":"X","redirect_uris":["http://127.0.0.1/cb"],"public":true,"token_endpoint_auth_method":"client_secret_post"}`,
		"http jwks_uri":   `{"name":"X","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example/jwks"}`,
		"keys for secret": `{"name":"X","redirect_uris":["https://x.example/cb"],"jwks":` + jwksOf(t, rk) + `}`,
	} {
		r := adminCall(t, g, token, http.MethodPost, "/api/clients", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	r = adminCall(t, g, token, http.MethodPost, "/api/clients", `{"name":"X","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":`+privateJWKS(t, rk)+`}`)
	if !strings.Contains(r.body, "private") {
		t.Errorf("a private key: %s, want it named", r.body)
	}

	// From private_key_jwt to client_secret_post: a secret, once.
	r = adminCall(t, g, token, http.MethodPut, "/api/clients/"+id+"/authentication", `{"token_endpoint_auth_method":"client_secret_post"}`)
	var updated map[string]any
	if err := json.Unmarshal([]byte(r.body), &updated); err != nil || r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	secret, _ := updated["client_secret"].(string)
	if updated["token_endpoint_auth_method"] != "client_secret_post" || secret == "" || updated["jwks"] != nil {
		t.Errorf("updated client %s", r.body)
	}
	g.token(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, nil).wantToken(t, "client_secret_post after the change")
	g.token(t, withAssertion(ccForm(), rk.sign(t, claimsFor(g, id))), nil).wantOAuthError(t, 401, "invalid_client")
	r = adminCall(t, g, token, http.MethodPut, "/api/clients/"+id+"/authentication", `{"token_endpoint_auth_method":"none"}`)
	if r.status != http.StatusBadRequest {
		t.Errorf("a confidential client to none: %d %s, want 400", r.status, r.body)
	}
	if r := adminCall(t, g, token, http.MethodGet, "/api/clients/"+id, ""); !strings.Contains(r.body, `"client_secret_post"`) {
		t.Errorf("show: %s", r.body)
	}
}
