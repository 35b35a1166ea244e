package op

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestIntrospectRefreshToken introspects refresh tokens (RFC 7662 §2.1):
// a live one, presented by its client with any token_type_hint, is active
// with its facts; one presented by another client, rotated away, revoked,
// expired or of a disabled user is inactive. Introspection neither uses
// nor extends the token (its client's refresh with it then succeeds, and
// its expiry is the one it had), and introspecting a rotated-away token
// revokes nothing.
func TestIntrospectRefreshToken(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			ctx := t.Context()
			owner, other := e.clients[ES256], e.clients[RS256]
			introspect := func(client, token, hint string) map[string]any {
				t.Helper()
				form := url.Values{"token": {token}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(client, benchSecret)
				var out map[string]any
				if err := json.Unmarshal(e.serve(t, req, http.StatusOK).Body.Bytes(), &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			inactive := func(name string, out map[string]any) {
				t.Helper()
				if out["active"] != false || len(out) != 1 {
					t.Errorf("%s: %v, want only active:false", name, out)
				}
			}
			refresh := func(client, token string, want int) string {
				t.Helper()
				rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}), want)
				var tok struct {
					RefreshToken string `json:"refresh_token"`
				}
				json.Unmarshal(rec.Body.Bytes(), &tok)
				return tok.RefreshToken
			}

			_, live := e.offlineTokens(t, owner)
			stored, err := e.store.RefreshTokenByHash(ctx, hashSecret(live))
			if err != nil {
				t.Fatal(err)
			}
			for _, hint := range []string{"", "refresh_token", "access_token", "something_else"} {
				out := introspect(owner, live, hint)
				if out["active"] != true || out["client_id"] != owner || out["sub"] != e.user ||
					out["scope"] != "openid offline_access" || out["token_type"] != "refresh_token" ||
					out["exp"] != float64(stored.ExpiresAt.Unix()) || out["iat"] != float64(stored.CreatedAt.Unix()) {
					t.Errorf("a live refresh token, hint %q: %v", hint, out)
				}
			}
			inactive("another client", introspect(other, live, "refresh_token"))
			after, err := e.store.RefreshTokenByHash(ctx, hashSecret(live))
			if err != nil || after.UsedAt != nil || after.RevokedAt != nil || !after.ExpiresAt.Equal(stored.ExpiresAt) {
				t.Fatalf("the token after introspection: %+v, %v; want it unused, unrevoked, expiring at %v", after, err, stored.ExpiresAt)
			}

			// Rotated away: inactive, and its introspection revokes nothing.
			next := refresh(owner, live, http.StatusOK)
			inactive("a rotated-away token", introspect(owner, live, "refresh_token"))
			if out := introspect(owner, next, ""); out["active"] != true {
				t.Errorf("the successor after its predecessor's introspection: %v, want active", out)
			}
			next = refresh(owner, next, http.StatusOK)

			// Revoked.
			req := httptest.NewRequest(http.MethodPost, "https://id.example/revoke", strings.NewReader(url.Values{"token": {next}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(owner, benchSecret)
			e.serve(t, req, http.StatusOK)
			inactive("a revoked token", introspect(owner, next, "refresh_token"))

			// Expired: the clock past the family's lifetime.
			_, expiring := e.offlineTokens(t, owner)
			if out := introspect(owner, expiring, ""); out["active"] != true {
				t.Fatalf("a fresh refresh token: %v", out)
			}
			e.st.cfg.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
			inactive("an expired token", introspect(owner, expiring, "refresh_token"))
			e.st.cfg.Now = time.Now

			// A disabled user's.
			if _, err := e.store.SetUserDisabled(ctx, e.user, true, time.Now()); err != nil {
				t.Fatal(err)
			}
			inactive("a disabled user's token", introspect(owner, expiring, "refresh_token"))
		})
	}
}
