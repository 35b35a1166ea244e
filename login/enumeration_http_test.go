package login

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestUnknownAccountLooksTheSame (SECURITY.md LCK-04, PWD-01): the same
// script of passwords for an account and for an address without one, each
// from a fresh client IP, gets answers that are equal byte for byte, status
// and headers included, once the values that differ between any two
// sign-ins (the auth request's id, CSRF tokens, cookies) and the address
// itself are masked: the same messages, and the block at the same attempt.
func TestUnknownAccountLooksTheSame(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("alice@example.com", nil)
	hs.user("off@example.com", func(u *storage.User) { u.Disabled = true })
	// script runs the passwords for email from ip, one sign-in each, and
	// returns the masked answers.
	script := func(ip, email string) []string {
		b := hs.browser(ip)
		var out []string
		for _, pass := range []string{"wrong 1", "wrong 2", "wrong 3", "wrong 4", "wrong 5", "wrong 6", testPassword} {
			id, resp := hs.submitPassword(b, testClientID, email, pass, nil)
			out = append(out, maskAnswer(resp, id, email))
		}
		return out
	}
	want := script("198.51.100.30", "alice@example.com")
	if !strings.Contains(want[len(want)-1], "429") {
		t.Fatalf("the script does not reach the account's block:\n%s", want[len(want)-1])
	}
	for _, tt := range []struct{ name, ip, email string }{
		{"unknown account", "198.51.100.31", "nobody@example.com"},
		{"disabled account", "198.51.100.32", "off@example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := script(tt.ip, tt.email)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("answer %d differs from an account's:\n--- account\n%s\n--- %s\n%s", i+1, want[i], tt.name, got[i])
				}
			}
		})
	}
}

var (
	csrfValueRE = regexp.MustCompile(`(name="csrf" value=|data-csrf=)"[^"]*"`)
	dateRE      = regexp.MustCompile(`(?m)^Date: .*$`)
)

// maskAnswer is resp as text, status, headers and body, with the auth
// request's id, the CSRF tokens, the cookies' values and email masked.
func maskAnswer(resp *response, id, email string) string {
	var b strings.Builder
	b.WriteString(http.StatusText(resp.status) + " " + strconv.Itoa(resp.status) + "\n")
	h := resp.header.Clone()
	var cookies []string
	for _, c := range h.Values("Set-Cookie") {
		name, rest, _ := strings.Cut(c, "=")
		_, attrs, _ := strings.Cut(rest, ";")
		cookies = append(cookies, name+"=…;"+attrs)
	}
	h.Del("Set-Cookie")
	h.Del("Content-Length") // the address is masked
	h.Write(&b)
	b.WriteString(strings.Join(cookies, "\n") + "\n\n")
	body := strings.ReplaceAll(resp.body, id, "ID")
	body = strings.ReplaceAll(body, email, "EMAIL")
	body = csrfValueRE.ReplaceAllString(body, `$1"CSRF"`)
	b.WriteString(body)
	return dateRE.ReplaceAllString(b.String(), "Date: …")
}
