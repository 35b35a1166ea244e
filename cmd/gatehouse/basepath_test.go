package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUnderIssuerPathRouting: under the issuer http://HOST/id, only /id
// and /id/… reach the server's routes, with /id taken off; look-alikes
// (/idx, /id.., /ID, //id, an escaped slash or letter) are 404 without
// reaching them, and dot segments and doubled slashes under /id reach the
// router as they are (it routes none of them), never cleaned into a route.
// The probes answer outside /id. A guard of cutBasePath.
func TestUnderIssuerPathRouting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target, wantPath string // "" for a 404 that does not reach the routes
	}{
		{"/id/login", "/login"},
		{"/id", "/"},
		{"/id/", "/"},
		{"/healthz", "/healthz"},
		{"/id/healthz", "/healthz"},
		{"/idx/login", ""},
		{"/id../login", ""},
		{"/ID/login", ""},
		{"//id/login", ""},
		{"/id%2Flogin", ""},
		{"/%69d/login", ""},
		{"/login", ""},
		{"/healthz/../id/login", ""},
		{"/id//login", "//login"},
		{"/id/./login", "/./login"},
		{"/id/%2e%2e/keys", "/../keys"},
		{"/id/static/../../etc", "/static/../../etc"},
	} {
		reached := ""
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = r.URL.Path })
		h := underIssuerPath("/id", idURL, false, inner)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.target, nil))
		switch {
		case tc.wantPath == "" && (rec.Code != http.StatusNotFound || reached != ""):
			t.Errorf("GET %s = %d, reached the routes as %q; want 404 outside the issuer's path", tc.target, rec.Code, reached)
		case tc.wantPath != "" && reached != tc.wantPath:
			t.Errorf("GET %s reached the routes as %q, want %q", tc.target, reached, tc.wantPath)
		}
	}
}

// idURL is login's URL under the issuer's path /id (login's TestBasePath
// checks that one): a site path goes under /id, anything else is left.
func idURL(p string) string {
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, `/\`) {
		return "/id" + p
	}
	return p
}

// TestUnderIssuerPathLocation: a redirect to a site path goes under /id,
// without its courtesy body; one to another host (//host, /\host, an
// absolute URL) or a relative path is left as it is.
func TestUnderIssuerPathLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ loc, want string }{
		{"/login?authRequestID=a", "/id/login?authRequestID=a"},
		{"/", "/id/"},
		{"//evil.example/x", "//evil.example/x"},
		{`/\evil.example`, `/\evil.example`},
		{"https://evil.example", "https://evil.example"},
		{"otp", "otp"},
	} {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", tc.loc)
			w.WriteHeader(http.StatusSeeOther)
			w.Write([]byte(`<a href="` + tc.loc + `">See Other</a>.`))
		})
		h := underIssuerPath("/id", idURL, false, inner)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/id/login", nil))
		if got := rec.Header().Get("Location"); got != tc.want {
			t.Errorf("Location %q went out as %q, want %q", tc.loc, got, tc.want)
		}
		if rewritten := tc.want != tc.loc; rewritten && strings.Contains(rec.Body.String(), tc.loc) {
			t.Errorf("redirect to %q kept its body naming the old path: %q", tc.loc, rec.Body.String())
		}
	}
}
