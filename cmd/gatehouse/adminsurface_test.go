package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminConsoleCrossOrigin: every form of the admin console refuses a
// cross-origin submission (Sec-Fetch-Site, or an Origin of another host)
// before it looks at the session, on top of each form's CSRF token.
func TestAdminConsoleCrossOrigin(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	paths := []string{"/admin/clients", "/admin/clients/x/uris", "/admin/clients/x/settings", "/admin/clients/x/secret",
		"/admin/clients/x/disable", "/admin/clients/x/enable", "/admin/clients/x/delete", "/admin/users",
		"/admin/users/x/disable", "/admin/users/x/password-link", "/admin/blocks/clear"}
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusUnauthorized, "Not signed in"},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, "Cross-origin"},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden, "Cross-origin"},
		{"another origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "Cross-origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range paths {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.base+p, strings.NewReader("csrf=x&name=y"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
					t.Errorf("POST %s = %d, want %d with %q", p, resp.StatusCode, tc.status, tc.body)
				}
			}
		})
	}
}

// TestAdminTokenLifecycle: an admin token stops working at once when it
// is revoked, when its client is disabled or deleted; a plain client's
// JWT access token is no admin token.
func TestAdminTokenLifecycle(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	ops := g.createClient("--name", "Operations", "--admin")
	jwtApp := g.createClient("--name", "Service", "--grant", "client_credentials", "--access-token-format", "jwt")

	status, out := clientCredentials(t, g, jwtApp, "")
	jwt, _ := out["access_token"].(string)
	if status != http.StatusOK || strings.Count(jwt, ".") != 2 {
		t.Fatalf("client_credentials of a jwt client = %d %v", status, out)
	}
	adminCall(t, g, jwt, http.MethodGet, "/api/clients", "").wantError(t, http.StatusUnauthorized, "invalid_token")

	token := adminToken(t, g, ops)
	if r := adminCall(t, g, token, http.MethodGet, "/api/clients", ""); r.status != http.StatusOK {
		t.Fatalf("admin token = %d", r.status)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, g.base+"/revoke", strings.NewReader("token="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ops.ID, ops.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	adminCall(t, g, token, http.MethodGet, "/api/clients", "").wantError(t, http.StatusUnauthorized, "invalid_token")

	token = adminToken(t, g, ops)
	g.cli("", "clients", "disable", ops.ID)
	adminCall(t, g, token, http.MethodGet, "/api/clients", "").wantError(t, http.StatusUnauthorized, "invalid_token")
	g.cli("", "clients", "enable", ops.ID)
	adminCall(t, g, token, http.MethodGet, "/api/clients", "").wantError(t, http.StatusUnauthorized, "invalid_token")

	token = adminToken(t, g, ops)
	g.cli("", "clients", "delete", ops.ID)
	adminCall(t, g, token, http.MethodGet, "/api/clients", "").wantError(t, http.StatusUnauthorized, "invalid_token")
}
