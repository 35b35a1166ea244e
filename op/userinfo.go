package op

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// invalidTokenBody is the userinfo endpoint's answer to a token it refuses.
const invalidTokenBody = `{"error":"invalid_token","error_description":"the access token is invalid, expired or revoked"}` + "\n"

// bearerErrors answers the userinfo endpoint's refusals as OpenID Connect
// Core §5.3.3 and RFC 6750 §3 ask: 401 with a Bearer challenge, which names
// the error invalid_token when a token was presented (malformed, unknown,
// expired, revoked, or its user disabled) and no error when none was. A
// live token without the openid scope keeps its 403 insufficient_scope
// (Provider.userinfo).
// zitadel answers 401 with a line of text, or 403 with "{}" when the
// token's record refuses it. Other answers pass unchanged; a database
// failure behind a refusal is still turned into 503 further out.
func bearerErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != UserinfoPath {
			next.ServeHTTP(w, r)
			return
		}
		// zitadel reads the token from the header, else from the form,
		// which is parsed here once (zitadel then finds it parsed). A
		// header of another scheme than Bearer (which dpopResource makes
		// of DPoP) carries no token: RFC 6750 §3.1 answers it with no
		// error code, as a request without authentication.
		h := r.Header.Get("Authorization")
		presented := len(h) >= len(oidc.PrefixBearer) && strings.EqualFold(h[:len(oidc.PrefixBearer)], oidc.PrefixBearer)
		if !presented && r.ParseForm() == nil {
			presented = r.Form.Get("access_token") != ""
		}
		next.ServeHTTP(bearerWriter(w, presented), r)
	})
}

// bearerWriter returns w rewriting a 401 or 403 as bearerErrors says;
// presented tells whether the request carried a token.
func bearerWriter(w http.ResponseWriter, presented bool) http.ResponseWriter {
	return &statusWriter{ResponseWriter: w, onStatus: func(code int) bool {
		h := w.Header()
		if code != http.StatusUnauthorized && code != http.StatusForbidden ||
			code == http.StatusForbidden && strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			// A token without the openid scope is no invalid one.
			w.WriteHeader(code)
			return false
		}
		h.Set("Cache-Control", "no-store")
		if !presented {
			// RFC 6750 §3.1: no error code when the request carried no token.
			h.Set("WWW-Authenticate", "Bearer")
			h.Set("Content-Length", "0")
			h.Del("Content-Type")
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(invalidTokenBody)))
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(invalidTokenBody))
		return true
	}}
}
