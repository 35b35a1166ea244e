package login

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestBasePath checks the paths and cookies of a login under an issuer's
// path: site paths go under it, other URLs stay as they are, and cookies
// are scoped to it, named __Secure- under https (__Host- requires Path=/)
// and __Host- only at the root.
func TestBasePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		baseURL    string
		secure     bool
		name, path string
		login      string // URL("/login?authRequestID=x")
	}{
		{"http://localhost:8080", false, "gh_session", "/", "/login?authRequestID=x"},
		{"https://id.example.com", true, "__Host-gh_session", "/", "/login?authRequestID=x"},
		{"https://example.com/auth", true, "__Secure-gh_session", "/auth", "/auth/login?authRequestID=x"},
		{"https://example.com/sso/id", true, "__Secure-gh_session", "/sso/id", "/sso/id/login?authRequestID=x"},
		{"http://127.0.0.1:8080/id", false, "gh_session", "/id", "/id/login?authRequestID=x"},
	} {
		t.Run(tc.baseURL, func(t *testing.T) {
			h := &Handler{BaseURL: tc.baseURL, Secure: tc.secure}
			h.basePath = basePathOf(h.BaseURL) // as Init does
			if got := h.URL("/login?authRequestID=x"); got != tc.login {
				t.Errorf("URL(/login…) = %q, want %q", got, tc.login)
			}
			for _, s := range []string{"", "https://other.example/x", "//evil.example/x", `/\evil.example`, "data:image/png;base64,AA", "otpauth://totp/x"} {
				if got := h.URL(s); got != s {
					t.Errorf("URL(%q) = %q, want it unchanged", s, got)
				}
			}

			rec := httptest.NewRecorder()
			h.setCookie(rec, sessionCookie, "v", time.Hour)
			h.clearCookie(rec, sessionCookie)
			cookies := rec.Result().Cookies()
			if len(cookies) != 2 {
				t.Fatalf("%d cookies set, want 2", len(cookies))
			}
			for _, c := range cookies {
				if c.Name != tc.name || c.Path != tc.path || c.Secure != tc.secure || !c.HttpOnly || c.Domain != "" {
					t.Errorf("cookie %s Path=%s Secure=%t HttpOnly=%t Domain=%q, want %s Path=%s Secure=%t HttpOnly, no Domain",
						c.Name, c.Path, c.Secure, c.HttpOnly, c.Domain, tc.name, tc.path, tc.secure)
				}
			}
			r := httptest.NewRequest(http.MethodGet, "/account", nil)
			r.AddCookie(&http.Cookie{Name: tc.name, Value: newSecret()})
			if h.cookieValue(r, sessionCookie) == "" {
				t.Errorf("the cookie %s is not read back", tc.name)
			}
		})
	}
}
