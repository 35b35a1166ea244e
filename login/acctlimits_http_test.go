package login

// The account area's code checks under bursts: a signed-in attacker (a
// stolen session, no second factor in hand) posting guesses all at once,
// from one address and from many, gets no more checks than the limits
// allow, and the right code after them does not work where the code or
// the account is blocked.

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// stolen returns a browser at ip with b's cookies: the same session.
func (hs *harness) stolen(b *browser, ip string) *browser {
	s := hs.browser(ip)
	s.jar.SetCookies(s.base, b.jar.Cookies(b.base))
	return s
}

// postAllAt posts forms[i] to path from bs[i], all at once.
func postAllAt(bs []*browser, path string, forms []url.Values) []*response {
	out := make([]*response, len(bs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bs {
		wg.Go(func() {
			<-start
			out[i] = bs[i].post(path, forms[i])
		})
	}
	close(start)
	wg.Wait()
	return out
}

// signedIn signs u in with the password alone from a browser at ip.
func (hs *harness) signedIn(u *storage.User, ip string) *browser {
	hs.t.Helper()
	b := hs.browser(ip)
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	return b
}

// liveCode returns the live emailed code of u for purpose, bound to u's
// only session.
func (hs *harness) liveCode(u *storage.User, purpose string) *storage.OneTimeCode {
	hs.t.Helper()
	ss, err := hs.store.UserSessions(hs.t.Context(), u.ID, hs.clock.Now())
	if err != nil || len(ss) != 1 {
		hs.t.Fatalf("sessions of %s: %d, %v", u.ID, len(ss), err)
	}
	c, err := hs.store.LatestCode(hs.t.Context(), u.ID, purpose, ss[0].ID, hs.clock.Now())
	if err != nil {
		hs.t.Fatalf("live code of %s: %v", u.ID, err)
	}
	return c
}

// codeEntries returns how many entries of the emailed code c were checked
// and found wrong: the failures on its own counter, which a reservation
// under a roomy limit reads (and gives back).
func (hs *harness) codeEntries(c *storage.OneTimeCode) int {
	hs.t.Helper()
	key := lockout.CodeCounter(hs.h.OTPLimiter.Scope, c.ID).String()
	l := storage.Limit{Max: 1000, Window: hs.h.EmailCodeTTL}
	res, err := hs.store.ReserveAttempt(hs.t.Context(), key, l, hs.clock.Now())
	if err != nil || !res.Granted {
		hs.t.Fatalf("read the counter of code %s: %v", c.ID, err)
	}
	if err := hs.store.ReleaseAttempts(hs.t.Context(), key, 1, res.WindowStart, l.Max); err != nil {
		hs.t.Fatal(err)
	}
	return res.Counter.Failures - 1
}

// TestAccountEmailCodeAtOnceFromManyAddresses: an emailed code of the
// account area gets no more guesses from many addresses at once than
// from one (OTPLimiter.IP.Max), as one after the other: of eight wrong
// codes posted at once from eight addresses with the stolen session, three are
// checked against the code, which is then void: the right code after
// them does not turn email codes off.
func TestAccountEmailCodeAtOnceFromManyAddresses(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) { testAccountEmailCodeAtOnce(t, newHarnessOn(t, backend).in(t)) })
	}
}

func testAccountEmailCodeAtOnce(t *testing.T, hs *harness) {
	const rounds, n = 5, 8 // n: fewer than the account's limit
	max := hs.h.OTPLimiter.IP.Max
	for round := range rounds {
		u := hs.user(fmt.Sprintf("many-%d@example.com", round), nil)
		b := hs.signedIn(u, fmt.Sprintf("192.0.2.%d", 1+round))
		if err := hs.store.SetEmailOTP(t.Context(), u.ID, true, hs.clock.Now()); err != nil {
			t.Fatal(err)
		}
		const action = "/account/security/email/disable"
		page := b.post(action, formOf(t, b.get("/account/security").body, action))
		if page.status != http.StatusOK {
			t.Fatalf("%s = %d %q", action, page.status, alert(page.body))
		}
		confirm := formOf(t, page.body, action+"-confirm")
		right, _ := hs.mailCode(u.Email)
		c := hs.liveCode(u, purposeDisableEmail)
		bs, forms := make([]*browser, n), make([]url.Values, n)
		for i := range n {
			bs[i] = hs.stolen(b, fmt.Sprintf("127.0.%d.%d", round, 10+i))
			code := fmt.Sprintf("%06d", (i+1)*11111)
			if code == right {
				code = "999999"
			}
			forms[i] = with(confirm, "code", code)
		}
		for i, resp := range postAllAt(bs, action+"-confirm", forms) {
			if resp.status != http.StatusForbidden && resp.status != http.StatusTooManyRequests {
				t.Errorf("round %d: wrong code %d = %d %q", round, i, resp.status, alert(resp.body))
			}
		}
		if got := hs.codeEntries(c); got > max {
			t.Errorf("round %d: %d wrong codes at once from %d addresses: %d checked against the code; want at most %d", round, n, n, got, max)
		}
		resp := hs.stolen(b, fmt.Sprintf("127.0.%d.%d", round, 200)).post(action+"-confirm", with(confirm, "code", right))
		if resp.status == http.StatusSeeOther {
			t.Errorf("round %d: the right code after %d wrong ones at once = %d %s; want refused", round, n, resp.status, resp.loc)
		}
		if after, err := hs.store.UserByID(t.Context(), u.ID); err != nil || !after.EmailOTP {
			t.Errorf("round %d: email codes on = %v, %v after the burst; want on", round, after != nil && after.EmailOTP, err)
		}
	}
}
