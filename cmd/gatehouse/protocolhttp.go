package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/op"
)

// clientEndpoints are the endpoints a client calls directly, authenticating
// itself: the token endpoint, introspection and revocation. They take
// POSTed forms only.
var clientEndpoints = map[string]bool{
	"/oauth/token":      true,
	"/oauth/introspect": true,
	"/revoke":           true,
}

// clientEndpointRules holds the token, introspection and revocation
// endpoints to the HTTP rules that zitadel leaves to its caller:
//
//   - POST only (RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1): other methods
//     get 405 with Allow: POST and an invalid_request body; CORS preflights
//     pass;
//   - no parameter more than once, in the body or the query or both
//     (RFC 6749 §3.1, §3.2): invalid_request; one without a value is
//     omitted (§3.2);
//   - errors as JSON with the status of RFC 6749 §5.2, introspection's
//     included (RFC 7662 §2.3), and a missing token is invalid_request
//     (RFC 7662 §2.1, RFC 7009 §2.1);
//   - a 401 to a client that authenticated, or tried to, with HTTP Basic carries
//     WWW-Authenticate: Basic with the issuer as realm (RFC 6749 §5.2,
//     RFC 7009 §2.2.1);
//   - a client_credentials response carries scope whenever scopes were
//     asked for, empty when none was granted (RFC 6749 §5.1).
//
// The answers of these endpoints are small: they are held until complete
// and then rewritten where needed.
func clientEndpointRules(issuer string, next http.Handler) http.Handler {
	challenge := []string{`Basic realm="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(issuer) + `"`}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !clientEndpoints[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				next.ServeHTTP(w, r) // a CORS preflight: the provider answers it
				return
			}
			w.Header().Set("Allow", http.MethodPost)
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "this endpoint accepts POST requests only")
			return
		}
		// An unreadable body is left to the provider, which reports it.
		if parseForm(r) == nil {
			// r.Form holds the query and the body together.
			if name := op.RepeatedParameter(r.Form); name != "" {
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the parameter "+name+" is included more than once")
				return
			}
			// A parameter sent without a value is treated as omitted
			// (RFC 6749 §3.2): zitadel would take scope= for a scope
			// of its own, resource= for a resource.
			op.OmitEmptyParameters(r.Form)
			if !sameMap(r.PostForm, r.Form) { // parseForm's are one
				op.OmitEmptyParameters(r.PostForm)
			}
		}
		hw := &op.BufferedWriter{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		status, body := hw.Status(), hw.Body()
		switch {
		case status >= 400 && r.URL.Path == "/oauth/introspect" && !isJSON(w.Header()):
			// zitadel answers introspection errors in plain text.
			status, body = introspectionError(body)
			w.Header().Set("Content-Type", "application/json")
		case status < 300 && r.URL.Path != "/oauth/token" && r.Form.Get("token") == "":
			status, body = http.StatusBadRequest, oauthError("invalid_request", "the token parameter is missing")
			w.Header().Set("Content-Type", "application/json")
		case status == http.StatusOK && r.URL.Path == "/oauth/token" &&
			r.Form.Get("grant_type") == "client_credentials" && strings.TrimSpace(r.Form.Get("scope")) != "":
			body = withScope(body)
		}
		if status == http.StatusUnauthorized && op.BasicScheme(r) {
			// Malformed Basic credentials too (RFC 6749 §5.2).
			w.Header()["Www-Authenticate"] = challenge
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body)
	})
}

// sameMap reports whether a and b are the same map.
func sameMap(a, b url.Values) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// quickFormMax is the largest body parseForm reads in one piece.
const quickFormMax = 64 << 10

// parseForm parses r's form as r.ParseForm does. The request clients send
// — a POSTed form of known length, and no query — is read in one piece of
// its length, and its parameters are both r.PostForm and r.Form (the same
// map: without a query they are the same parameters), where ParseForm
// reads the body through a growing buffer and copies the map. As with
// ParseForm, a body that cannot be read leaves no parameters, and a
// malformed one the parameters before the error; the error is returned.
// Anything else is ParseForm's.
func parseForm(r *http.Request) error {
	if r.Form != nil || r.PostForm != nil || r.URL.RawQuery != "" || r.Body == nil ||
		r.ContentLength <= 0 || r.ContentLength > quickFormMax ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return r.ParseForm()
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		r.PostForm, r.Form = url.Values{}, url.Values{}
		return err
	}
	v, err := parseQuery(string(body))
	r.PostForm, r.Form = v, v
	return err
}

// plainQueryMax is the most parameters parseQuery splits itself.
const plainQueryMax = 64

// parseQuery is url.ParseQuery. A query without escapes ('%', '+') or
// semicolons, and of few parameters — a client's form of ids, a code or a
// token — it splits itself: ParseQuery would unescape each key and value,
// a byte at a time, only to find nothing to change.
func parseQuery(query string) (url.Values, error) {
	if strings.IndexByte(query, '%') >= 0 || strings.IndexByte(query, '+') >= 0 || strings.IndexByte(query, ';') >= 0 ||
		strings.Count(query, "&") >= plainQueryMax {
		return url.ParseQuery(query)
	}
	v := make(url.Values)
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		v[key] = append(v[key], value)
	}
	return v, nil
}

// introspectionError turns zitadel's plain-text introspection error
// ("ErrorType=unauthorized_client Parent=…") into the JSON error of
// RFC 7662 §2.3 and its status. Failed client authentication is
// invalid_client, 401; the text's details stay in the log.
func introspectionError(text []byte) (int, []byte) {
	typ, _, _ := strings.Cut(strings.TrimPrefix(string(text), "ErrorType="), " ")
	switch typ {
	case "invalid_client", "unauthorized_client":
		return http.StatusUnauthorized, oauthError("invalid_client", "client authentication failed")
	case "server_error":
		return http.StatusInternalServerError, oauthError("server_error", "the token could not be introspected")
	}
	return http.StatusBadRequest, oauthError("invalid_request", "the introspection request is malformed")
}

// withScope adds an empty scope to a token response that has none: the
// client asked for scopes and none was granted.
func withScope(body []byte) []byte {
	var resp map[string]json.RawMessage
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	if _, ok := resp["scope"]; ok {
		return body
	}
	resp["scope"] = json.RawMessage(`""`)
	b, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return append(b, '\n')
}

func isJSON(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "application/json")
}

// oauthError is the JSON body of an OAuth error (RFC 6749 §5.2).
func oauthError(code, description string) []byte {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	return append(b, '\n')
}

// writeOAuthError answers an OAuth error in JSON with status.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(oauthError(code, description))
}
