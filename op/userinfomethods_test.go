package op

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestUserinfoOneToken sends a good access token to the userinfo endpoint
// more than once in a request: in the header and the form body, the
// header and the query, the body and the query, or twice in the body.
// RFC 6750 §2 allows one method per request, and §3.1 answers a request
// that uses more with 400 invalid_request; the token sent once by any
// method still gets the claims. Methods other than GET and POST (OpenID
// Connect Core §5.3.1) get 405 with Allow, and no claims.
func TestUserinfoOneToken(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			good := e.accessToken(t, e.clients[ES256])
			form := func(v ...string) string { return url.Values{"access_token": v}.Encode() }
			for _, tc := range []struct {
				name, method, header, query, body string
				status                            int
			}{
				{"header", http.MethodGet, good, "", "", http.StatusOK},
				{"body", http.MethodPost, "", "", form(good), http.StatusOK},
				{"query", http.MethodGet, "", form(good), "", http.StatusOK},
				{"POST with the header", http.MethodPost, good, "", "", http.StatusOK},
				{"header and body", http.MethodPost, good, "", form(good), http.StatusBadRequest},
				{"header and query", http.MethodGet, good, form(good), "", http.StatusBadRequest},
				{"body and query", http.MethodPost, "", form(good), form(good), http.StatusBadRequest},
				{"twice in the body", http.MethodPost, "", "", form(good, good), http.StatusBadRequest},
				{"twice in the query", http.MethodGet, "", form(good, good), "", http.StatusBadRequest},
				{"PUT", http.MethodPut, good, "", "", http.StatusMethodNotAllowed},
				{"DELETE", http.MethodDelete, good, "", "", http.StatusMethodNotAllowed},
				{"PATCH with the body", http.MethodPatch, "", "", form(good), http.StatusMethodNotAllowed},
			} {
				u := "https://id.example/userinfo"
				if tc.query != "" {
					u += "?" + tc.query
				}
				req := httptest.NewRequest(tc.method, u, strings.NewReader(tc.body))
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if tc.header != "" {
					req.Header.Set("Authorization", "Bearer "+tc.header)
				}
				rec := httptest.NewRecorder()
				e.p.ServeHTTP(rec, req)
				body := rec.Body.String()
				if rec.Code != tc.status {
					t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, body, tc.status)
					continue
				}
				switch tc.status {
				case http.StatusOK:
					if !strings.Contains(body, `"sub":"`+e.user+`"`) {
						t.Errorf("%s: %s, want the user's claims", tc.name, body)
					}
				case http.StatusBadRequest:
					if !strings.Contains(body, `"error":"invalid_request"`) ||
						!strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer error="invalid_request"`) {
						t.Errorf("%s: %s, WWW-Authenticate %q; want invalid_request in both", tc.name, body, rec.Header().Get("WWW-Authenticate"))
					}
				case http.StatusMethodNotAllowed:
					if rec.Header().Get("Allow") != "GET, POST" {
						t.Errorf("%s: Allow %q, want GET, POST", tc.name, rec.Header().Get("Allow"))
					}
				}
				if tc.status != http.StatusOK && strings.Contains(body, e.user) {
					t.Errorf("%s: a refusal told the user: %s", tc.name, body)
				}
			}
		})
	}
}

// TestUserinfoWithoutOpenID presents, at the userinfo endpoint, a live
// access token of an OAuth 2.0 grant, one without the openid scope (an
// opaque token and a JWT): it is refused with 403 insufficient_scope and
// a Bearer challenge naming the openid scope (RFC 6750 §3.1, OpenID
// Connect Core §5.3), not with 401 invalid_token, which tells a client
// that its token is dead and to refresh it. The claims are not told.
func TestUserinfoWithoutOpenID(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			for _, client := range []string{e.clients[ES256], e.jwt} {
				codes, verifier := e.pendingCodes(t, client, 1, "email", "profile")
				rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
					"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
					t.Fatalf("code exchange: %s", rec.Body)
				}
				req := httptest.NewRequest(http.MethodGet, "https://id.example/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				rec = httptest.NewRecorder()
				e.p.ServeHTTP(rec, req)
				challenge := rec.Header().Get("WWW-Authenticate")
				if rec.Code != http.StatusForbidden || !strings.HasPrefix(challenge, `Bearer error="insufficient_scope"`) ||
					!strings.Contains(challenge, `scope="openid"`) || !strings.Contains(rec.Body.String(), `"error":"insufficient_scope"`) {
					t.Errorf("%s: %d, WWW-Authenticate %q, %s; want 403 and insufficient_scope for the openid scope",
						client, rec.Code, challenge, rec.Body)
				}
				if strings.Contains(rec.Body.String(), e.user) || strings.Contains(rec.Body.String(), "bench@example.com") {
					t.Errorf("%s: the refusal told the user: %s", client, rec.Body)
				}
			}
		})
	}
}
