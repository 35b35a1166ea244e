package login

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestConsentAnsweredOnce: the consent page's answer is its request's
// one answer. A Deny posted after an Allow finished (the client got its
// code, or the browser is on its way to get it) tells the client nothing
// and answers like a finished sign-in, and so does an Allow after a Deny;
// with Allows and Denies of the same form posted at once, the client gets
// either the denial or a code, never both, and a denial leaves no grant.
func TestConsentAnsweredOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			hs.client("third", func(c *storage.Client) { c.Consent = true })
			n := 0
			// consentForm signs a new user in to the third-party client
			// and returns their browser, the request and the consent form.
			consentForm := func(t *testing.T) (*browser, *storage.User, string, url.Values) {
				t.Helper()
				n++
				u := hs.user(fmt.Sprintf("once-%d@example.com", n), nil)
				b := hs.browser(fmt.Sprintf("192.0.2.%d", 100+n))
				id, resp := hs.submitPassword(b, "third", u.Email, testPassword, nil)
				expectRedirect(t, resp, callbackURL(id))
				consentPage := ConsentPath + "?authRequestID=" + url.QueryEscape(id)
				expectRedirect(t, b.get(callbackURL(id)), consentPage)
				return b, u, id, formOf(t, b.get(consentPage).body, ConsentPath)
			}
			fails := func(id string) int {
				k := 0
				for _, f := range hs.failures() {
					if f.id == id {
						k++
					}
				}
				return k
			}
			codes := func(id string) int {
				k := 0
				for _, i := range hs.issued() {
					if i == id {
						k++
					}
				}
				return k
			}
			expired := func(t *testing.T, what string, resp *response) {
				t.Helper()
				if resp.status != http.StatusBadRequest || resp.loc != "" || !strings.Contains(resp.body, "Sign-in expired") {
					t.Errorf("%s = %d %q, want 400 Sign-in expired; alert %q", what, resp.status, resp.loc, alert(resp.body))
				}
			}
			for _, followed := range []bool{true, false} {
				t.Run(fmt.Sprintf("deny after allow, callback followed %t", followed), func(t *testing.T) {
					b, _, id, form := consentForm(t)
					expectRedirect(t, b.post(ConsentPath, with(form, "decision", "allow")), callbackURL(id))
					if followed {
						if r := b.get(callbackURL(id)); r.status != http.StatusOK || codes(id) != 1 {
							t.Fatalf("callback after allow = %d, %d codes", r.status, codes(id))
						}
					}
					expired(t, "deny after allow", b.post(ConsentPath, with(form, "decision", "deny")))
					if k := fails(id); k != 0 {
						t.Errorf("the client was told %d errors after the Allow finished", k)
					}
					if !followed {
						if r := b.get(callbackURL(id)); r.status != http.StatusOK || codes(id) != 1 {
							t.Errorf("the callback of the Allow after the refused Deny = %d, %d codes, want the code", r.status, codes(id))
						}
					}
				})
			}
			t.Run("allow after deny", func(t *testing.T) {
				b, u, id, form := consentForm(t)
				if r := b.post(ConsentPath, with(form, "decision", "deny")); r.status != http.StatusFound || r.loc != testRedirect+"?error=access_denied" {
					t.Fatalf("deny = %d %q, want access_denied", r.status, r.loc)
				}
				expired(t, "allow after deny", b.post(ConsentPath, with(form, "decision", "allow")))
				expired(t, "deny after deny", b.post(ConsentPath, with(form, "decision", "deny")))
				if g, err := hs.store.ConsentGrant(t.Context(), u.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("grant after deny: %+v %v", g, err)
				}
				if k, c := fails(id), codes(id); k != 1 || c != 0 {
					t.Errorf("%d errors and %d codes for the client, want 1 and 0", k, c)
				}
			})
			t.Run("20 at once", func(t *testing.T) {
				for round := range 3 {
					b, u, id, form := consentForm(t)
					var (
						wg    sync.WaitGroup
						mu    sync.Mutex
						resps = map[string][]*response{}
					)
					start := make(chan struct{})
					for i := range 20 {
						decision := []string{"allow", "deny"}[(i+round)%2]
						wg.Go(func() {
							<-start
							r := b.post(ConsentPath, with(form, "decision", decision))
							mu.Lock()
							resps[decision] = append(resps[decision], r)
							mu.Unlock()
						})
					}
					close(start)
					wg.Wait()
					denied, allowed := 0, 0
					for _, r := range resps["deny"] {
						switch {
						case r.status == http.StatusFound && r.loc == testRedirect+"?error=access_denied":
							denied++
						case r.status != http.StatusBadRequest:
							t.Errorf("round %d: deny = %d %q; alert %q", round, r.status, r.loc, alert(r.body))
						}
					}
					for _, r := range resps["allow"] {
						switch {
						case r.status == http.StatusSeeOther && r.loc == callbackURL(id):
							allowed++
						case r.status != http.StatusBadRequest:
							t.Errorf("round %d: allow = %d %q; alert %q", round, r.status, r.loc, alert(r.body))
						}
					}
					b.get(callbackURL(id))
					_, grantErr := hs.store.ConsentGrant(t.Context(), u.ID, "third")
					k, c := fails(id), codes(id)
					switch {
					case denied+allowed == 0:
						t.Errorf("round %d: neither an Allow nor a Deny went through", round)
					case denied > 0 && (denied != 1 || allowed != 0 || c != 0 || k != 1 || grantErr == nil):
						t.Errorf("round %d: %d denials answered (%d told the client), %d allows, %d codes, grant error %v; want one denial and nothing else",
							round, denied, k, allowed, c, grantErr)
					case denied == 0 && (c != 1 || k != 0 || grantErr != nil):
						t.Errorf("round %d: %d allows, %d codes, %d errors told the client, grant error %v; want one code",
							round, allowed, c, k, grantErr)
					}
				}
			})
		})
	}
}
