package op

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestRevocationOfAnotherClientsTokens asks to revoke a client's access
// tokens (opaque and JWT) and refresh token (live, and one used before)
// as another confidential client, as a public client naming itself, and
// with no client authentication, with every token_type_hint: each request
// is refused (RFC 7009 §2.1: the token must have been issued to the
// client) and every token stays live; its own client then revokes them.
func TestRevocationOfAnotherClientsTokens(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			ctx := t.Context()
			now := time.Now()
			public := "bench-public"
			if err := e.store.CreateClient(ctx, &storage.Client{ID: public, Name: public, Public: true,
				RedirectURIs: []string{benchRedirect}, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			owner, other := e.clients[ES256], e.clients[RS256]
			opaque, refresh := e.offlineTokens(t, owner)
			// A refresh token used before, whose presentation at the
			// token endpoint revokes its family: revocation by another
			// client must not.
			rec := e.serve(t, tokenRequest(owner, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), http.StatusOK)
			used, refresh := refresh, jsonField(t, rec.Body.Bytes(), "refresh_token")
			opaque2 := jsonField(t, rec.Body.Bytes(), "access_token")
			jwtAT, _ := e.offlineTokens(t, e.jwt)

			// request is a request to path about token with hint; auth
			// authenticates it, in its header or its form.
			request := func(path, token, hint string, auth func(*http.Request, url.Values)) *http.Request {
				form := url.Values{"token": {token}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				req := httptest.NewRequest(http.MethodPost, "https://id.example"+path, nil)
				auth(req, form)
				req.Body = io.NopCloser(strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return req
			}
			basic := func(id string) func(*http.Request, url.Values) {
				return func(r *http.Request, _ url.Values) { r.SetBasicAuth(id, benchSecret) }
			}
			active := func(token, client string) bool {
				rec := e.serve(t, request(IntrospectionPath, token, "", basic(client)), http.StatusOK)
				return strings.Contains(rec.Body.String(), `"active":true`)
			}
			live := func() {
				t.Helper()
				for _, at := range []struct{ token, client string }{{opaque, owner}, {opaque2, owner}, {jwtAT, e.jwt}} {
					if !active(at.token, at.client) {
						t.Fatalf("an access token of %s is no longer active", at.client)
					}
				}
			}
			type caller struct {
				name string
				auth func(*http.Request, url.Values)
			}
			callers := []caller{
				{"another confidential client", basic(other)},
				{"a public client", func(_ *http.Request, form url.Values) { form.Set("client_id", public) }},
				{"no client", func(*http.Request, url.Values) {}},
			}
			for _, c := range callers {
				for _, tok := range []struct{ name, value string }{
					{"an opaque access token", opaque}, {"a JWT access token", jwtAT},
					{"a live refresh token", refresh}, {"a used refresh token", used},
				} {
					for _, hint := range []string{"", "access_token", "refresh_token"} {
						rec := httptest.NewRecorder()
						e.p.ServeHTTP(rec, request("/revoke", tok.value, hint, c.auth))
						if rec.Code < 400 {
							t.Errorf("%s revoking %s (hint %q): %d %s, want refused", c.name, tok.name, hint, rec.Code, rec.Body)
						}
						live()
					}
				}
			}
			// The family is live: the refresh token still refreshes.
			rec = e.serve(t, tokenRequest(owner, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), http.StatusOK)
			refresh = jsonField(t, rec.Body.Bytes(), "refresh_token")
			// Its own clients revoke them.
			e.serve(t, request("/revoke", jwtAT, "", basic(e.jwt)), http.StatusOK)
			e.serve(t, request("/revoke", refresh, "", basic(owner)), http.StatusOK)
			if active(opaque2, owner) || active(jwtAT, e.jwt) {
				t.Error("a token is still active after its own client revoked it")
			}
		})
	}
}

// jsonField returns the string field name of the JSON object body.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	v, _ := m[name].(string)
	if v == "" {
		t.Fatalf("%s has no %s", body, name)
	}
	return v
}
