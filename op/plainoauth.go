package op

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// plainOAuth leaves the ID token out of the token endpoint's answers to a
// grant without the openid scope: such a request is OAuth 2.0, not OpenID
// Connect (OIDC Core §3.1.2.1), and zitadel signs an ID token for every
// code and refresh exchange (CreateTokenResponse has no hook to skip it).
// The answer's scope is the grant's (zitadel copies GetScopes into it), so
// the answer alone decides. Userinfo refuses such a grant's access token
// (Storage.SetUserinfoFromToken).
func plainOAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		bw := &bufferedWriter{ResponseWriter: w}
		next.ServeHTTP(bw, r)
		body := bw.body.Bytes()
		if bw.status == http.StatusOK {
			body = withoutIDToken(body)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		if bw.status != 0 {
			w.WriteHeader(bw.status)
		}
		w.Write(body)
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

// bufferedWriter holds a response's status and body until the handler is
// done; token responses are small.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
