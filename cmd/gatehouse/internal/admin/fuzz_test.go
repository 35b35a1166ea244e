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

// TestRedirectURIText covers redirect URIs whose text is not a URI's: bytes
// that are not UTF-8 (stored, before, as U+FFFD: another URI than the one
// registered, silently) and spaces are refused with a message saying so,
// for redirect and post-logout URIs alike; IRIs pass.
func TestRedirectURIText(t *testing.T) {
	for _, tt := range []struct {
		name, uri string
		want      string // "" if accepted
	}{
		{"plain", "https://rp.example/cb", ""},
		{"escaped space", "https://rp.example/my%20cb", ""},
		{"IRI", "https://rp.example/caf\u00e9", ""},
		{"not UTF-8", "https://rp.example/\xff", `"https://rp.example/\xff": must be UTF-8`},
		{"space", "https://rp.example/ cb", `"https://rp.example/ cb": must not contain spaces`},
		{"trailing space", "https://rp.example/cb ", "must not contain spaces"},
		{"no-break space", "https://rp.example/\u00a0cb", "must not contain spaces"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, uris := range [][2][]string{{{tt.uri}, nil}, {{"https://rp.example/ok"}, {tt.uri}}} {
				err := CheckURIs(uris[0], uris[1], false)
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("CheckURIs(%q, %q) = %v, want nil", uris[0], uris[1], err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("CheckURIs(%q, %q) = %v, want an error containing %q", uris[0], uris[1], err, tt.want)
				}
			}
		})
	}
}
