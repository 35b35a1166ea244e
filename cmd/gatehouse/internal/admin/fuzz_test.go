package admin

import (
	"strings"
	"testing"
)

// FuzzRedirectURI checks registration-time redirect URI validation: an
// accepted URI is absolute, has no fragment, no wildcard, and is https or
// loopback http (or a private scheme for public clients).
func FuzzRedirectURI(f *testing.F) {
	for _, seed := range []string{"https://rp.example/cb", "http://127.0.0.1:9/cb", "http://localhost/cb",
		"http://evil.example/cb", "https://rp.example/cb#x", "https://*.example/cb", "com.example.app:/cb",
		"https://user@rp.example/cb", "javascript:alert(1)", "//rp.example/cb", "https://[::1]/cb", ""} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, public bool) {
		if checkRedirectURI(raw, public) != nil {
			return
		}
		switch {
		case strings.Contains(raw, "#"), strings.Contains(raw, "*"):
			t.Fatalf("accepted %q with a fragment or wildcard", raw)
		case strings.HasPrefix(strings.ToLower(raw), "javascript:"), strings.HasPrefix(strings.ToLower(raw), "data:"):
			t.Fatalf("accepted %q", raw)
		}
	})
}
