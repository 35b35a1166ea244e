package main

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

// TestClientGrantTypes checks that a client uses only the grants
// registered for it (RFC 7591 §2 grant_types), with the real relying
// party: a code-flow client gets no client_credentials token, a
// client_credentials client starts no sign-in (unauthorized_client at its
// redirect URI, RFC 6749 §4.1.2.1, and at the pushed request endpoint) and
// has its code and refresh grants refused (§5.2), a client without
// refresh_token gets no refresh token, and one given all three uses all
// three. A public client cannot be given client_credentials, and the CLI
// and the admin API show each client's grants.
func TestClientGrantTypes(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			token := adminToken(t, g, g.createClient("--name", "Operations", "--admin"))

			// refreshGrant is a refresh_token request of rp.
			refreshGrant := func(rp *relyingParty, refresh string) (int, map[string]any) {
				return rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
			}
			wantUnauthorized := func(t *testing.T, what string, status int, out map[string]any) {
				t.Helper()
				if status != http.StatusBadRequest || out["error"] != "unauthorized_client" || out["access_token"] != nil {
					t.Errorf("%s = %d %v, want 400 unauthorized_client", what, status, out)
				}
			}
			signIn := func(t *testing.T, rp *relyingParty) *oauth2.Token {
				t.Helper()
				f := rp.newFlow()
				tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
				return tok
			}

			t.Run("default: code flow and refresh tokens", func(t *testing.T) {
				web := g.createClient("--name", "Web", "--redirect-uri", rpRedirect)
				if out := g.cli("", "clients", "show", web.ID); !regexp.MustCompile(`grant types:\s+authorization_code refresh_token\n`).MatchString(out) {
					t.Errorf("clients show of a client created without --grant-type:\n%s", out)
				}
				status, out := clientCredentials(t, g, web, "")
				wantUnauthorized(t, "client_credentials of a default client", status, out)
			})

			t.Run("code flow only", func(t *testing.T) {
				rp := newRelyingParty(t, g, "--grant-type", "authorization_code,refresh_token")
				tok := signIn(t, rp)
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token for offline_access")
				}
				status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"}})
				wantUnauthorized(t, "client_credentials of a code-flow client", status, out)
				if status, out := refreshGrant(rp, tok.RefreshToken); status != http.StatusOK || out["refresh_token"] == nil {
					t.Errorf("refresh of a code-flow client = %d %v, want a new refresh token", status, out)
				}
			})

			t.Run("client_credentials only", func(t *testing.T) {
				// Registered with a redirect URI, so that its refused
				// sign-in goes back there.
				rp := newRelyingParty(t, g, "--grant-type", "client_credentials")
				if status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK || out["access_token"] == nil {
					t.Fatalf("client_credentials = %d %v", status, out)
				}
				f := rp.newFlow()
				resp := newBrowser(t).get(f.authURL)
				loc, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), rpRedirect+"?") {
					t.Fatalf("/authorize of a client_credentials client = %d to %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), rpRedirect)
				}
				if q := loc.Query(); q.Get("error") != "unauthorized_client" || q.Get("state") != f.state || q.Get("iss") != g.base || q.Has("code") {
					t.Errorf("/authorize of a client_credentials client redirected with %s, want error=unauthorized_client, the state and iss", loc.RawQuery)
				}
				par := parPush(t, g, parFlowParams(t, f), rp.client.ID, rp.client.Secret)
				if par.status != http.StatusBadRequest || par.body["error"] != "unauthorized_client" || par.body["request_uri"] != nil {
					t.Errorf("POST /oauth/par of a client_credentials client = %d %v, want 400 unauthorized_client", par.status, par.body)
				}
				status, out := refreshGrant(rp, "a-refresh-token-it-cannot-have")
				wantUnauthorized(t, "refresh_token grant of a client_credentials client", status, out)
			})

			t.Run("no refresh_token", func(t *testing.T) {
				rp := newRelyingParty(t, g, "--grant-type", "authorization_code")
				tok := signIn(t, rp) // offline_access asked for
				if tok.RefreshToken != "" {
					t.Errorf("a client without refresh_token got a refresh token")
				}
				if in := rp.introspect(tok.AccessToken); in["active"] != true {
					t.Errorf("introspection of its access token = %v", in)
				}
			})

			t.Run("all three", func(t *testing.T) {
				rp := newRelyingParty(t, g, "--grant-type", "authorization_code", "--grant-type", "refresh_token", "--grant-type", "client_credentials")
				tok := signIn(t, rp)
				if status, out := refreshGrant(rp, tok.RefreshToken); status != http.StatusOK || out["refresh_token"] == nil {
					t.Errorf("refresh = %d %v", status, out)
				}
				if status, out := rp.tokenRequest(url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK || out["access_token"] == nil {
					t.Errorf("client_credentials = %d %v", status, out)
				}
			})

			t.Run("grants taken away", func(t *testing.T) {
				rp := newRelyingParty(t, g)
				f := rp.newFlow()
				code := rp.signIn(newBrowser(t), f, alice, alicePass)
				exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}

				// Down to client_credentials: the code in hand is refused,
				// and left unused.
				g.cli("", "clients", "update", rp.client.ID, "--grant-type", "client_credentials")
				waitClientChange(t, g, func() bool {
					_, out := refreshGrant(rp, "x")
					return out["error"] == "unauthorized_client"
				})
				status, out := rp.tokenRequest(exchange)
				wantUnauthorized(t, "code exchange of a client no longer allowed authorization_code", status, out)

				// Back to all three: the same code works.
				g.cli("", "clients", "update", rp.client.ID, "--grant-type", allGrants)
				waitClientChange(t, g, func() bool {
					_, out := refreshGrant(rp, "x")
					return out["error"] == "invalid_grant"
				})
				status, out = rp.tokenRequest(exchange)
				refresh, _ := out["refresh_token"].(string)
				if status != http.StatusOK || refresh == "" {
					t.Fatalf("code exchange after the grant was given back = %d %v, want tokens", status, out)
				}
				rp.remember(refresh)

				// Without refresh_token: its refresh token is refused.
				g.cli("", "clients", "update", rp.client.ID, "--grant-type", "authorization_code,client_credentials")
				waitClientChange(t, g, func() bool {
					_, out := refreshGrant(rp, "x")
					return out["error"] == "unauthorized_client"
				})
				status, out = refreshGrant(rp, refresh)
				wantUnauthorized(t, "refresh of a client no longer allowed refresh_token", status, out)
			})

			t.Run("public client and client_credentials", func(t *testing.T) {
				const want = "a public client cannot use the client_credentials grant"
				_, errOut, err := g.tryCLI("", "clients", "create", "--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb",
					"--grant-type", "authorization_code,client_credentials")
				if err == nil || !strings.Contains(errOut, want) {
					t.Errorf("clients create --public --grant-type client_credentials: %v, stderr %q; want refused: %q", err, errOut, want)
				}
				r := adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Native","public":true,"redirect_uris":["com.example.app:/cb"],"grant_types":["authorization_code","client_credentials"]}`)
				r.wantError(t, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(r.body, want) {
					t.Errorf("POST /api/clients of a public client_credentials client: %s; want %q", r.body, want)
				}
				if out := g.cli("", "clients", "list"); strings.Contains(out, "Native") {
					t.Errorf("a refused client was registered:\n%s", out)
				}
			})

			t.Run("shown", func(t *testing.T) {
				m := g.createClient("--name", "Nightly export", "--grant-type", "client_credentials")
				if out := g.cli("", "clients", "show", m.ID); !regexp.MustCompile(`grant types:\s+client_credentials\n`).MatchString(out) {
					t.Errorf("clients show of a client_credentials client:\n%s", out)
				}
				list := g.cli("", "clients", "list")
				if !strings.Contains(list, "GRANT TYPES") || !regexp.MustCompile(regexp.QuoteMeta(m.ID)+`.*\sclient_credentials\s`).MatchString(list) {
					t.Errorf("clients list does not show the grant types:\n%s", list)
				}
				var v admin.ClientView
				adminCall(t, g, token, http.MethodGet, "/api/clients/"+m.ID, "").json(t, &v)
				if !slices.Equal(v.GrantTypes, []string{"client_credentials"}) {
					t.Errorf("GET /api/clients/%s: grant_types %q, want [client_credentials]", m.ID, v.GrantTypes)
				}
				// Created and changed through the admin API.
				r := adminCall(t, g, token, http.MethodPost, "/api/clients", `{"name":"Reports","redirect_uris":["https://reports.example.com/cb"]}`)
				var c admin.NewClientView
				r.json(t, &c)
				if r.status != http.StatusCreated || !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
					t.Errorf("POST /api/clients without grant_types = %d %s, want authorization_code and refresh_token", r.status, r.body)
				}
				r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings", `{"grant_types":["client_credentials","authorization_code"]}`)
				r.json(t, &v)
				if r.status != http.StatusOK || !slices.Equal(v.GrantTypes, []string{"authorization_code", "client_credentials"}) {
					t.Errorf("PATCH grant_types = %d %s", r.status, r.body)
				}
				if status, _ := clientCredentials(t, g, client{ID: c.ID, Secret: c.Secret}, ""); status != http.StatusOK {
					waitClientChange(t, g, func() bool {
						status, _ := clientCredentials(t, g, client{ID: c.ID, Secret: c.Secret}, "")
						return status == http.StatusOK
					})
				}
			})
		})
	}
}
