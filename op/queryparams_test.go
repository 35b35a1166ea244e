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

// inQuery returns the token request of clientID with the parameters named
// in query moved from form into the URL's query string, where zitadel
// reads them too (it reads r.Form: the body and the query).
func inQuery(clientID string, form url.Values, query ...string) *http.Request {
	body, q := cloneValues(form), url.Values{}
	for _, name := range query {
		q[name] = body[name]
		delete(body, name)
	}
	req := tokenRequest(clientID, body)
	req.URL.RawQuery = q.Encode()
	return req
}

// TestUnrecordedTokenInQuery introspects and revokes an unrecorded
// client_credentials JWT access token (clientcredentials.go) given in the
// request's query string rather than its body, where zitadel reads it too:
// introspection reports it active, and revocation, which answers 200,
// revokes it. Reading the token's claims from the body alone, Gatehouse
// reported the live token inactive, and answered its revocation 200 while
// the token stayed live.
func TestUnrecordedTokenInQuery(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			rec := e.serve(t, tokenRequest(e.jwt, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || strings.Count(tok.AccessToken, ".") != 2 {
				t.Fatalf("client_credentials of a jwt client: %s (%v)", rec.Body, err)
			}
			post := func(path string, inQuery bool) string {
				form := url.Values{"token": {tok.AccessToken}}
				req := httptest.NewRequest(http.MethodPost, "https://id.example"+path, strings.NewReader(form.Encode()))
				if inQuery {
					req = httptest.NewRequest(http.MethodPost, "https://id.example"+path+"?"+form.Encode(), strings.NewReader(""))
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(e.jwt, benchSecret)
				return e.serve(t, req, http.StatusOK).Body.String()
			}
			if body := post(IntrospectionPath, true); !strings.Contains(body, `"active":true`) {
				t.Errorf("introspection of the live token in the query: %s, want active", body)
			}
			post("/revoke", true)
			if body := post(IntrospectionPath, false); !strings.Contains(body, `"active":false`) {
				t.Errorf("introspection after the revocation of the token in the query: %s, want inactive", body)
			}
		})
	}
}

// TestResourceInQuery asks for a JWT access token for a resource (RFC
// 8707) with the resource parameter in the token request's query string,
// where zitadel reads every other parameter: the token's audience is that
// resource, and a resource that is not an absolute URI is invalid_target,
// refused before the code's use. Read from the body alone, the resource
// was ignored: the token got the default audience, and a malformed one
// was not refused.
func TestResourceInQuery(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			codes, verifier := e.pendingCodes(t, e.jwt, 1, "openid")
			form := url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
			bad := cloneValues(form)
			bad.Set("resource", "not-a-uri")
			rec := e.serve(t, inQuery(e.jwt, bad, "resource"), http.StatusBadRequest)
			if !strings.Contains(rec.Body.String(), `"invalid_target"`) {
				t.Errorf("a malformed resource in the query: %s, want invalid_target", rec.Body)
			}
			good := cloneValues(form)
			good.Set("resource", "https://api.example/")
			rec = e.serve(t, inQuery(e.jwt, good, "resource"), http.StatusOK)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			var claims struct {
				Audience []string `json:"aud"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
				t.Fatalf("exchange: %s (%v)", rec.Body, err)
			}
			if err := jwtClaims(tok.AccessToken, &claims); err != nil || len(claims.Audience) != 1 || claims.Audience[0] != "https://api.example/" {
				t.Errorf("the access token's aud = %q (%v), want the resource", claims.Audience, err)
			}
		})
	}
}
