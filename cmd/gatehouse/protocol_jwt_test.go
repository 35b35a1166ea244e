package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// atClaims are the claims of RFC 9068 §2.2 beyond the registered ones.
type atClaims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// parseAccessToken verifies raw as a resource server would, with go-jose
// and g's published keys: its signature, and that it is a JWT access token
// of RFC 9068 (header typ at+jwt, every claim of §2.2), issued by g and
// valid now. It returns the claims.
func parseAccessToken(t *testing.T, g *gatehouse, raw string) (jwt.Claims, atClaims) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("access token %.20s… is not a signed JWT: %v", raw, err)
	}
	h := tok.Headers[0]
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Errorf("access token header typ = %v, want at+jwt (RFC 9068 §2.1)", typ)
	}
	resp, err := http.Get(g.base + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/keys: %v", err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("access token kid %q: %d published keys", h.KeyID, len(keys))
	}
	var std jwt.Claims
	var extra atClaims
	if err := tok.Claims(keys[0].Key, &std, &extra); err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: g.base, Time: time.Now()}, time.Minute); err != nil {
		t.Errorf("access token claims: %v", err)
	}
	if std.Subject == "" || std.ID == "" || std.IssuedAt == nil || std.Expiry == nil || extra.ClientID == "" ||
		len(std.Audience) == 0 {
		t.Errorf("access token lacks a claim of RFC 9068 §2.2: %+v %+v", std, extra)
	}
	return std, extra
}

// TestJWTAccessTokenProfile checks JWT access tokens against RFC 9068 with
// an independent verifier: header typ at+jwt; iss, exp, aud, sub,
// client_id, iat, jti and scope; aud the resource server, named by the
// RFC 8707 resource parameter of the token request or else the configured
// default audience (the issuer when none is set), never the client. Such
// tokens still work at userinfo, introspection and revocation, and the ID
// token's at_hash is the JWT's.
func TestJWTAccessTokenProfile(t *testing.T) {
	t.Parallel()
	const api = "https://api.example.com/orders"
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g, "--access-token-format", "jwt", "--signing-alg", "ES256")

			t.Run("code flow", func(t *testing.T) {
				f := rp.newFlow()
				tok, idt, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
				std, extra := parseAccessToken(t, g, tok.AccessToken)
				if std.Subject != idt.Subject || extra.ClientID != rp.client.ID {
					t.Errorf("sub %q, client_id %q; want %q, %q", std.Subject, extra.ClientID, idt.Subject, rp.client.ID)
				}
				if !slices.Equal([]string(std.Audience), []string{g.base}) {
					t.Errorf("aud = %q, want the issuer %q (no resource, no default audience)", std.Audience, g.base)
				}
				scopes := strings.Fields(extra.Scope)
				slices.Sort(scopes)
				if want := []string{"email", "offline_access", "openid", "profile"}; !slices.Equal(scopes, want) {
					t.Errorf("scope = %q, want %v", extra.Scope, want)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("the ID token's at_hash does not match the access token: %v", err)
				}
				ui, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken, TokenType: "Bearer"}))
				if err != nil || ui.Subject != idt.Subject {
					t.Errorf("userinfo with the JWT = %+v, %v", ui, err)
				}
				in := rp.introspect(tok.AccessToken)
				if in["active"] != true || in["client_id"] != rp.client.ID || !slices.Contains(anyStrings(in["aud"]), g.base) {
					t.Errorf("introspection of the JWT = %v, want active, its client, aud %s", in, g.base)
				}
				rp.revokeToInactive(t, tok.AccessToken, "the JWT")

				// The refresh grant, for a resource server of its own.
				status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"},
					"refresh_token": {tok.RefreshToken}, "resource": {api}})
				raw, _ := out["access_token"].(string)
				if status != http.StatusOK || raw == "" {
					t.Fatalf("refresh with a resource = %d %v", status, out)
				}
				rp.remember(raw, out["refresh_token"].(string))
				if std, _ := parseAccessToken(t, g, raw); !slices.Equal([]string(std.Audience), []string{api}) {
					t.Errorf("refreshed aud = %q, want the resource %q", std.Audience, api)
				}
				if in := rp.introspect(raw); in["active"] != true || !slices.Contains(anyStrings(in["aud"]), api) {
					t.Errorf("introspection of the refreshed JWT = %v, want active, aud %s", in, api)
				}
			})

			t.Run("code exchange with a resource", func(t *testing.T) {
				f := rp.newFlow()
				code := rp.signIn(newBrowser(t), f, alice, alicePass)
				status, out := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}, "resource": {api}})
				raw, _ := out["access_token"].(string)
				if status != http.StatusOK || raw == "" {
					t.Fatalf("code exchange with a resource = %d %v", status, out)
				}
				rp.remember(raw)
				if std, _ := parseAccessToken(t, g, raw); !slices.Equal([]string(std.Audience), []string{api}) {
					t.Errorf("aud = %q, want the resource %q", std.Audience, api)
				}
			})

			t.Run("client_credentials", func(t *testing.T) {
				for _, tc := range []struct{ resource, aud string }{{"", g.base}, {api, api}} {
					form := url.Values{"grant_type": {"client_credentials"}}
					if tc.resource != "" {
						form.Set("resource", tc.resource)
					}
					status, out := rp.tokenRequest(form)
					raw, _ := out["access_token"].(string)
					if status != http.StatusOK || raw == "" {
						t.Fatalf("client_credentials, resource %q = %d %v", tc.resource, status, out)
					}
					rp.remember(raw)
					std, extra := parseAccessToken(t, g, raw)
					if !slices.Equal([]string(std.Audience), []string{tc.aud}) || std.Subject != rp.client.ID ||
						extra.ClientID != rp.client.ID {
						t.Errorf("resource %q: aud %q, sub %q, client_id %q; want aud %q and the client", tc.resource,
							std.Audience, std.Subject, extra.ClientID, tc.aud)
					}
					if in := rp.introspect(raw); in["active"] != true || !slices.Contains(anyStrings(in["aud"]), tc.aud) {
						t.Errorf("introspection = %v, want active, aud %s", in, tc.aud)
					}
					rp.revokeToInactive(t, raw, "the client_credentials JWT")
				}
			})

			t.Run("invalid_target", func(t *testing.T) {
				for _, resources := range [][]string{
					{"api/orders"},                      // relative
					{"https://api.example.com/#orders"}, // a fragment
					{"urn"},                             // not absolute
				} {
					status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "resource": resources})
					if status != http.StatusBadRequest || out["error"] != "invalid_target" {
						t.Errorf("resource %q = %d %v, want 400 invalid_target", resources, status, out)
					}
				}
				// Two resources: one token cannot serve both. A server that
				// refuses every repeated parameter says invalid_request.
				status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"},
					"resource": {api, "https://other.example.com"}})
				if status != http.StatusBadRequest || (out["error"] != "invalid_target" && out["error"] != "invalid_request") {
					t.Errorf("two resources = %d %v, want 400 invalid_target", status, out)
				}
			})
		})
	}

	t.Run("default audience", func(t *testing.T) {
		const def = "https://api.example.com"
		g := startGatehouse(t, "sqlite", "GATEHOUSE_TOKENS_DEFAULT_AUDIENCE="+def)
		c := g.createClient("--name", "Batch", "--redirect-uri", rpRedirect, "--access-token-format", "jwt", "--grant-type", allGrants)
		status, out := clientCredentials(t, g, c, "")
		raw, _ := out["access_token"].(string)
		if status != http.StatusOK || raw == "" {
			t.Fatalf("client_credentials = %d %v", status, out)
		}
		if std, _ := parseAccessToken(t, g, raw); !slices.Equal([]string(std.Audience), []string{def}) {
			t.Errorf("aud = %q, want the configured default audience %q", std.Audience, def)
		}

		// A default audience that is not an absolute URI is refused.
		cmd := exec.Command(binary, "clients", "list")
		cmd.Env = append(slices.Clone(g.env), "GATEHOUSE_TOKENS_DEFAULT_AUDIENCE=api.example.com")
		out2, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out2), "tokens.default_audience") {
			t.Errorf("a relative default audience: %v\n%s\nwant an error naming tokens.default_audience", err, out2)
		}
	})
}

// anyStrings returns v, a JSON string or list of strings, as a list.
func anyStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestDiscoveryAdvertisesOnlyOffered checks that the discovery document
// lists exactly the client authentication methods Gatehouse offers at each
// endpoint (op/clientauth.go), and the algorithms of client assertions it
// accepts: no "none" algorithm, no public client at introspection.
func TestDiscoveryAdvertisesOnlyOffered(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	resp, err := http.Get(g.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	all := []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
	algs := []string{"RS256", "PS256", "ES256", "EdDSA", "HS256", "HS384", "HS512"}
	for endpoint, methods := range map[string][]string{
		"token_endpoint":         all,
		"introspection_endpoint": all[:4],
		"revocation_endpoint":    all,
	} {
		if got := anyStrings(doc[endpoint+"_auth_methods_supported"]); !slices.Equal(got, methods) {
			t.Errorf("%s_auth_methods_supported = %v, want %v", endpoint, got, methods)
		}
		if got := anyStrings(doc[endpoint+"_auth_signing_alg_values_supported"]); !slices.Equal(got, algs) {
			t.Errorf("%s_auth_signing_alg_values_supported = %v, want %v", endpoint, got, algs)
		}
	}
}
