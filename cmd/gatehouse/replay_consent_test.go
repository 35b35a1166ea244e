package main

// The consent form replayed across two replicas on one PostgreSQL (and one
// SQLite process): Allow posted 20 times at once gives the client one
// code and the account one grant; Allow and Deny posted at once give the
// client one answer: a code that works, or access_denied and no code,
// never a 500.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// consentBurst posts the consent page's form with decisions[i] to
// servers[i%len(servers)], all at once, from b; it returns the Location of
// each answer ("" for none) and fails on a transport error or a 5xx.
func consentBurst(t *testing.T, b *browser, page *response, decisions []string, servers ...*gatehouse) []string {
	t.Helper()
	fields := formFields(page.body)
	out := make([]string, len(decisions))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, d := range decisions {
		wg.Go(func() {
			<-start
			base := servers[i%len(servers)].base
			form := withValues(fields, "decision", d)
			req, _ := http.NewRequest(http.MethodPost, base+"/login/consent", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, h, body, err := burstDo(b.c, req)
			if err != nil || status >= 500 {
				t.Errorf("POST /login/consent (%s) at %s = %d %v:\n%s", d, base, status, err, body)
				return
			}
			if loc := h.Get("Location"); loc != "" {
				u, _ := url.Parse(base + "/login/consent")
				if l, err := u.Parse(loc); err == nil {
					out[i] = l.String()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestReplayConsent posts one consent form many times at once.
func TestReplayConsent(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a, b := replayServers(t, backend)
			rp := newRelyingParty(t, a, "--consent")

			t.Run("allow 20 times", func(t *testing.T) {
				const email = "replay-allow@example.com"
				a.createUser(email, "Allow", alicePass)
				br := newBrowser(t)
				f := rp.newFlow()
				page := toConsent(t, a, br, f, email)
				decisions := make([]string, 20)
				for i := range decisions {
					decisions[i] = "allow"
				}
				var codes []string
				for _, loc := range consentBurst(t, br, page, decisions, a, b) {
					if loc == "" {
						continue
					}
					if _, at := br.follow(loc, rpRedirect); strings.Contains(at, "code=") {
						codes = append(codes, at)
					}
				}
				if len(codes) != 1 {
					t.Fatalf("20 parallel Allows over two replicas gave %d codes, want 1", len(codes))
				}
				rp.exchange(rp.codeFrom(codes[0], f), f)
				if n := strings.Count(br.get(b.base+"/account").body, `name="client" value="`+rp.client.ID+`"`); n != 1 {
					t.Errorf("the account page lists the application %d times after 20 Allows, want once", n)
				}
			})

			t.Run("allow and deny at once", func(t *testing.T) {
				const email = "replay-both@example.com"
				a.createUser(email, "Both", alicePass)
				for round := range 3 {
					br := newBrowser(t)
					f := rp.newFlow(promptConsent)
					page := toConsent(t, a, br, f, email)
					decisions := make([]string, 20)
					for i := range decisions {
						decisions[i] = []string{"allow", "deny"}[(i/2+round)%2]
					}
					var codes, denied []string
					for _, loc := range consentBurst(t, br, page, decisions, a, b) {
						switch {
						case strings.HasPrefix(loc, rpRedirect):
							if ssQuery(loc, "error") == "access_denied" {
								denied = append(denied, loc)
							} else {
								t.Errorf("a consent answer went to the client with %s", loc)
							}
						case loc != "":
							if _, at := br.follow(loc, rpRedirect); strings.Contains(at, "code=") {
								codes = append(codes, at)
							}
						}
					}
					if len(codes) > 1 {
						t.Fatalf("round %d: %d codes from one request", round, len(codes))
					}
					if len(codes) == 1 {
						status, out := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {ssQuery(codes[0], "code")},
							"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}})
						if status == http.StatusOK && len(denied) > 0 {
							t.Errorf("round %d: the client was told access_denied %d times, and the code of the same request redeemed", round, len(denied))
						}
						if status != http.StatusOK && len(denied) == 0 {
							t.Errorf("round %d: the only answer, a code, does not redeem: %d %v", round, status, out)
						}
					} else if len(denied) == 0 {
						t.Errorf("round %d: the client got no answer at all", round)
					}
					t.Logf("round %d: %d codes, %d access_denied", round, len(codes), len(denied))
				}
			})
		})
	}
}
