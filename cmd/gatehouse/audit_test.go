package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

// TestAudit answers "what happened to this account?" from real sign-ins:
// the CLI (table and JSON) and the admin API select by user, IP, type,
// time and count, and each filter really filters.
func TestAudit(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			g.createUser("bob@example.com", "Bob", "bob's long password")
			rp := newRelyingParty(t, g)
			ops := g.createClient("--name", "Operations", "--admin")
			token := adminToken(t, g, ops)

			// alice: two wrong passwords from .81, then a sign-in from .83;
			// bob: one wrong password from .82.
			for range 2 {
				if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.81"), alice, "wrong password"); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong password = %d", r.StatusCode)
				}
			}
			time.Sleep(20 * time.Millisecond)
			mid := time.Now()
			time.Sleep(20 * time.Millisecond)
			if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.82"), "bob@example.com", "wrong password"); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password = %d", r.StatusCode)
			}
			if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.83"), alice, alicePass); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in = %d", r.StatusCode)
			}

			// cliEvents runs gatehouse audit --json with args.
			cliEvents := func(t *testing.T, args ...string) []admin.EventView {
				t.Helper()
				out := g.cli("", append([]string{"audit", "--json"}, args...)...)
				var events []admin.EventView
				if err := json.Unmarshal([]byte(out), &events); err != nil {
					t.Fatalf("audit --json %v printed %q: %v", args, out, err)
				}
				return events
			}
			// apiEvents asks GET /api/audit with query.
			apiEvents := func(t *testing.T, query url.Values) []admin.EventView {
				t.Helper()
				r := adminCall(t, g, token, http.MethodGet, "/api/audit?"+query.Encode(), "")
				if r.status != http.StatusOK {
					t.Fatalf("GET /api/audit?%s = %d %s", query.Encode(), r.status, r.body)
				}
				var out struct{ Events []admin.EventView }
				r.json(t, &out)
				return out.Events
			}
			summary := func(events []admin.EventView) []string {
				var s []string
				for _, e := range events {
					s = append(s, e.Type+" "+e.UserEmail+" "+e.IP)
				}
				return s
			}
			signins := func(events []admin.EventView) []string {
				var s []string
				for _, e := range summary(events) {
					if strings.HasPrefix(e, "signin.") {
						s = append(s, e)
					}
				}
				return s
			}

			cases := []struct {
				name  string
				args  []string
				query url.Values
				want  []string // the sign-in events, newest first
				only  func(admin.EventView) bool
			}{
				{
					name: "user", args: []string{"--user", "ALICE@example.com"}, query: url.Values{"user": {alice}},
					want: []string{"signin.succeeded " + alice + " 127.0.0.83", "signin.failed " + alice + " 127.0.0.81", "signin.failed " + alice + " 127.0.0.81"},
					only: func(e admin.EventView) bool { return e.UserEmail == alice },
				},
				{
					name: "ip", args: []string{"--ip", "127.0.0.82"}, query: url.Values{"ip": {"127.0.0.82"}},
					want: []string{"signin.failed bob@example.com 127.0.0.82"},
					only: func(e admin.EventView) bool { return e.IP == "127.0.0.82" },
				},
				{
					name: "type", args: []string{"--type", "signin.failed"}, query: url.Values{"type": {"signin.failed"}},
					want: []string{"signin.failed bob@example.com 127.0.0.82", "signin.failed " + alice + " 127.0.0.81", "signin.failed " + alice + " 127.0.0.81"},
					only: func(e admin.EventView) bool { return e.Type == "signin.failed" },
				},
				{
					name: "user and type", args: []string{"--user", alice, "--type", "signin.failed"}, query: url.Values{"user": {alice}, "type": {"signin.failed"}},
					want: []string{"signin.failed " + alice + " 127.0.0.81", "signin.failed " + alice + " 127.0.0.81"},
					only: func(e admin.EventView) bool { return e.UserEmail == alice && e.Type == "signin.failed" },
				},
				{
					name: "since a time", args: []string{"--since", mid.UTC().Format(time.RFC3339Nano)}, query: url.Values{"since": {mid.UTC().Format(time.RFC3339Nano)}},
					want: []string{"signin.succeeded " + alice + " 127.0.0.83", "signin.failed bob@example.com 127.0.0.82"},
					only: func(e admin.EventView) bool { return !e.Time.Before(mid.Truncate(time.Millisecond)) },
				},
				{
					name: "since a duration", args: []string{"--since", "1h", "--type", "signin.succeeded"}, query: url.Values{"since": {"1h"}, "type": {"signin.succeeded"}},
					want: []string{"signin.succeeded " + alice + " 127.0.0.83"},
					only: func(e admin.EventView) bool { return e.Type == "signin.succeeded" },
				},
				{
					name: "since a later date", args: []string{"--since", "2999-01-01"}, query: url.Values{"since": {"2999-01-01"}},
					want: nil,
					only: func(admin.EventView) bool { return false },
				},
				{
					name: "limit", args: []string{"--type", "signin.failed", "--limit", "1"}, query: url.Values{"type": {"signin.failed"}, "limit": {"1"}},
					want: []string{"signin.failed bob@example.com 127.0.0.82"},
					only: func(e admin.EventView) bool { return e.Type == "signin.failed" },
				},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					for via, events := range map[string][]admin.EventView{"cli": cliEvents(t, tc.args...), "api": apiEvents(t, tc.query)} {
						if got := signins(events); !slices.Equal(got, tc.want) {
							t.Errorf("%s: sign-in events %q, want %q", via, got, tc.want)
						}
						for _, e := range events {
							if !tc.only(e) {
								t.Errorf("%s: the filter let through %+v", via, e)
							}
						}
						for i := 1; i < len(events); i++ {
							if events[i].Time.After(events[i-1].Time) {
								t.Errorf("%s: events not newest first: %v", via, summary(events))
							}
						}
					}
				})
			}

			// Without filters, every event; the admin client's own actions
			// are there too.
			all := cliEvents(t)
			if len(signins(all)) != 4 || !slices.ContainsFunc(all, func(e admin.EventView) bool { return e.Type == "client.created" && e.ClientID == ops.ID }) {
				t.Errorf("unfiltered audit: %q", summary(all))
			}

			// The table: a header, one line per event, emails not ids.
			table := g.cli("", "audit", "--user", alice)
			lines := strings.Split(strings.TrimSpace(table), "\n")
			if len(lines) != 5 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "signin.succeeded") ||
				!strings.Contains(lines[1], alice) || !strings.Contains(lines[1], "127.0.0.83") {
				t.Errorf("audit table:\n%s", table)
			}
			if out := g.cli("", "audit", "--since", "2999-01-01"); !strings.Contains(out, "(no matching events)") {
				t.Errorf("empty audit table:\n%s", out)
			}

			// Bad input: a usage error (exit 2) or a clear failure (exit
			// 1), never a crash.
			for _, tc := range []struct {
				args []string
				code int
				want string
			}{
				{[]string{"--ip", "300.1.1.1"}, 2, "is not an IP address"},
				{[]string{"--since", "yesterday"}, 2, "since"},
				{[]string{"--since", "-5m"}, 2, "positive duration"},
				{[]string{"--limit", "0"}, 2, "--limit"},
				{[]string{"--limit", "5000"}, 2, "--limit"},
				{[]string{"--limit", "ten"}, 2, "invalid value"},
				{[]string{"extra"}, 2, "unexpected argument"},
				{[]string{"--user", "nobody@example.com"}, 1, "no user with email"},
			} {
				out, errOut, err := g.tryCLI("", append([]string{"audit"}, tc.args...)...)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
					t.Errorf("audit %v: err %v, want exit %d\n%s%s", tc.args, err, tc.code, out, errOut)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("audit %v: stderr does not say %q:\n%s", tc.args, tc.want, errOut)
				}
				biNoCrash(t, "stderr", errOut)
			}
		})
	}
}

// TestClientsUpdateCLI changes a client's redirect URIs from the command
// line and checks that the sign-in honours the new list only.
func TestClientsUpdateCLI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			c := g.createClient("--name", "App", "--redirect-uri", "https://app.example.com/old", "--post-logout-redirect-uri", "https://app.example.com/bye")
			authorize := func(redirect string) int {
				t.Helper()
				_, challenge := pkce()
				q := url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
					"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
				resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
				return resp.StatusCode
			}
			if code := authorize("https://app.example.com/new"); code < 400 {
				t.Fatalf("unregistered redirect URI accepted before the update: %d", code)
			}
			// The id first or last; it may start with a dash.
			out := g.cli("", "clients", "update", c.ID, "--redirect-uri", "https://app.example.com/new", "--redirect-uri", "http://127.0.0.1:5000/cb")
			if !strings.Contains(out, "https://app.example.com/new http://127.0.0.1:5000/cb") || !strings.Contains(out, "https://app.example.com/bye") {
				t.Errorf("clients update printed:\n%s", out)
			}
			if code := authorize("https://app.example.com/new"); code != http.StatusFound && code != http.StatusSeeOther {
				t.Errorf("new redirect URI after the update: %d, want a redirect to the login", code)
			}
			if code := authorize("https://app.example.com/old"); code < 400 {
				t.Errorf("old redirect URI still accepted after the update: %d", code)
			}
			out = g.cli("", "clients", "update", "--redirect-uri", "https://app.example.com/new", "--clear-post-logout-redirect-uris", c.ID)
			if show := g.cli("", "clients", "show", c.ID); strings.Contains(show, "/bye") || !strings.Contains(out, "updated client") {
				t.Errorf("post-logout URIs not cleared:\n%s\n%s", out, show)
			}
			if audit := g.cli("", "audit", "--type", "client.updated", "--json"); strings.Count(audit, `"client.updated"`) != 2 || !strings.Contains(audit, c.ID) {
				t.Errorf("audit of the updates:\n%s", audit)
			}
			out = g.cli("", "clients", "update", c.ID, "--require-mfa", "--signing-alg", "ES256", "--access-token-format", "jwt")
			if show := g.cli("", "clients", "show", c.ID); !regexp.MustCompile(`require mfa:\s+true\n(?s:.*)signing algorithm:\s+ES256\naccess token format:\s+jwt`).MatchString(show) {
				t.Errorf("settings not changed:\n%s\n%s", out, show)
			}

			for _, tc := range []struct {
				args []string
				code int
				want string
			}{
				{[]string{c.ID}, 2, "nothing to change: give at least one --redirect-uri"},
				{[]string{c.ID, "--redirect-uri", "https://app.example.com/cb#frag"}, 2, "--redirect-uri"},
				{[]string{c.ID, "--redirect-uri", "http://app.example.com/cb"}, 2, "http is allowed only for loopback"},
				{[]string{c.ID, "--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "ftp://x/"}, 2, "--post-logout-redirect-uri"},
				{[]string{"--redirect-uri", "https://app.example.com/cb"}, 2, "expected one client id"},
				{[]string{"no-such-client", "--redirect-uri", "https://app.example.com/cb"}, 1, `no client with id "no-such-client"`},
			} {
				out, errOut, err := g.tryCLI("", append([]string{"clients", "update"}, tc.args...)...)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
					t.Errorf("clients update %v: err %v, want exit %d\n%s%s", tc.args, err, tc.code, out, errOut)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("clients update %v: stderr does not say %q:\n%s", tc.args, tc.want, errOut)
				}
			}
			if show := g.cli("", "clients", "show", c.ID); !strings.Contains(show, "https://app.example.com/new") {
				t.Errorf("a refused update changed the client:\n%s", show)
			}
		})
	}
}
