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

// A BufferedWriter holds a response's status and body until the handler
// is done, for a wrapper that rewrites the answer (the header is the
// underlying writer's). Protocol responses are small.
type BufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *BufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *BufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Status is the status the handler answered: 200 when it wrote nothing.
func (w *BufferedWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Body is the body the handler wrote.
func (w *BufferedWriter) Body() []byte { return w.body.Bytes() }

// send writes the held answer to the underlying writer, its body passed
// through rewrite first when the status is 200.
func (w *BufferedWriter) send(rewrite func([]byte) []byte) {
	body := w.Body()
	if w.Status() == http.StatusOK {
		body = rewrite(body)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.ResponseWriter.WriteHeader(w.Status())
	w.ResponseWriter.Write(body)
}
