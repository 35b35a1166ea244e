package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/op"
)

// TestUnavailableRedirect: an error redirect that a database failure
// caused says temporarily_unavailable with the fixed description, in the
// query or the fragment where the response mode put it, keeps the other
// parameters, and never carries the database's error text; other
// redirects pass unchanged.
func TestUnavailableRedirect(t *testing.T) {
	t.Parallel()
	leak := url.QueryEscape(`load client: failed to connect to host=10.0.0.5 user=gatehouse: FATAL: terminating connection (SQLSTATE 57P01)`)
	for _, tc := range []struct {
		name, loc       string
		changed, inFrag bool
	}{
		{"query", "https://app.example.com/cb?error=server_error&error_description=" + leak + "&state=s1&iss=http%3A%2F%2Fidp", true, false},
		{"query of a redirect_uri with its own", "https://app.example.com/cb?tenant=a&error=server_error&error_description=" + leak + "&state=s1", true, false},
		{"fragment", "https://app.example.com/cb#error=server_error&error_description=" + leak + "&state=s1", true, true},
		{"another error", "https://app.example.com/cb?error=access_denied&error_description=no&state=s1", false, false},
		{"a code", "https://app.example.com/cb?code=abc&state=s1", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unavailableRedirect(tc.loc)
			if !tc.changed {
				if got != tc.loc {
					t.Errorf("unavailableRedirect(%q) = %q, want it unchanged", tc.loc, got)
				}
				return
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("unavailableRedirect gave %q: %v", got, err)
			}
			params := u.RawQuery
			if tc.inFrag {
				params = u.EscapedFragment()
				if u.RawQuery != "" {
					t.Errorf("fragment response moved to the query: %q", got)
				}
			}
			v, err := url.ParseQuery(params)
			if err != nil {
				t.Fatal(err)
			}
			if v.Get("error") != "temporarily_unavailable" || v.Get("error_description") != op.UnavailableDescription || v.Get("state") != "s1" {
				t.Errorf("unavailableRedirect(%q) = %q: want temporarily_unavailable, the fixed description and the state", tc.loc, got)
			}
			if strings.Contains(got, "SQLSTATE") || strings.Contains(got, "10.0.0.5") || strings.Contains(got, "server_error") {
				t.Errorf("unavailableRedirect kept the database's text or server_error: %q", got)
			}
			if !strings.HasPrefix(got, "https://app.example.com/cb") {
				t.Errorf("unavailableRedirect changed the redirect URI: %q", got)
			}
		})
	}
}
