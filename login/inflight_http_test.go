package login

// Attempts in flight: a code or password being checked holds its place
// under the limits, so parallel guesses get no more checks than they
// allow, but it blocks nobody until it has failed. Others behind the same
// address (an office's NAT) wait for room, or are told to try again in a
// moment, never that they are blocked for 10 minutes.

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// holdCodes reserves the address's whole code limit for codes of other
// accounts, as if they were being checked, and returns their attempts.
func (hs *harness) holdCodes(ip string) []*lockout.Attempt {
	hs.t.Helper()
	var held []*lockout.Attempt
	for i := range hs.h.OTPLimiter.IP.Max {
		a, until, err := hs.h.OTPLimiter.Reserve(hs.t.Context(), netip.MustParseAddr(ip), fmt.Sprintf("in-flight-%d", i))
		if err != nil || a == nil {
			hs.t.Fatalf("reserve a code in flight: %v (blocked until %v)", err, until)
		}
		held = append(held, a)
	}
	return held
}

// succeed reports the attempts held as succeeded.
func (hs *harness) succeed(held []*lockout.Attempt) {
	for _, a := range held {
		if err := a.Succeeded(hs.t.Context()); err != nil {
			hs.t.Error(err)
		}
	}
}

// TestCodesInFlightBlockNobody: while codes of others fill the address's
// code limit, the sign-in page opens, and a right code waits for room
// and is accepted; when no room comes, it is answered busy (429 with
// Retry-After), not blocked, and accepted when posted again.
func TestCodesInFlightBlockNobody(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	const ip = "203.0.113.40"
	u, secret := hs.appUser("dave@example.com")
	b := hs.browser(ip)
	id, _, form := hs.codeStep(b, u.Email, nil)

	held := hs.holdCodes(ip)
	other := hs.browser(ip)
	if resp := other.get("/login?authRequestID=" + hs.authorize(other, testClientID, nil)); resp.status != http.StatusOK {
		t.Errorf("the sign-in page with codes in flight = %d %q, want 200", resp.status, alert(resp.body))
	}
	// The codes in flight succeed in a moment: the right code gets its place.
	done := make(chan struct{})
	defer func() { <-done }() // also when the test stops early
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond)
		hs.succeed(held)
	}()
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)

	// Codes in flight that do not finish in time: busy, not blocked.
	hs.h.OTPLimiter.BusyWait = 50 * time.Millisecond
	b = hs.browser(ip)
	id, _, form = hs.codeStep(b, u.Email, nil)
	held = hs.holdCodes(ip)
	hs.clock.Advance(30 * time.Second) // the next time step: a fresh code
	resp := b.post("/login/otp", with(form, "code", hs.totpCode(secret)))
	if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") != busyRetryAfter ||
		!strings.Contains(resp.body, msgBusy) || strings.Contains(resp.body, "minutes") {
		t.Errorf("a code while the limit is full of codes in flight = %d, Retry-After %q, %q; want 429, %s, %q",
			resp.status, resp.header.Get("Retry-After"), alert(resp.body), busyRetryAfter, msgBusy)
	}
	if bs, err := hs.store.Blocks(t.Context(), hs.clock.Now()); err != nil || len(bs) != 0 {
		t.Errorf("blocks with codes in flight: %v %v", bs, err)
	}
	hs.succeed(held)
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
}

// postAtOnce posts each form to /login/otp from its browser, all at once,
// and returns the answers.
func postAtOnce(bs []*browser, forms []url.Values) []*response {
	out := make([]*response, len(bs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bs {
		wg.Go(func() {
			<-start
			out[i] = bs[i].post("/login/otp", forms[i])
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestCodesAtOnceFromOneAddress: twelve users behind one address post
// their right codes at once under a code limit of 3 per address: every one
// is accepted, and nothing is blocked. Twelve wrong codes at once from
// another address are checked three times, and block it as before.
func TestCodesAtOnceFromOneAddress(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	const n = 12
	users := make([]*storage.User, n)
	secrets := make([]string, n)
	for i := range n {
		users[i], secrets[i] = hs.appUser(fmt.Sprintf("office-%d@example.com", i))
	}
	steps := func(ip string, code func(i int) string) ([]*browser, []string, []url.Values) {
		bs, ids, forms := make([]*browser, n), make([]string, n), make([]url.Values, n)
		for i, u := range users {
			bs[i] = hs.browser(ip)
			var form url.Values
			ids[i], _, form = hs.codeStep(bs[i], u.Email, nil)
			forms[i] = with(form, "code", code(i))
		}
		return bs, ids, forms
	}

	bs, ids, forms := steps("203.0.113.50", func(i int) string { return hs.totpCode(secrets[i]) })
	for i, resp := range postAtOnce(bs, forms) {
		hs.expectDone(bs[i], ids[i], resp, amrTOTP, ACRMFA)
	}
	if bs, err := hs.store.Blocks(t.Context(), hs.clock.Now()); err != nil || len(bs) != 0 {
		t.Errorf("blocks after right codes only: %v %v", bs, err)
	}

	const wrongIP = "203.0.113.51"
	bs, _, forms = steps(wrongIP, func(i int) string { return otherCode(hs.totpCode(secrets[i])) })
	invalid, blocked := 0, 0
	for i, resp := range postAtOnce(bs, forms) {
		switch {
		case resp.status == http.StatusUnauthorized && strings.HasPrefix(alert(resp.body), "Invalid"):
			invalid++
		case resp.status == http.StatusTooManyRequests && alert(resp.body) == blocked10:
			blocked++
		default:
			t.Errorf("wrong code %d = %d %q", i, resp.status, alert(resp.body))
		}
	}
	failed, err := hs.store.Events(t.Context(), storage.EventFilter{IP: wrongIP, Type: storage.EventCodeFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 3 || invalid != 2 || blocked != n-2 {
		t.Errorf("%d wrong codes at once from one address: %d checked, %d invalid, %d blocked; want 3, 2, %d",
			n, len(failed), invalid, blocked, n-2)
	}
	key := lockout.IPCounter("otp", netip.MustParseAddr(wrongIP)).String()
	if bs, err := hs.store.Blocks(t.Context(), hs.clock.Now()); err != nil || len(bs) != 1 || bs[0].Key != key {
		t.Errorf("blocks after the wrong codes: %v %v, want %s", bs, err, key)
	}
}
