package login

import "testing"

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"Alice@Example.COM", "alice@example.com"},
		{"  bob@example.com\t", "bob@example.com"},
		{"", ""},
		{"a\x00b@example.com", ""}, // NUL: no stored address holds it
		{"a\xffb@example.com", ""}, // not UTF-8
		{"josé@example.com", "josé@example.com"},
	} {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
