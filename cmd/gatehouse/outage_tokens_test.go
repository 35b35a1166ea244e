package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// TestOutageTokenEndpoints covers what an application does with tokens it
// already holds while PostgreSQL is unreachable: refresh, introspect,
// revoke and userinfo each answer 503 with an OAuth server_error, and
// nothing in the answer says the token is bad (no invalid_grant, no
// active:false, no WWW-Authenticate: Bearer error="invalid_token", which
// would make the application throw away a good token and sign its user
// out). The admin API answers 503 too. Once the database is back, the
// refresh token and the access token work: the outage consumed and
// revoked nothing. PostgreSQL only: SQLite lets readers through a writer's
// lock, so it has no such outage.
func TestOutageTokenEndpoints(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := newOutageProxy(t, target)
	u.Host = proxy.addr
	g := newGatehouse(t, u.String())
	g.start()
	rp := newRelyingParty(t, g)
	g.createUser(biEmail, "Alice", biPassword)
	adm := g.createClient("--name", "Admin", "--admin", "--grant", "client_credentials")
	adminTok := adminToken(t, g, adm)
	f := rp.newFlow()
	tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, biEmail, biPassword), f)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}

	userinfo := func() (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, g.base+"/userinfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	// post sends a client-authenticated form to path.
	post := func(path string, form url.Values) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(rp.client.ID), url.QueryEscape(rp.client.Secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}

	proxy.stop()
	t.Log("database unreachable")
	for _, tc := range []struct {
		name string
		call func() (int, http.Header, string)
	}{
		{"refresh", func() (int, http.Header, string) {
			return post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		}},
		{"introspect", func() (int, http.Header, string) {
			return post("/oauth/introspect", url.Values{"token": {tok.AccessToken}})
		}},
		{"revoke", func() (int, http.Header, string) {
			return post("/revoke", url.Values{"token": {tok.RefreshToken}})
		}},
		{"userinfo", userinfo},
	} {
		status, header, body := tc.call()
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || status != http.StatusServiceUnavailable ||
			m["error"] != "server_error" || m["error_description"] != op.UnavailableDescription {
			t.Errorf("%s during the outage = %d %s, want 503 with server_error", tc.name, status, body)
		}
		if header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: 503 without Retry-After", tc.name)
		}
		if v := header.Values("WWW-Authenticate"); len(v) > 0 {
			t.Errorf("%s during the outage: WWW-Authenticate %q: the application would drop a good token", tc.name, v)
		}
		biNoCrash(t, tc.name, body)
	}
	for _, path := range []string{"/api/users", "/api/clients", "/api/blocks"} {
		r := adminCall(t, g, adminTok, http.MethodGet, path, "")
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `"unavailable"`) {
			t.Errorf("admin GET %s during the outage = %d %s, want 503 unavailable", path, r.status, r.body)
		}
	}

	proxy.start()
	t.Log("database reachable again")
	waitReady(t, g, 15*time.Second)
	// Nothing was consumed or revoked: the access token still works, and
	// the refresh token is still the family's current one.
	if status, _, body := userinfo(); status != http.StatusOK {
		t.Errorf("userinfo after the outage = %d %s, want 200", status, body)
	}
	if active := rp.introspect(tok.AccessToken)["active"]; active != true {
		t.Errorf("the access token after the outage: active %v, want true", active)
	}
	status, m := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != http.StatusOK || m["access_token"] == nil {
		t.Errorf("refresh after the outage = %d %v, want 200 with new tokens", status, m)
	}
}
