package op

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// plainOAuth is what the provider put around zitadel's token endpoint
// before tokenExchanges answered the code and refresh exchanges itself:
// the tests' reference for the answers zitadel gave. It leaves the ID
// token out of the answers to a grant without the openid scope: such a
// request is OAuth 2.0, not OpenID Connect (OIDC Core §3.1.2.1), and
// zitadel signs an ID token for every code and refresh exchange
// (CreateTokenResponse has no hook to skip it).
// The answer's scope is the grant's (zitadel copies GetScopes into it), so
// the answer alone decides. Userinfo refuses such a grant's access token
// (Storage.SetUserinfoFromToken).
func plainOAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		bw := &BufferedWriter{ResponseWriter: w}
		next.ServeHTTP(bw, r)
		bw.send(withoutIDToken)
	})
}

// withoutIDToken returns the token response body without its id_token when
// its scope lacks openid, and body unchanged otherwise.
func withoutIDToken(body []byte) []byte {
	var resp map[string]json.RawMessage
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	if _, ok := resp["id_token"]; !ok {
		return body
	}
	var scope string
	if raw, ok := resp["scope"]; ok && json.Unmarshal(raw, &scope) != nil {
		return body
	}
	if slices.Contains(strings.Fields(scope), oidc.ScopeOpenID) {
		return body
	}
	delete(resp, "id_token")
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return append(out, '\n')
}

// asZitadelSaw gives zitadel an introspection request the way clientAuth
// and tokenClient handed every one over before jsonEndpoints answered a
// confidential client's itself: with its credentials removed
// (asAuthenticated) and the token in the context (withRawToken). The
// tests' reference for the answers zitadel gave.
func asZitadelSaw(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := confidentialClient(r.Context()); id != "" && r.URL.Path == IntrospectionPath {
			r = asAuthenticated(r, &storage.Client{ID: id})
			r = r.WithContext(withRawToken(r.Context(), r.Form.Get("token")))
		}
		next.ServeHTTP(w, r)
	})
}
