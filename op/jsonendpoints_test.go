package op

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestJSONEndpointsAnswerAsZitadel sends the same introspection and
// userinfo requests to the provider and to the provider's handler with
// zitadel's Introspect and Userinfo in place of jsonEndpoints, and
// requires the same status, headers and body from both: live tokens of
// each kind, another client's token, garbage, none, a public client, CORS,
// the userinfo token in the header in either case, in the form, missing.
func TestJSONEndpointsAnswerAsZitadel(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			p := e.p
			zitadel := p.documents(p.cors, p.formPosts(p.authorizationResponses(withMemo(p.clientAuth(p.dpop(
				p.tokenClient(bearerErrors(plainOAuth(p.zp)))))))))

			opaque := e.accessToken(t, e.clients[ES256])
			rec := e.serve(t, tokenRequest(e.jwt, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
			var cc struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &cc); err != nil || strings.Count(cc.AccessToken, ".") != 2 {
				t.Fatalf("client_credentials: %s", rec.Body)
			}
			userJWT := e.accessToken(t, e.jwt)

			introspect := func(client, token string, basic bool, origin string) func() *http.Request {
				return func() *http.Request {
					form := url.Values{"token": {token}}
					if !basic {
						form.Set("client_id", client)
						form.Set("client_secret", benchSecret)
					}
					r := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(form.Encode()))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if basic {
						r.SetBasicAuth(client, benchSecret)
					}
					if origin != "" {
						r.Header.Set("Origin", origin)
					}
					return r
				}
			}
			userinfo := func(method, authorization, form string) func() *http.Request {
				return func() *http.Request {
					r := httptest.NewRequest(method, "https://id.example/userinfo", strings.NewReader(form))
					if form != "" {
						r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					if authorization != "" {
						r.Header.Set("Authorization", authorization)
					}
					return r
				}
			}
			es, rs := e.clients[ES256], e.clients[RS256]
			for _, tc := range []struct {
				name string
				req  func() *http.Request
			}{
				{"introspect opaque", introspect(es, opaque, true, "")},
				{"introspect opaque, secret in the form", introspect(es, opaque, false, "")},
				{"introspect opaque, another client", introspect(rs, opaque, true, "")},
				{"introspect client_credentials JWT", introspect(e.jwt, cc.AccessToken, true, "https://rs.example")},
				{"introspect client_credentials JWT, another client", introspect(es, cc.AccessToken, true, "")},
				{"introspect a user's JWT", introspect(e.jwt, userJWT, true, "")},
				{"introspect garbage", introspect(es, "not-a-token", true, "")},
				{"introspect a tampered JWT", introspect(e.jwt, cc.AccessToken[:len(cc.AccessToken)-4]+"AAAA", true, "")},
				{"introspect nothing", introspect(es, "", true, "")},
				{"introspect, wrong secret", func() *http.Request {
					r := introspect(es, opaque, true, "")()
					r.SetBasicAuth(es, "wrong")
					return r
				}},
				{"userinfo", userinfo(http.MethodGet, "Bearer "+opaque, "")},
				{"userinfo, lower-case scheme", userinfo(http.MethodGet, "bearer "+opaque, "")},
				{"userinfo, POST form", userinfo(http.MethodPost, "", url.Values{"access_token": {opaque}}.Encode())},
				{"userinfo, user's JWT", userinfo(http.MethodGet, "Bearer "+userJWT, "")},
				{"userinfo, client_credentials JWT", userinfo(http.MethodGet, "Bearer "+cc.AccessToken, "")},
				{"userinfo, garbage", userinfo(http.MethodGet, "Bearer nope", "")},
				{"userinfo, other scheme", userinfo(http.MethodGet, "Basic Zm9vOmJhcg==", "")},
				{"userinfo, no token", userinfo(http.MethodGet, "", "")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, want := httptest.NewRecorder(), httptest.NewRecorder()
					p.ServeHTTP(got, tc.req())
					zitadel.ServeHTTP(want, tc.req())
					if live := []string{"introspect opaque", "introspect client_credentials JWT", "introspect a user's JWT"}; slices.Contains(live, tc.name) &&
						!strings.Contains(got.Body.String(), `"active":true`) {
						t.Errorf("a live token: %s", got.Body)
					}
					if got.Code != want.Code || got.Body.String() != want.Body.String() {
						t.Errorf("got %d %s\nzitadel %d %s", got.Code, got.Body, want.Code, want.Body)
					}
					for k := range want.Header() {
						if got.Header().Get(k) != want.Header().Get(k) {
							t.Errorf("header %s: got %q, zitadel %q", k, got.Header().Get(k), want.Header().Get(k))
						}
					}
					if len(got.Header()) != len(want.Header()) {
						t.Errorf("headers: got %v, zitadel %v", got.Header(), want.Header())
					}
				})
			}
		})
	}
}
