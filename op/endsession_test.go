package op

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// endSession validates the end_session request of query (GET) with the
// provider.
func (e *benchEnv) endSession(query url.Values) error {
	r := httptest.NewRequest(http.MethodGet, "https://id.example/end_session?"+query.Encode(), nil)
	_, err := e.p.ValidateEndSession(r)
	return err
}

// TestEndSessionHintIsAnIDToken checks that only an ID token of this
// provider serves as id_token_hint (OpenID RP-Initiated Logout §2): a
// JWT access token (a user's, or a client_credentials one) or a logout
// token, all signed with the provider's keys, is refused with the error of
// an invalid hint, with or without client_id.
func TestEndSessionHintIsAnIDToken(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			client := e.jwt
			codes, verifier := e.pendingCodes(t, client, 1)
			rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
			var tok struct {
				AccessToken string `json:"access_token"`
				IDToken     string `json:"id_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.IDToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
				t.Fatalf("code exchange of a JWT client: %s", rec.Body)
			}
			c, err := e.store.ClientByID(t.Context(), client)
			if err != nil {
				t.Fatal(err)
			}
			logout, err := e.p.LogoutToken(t.Context(), c, e.user, "session-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}

			for _, withClient := range []bool{false, true} {
				query := func(hint string) url.Values {
					q := url.Values{"id_token_hint": {hint}}
					if withClient {
						q.Set("client_id", client)
					}
					return q
				}
				if err := e.endSession(query(tok.IDToken)); err != nil {
					t.Fatalf("client_id %v: the ID token as hint: %v", withClient, err)
				}
				var invalid *oidc.Error
				if err := e.endSession(query("not-a-token")); !errors.As(err, &invalid) {
					t.Fatalf("client_id %v: a garbage hint: %v, want an *oidc.Error", withClient, err)
				}
				for _, tc := range []struct{ name, hint string }{
					{"a user's JWT access token", tok.AccessToken},
					{"a client_credentials JWT", e.clientCredentialsToken(t, client)},
					{"a logout token", logout},
				} {
					var got *oidc.Error
					if err := e.endSession(query(tc.hint)); !errors.As(err, &got) ||
						got.ErrorType != invalid.ErrorType || got.Description != invalid.Description {
						t.Errorf("client_id %v: %s as hint: %v, want the invalid hint's %v", withClient, tc.name, err, invalid)
					}
				}
			}
		})
	}
}
