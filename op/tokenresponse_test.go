package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestTokenExchangesAnswerAsZitadel sends the same code and refresh token
// exchanges to the provider and to the provider's handler with zitadel's
// token endpoint in place of tokenExchanges, and requires the same answers
// from both: the same status and headers; for an error the same body; for
// tokens the same fields and the same ID token header and claims, but for
// the values that differ between two exchanges (the times and the hashes
// of the token and the code: present in both, at_hash checked against the
// access token). Each side gets
// codes and refresh tokens of its own, since a code is used once.
func TestTokenExchangesAnswerAsZitadel(t *testing.T) {
	t.Parallel()
	for _, name := range teststore.Backends {
		t.Run(name, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, name))
			e.st.cfg.ACR = func(amr []string) string {
				if slices.Contains(amr, "otp") {
					return ACRValues[2]
				}
				return ACRValues[0]
			}
			p := e.p
			zitadel := p.documents(p.cors, p.formPosts(p.authorizationResponses(withMemo(p.clientAuth(p.dpop(
				p.tokenClient(bearerErrors(p.jsonEndpoints(plainOAuth(p.zp))))))))))
			verifier := strings.Repeat("v", 43)
			session := "session-" + name
			e.grantInSession(t, "first-grant", e.clients[ES256], session)
			es, rs, ed := e.clients[ES256], e.clients[RS256], e.clients[EdDSA]

			// codeForm returns the form exchanging a fresh code of client,
			// issued for scopes (the default ones when none) in a session
			// when inSession, changed by edit.
			codeForm := func(t *testing.T, client string, inSession bool, edit func(url.Values), scopes ...string) url.Values {
				c, id := e.pendingCode(t, client, verifier, scopes...)
				if inSession {
					// One session for all, so that both sides' ID tokens
					// have the same sid.
					if err := e.store.AddSessionGrant(context.Background(), &storage.SessionGrant{GrantID: id,
						SessionID: session, ClientID: client, UserID: e.user, CreatedAt: time.Now()}); err != nil {
						t.Fatal(err)
					}
				}
				form := url.Values{"grant_type": {"authorization_code"}, "code": {c},
					"redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
				if edit != nil {
					edit(form)
				}
				return form
			}
			code := func(client string, inSession bool, edit func(url.Values), scopes ...string) func(*testing.T) *http.Request {
				return func(t *testing.T) *http.Request {
					return tokenRequest(client, codeForm(t, client, inSession, edit, scopes...))
				}
			}
			// refresh returns a request refreshing a fresh refresh token of
			// client (its grant in a session), with form changed by edit;
			// use, when given, refreshes it once through h first.
			refresh := func(client string, edit func(url.Values), use http.Handler) func(*testing.T) *http.Request {
				return func(t *testing.T) *http.Request {
					rec := httptest.NewRecorder()
					p.ServeHTTP(rec, code(client, true, nil, "openid", "email", "offline_access")(t))
					var tok struct {
						RefreshToken string `json:"refresh_token"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
						t.Fatalf("code exchange with offline_access: %d %s", rec.Code, rec.Body)
					}
					form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
					if edit != nil {
						edit(form)
					}
					if use != nil {
						use.ServeHTTP(httptest.NewRecorder(), tokenRequest(client, form))
					}
					return tokenRequest(client, form)
				}
			}
			set := func(k, v string) func(url.Values) { return func(f url.Values) { f.Set(k, v) } }
			del := func(k string) func(url.Values) { return func(f url.Values) { f.Del(k) } }

			for _, tc := range []struct {
				name string
				req  func(t *testing.T, h http.Handler) *http.Request
			}{
				{"code ES256", fresh(code(es, false, nil))},
				{"code RS256 in a session", fresh(code(rs, true, nil))},
				{"code EdDSA, openid only", fresh(code(ed, true, nil, "openid"))},
				{"code, JWT access token", fresh(code(e.jwt, true, nil))},
				{"code with offline_access", fresh(code(es, true, nil, "openid", "profile", "offline_access"))},
				{"code without openid", fresh(code(es, true, nil, "email"))},
				{"code from a browser", func(t *testing.T, h http.Handler) *http.Request {
					r := code(es, true, nil)(t)
					r.Header.Set("Origin", "https://rp.example")
					return r
				}},
				{"code missing", fresh(code(es, false, del("code")))},
				{"code unknown", fresh(code(es, false, set("code", "unknown")))},
				{"code replayed", func(t *testing.T, h http.Handler) *http.Request {
					form := codeForm(t, es, true, nil)
					h.ServeHTTP(httptest.NewRecorder(), tokenRequest(es, form))
					return tokenRequest(es, form)
				}},
				{"code, wrong verifier", fresh(code(es, false, set("code_verifier", strings.Repeat("w", 43))))},
				{"code, no verifier", fresh(code(es, false, del("code_verifier")))},
				{"code, wrong redirect_uri", fresh(code(es, false, set("redirect_uri", "https://rp.example/other")))},
				{"code of another client", func(t *testing.T, h http.Handler) *http.Request {
					r := code(es, false, nil)(t)
					r.SetBasicAuth(rs, benchSecret)
					return r
				}},
				{"refresh", func(t *testing.T, h http.Handler) *http.Request { return refresh(es, nil, nil)(t) }},
				{"refresh RS256, narrower scope", func(t *testing.T, h http.Handler) *http.Request {
					return refresh(rs, set("scope", "openid offline_access"), nil)(t)
				}},
				{"refresh, wider scope", func(t *testing.T, h http.Handler) *http.Request {
					return refresh(es, set("scope", "openid email profile offline_access"), nil)(t)
				}},
				{"refresh replayed", func(t *testing.T, h http.Handler) *http.Request { return refresh(es, nil, h)(t) }},
				{"refresh unknown", fresh(func(t *testing.T) *http.Request {
					return tokenRequest(es, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"unknown"}})
				})},
				{"refresh missing", fresh(func(t *testing.T) *http.Request {
					return tokenRequest(es, url.Values{"grant_type": {"refresh_token"}})
				})},
				{"refresh of another client", func(t *testing.T, h http.Handler) *http.Request {
					r := refresh(es, nil, nil)(t)
					r.SetBasicAuth(rs, benchSecret)
					return r
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, want := httptest.NewRecorder(), httptest.NewRecorder()
					p.ServeHTTP(got, tc.req(t, p))
					zitadel.ServeHTTP(want, tc.req(t, zitadel))
					if got.Code != want.Code {
						t.Fatalf("got %d %s\nzitadel %d %s", got.Code, got.Body, want.Code, want.Body)
					}
					// zitadel's answers went through plainOAuth's buffer, which
					// sets Content-Length; net/http sets it for the provider's
					// short answers.
					want.Header().Del("Content-Length")
					if !reflect.DeepEqual(got.Header(), want.Header()) {
						t.Errorf("headers: got %v, zitadel %v", got.Header(), want.Header())
					}
					if got.Code != http.StatusOK {
						if got.Body.String() != want.Body.String() {
							t.Errorf("got %s\nzitadel %s", got.Body, want.Body)
						}
						return
					}
					g, w := tokenAnswer(t, got.Body.Bytes()), tokenAnswer(t, want.Body.Bytes())
					if !slices.Equal(slices.Sorted(maps.Keys(g.fields)), slices.Sorted(maps.Keys(w.fields))) {
						t.Errorf("fields: got %s\nzitadel %s", got.Body, want.Body)
					}
					for _, k := range []string{"token_type", "expires_in", "scope"} {
						if g.fields[k] != w.fields[k] {
							t.Errorf("%s: got %v, zitadel %v", k, g.fields[k], w.fields[k])
						}
					}
					if g.header != w.header {
						t.Errorf("ID token header: got %s, zitadel %s", g.header, w.header)
					}
					if !reflect.DeepEqual(g.claims, w.claims) {
						t.Errorf("ID token claims: got %v\nzitadel %v", g.claims, w.claims)
					}
					if strings.Contains(tc.name, "session") && g.claims["sid"] == nil {
						t.Errorf("no sid in %v", g.claims)
					}
					if strings.HasPrefix(tc.name, "refresh") && g.claims["acr"] == nil {
						t.Errorf("no acr in the refresh's ID token: %v", g.claims)
					}
				})
			}
		})
	}
}

// fresh is a request of the test above that needs nothing from the
// handler it goes to.
func fresh(req func(*testing.T) *http.Request) func(*testing.T, http.Handler) *http.Request {
	return func(t *testing.T, _ http.Handler) *http.Request { return req(t) }
}

// exchangeAnswer is a token response: its fields, and its ID token's
// header and claims, those whose values differ between two exchanges
// replaced by "present".
type exchangeAnswer struct {
	fields map[string]any
	header string
	claims map[string]any
}

// tokenAnswer decodes body, a token response, and checks its ID token's
// at_hash against its access token and its times.
func tokenAnswer(t *testing.T, body []byte) exchangeAnswer {
	t.Helper()
	var a exchangeAnswer
	if err := json.Unmarshal(body, &a.fields); err != nil {
		t.Fatalf("token response %s: %v", body, err)
	}
	access, _ := a.fields["access_token"].(string)
	if access == "" {
		t.Errorf("no access token: %s", body)
	}
	idToken, _ := a.fields["id_token"].(string)
	if idToken == "" {
		return a
	}
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q", idToken)
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	a.header = string(header)
	if err := jwtClaims(idToken, &a.claims); err != nil {
		t.Fatal(err)
	}
	var alg struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(header, &alg); err != nil {
		t.Fatal(err)
	}
	if want, err := oidc.ClaimHash(access, jose.SignatureAlgorithm(alg.Alg)); err != nil || a.claims["at_hash"] != want {
		t.Errorf("at_hash = %v, want %q (%v)", a.claims["at_hash"], want, err)
	}
	iat, _ := a.claims["iat"].(float64)
	exp, _ := a.claims["exp"].(float64)
	if iat == 0 || exp-iat < 3590 || exp-iat > 3610 {
		t.Errorf("iat %v, exp %v: want an hour apart", a.claims["iat"], a.claims["exp"])
	}
	for _, k := range []string{"iat", "exp", "auth_time", "at_hash", "c_hash"} {
		if _, ok := a.claims[k]; ok {
			a.claims[k] = "present"
		}
	}
	return a
}
