package op

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// publicTokenRequest is a token request of the public client clientID,
// which names itself with client_id, with the DPoP proof unless "".
func publicTokenRequest(clientID, proof string, form url.Values) *http.Request {
	form = cloneValues(form)
	form.Set("client_id", clientID)
	req := tokenRequest(clientID, form)
	req.Header.Del("Authorization")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

// tokenProof is a fresh DPoP proof of key for the token endpoint of
// newBenchEnv's provider.
func tokenProof(t *testing.T, key *ecdsa.PrivateKey) string {
	claims := proofClaims(time.Now())
	claims["htu"] = "https://id.example/oauth/token"
	return testProof(t, key, jose.ES256, nil, "dpop+jwt", claims)
}

// tokenError returns the error code of a refused token request's answer.
func tokenError(t *testing.T, body []byte) string {
	t.Helper()
	var out struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("error answer %s: %v", body, err)
	}
	return out.Error
}

// TestRefusedRefreshKeepsTheToken presents a live refresh token in
// requests that are refused: by another client, with a scope it was not
// granted, with a malformed resource, and, for a public client's token
// bound to a DPoP key, without a proof, with a proof of another key or
// with an invalid proof. Each gets its error, and the token stays unused
// and its family live: its client's right refresh then succeeds, once.
// Only a token used before revokes its family when presented (reuse
// detection).
func TestRefusedRefreshKeepsTheToken(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			owner, other := e.clients[ES256], e.clients[RS256]

			// A confidential client's refresh token.
			_, refresh := e.offlineTokens(t, owner)
			grant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
			with := func(form url.Values, key, value string) url.Values {
				form = cloneValues(form)
				form.Set(key, value)
				return form
			}
			for _, tc := range []struct {
				name      string
				req       *http.Request
				wantError string
			}{
				{"another client's", tokenRequest(other, grant), "invalid_grant"},
				{"another client's, grant_type in the query", inQuery(other, grant, "grant_type"), "invalid_grant"},
				{"a scope not granted", tokenRequest(owner, with(grant, "scope", "openid offline_access profile")), "invalid_scope"},
				{"a malformed resource", tokenRequest(owner, with(grant, "resource", "not-a-uri")), "invalid_target"},
			} {
				rec := e.serve(t, tc.req, http.StatusBadRequest)
				if got := tokenError(t, rec.Body.Bytes()); got != tc.wantError {
					t.Errorf("%s: %s, want %s", tc.name, rec.Body, tc.wantError)
				}
			}
			e.serve(t, tokenRequest(owner, grant), http.StatusOK)
			e.serve(t, tokenRequest(owner, grant), http.StatusBadRequest) // once only

			// A public client's refresh token, bound to its DPoP key.
			ctx := t.Context()
			now := time.Now()
			public := "bench-public"
			if err := e.store.CreateClient(ctx, &storage.Client{ID: public, Name: public, Public: true,
				RedirectURIs: []string{benchRedirect}, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			codes, verifier := e.pendingCodes(t, public, 1, "openid", "offline_access")
			rec := e.serve(t, publicTokenRequest(public, tokenProof(t, key), url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
			var tok struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
				t.Fatalf("the public client's exchange: %s (%v)", rec.Body, err)
			}
			bound := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			badProof := func() string {
				claims := proofClaims(time.Now())
				claims["htu"] = "https://id.example/userinfo"
				return testProof(t, key, jose.ES256, nil, "dpop+jwt", claims)
			}
			for _, tc := range []struct {
				name      string
				req       *http.Request
				wantError string
			}{
				{"no proof", publicTokenRequest(public, "", bound), "invalid_grant"},
				{"a proof of another key", publicTokenRequest(public, tokenProof(t, otherKey), bound), "invalid_grant"},
				{"an invalid proof", publicTokenRequest(public, badProof(), bound), "invalid_dpop_proof"},
				{"a confidential client, with a proof", func() *http.Request {
					req := tokenRequest(other, bound)
					req.Header.Set("DPoP", tokenProof(t, key))
					return req
				}(), "invalid_grant"},
			} {
				rec := e.serve(t, tc.req, http.StatusBadRequest)
				if got := tokenError(t, rec.Body.Bytes()); got != tc.wantError {
					t.Errorf("bound, %s: %s, want %s", tc.name, rec.Body, tc.wantError)
				}
			}
			e.serve(t, publicTokenRequest(public, tokenProof(t, key), bound), http.StatusOK)
			e.serve(t, publicTokenRequest(public, tokenProof(t, key), bound), http.StatusBadRequest) // once only
		})
	}
}

// TestNarrowedRefreshKeepsTheGrant refreshes with a scope narrower than
// the one granted: the access token has the narrower scope, but the new
// refresh token keeps the scope of the one presented (RFC 6749 §6: "the
// refresh token scope MUST be identical to that of the refresh token
// included by the client in the request"), so that the next refresh may
// ask for the whole grant again. A refresh token that took the narrower
// scope lost the rest of the user's grant for good, offline_access
// included.
func TestNarrowedRefreshKeepsTheGrant(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			client := e.clients[ES256]
			_, refresh := e.offlineTokens(t, client)
			refreshWith := func(refresh, scope string) (string, []string) {
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
				if scope != "" {
					form.Set("scope", scope)
				}
				rec := e.serve(t, tokenRequest(client, form), http.StatusOK)
				var tok struct {
					RefreshToken string `json:"refresh_token"`
					Scope        string `json:"scope"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
					t.Fatalf("refresh with scope %q: %s (%v)", scope, rec.Body, err)
				}
				return tok.RefreshToken, strings.Fields(tok.Scope)
			}
			next, scope := refreshWith(refresh, "openid")
			if !slices.Equal(scope, []string{"openid"}) {
				t.Errorf("the narrowed refresh's scope = %q, want [openid]", scope)
			}
			rt, err := e.store.RefreshTokenByHash(t.Context(), hashSecret(next))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rt.Scopes, []string{"openid", "offline_access"}) {
				t.Errorf("the new refresh token's scope = %q, want the presented one's [openid offline_access]", rt.Scopes)
			}
			_, scope = refreshWith(next, "")
			if !slices.Equal(scope, []string{"openid", "offline_access"}) {
				t.Errorf("the next refresh's scope = %q, want the grant's [openid offline_access]", scope)
			}
		})
	}
}

// TestRefreshReplayOfAnotherClient replays a rotated refresh token as
// another confidential client: refused, and the family stays live, for
// that client could not have used the token; the owner's replay of it
// revokes the family, as ever.
func TestRefreshReplayOfAnotherClient(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			owner, other := e.clients[ES256], e.clients[RS256]
			_, first := e.offlineTokens(t, owner)
			refresh := func(client, token string, want int) string {
				t.Helper()
				rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}), want)
				var out struct {
					RefreshToken string `json:"refresh_token"`
				}
				json.Unmarshal(rec.Body.Bytes(), &out)
				return out.RefreshToken
			}
			second := refresh(owner, first, http.StatusOK)
			if got := tokenError(t, e.serve(t, tokenRequest(other, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {first}}), http.StatusBadRequest).Body.Bytes()); got != "invalid_grant" {
				t.Errorf("another client's replay = %s, want invalid_grant", got)
			}
			third := refresh(owner, second, http.StatusOK) // the family is live
			refresh(owner, first, http.StatusBadRequest)   // the owner's replay
			refresh(owner, third, http.StatusBadRequest)   // revoked the family
		})
	}
}
