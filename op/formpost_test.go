package op

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestResponseParams: the form carries the response's parameters, not the
// redirect_uri's own query, which stays in the action.
func TestResponseParams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		redirect, location string
		want               url.Values
	}{
		{"https://rp.example/cb", "https://rp.example/cb?code=c&iss=https%3A%2F%2Fid&state=s",
			url.Values{"code": {"c"}, "iss": {"https://id"}, "state": {"s"}}},
		{"https://rp.example/cb?tenant=a&x=1", "https://rp.example/cb?code=c&state=s&tenant=a&x=1",
			url.Values{"code": {"c"}, "state": {"s"}}},
		{"https://rp.example/cb?state=mine", "https://rp.example/cb?error=e&state=mine&state=theirs",
			url.Values{"error": {"e"}, "state": {"theirs"}}},
	} {
		got, err := responseParams(tc.redirect, tc.location)
		if err != nil {
			t.Fatal(err)
		}
		if got.Encode() != tc.want.Encode() {
			t.Errorf("responseParams(%s, %s) = %v, want %v", tc.redirect, tc.location, got, tc.want)
		}
	}
}

// TestFormAction: form-action names the redirect_uri's origin, or its
// scheme when it has no host, and refuses what a policy cannot hold.
func TestFormAction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ uri, want string }{
		{"https://rp.example/cb?x=1", "https://rp.example"},
		{"http://127.0.0.1:9/cb", "http://127.0.0.1:9"},
		{"http://[::1]:8080/cb", "http://[::1]:8080"},
		{"com.example.app:/cb", "com.example.app:"},
		{"https://rp.example;script-src */cb", ""},
	} {
		got, err := formAction(tc.uri)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("formAction(%q) = %q, %v; want %q", tc.uri, got, err, tc.want)
		}
	}
}

// TestWriteFormPost: the page escapes the values, its one script carries
// the policy's nonce, and a database failure's server_error reads as
// temporarily_unavailable.
func TestWriteFormPost(t *testing.T) {
	t.Parallel()
	ctx, faulted := TrackFaults(context.Background())
	faulted.Store(true)
	r := httptest.NewRequest(http.MethodGet, "/authorize/callback", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	state := `"><script>alert(1)</script>`
	loc := "https://rp.example/cb?" + url.Values{"error": {"server_error"}, "state": {state}}.Encode()
	if err := WriteFormPost(w, r, "https://rp.example/cb", loc); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, `value="temporarily_unavailable"`) {
		t.Errorf("page:\n%s", body)
	}
	m := regexp.MustCompile(`<script nonce="([^"]+)">`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'nonce-"+m[1]+"'") {
		t.Errorf("script nonce %v, policy %q", m, w.Header().Get("Content-Security-Policy"))
	}
	if w.Header().Get("Location") != "" || w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("%d, headers %v", w.Code, w.Header())
	}
}
