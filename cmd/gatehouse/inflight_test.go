package main

// Codes checked at once from one address (an office behind NAT): the
// attempts in flight hold their places under the limit of 3 per address,
// but block nobody; only failures do (the wrong codes at once are
// TestLimitsUnderConcurrency's).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestCodesAtOnceFromOneAddress(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			rp := tfRP(t, e.rp)
			const n, office = 12, "127.0.40.1"
			bs := make([]*browser, n)
			forms := make([]map[string][]string, n)
			for i := range n {
				u := e.newUser(t, fmt.Sprintf("office-%d@example.com", i))
				e.enableTOTP(t, e.session(t, u, fmt.Sprintf("127.0.40.%d", 10+i)), u)
				bs[i] = newBrowser(t).from(office)
				_, page := e.codePage(t, rp, bs[i], u)
				forms[i] = tfWith(tfForm(t, page.body, "/login/otp"), "code", e.code(u))
			}
			results := tfBurst(n, func(i int) (*response, error) {
				return tfRawPost(bs[i], e.g.base+"/login/otp", forms[i])
			})
			busy := 0
			for i, r := range results {
				switch {
				case r.err != nil:
					t.Fatalf("code %d: %v", i, r.err)
				case r.resp.StatusCode == http.StatusSeeOther && strings.Contains(r.resp.Header.Get("Location"), "/authorize/callback"):
				case r.resp.StatusCode == http.StatusTooManyRequests && r.resp.Header.Get("Retry-After") != "" &&
					strings.Contains(r.resp.body, "Sign-in is busy") && !strings.Contains(r.resp.body, "minutes"):
					busy++ // retryable: not a block
				default:
					t.Errorf("right code %d of %d at once from one address = %d %q", i, n, r.resp.StatusCode, tfAlert(r.resp.body))
				}
			}
			t.Logf("%d right codes at once from one address: %d answered busy", n, busy)
			if out := tfCLI(t, e.g, "", "blocks", "list"); strings.Contains(out, office) {
				t.Errorf("blocks after right codes only:\n%s", out)
			}
		})
	}
}
