package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login"
)

// TestClientDisable: a disabled client is refused at the token endpoint
// and at /authorize as if it did not exist, its access tokens stop
// working at once, and enabling it again restores it; the built-in account
// client cannot be disabled.
func TestClientDisable(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			svc := g.createClient("--name", "Service", "--grant", "client_credentials")
			app := g.createClient("--name", "App", "--redirect-uri", biLocalCB)

			status, tok := clientCredentials(t, g, svc, "")
			access, _ := tok["access_token"].(string)
			if status != http.StatusOK || access == "" {
				t.Fatalf("client_credentials before = %d %v", status, tok)
			}

			if out := g.cli("", "clients", "disable", svc.ID); !strings.Contains(out, "disabled client "+svc.ID) {
				t.Errorf("clients disable printed %q", out)
			}
			g.cli("", "clients", "disable", app.ID)
			if out := g.cli("", "clients", "show", svc.ID); !strings.Contains(out, "disabled:") || !strings.Contains(out, "true") {
				t.Errorf("clients show of a disabled client:\n%s", out)
			}
			if status, tok := clientCredentials(t, g, svc, ""); status != http.StatusUnauthorized || tok["error"] != "invalid_client" {
				t.Errorf("client_credentials of a disabled client = %d %v, want 401 invalid_client", status, tok)
			}
			// Its access token no longer opens userinfo-like checks: the
			// introspection of it by another client says inactive.
			intro := g.createClient("--name", "Resource server", "--grant", "client_credentials")
			if status, body := introspect(t, g, intro, access); status != http.StatusOK || strings.Contains(body, `"active":true`) {
				t.Errorf("introspection of the disabled client's token = %d %s, want inactive", status, body)
			}
			// /authorize refuses the disabled app with an error page, never
			// the login or a redirect to it.
			_, challenge := pkce()
			r := newBrowser(t).get(biAuthorizeURL(g, biAuthQuery(app.ID, biLocalCB, "s1", challenge)))
			if r.StatusCode < 400 || strings.Contains(r.Header.Get("Location"), "/login") {
				t.Errorf("/authorize of a disabled client = %d %q, want an error page", r.StatusCode, r.Header.Get("Location"))
			}

			g.cli("", "clients", "enable", svc.ID)
			g.cli("", "clients", "enable", app.ID)
			if status, tok := clientCredentials(t, g, svc, ""); status != http.StatusOK {
				t.Errorf("client_credentials after enable = %d %v", status, tok)
			}
			if r := newBrowser(t).get(biAuthorizeURL(g, biAuthQuery(app.ID, biLocalCB, "s2", challenge))); r.StatusCode >= 400 {
				t.Errorf("/authorize after enable = %d", r.StatusCode)
			}
			if _, errOut, err := g.tryCLI("", "clients", "disable", login.AccountClientID); err == nil || !strings.Contains(errOut, "built in") {
				t.Errorf("clients disable %s: %v %s, want refused", login.AccountClientID, err, errOut)
			}
			if out := g.cli("", "audit", "--type", "client.disabled"); strings.Count(out, "client.disabled") < 2 {
				t.Errorf("audit lacks client.disabled:\n%s", out)
			}
		})
	}
}

// TestClientDisableAdminAPI: POST /api/clients/{id}/disable and enable do
// what the CLI's clients disable and enable do, answer the client as the
// document describes it, and refuse the built-in account client with 409.
// The server that answers the call has forgotten the client before it
// answers: no wait for the cache's notification.
func TestClientDisableAdminAPI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			ops := g.createClient("--name", "Operations", "--admin")
			svc := g.createClient("--name", "Service", "--grant", "client_credentials")
			token := adminToken(t, g, ops)

			r := adminCall(t, g, token, http.MethodPost, "/api/clients/"+svc.ID+"/disable", "")
			var view admin.ClientView
			r.json(t, &view)
			if r.status != http.StatusOK || !view.Disabled || view.ID != svc.ID {
				t.Fatalf("disable = %d %s, want 200 and the client disabled", r.status, r.body)
			}
			if status, tok := clientCredentials(t, g, svc, ""); status != http.StatusUnauthorized || tok["error"] != "invalid_client" {
				t.Errorf("client_credentials after an API disable = %d %v, want 401 invalid_client", status, tok)
			}
			if out := g.cli("", "audit", "--type", "client.disabled"); !strings.Contains(out, svc.ID) {
				t.Errorf("audit lacks the API's client.disabled:\n%s", out)
			}

			r = adminCall(t, g, token, http.MethodPost, "/api/clients/"+svc.ID+"/enable", "")
			view = admin.ClientView{}
			r.json(t, &view)
			if r.status != http.StatusOK || view.Disabled {
				t.Fatalf("enable = %d %s, want 200 and the client enabled", r.status, r.body)
			}
			if status, tok := clientCredentials(t, g, svc, ""); status != http.StatusOK {
				t.Errorf("client_credentials after an API enable = %d %v", status, tok)
			}

			adminCall(t, g, token, http.MethodPost, "/api/clients/"+login.AccountClientID+"/disable", "").wantError(t, http.StatusConflict, "conflict")
			adminCall(t, g, token, http.MethodPost, "/api/clients/no-such-client/disable", "").wantError(t, http.StatusNotFound, "not_found")
			adminCall(t, g, "", http.MethodPost, "/api/clients/"+svc.ID+"/disable", "").wantError(t, http.StatusUnauthorized, "unauthorized")
		})
	}
}

// introspect asks the introspection endpoint about token as client c and
// returns the status and the body.
func introspect(t *testing.T, g *gatehouse, c client, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.base+"/oauth/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
