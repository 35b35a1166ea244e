package login

import "testing"

// TestSafeNextAdmin: the re-authentication returns to the account area
// and to the admin console, and nowhere else.
func TestSafeNextAdmin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/admin":                   "/admin",
		"/admin/users/u1?done=x":   "/admin/users/u1?done=x",
		"/account/security":        "/account/security",
		"/administrator":           "/account",
		"/admin/../login":          "/account",
		"//evil.example.com/admin": "/account",
		"https://evil.example.com": "/account",
		"/account/reauth?next=/x":  "/account",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
