package main

// DPoP (RFC 9449) through the binary: proofs are made here with go-jose,
// never with Gatehouse's code, and key thumbprints are computed here as
// RFC 7638 defines them.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
}

func newDPoPKey(t *testing.T, alg jose.SignatureAlgorithm) *dpopKey {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case jose.PS256, jose.RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: k, alg: alg}
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of k's public key: the
// hash of its required members, in lexicographic order, without
// whitespace (§3.2, §3.3).
func (k *dpopKey) thumbprint(t *testing.T) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var members string
	switch pub := k.priv.Public().(type) {
	case *ecdsa.PublicKey:
		point, err := pub.Bytes() // 0x04 || x || y
		if err != nil {
			t.Fatal(err)
		}
		n := (len(point) - 1) / 2
		members = `{"crv":"P-256","kty":"EC","x":"` + b64(point[1:1+n]) + `","y":"` + b64(point[1+n:]) + `"}`
	case ed25519.PublicKey:
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	case *rsa.PublicKey:
		members = `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	default:
		t.Fatalf("thumbprint of %T", pub)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:])
}

// proofClaims are the claims of a fresh proof for a request with method
// htm to htu, presenting token ("" for none).
func proofClaims(htm, htu, token string) map[string]any {
	c := map[string]any{"jti": rand.Text(), "htm": htm, "htu": htu, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return c
}

// proof is a fresh proof of k for a request with method htm to htu.
func (k *dpopKey) proof(t *testing.T, htm, htu, token string) string {
	return k.sign(t, proofClaims(htm, htu, token), "dpop+jwt", nil)
}

// sign makes a proof of claims with header typ and, in the jwk header,
// jwk (k's public key when nil).
func (k *dpopKey) sign(t *testing.T, claims map[string]any, typ string, jwk any) string {
	t.Helper()
	if jwk == nil {
		jwk = jose.JSONWebKey{Key: k.priv.Public()}
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("jwk", jwk)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedProof is claims as a JWT with alg none and k's public key.
func (k *dpopKey) unsignedProof(t *testing.T, claims map[string]any) string {
	t.Helper()
	jwk, err := json.Marshal(jose.JSONWebKey{Key: k.priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	header, _ := json.Marshal(map[string]any{"alg": "none", "typ": "dpop+jwt", "jwk": json.RawMessage(jwk)})
	payload, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// hmacProof is claims as a JWT signed with HS256 under a key that its
// jwk header gives away.
func hmacProof(t *testing.T, claims map[string]any) string {
	t.Helper()
	secret := []byte("0123456789abcdef0123456789abcdef")
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", map[string]string{
		"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret)})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// dpopAnswer is a fully read answer.
type dpopAnswer struct {
	status int
	header http.Header
	json   map[string]any
	raw    string
}

// dpopCall sends a request with method to u: form as the body of a POST
// (the query of a GET), authorization as the Authorization header, basic
// as HTTP Basic credentials, and each proof as a DPoP header.
func dpopCall(t *testing.T, method, u string, form url.Values, authorization string, basic *client, proofs ...string) dpopAnswer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic.ID), url.QueryEscape(basic.Secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := dpopAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.json)
	return a
}

// dpopChallenge returns the DPoP challenge of a's WWW-Authenticate
// headers, or "".
func (a dpopAnswer) dpopChallenge() string {
	for _, v := range a.header.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, "DPoP ") {
			return v
		}
	}
	return ""
}

// wantTokens checks a successful token answer of the given token_type and
// returns its access and refresh tokens.
func wantTokens(t *testing.T, what string, a dpopAnswer, tokenType string) (access, refresh string) {
	t.Helper()
	access, _ = a.json["access_token"].(string)
	refresh, _ = a.json["refresh_token"].(string)
	if a.status != http.StatusOK || access == "" {
		t.Fatalf("%s = %d %s, want 200 with an access token", what, a.status, a.raw)
	}
	if a.json["token_type"] != tokenType {
		t.Errorf("%s: token_type %v, want %s", what, a.json["token_type"], tokenType)
	}
	return access, refresh
}

// wantOAuthError checks an error answer.
func wantOAuthError(t *testing.T, what string, a dpopAnswer, status int, codes ...string) {
	t.Helper()
	if code, _ := a.json["error"].(string); a.status != status || !slices.Contains(codes, code) {
		t.Errorf("%s = %d %s, want %d %v", what, a.status, a.raw, status, codes)
	}
}

// cnfJKT returns the cnf.jkt claim of a JWT access token whose signature
// parseAccessToken verified.
func cnfJKT(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf *struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

// TestDPoP checks DPoP at the token endpoint, userinfo and introspection,
// for public and confidential clients, and that clients without it keep
// their bearer tokens.
func TestDPoP(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			tokenURL, userinfoURL := g.base+"/oauth/token", g.base+"/userinfo"

			t.Run("discovery", func(t *testing.T) {
				a := dpopCall(t, http.MethodGet, g.base+"/.well-known/openid-configuration", nil, "", nil)
				var algs []string
				listed, _ := a.json["dpop_signing_alg_values_supported"].([]any)
				for _, v := range listed {
					s, _ := v.(string)
					algs = append(algs, s)
				}
				if !slices.Contains(algs, "ES256") || !slices.Contains(algs, "EdDSA") || !slices.Contains(algs, "PS256") ||
					slices.Contains(algs, "none") || slices.ContainsFunc(algs, func(s string) bool { return strings.HasPrefix(s, "HS") }) {
					t.Errorf("dpop_signing_alg_values_supported = %v", algs)
				}
			})

			t.Run("public client", func(t *testing.T) {
				rp := newRelyingParty(t, g, "--public", "--access-token-format", "jwt")
				key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.EdDSA)
				f := rp.newFlow()
				code := rp.signIn(newBrowser(t), f, alice, alicePass)
				a := dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}, "client_id": {rp.client.ID}}, "", nil,
					key.proof(t, "POST", tokenURL, ""))
				access, refresh := wantTokens(t, "code exchange with a proof", a, "DPoP")
				rp.remember(access, refresh)
				if refresh == "" {
					t.Fatal("no refresh token")
				}
				std, _ := parseAccessToken(t, g, access)
				if got, want := cnfJKT(t, access), key.thumbprint(t); got != want {
					t.Errorf("cnf.jkt = %q, want the RFC 7638 thumbprint %q", got, want)
				}

				// Userinfo: the DPoP scheme with a proof of the key for
				// this request and token.
				ui := dpopCall(t, http.MethodGet, userinfoURL, nil, "DPoP "+access, nil, key.proof(t, "GET", userinfoURL, access))
				if ui.status != http.StatusOK || ui.json["sub"] != std.Subject {
					t.Errorf("userinfo with DPoP = %d %s", ui.status, ui.raw)
				}
				proof := key.proof(t, "GET", userinfoURL, access)
				if a := dpopCall(t, http.MethodGet, userinfoURL, nil, "DPoP "+access, nil, proof); a.status != http.StatusOK {
					t.Errorf("userinfo = %d %s", a.status, a.raw)
				}
				missingATH := key.sign(t, proofClaims("GET", userinfoURL, ""), "dpop+jwt", nil)
				wrongATH := key.sign(t, proofClaims("GET", userinfoURL, "another token"), "dpop+jwt", nil)
				for _, tc := range []struct {
					name, authorization string
					proofs              []string
					challengeError      string
				}{
					{"as a bearer token", "Bearer " + access, nil, "invalid_token"},
					{"as a bearer token with a proof", "Bearer " + access, []string{key.proof(t, "GET", userinfoURL, access)}, "invalid_token"},
					{"without a proof", "DPoP " + access, nil, "invalid_dpop_proof"},
					{"with two proofs", "DPoP " + access, []string{key.proof(t, "GET", userinfoURL, access), key.proof(t, "GET", userinfoURL, access)}, "invalid_dpop_proof"},
					{"replayed proof", "DPoP " + access, []string{proof}, "invalid_dpop_proof"},
					{"no ath", "DPoP " + access, []string{missingATH}, "invalid_dpop_proof"},
					{"wrong ath", "DPoP " + access, []string{wrongATH}, "invalid_dpop_proof"},
					{"htm POST", "DPoP " + access, []string{key.proof(t, "POST", userinfoURL, access)}, "invalid_dpop_proof"},
					{"htu of the token endpoint", "DPoP " + access, []string{key.proof(t, "GET", tokenURL, access)}, "invalid_dpop_proof"},
					{"proof of another key", "DPoP " + access, []string{other.proof(t, "GET", userinfoURL, access)}, "invalid_token"},
				} {
					a := dpopCall(t, http.MethodGet, userinfoURL, nil, tc.authorization, nil, tc.proofs...)
					ch := a.dpopChallenge()
					if a.status != http.StatusUnauthorized || !strings.Contains(ch, `error="`+tc.challengeError+`"`) || !strings.Contains(ch, `algs="`) {
						t.Errorf("userinfo %s = %d, WWW-Authenticate %q; want 401 and a DPoP challenge with error=%q and algs",
							tc.name, a.status, a.header.Values("WWW-Authenticate"), tc.challengeError)
					}
				}
				// The token once (RFC 6750 §2): also in the query is
				// invalid_request, in the DPoP scheme's challenge.
				if a := dpopCall(t, http.MethodGet, userinfoURL, url.Values{"access_token": {access}}, "DPoP "+access, nil,
					key.proof(t, "GET", userinfoURL, access)); a.status != http.StatusBadRequest ||
					!strings.Contains(a.dpopChallenge(), `error="invalid_request"`) || a.json["error"] != "invalid_request" {
					t.Errorf("userinfo with the token in the header and the query = %d %s, WWW-Authenticate %q; want 400 invalid_request in a DPoP challenge",
						a.status, a.raw, a.header.Values("WWW-Authenticate"))
				}
				if a := dpopCall(t, http.MethodGet, userinfoURL, nil, "", nil); a.status != http.StatusUnauthorized ||
					!strings.Contains(a.dpopChallenge(), `algs="`) || a.header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("userinfo without a token = %d, WWW-Authenticate %q; want Bearer and DPoP algs", a.status, a.header.Values("WWW-Authenticate"))
				}

				// The refresh token is bound to the key too (§5).
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {rp.client.ID}}
				wantOAuthError(t, "refresh without a proof", dpopCall(t, http.MethodPost, tokenURL, form, "", nil),
					http.StatusBadRequest, "invalid_grant", "invalid_dpop_proof")
				wantOAuthError(t, "refresh with a proof of another key",
					dpopCall(t, http.MethodPost, tokenURL, form, "", nil, other.proof(t, "POST", tokenURL, "")),
					http.StatusBadRequest, "invalid_grant", "invalid_dpop_proof")
				a = dpopCall(t, http.MethodPost, tokenURL, form, "", nil, key.proof(t, "POST", tokenURL, ""))
				access2, refresh2 := wantTokens(t, "refresh with a proof of the key", a, "DPoP")
				rp.remember(access2, refresh2)
				if got, want := cnfJKT(t, access2), key.thumbprint(t); got != want {
					t.Errorf("refreshed cnf.jkt = %q, want %q", got, want)
				}
				form.Set("refresh_token", refresh2)
				wantOAuthError(t, "second refresh without a proof", dpopCall(t, http.MethodPost, tokenURL, form, "", nil),
					http.StatusBadRequest, "invalid_grant", "invalid_dpop_proof")
			})

			t.Run("dpop_jkt at authorize", func(t *testing.T) {
				rp := newRelyingParty(t, g, "--public")
				key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
				b := newBrowser(t)
				// One code for the three: those refused leave it unused.
				f := rp.newFlow(oauth2.SetAuthURLParam("dpop_jkt", key.thumbprint(t)))
				code := rp.signIn(b, f, alice, alicePass)
				exchange := func(proofs ...string) dpopAnswer {
					return dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
						"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}, "client_id": {rp.client.ID}}, "", nil, proofs...)
				}
				wantOAuthError(t, "a bound code without a proof", exchange(), http.StatusBadRequest, "invalid_grant", "invalid_dpop_proof")
				wantOAuthError(t, "a bound code with a proof of another key", exchange(other.proof(t, "POST", tokenURL, "")),
					http.StatusBadRequest, "invalid_grant", "invalid_dpop_proof")
				access, refresh := wantTokens(t, "a bound code with a proof of its key", exchange(key.proof(t, "POST", tokenURL, "")), "DPoP")
				rp.remember(access, refresh)

				f = rp.newFlow(oauth2.SetAuthURLParam("dpop_jkt", "not-a-thumbprint"))
				if page, at := b.follow(f.authURL, rpRedirect); page != nil || !strings.Contains(at, "error=invalid_request") {
					t.Errorf("a malformed dpop_jkt landed on %s, want an invalid_request redirect", at)
				}
			})

			t.Run("confidential client", func(t *testing.T) {
				rp := newRelyingParty(t, g)
				key := newDPoPKey(t, jose.PS256)
				f := rp.newFlow()
				code := rp.signIn(newBrowser(t), f, alice, alicePass)
				a := dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}, "", &rp.client,
					key.proof(t, "POST", tokenURL, ""))
				access, refresh := wantTokens(t, "code exchange with a proof", a, "DPoP")
				rp.remember(access, refresh)
				in := rp.introspect(access)
				cnf, _ := in["cnf"].(map[string]any)
				if in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != key.thumbprint(t) {
					t.Errorf("introspection of a bound opaque token = %v, want active, token_type DPoP, cnf.jkt %s", in, key.thumbprint(t))
				}
				if a := dpopCall(t, http.MethodGet, userinfoURL, nil, "DPoP "+access, nil, key.proof(t, "GET", userinfoURL, access)); a.status != http.StatusOK {
					t.Errorf("userinfo with DPoP = %d %s", a.status, a.raw)
				}
				if a := dpopCall(t, http.MethodPost, userinfoURL, url.Values{"access_token": {access}}, "", nil); a.status != http.StatusUnauthorized {
					t.Errorf("userinfo with the bound token in the body = %d %s, want 401", a.status, a.raw)
				}
				// A confidential client's refresh token is bound by its
				// credentials, not to the key; without a proof the new
				// access token is a bearer token.
				a = dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "", &rp.client)
				bearer, refresh2 := wantTokens(t, "refresh without a proof", a, "Bearer")
				rp.remember(bearer, refresh2)
				if in := rp.introspect(bearer); in["token_type"] != "Bearer" || in["cnf"] != nil {
					t.Errorf("introspection of the refreshed bearer token = %v", in)
				}
			})

			t.Run("proofs refused at the token endpoint", func(t *testing.T) {
				svc := g.createClient("--name", "Service", "--grant", "client_credentials")
				key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
				form := url.Values{"grant_type": {"client_credentials"}}
				claims := func(k string, v any) map[string]any {
					c := proofClaims("POST", tokenURL, "")
					if v == nil {
						delete(c, k)
					} else {
						c[k] = v
					}
					return c
				}
				private, err := json.Marshal(jose.JSONWebKey{Key: key.priv})
				if err != nil || !strings.Contains(string(private), `"d":`) {
					t.Fatalf("private JWK %s: %v", private, err)
				}
				for _, tc := range []struct {
					name   string
					proofs []string
				}{
					{"htm GET", []string{key.sign(t, claims("htm", "GET"), "dpop+jwt", nil)}},
					{"htu of userinfo", []string{key.sign(t, claims("htu", userinfoURL), "dpop+jwt", nil)}},
					{"htu on another host", []string{key.sign(t, claims("htu", "https://rp.example.com/oauth/token"), "dpop+jwt", nil)}},
					{"iat 5 minutes ago", []string{key.sign(t, claims("iat", time.Now().Add(-5*time.Minute).Unix()), "dpop+jwt", nil)}},
					{"iat 5 minutes ahead", []string{key.sign(t, claims("iat", time.Now().Add(5*time.Minute).Unix()), "dpop+jwt", nil)}},
					{"no iat", []string{key.sign(t, claims("iat", nil), "dpop+jwt", nil)}},
					{"no jti", []string{key.sign(t, claims("jti", nil), "dpop+jwt", nil)}},
					{"typ JWT", []string{key.sign(t, claims("", nil), "JWT", nil)}},
					{"alg none", []string{key.unsignedProof(t, claims("", nil))}},
					{"alg HS256", []string{hmacProof(t, claims("", nil))}},
					{"private key in jwk", []string{key.sign(t, claims("", nil), "dpop+jwt", json.RawMessage(private))}},
					{"jwk of another key", []string{key.sign(t, claims("", nil), "dpop+jwt", jose.JSONWebKey{Key: other.priv.Public()})}},
					{"two DPoP headers", []string{key.proof(t, "POST", tokenURL, ""), key.proof(t, "POST", tokenURL, "")}},
					{"not a JWT", []string{"not-a-proof"}},
				} {
					a := dpopCall(t, http.MethodPost, tokenURL, form, "", &svc, tc.proofs...)
					if a.status != http.StatusBadRequest || a.json["error"] != "invalid_dpop_proof" {
						t.Errorf("%s: %d %s, want 400 invalid_dpop_proof", tc.name, a.status, a.raw)
					}
				}

				// A valid proof, once.
				proof := key.proof(t, "POST", tokenURL, "")
				access, _ := wantTokens(t, "client_credentials with a proof", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc, proof), "DPoP")
				wantOAuthError(t, "the same proof again", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc, proof),
					http.StatusBadRequest, "invalid_dpop_proof")
				a := dpopCall(t, http.MethodPost, g.base+"/oauth/introspect", url.Values{"token": {access}}, "", &svc)
				if cnf, _ := a.json["cnf"].(map[string]any); a.json["token_type"] != "DPoP" || cnf["jkt"] != key.thumbprint(t) {
					t.Errorf("introspection = %s", a.raw)
				}

				// One proof, 20 requests at once: one token at most.
				proof = key.proof(t, "POST", tokenURL, "")
				if ok := parallelTokenRequests(t, []string{tokenURL}, form, &svc, proof, 20); ok != 1 {
					t.Errorf("%d of 20 parallel requests with one proof got a token, want 1", ok)
				}
			})

			t.Run("JWT client_credentials token", func(t *testing.T) {
				svc := g.createClient("--name", "JWT service", "--grant", "client_credentials", "--access-token-format", "jwt")
				key := newDPoPKey(t, jose.EdDSA)
				a := dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"client_credentials"}}, "", &svc,
					key.proof(t, "POST", tokenURL, ""))
				access, _ := wantTokens(t, "client_credentials with a proof", a, "DPoP")
				parseAccessToken(t, g, access)
				if got, want := cnfJKT(t, access), key.thumbprint(t); got != want {
					t.Errorf("cnf.jkt = %q, want %q", got, want)
				}
				in := dpopCall(t, http.MethodPost, g.base+"/oauth/introspect", url.Values{"token": {access}}, "", &svc)
				if cnf, _ := in.json["cnf"].(map[string]any); in.json["active"] != true || in.json["token_type"] != "DPoP" || cnf["jkt"] != key.thumbprint(t) {
					t.Errorf("introspection = %s", in.raw)
				}
			})

			t.Run("client that requires DPoP", func(t *testing.T) {
				svc := g.createClient("--name", "Bound", "--grant", "client_credentials", "--dpop")
				form := url.Values{"grant_type": {"client_credentials"}}
				wantOAuthError(t, "no proof", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc),
					http.StatusBadRequest, "invalid_dpop_proof", "invalid_request")
				key := newDPoPKey(t, jose.EdDSA)
				wantTokens(t, "with a proof", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc, key.proof(t, "POST", tokenURL, "")), "DPoP")
				if out := g.cli("", "clients", "show", svc.ID); !regexp.MustCompile(`(?m)^dpop-bound access tokens:\s+true$`).MatchString(out) {
					t.Errorf("clients show:\n%s", out)
				}
				g.cli("", "clients", "update", svc.ID, "--dpop=false")
				wantTokens(t, "no proof once DPoP is off", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc), "Bearer")
				g.cli("", "clients", "update", "--dpop=true", svc.ID)
				wantOAuthError(t, "no proof once DPoP is on again", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc),
					http.StatusBadRequest, "invalid_dpop_proof", "invalid_request")
			})

			t.Run("admin API", func(t *testing.T) {
				ops := g.createClient("--name", "Operations", "--admin")
				token := adminToken(t, g, ops)
				r := adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Bound app","redirect_uris":["https://app.example.com/cb"],"dpop_bound_access_tokens":true}`)
				var c struct {
					ID   string `json:"client_id"`
					DPoP *bool  `json:"dpop_bound_access_tokens"`
				}
				r.json(t, &c)
				if r.status != http.StatusCreated || c.DPoP == nil || !*c.DPoP {
					t.Fatalf("POST /api/clients with dpop_bound_access_tokens = %d %s", r.status, r.body)
				}
				r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings", `{"dpop_bound_access_tokens":false}`)
				c.DPoP = nil
				r.json(t, &c)
				if r.status != http.StatusOK || c.DPoP == nil || *c.DPoP {
					t.Errorf("PATCH settings dpop false = %d %s", r.status, r.body)
				}
				adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings", `{}`).wantError(t, http.StatusBadRequest, "invalid_request")
				adminCall(t, g, token, http.MethodPatch, "/api/clients/"+ops.ID+"/settings", `{"dpop_bound_access_tokens":true}`).wantError(t, http.StatusBadRequest, "invalid_request")
				if _, _, err := g.tryCLI("", "clients", "create", "--name", "X", "--admin", "--dpop"); err == nil {
					t.Error("clients create --admin --dpop succeeded")
				}

				// The admin API takes bearer tokens: a DPoP-bound admin
				// token is refused.
				key := newDPoPKey(t, jose.ES256)
				a := dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"gatehouse:admin"}},
					"", &ops, key.proof(t, "POST", tokenURL, ""))
				bound, _ := wantTokens(t, "an admin token with a proof", a, "DPoP")
				if r := adminCall(t, g, bound, http.MethodGet, "/api/clients", ""); r.status != http.StatusUnauthorized {
					t.Errorf("admin API with a DPoP-bound token as bearer = %d, want 401", r.status)
				}
			})

			t.Run("client without DPoP", func(t *testing.T) {
				rp := newRelyingParty(t, g)
				f := rp.newFlow()
				tok, idt, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
				if tok.TokenType != "Bearer" {
					t.Errorf("token_type = %q, want Bearer", tok.TokenType)
				}
				a := dpopCall(t, http.MethodGet, userinfoURL, nil, "Bearer "+tok.AccessToken, nil)
				if a.status != http.StatusOK || a.json["sub"] != idt.Subject {
					t.Errorf("userinfo with the bearer token = %d %s", a.status, a.raw)
				}
				if in := rp.introspect(tok.AccessToken); in["active"] != true || in["token_type"] != "Bearer" || in["cnf"] != nil {
					t.Errorf("introspection = %v, want active, Bearer, no cnf", in)
				}
				// An unbound token with the DPoP scheme: the proof binds
				// nothing, and the token is refused (RFC 9449 §7.1).
				key := newDPoPKey(t, jose.ES256)
				a = dpopCall(t, http.MethodGet, userinfoURL, nil, "DPoP "+tok.AccessToken, nil, key.proof(t, "GET", userinfoURL, tok.AccessToken))
				if a.status != http.StatusUnauthorized || !strings.Contains(a.dpopChallenge(), `error="invalid_token"`) {
					t.Errorf("userinfo with an unbound token as DPoP = %d %q", a.status, a.header.Values("WWW-Authenticate"))
				}
			})

			// Neither proofs nor tokens reach the log: every JWS (a proof,
			// a JWT access token, an ID token) starts with eyJ, the
			// base64url of '{"'.
			if logs := g.output(); strings.Contains(logs, "eyJ") {
				i := strings.Index(logs, "eyJ")
				t.Errorf("the log contains a JWS: …%.60s…", logs[max(0, i-40):])
			}
		})
	}
}

// parallelTokenRequests sends n client_credentials requests with one proof
// at once, spread over the servers at urls, and returns how many got a
// token; every other one must be refused as invalid_dpop_proof.
func parallelTokenRequests(t *testing.T, urls []string, form url.Values, c *client, proof string, n int) int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      int
		answers []dpopAnswer
	)
	for i := range n {
		wg.Go(func() {
			a := dpopCall(t, http.MethodPost, urls[i%len(urls)], form, "", c, proof)
			mu.Lock()
			defer mu.Unlock()
			if a.status == http.StatusOK {
				ok++
			} else {
				answers = append(answers, a)
			}
		})
	}
	wg.Wait()
	for _, a := range answers {
		if a.status != http.StatusBadRequest || a.json["error"] != "invalid_dpop_proof" {
			t.Errorf("a parallel request with a used proof = %d %s, want 400 invalid_dpop_proof", a.status, a.raw)
		}
	}
	return ok
}

// TestDPoPReplicas checks that a proof used at one replica is refused at
// the other: the jti is remembered in the database.
func TestDPoPReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	svc := a.createClient("--name", "Service", "--grant", "client_credentials")
	tokenURL := a.base + "/oauth/token" // the issuer's: both replicas answer for it
	form := url.Values{"grant_type": {"client_credentials"}}
	key := newDPoPKey(t, jose.ES256)

	proof := key.proof(t, "POST", tokenURL, "")
	wantTokens(t, "A with a proof", dpopCall(t, http.MethodPost, tokenURL, form, "", &svc, proof), "DPoP")
	wantOAuthError(t, "B with the same proof", dpopCall(t, http.MethodPost, b.base+"/oauth/token", form, "", &svc, proof),
		http.StatusBadRequest, "invalid_dpop_proof")

	proof = key.proof(t, "POST", tokenURL, "")
	if ok := parallelTokenRequests(t, []string{tokenURL, b.base + "/oauth/token"}, form, &svc, proof, 20); ok != 1 {
		t.Errorf("%d of 20 parallel requests with one proof, across two replicas, got a token; want 1", ok)
	}
}

// TestDPoPPushedRequest: a DPoP proof sent with a pushed authorization
// request binds the code to its key, as dpop_jkt would (RFC 9449 §10.1),
// and an invalid proof, or a dpop_jkt of another key beside it, is refused.
func TestDPoPPushedRequest(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	g.createUser(alice, "Alice Liddell", alicePass)
	rp := newRelyingParty(t, g)
	parURL, tokenURL := g.base+"/oauth/par", g.base+"/oauth/token"
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	push := func(t *testing.T, f *flow, extra url.Values, proofs ...string) dpopAnswer {
		t.Helper()
		form := parFlowParams(t, f)
		for k, v := range extra {
			form[k] = v
		}
		return dpopCall(t, http.MethodPost, parURL, form, "", &rp.client, proofs...)
	}
	for _, tc := range []struct {
		name   string
		extra  url.Values
		proofs func(t *testing.T) []string
	}{
		{"a malformed proof", nil, func(*testing.T) []string { return []string{"not-a-jwt"} }},
		{"a proof for the token endpoint", nil, func(t *testing.T) []string { return []string{key.proof(t, "POST", tokenURL, "")} }},
		{"two proofs", nil, func(t *testing.T) []string {
			return []string{key.proof(t, "POST", parURL, ""), key.proof(t, "POST", parURL, "")}
		}},
		{"a dpop_jkt of another key", url.Values{"dpop_jkt": {other.thumbprint(t)}}, func(t *testing.T) []string {
			return []string{key.proof(t, "POST", parURL, "")}
		}},
	} {
		if a := push(t, rp.newFlow(), tc.extra, tc.proofs(t)...); a.status != http.StatusBadRequest || a.json["error"] != "invalid_dpop_proof" {
			t.Errorf("PAR with %s = %d %s, want 400 invalid_dpop_proof", tc.name, a.status, a.raw)
		}
	}
	if a := push(t, rp.newFlow(), url.Values{"dpop_jkt": {"short"}}); a.status != http.StatusBadRequest || a.json["error"] != "invalid_request" {
		t.Errorf("PAR with a malformed dpop_jkt = %d %s, want 400 invalid_request", a.status, a.raw)
	}
	proof := key.proof(t, "POST", parURL, "")
	if a := push(t, rp.newFlow(), nil, proof); a.status != http.StatusCreated {
		t.Fatalf("PAR with a proof = %d %s", a.status, a.raw)
	}
	if a := push(t, rp.newFlow(), nil, proof); a.status != http.StatusBadRequest || a.json["error"] != "invalid_dpop_proof" {
		t.Errorf("PAR with a replayed proof = %d %s, want 400 invalid_dpop_proof", a.status, a.raw)
	}

	// The code of a request pushed with a proof needs a proof of that key.
	signIn := func(t *testing.T) (*flow, string) {
		t.Helper()
		f := rp.newFlow()
		a := push(t, f, nil, key.proof(t, "POST", parURL, ""))
		uri, _ := a.json["request_uri"].(string)
		if a.status != http.StatusCreated || uri == "" {
			t.Fatalf("PAR = %d %s", a.status, a.raw)
		}
		f.authURL = parAuthorizeURL(g, rp.client.ID, uri, nil)
		return f, rp.signIn(newBrowser(t), f, alice, alicePass)
	}
	exchange := func(f *flow, code string, proofs ...string) dpopAnswer {
		return dpopCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}, "", &rp.client, proofs...)
	}
	f, code := signIn(t)
	if a := exchange(f, code); a.status == http.StatusOK {
		t.Errorf("a code pushed with a DPoP proof was exchanged without one: token_type %v", a.json["token_type"])
	}
	f, code = signIn(t)
	if a := exchange(f, code, other.proof(t, "POST", tokenURL, "")); a.status == http.StatusOK {
		t.Errorf("a code pushed with a DPoP proof was exchanged with a proof of another key")
	}
	f, code = signIn(t)
	a := exchange(f, code, key.proof(t, "POST", tokenURL, ""))
	if a.status != http.StatusOK || a.json["token_type"] != "DPoP" {
		t.Fatalf("the exchange with a proof of the pushed key = %d %s, want a DPoP token", a.status, a.raw)
	}
	at, _ := a.json["access_token"].(string)
	rt, _ := a.json["refresh_token"].(string)
	rp.remember(code, at, rt)
}
