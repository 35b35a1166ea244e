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

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// endSession validates the end_session request of query (GET) with the
// provider.
func (e *benchEnv) endSession(query url.Values) error {
	_, err := e.endSessionRequest(http.MethodGet, query, nil)
	return err
}

// endSessionRequest validates the end_session request of method with query
// and, for POST, the form body.
func (e *benchEnv) endSessionRequest(method string, query, body url.Values) (*storage.LogoutRequest, error) {
	var r *http.Request
	if method == http.MethodPost {
		r = httptest.NewRequest(method, "https://id.example/end_session?"+query.Encode(), strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, "https://id.example/end_session?"+query.Encode(), nil)
	}
	return e.p.ValidateEndSession(r)
}

// idToken returns an ID token of the user, issued to clientID by a code
// exchange.
func (e *benchEnv) idToken(t *testing.T, clientID string) string {
	t.Helper()
	codes, verifier := e.pendingCodes(t, clientID, 1)
	rec := e.serve(t, tokenRequest(clientID, url.Values{"grant_type": {"authorization_code"},
		"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("code exchange: %s", rec.Body)
	}
	return tok.IDToken
}

// TestEndSessionRepeatedParameters checks that an end_session request
// giving one of its parameters twice is refused with invalid_request
// (RFC 6749 §3.1), by GET and by POST (in the body, or in the body and the
// query), even where either value alone would be accepted; the request
// with each once is accepted, and an empty value does not count.
func TestEndSessionRepeatedParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			now := time.Now()
			const client = "logout-client"
			uris := []string{"https://rp.example/out", "https://rp.example/out2"}
			if err := e.store.CreateClient(t.Context(), &storage.Client{ID: client, Name: client, SecretHash: hashSecret(benchSecret),
				RedirectURIs: []string{benchRedirect}, PostLogoutRedirectURIs: uris, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			hints := []string{e.idToken(t, client), e.idToken(t, client)}
			params := url.Values{"id_token_hint": {hints[0]}, "post_logout_redirect_uri": {uris[0]}, "client_id": {client}, "state": {"s1"}}
			seconds := []struct{ name, value string }{
				{"id_token_hint", hints[1]}, {"post_logout_redirect_uri", uris[1]}, {"client_id", client}, {"state", "s2"},
			}
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				body := func(form url.Values) url.Values {
					if method == http.MethodPost {
						return form
					}
					return nil
				}
				query := func(form url.Values) url.Values {
					if method == http.MethodPost {
						return url.Values{}
					}
					return form
				}
				if req, err := e.endSessionRequest(method, query(params), body(params)); err != nil || req.Subject != e.user || req.ClientID != client {
					t.Fatalf("%s, each parameter once: %+v, %v", method, req, err)
				}
				empty := cloneValues(params)
				empty.Add("state", "")
				if _, err := e.endSessionRequest(method, query(empty), body(empty)); err != nil {
					t.Errorf("%s, state once and once empty: %v, want accepted", method, err)
				}
				for _, sc := range seconds {
					name, second := sc.name, sc.value
					twice := cloneValues(params)
					twice.Add(name, second)
					var got *oidc.Error
					if _, err := e.endSessionRequest(method, query(twice), body(twice)); !errors.As(err, &got) ||
						got.ErrorType != oidc.InvalidRequest || !strings.Contains(got.Description, name) {
						t.Errorf("%s, %s twice: %v, want invalid_request naming it", method, name, err)
					}
					if method != http.MethodPost {
						continue
					}
					// Once in the body and once in the query.
					if _, err := e.endSessionRequest(method, url.Values{name: {second}}, params); !errors.As(err, &got) ||
						got.ErrorType != oidc.InvalidRequest || !strings.Contains(got.Description, name) {
						t.Errorf("POST, %s in the body and the query: %v, want invalid_request naming it", name, err)
					}
				}
			}
		})
	}
}

// TestEndSessionHintIsAnIDToken checks that only an ID token of this
// provider serves as id_token_hint (OpenID RP-Initiated Logout §2): a
// JWT access token (a user's, or a client_credentials one) or a logout
// token, all signed with the provider's keys, is refused with the error of
// an invalid hint, with or without client_id.
func TestEndSessionHintIsAnIDToken(t *testing.T) {
	t.Parallel()
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

// TestAuthorizeHintIsAnIDToken checks that /authorize and pushed
// requests, like end_session, take only an ID token as id_token_hint
// (OpenID Connect Core §3.1.2.1): a JWT access token or a logout token
// of this provider gets the answer of an invalid hint, and an ID token
// is accepted.
func TestAuthorizeHintIsAnIDToken(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			client := e.jwt
			idToken := e.idToken(t, client)
			access := e.accessToken(t, client)
			c, err := e.store.ClientByID(t.Context(), client)
			if err != nil {
				t.Fatal(err)
			}
			logout, err := e.p.LogoutToken(t.Context(), c, e.user, "session-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			params := func(hint string) url.Values {
				return url.Values{"client_id": {client}, "redirect_uri": {benchRedirect}, "response_type": {"code"},
					"scope": {"openid"}, "state": {"s"}, "code_challenge": {strings.Repeat("c", 43)},
					"code_challenge_method": {"S256"}, "id_token_hint": {hint}}
			}
			push := func(hint string) (int, string) {
				r := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/par", strings.NewReader(params(hint).Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(client, benchSecret)
				rec := httptest.NewRecorder()
				e.p.PushedAuthorization().ServeHTTP(rec, r)
				return rec.Code, rec.Body.String()
			}
			authorize := func(hint string) string {
				r := httptest.NewRequest(http.MethodGet, "https://id.example/authorize?"+params(hint).Encode(), nil)
				r = r.WithContext(WithFlowBinding(r.Context(), []byte("browser")))
				rec := httptest.NewRecorder()
				e.p.ServeHTTP(rec, r)
				return rec.Header().Get("Location")
			}
			if code, body := push(idToken); code != http.StatusCreated {
				t.Fatalf("push with an ID token as hint: %d %s", code, body)
			}
			if loc := authorize(idToken); !strings.HasPrefix(loc, "https://id.example/login?") {
				t.Fatalf("authorize with an ID token as hint: to %q, want the login", loc)
			}
			badCode, badBody := push("not-a-token")
			badLoc := authorize("not-a-token")
			if badCode != http.StatusBadRequest || !strings.Contains(badLoc, "error=login_required") {
				t.Fatalf("a garbage hint: push %d %s, authorize to %q", badCode, badBody, badLoc)
			}
			for _, tc := range []struct{ name, hint string }{
				{"a user's JWT access token", access},
				{"a client_credentials JWT", e.clientCredentialsToken(t, client)},
				{"a logout token", logout},
			} {
				if code, body := push(tc.hint); code != badCode || body != badBody {
					t.Errorf("push with %s as hint: %d %s, want the invalid hint's %d %s", tc.name, code, body, badCode, badBody)
				}
				if loc := authorize(tc.hint); loc != badLoc {
					t.Errorf("authorize with %s as hint: to %q, want the invalid hint's %q", tc.name, loc, badLoc)
				}
			}
		})
	}
}
