package login

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAccountPagesKeepTheSessionAlive checks that using the account pages
// is a use of the session: a browser that only visits its account, more
// often than the idle timeout, stays signed in, while one left unused past
// the idle timeout is signed out all the same.
func TestAccountPagesKeepTheSessionAlive(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	u := hs.user("keepalive@example.com", nil)
	b := hs.browser("192.0.2.196")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)

	step := hs.h.SessionIdle - 10*time.Minute
	for i := 1; i <= 3; i++ {
		hs.clock.Advance(step)
		if resp := b.get("/account"); resp.status != http.StatusOK {
			t.Fatalf("the account page %v after the sign-in, used every %v = %d %q, want it shown", time.Duration(i)*step, step, resp.status, resp.loc)
		}
	}
	// Seconds later (within keepAliveEvery), still shown.
	hs.clock.Advance(5 * time.Second)
	if resp := b.get("/account"); resp.status != http.StatusOK {
		t.Fatalf("the account page again = %d %q, want it shown", resp.status, resp.loc)
	}

	hs.clock.Advance(hs.h.SessionIdle + time.Minute)
	if resp := b.get("/account"); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?") {
		t.Fatalf("the account page after %v unused = %d %q, want a sign-in", hs.h.SessionIdle+time.Minute, resp.status, resp.loc)
	}
}
