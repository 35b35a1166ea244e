package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAdminChangeNotice: a user is told by email, through the server's
// SMTP server, when an administrator removes their second factors
// (reset-2fa) or disables their account, from the CLI and from the admin
// API alike, as they are of the changes they make themselves (NIST SP
// 800-63B §6.1.2.3). The console's are tested in its package.
func TestAdminChangeNotice(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			token := adminToken(t, e.g, e.g.createClient("--name", "Operations", "--admin"))
			const (
				reset    = "An administrator removed every second factor of your Gatehouse account"
				disabled = "An administrator disabled your Gatehouse account"
			)
			for _, tc := range []struct {
				name, email, want string
				act               func(email string)
			}{
				{"CLI reset-2fa", "notice-cli-reset@example.com", reset, func(email string) { tfCLI(t, e.g, "", "users", "reset-2fa", email) }},
				{"API reset-2fa", "notice-api-reset@example.com", reset, func(email string) {
					if r := adminCall(t, e.g, token, http.MethodPost, "/api/users/"+email+"/reset-2fa", ""); r.status != http.StatusOK {
						t.Errorf("reset-2fa = %d %s", r.status, r.body)
					}
				}},
				{"CLI disable", "notice-cli-disable@example.com", disabled, func(email string) { tfCLI(t, e.g, "", "users", "disable", email) }},
				{"API disable", "notice-api-disable@example.com", disabled, func(email string) {
					if r := adminCall(t, e.g, token, http.MethodPost, "/api/users/"+email+"/disable", ""); r.status != http.StatusOK {
						t.Errorf("disable = %d %s", r.status, r.body)
					}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					u := e.newUser(t, tc.email)
					e.enableTOTP(t, e.session(t, u, "127.0.30.1"), u)
					tc.act(u.email)
					e.mail.waitText(t, u.email, tc.want)
				})
			}
		})
	}
}

// waitText waits until a message to has arrived whose text holds want
// (compared with runs of white space as one space).
func (s *tfSink) waitText(t *testing.T, to, want string) {
	t.Helper()
	has := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.ContainsFunc(s.msgs, func(m tfMail) bool {
			return slices.Contains(m.to, to) && strings.Contains(strings.Join(strings.Fields(m.raw), " "), want)
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for !has() {
		if time.Now().After(deadline) {
			t.Fatalf("no email to %s says %q", to, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
