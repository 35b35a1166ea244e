package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkServeJSONEndpoints measures what the whole public handler
// (every middleware layer, the router and the provider) costs the calls
// resource servers make most, in process and on SQLite: introspection of a
// JWT and of an opaque access token. The bench command measures the same
// over HTTP; this one counts allocations and leaves out the network, so
// that a change to a layer shows.
func BenchmarkServeJSONEndpoints(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	vars := map[string]string{
		"GATEHOUSE_ISSUER":           "http://localhost:9",
		"GATEHOUSE_DATABASE_URL":     "sqlite:" + filepath.Join(dir, "gatehouse.db"),
		"GATEHOUSE_SECRETS_KEY_FILE": filepath.Join(dir, "secret.key"),
		"GATEHOUSE_ADMIN_ADDRESS":    "off",
		"GATEHOUSE_MAIL_OUTBOX_DIR":  filepath.Join(dir, "mail"),
	}
	env := &environ{stdin: strings.NewReader(""), stderr: io.Discard, getenv: func(k string) string { return vars[k] }}
	newClient := func(format string) client {
		var out bytes.Buffer
		env.stdout = &out
		if err := run(ctx, []string{"clients", "create", "--json", "--name", "API " + format,
			"--grant", "client_credentials", "--signing-alg", "ES256", "--access-token-format", format}, env); err != nil {
			b.Fatal(err)
		}
		var c client
		if err := json.Unmarshal(out.Bytes(), &c); err != nil {
			b.Fatalf("clients create printed %q: %v", out.String(), err)
		}
		return c
	}
	jwtClient, opaqueClient := newClient("jwt"), newClient("opaque")
	cfg, err := loadConfig("", env)
	if err != nil {
		b.Fatal(err)
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	srv, err := newServer(ctx, cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	post := func(path string, c client, form url.Values) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://localhost:9"+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		return r
	}
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	token := func(c client) string {
		w := serve(post("/oauth/token", c, url.Values{"grant_type": {"client_credentials"}}))
		var resp struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != http.StatusOK || err != nil {
			b.Fatalf("token: %d %s", w.Code, w.Body)
		}
		return resp.AccessToken
	}
	for _, bc := range []struct {
		name string
		c    client
	}{
		{"introspect JWT", jwtClient},
		{"introspect opaque", opaqueClient},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := url.Values{"token": {token(bc.c)}}.Encode()
			auth := "Basic " + basicAuth(bc.c)
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "http://localhost:9/oauth/introspect", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Authorization", auth)
				w := serve(r)
				if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"active":true`)) {
					b.Fatalf("introspect: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// basicAuth is c's credentials for HTTP Basic (RFC 6749 §2.3.1).
func basicAuth(c client) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
