package login

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// claimFault is the Store of a Handler whose next ClaimAuthRequest, once
// armed, commits and then fails, as a claim whose COMMIT lost its answer
// with the database connection, its outcome unresolved.
type claimFault struct {
	storage.Store
	armed atomic.Bool
}

func (s *claimFault) ClaimAuthRequest(ctx context.Context, id string, bindingHash []byte) error {
	err := s.Store.ClaimAuthRequest(ctx, id, bindingHash)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		return errors.New("storage: claim auth request: the commit lost its connection and its outcome is unknown")
	}
	return err
}

// TestCallbackRetryAfterLostClaim: a callback whose claim committed but
// answered an error (503) is retried by the browser. The retry of the
// same browser, which the 503 gave the claim-retry cookie, issues the
// request's one code; the same browser without that cookie (a parallel
// callback, not a retry) and another browser are refused; and once the
// retry has had its code, the callback is refused as over.
func TestCallbackRetryAfterLostClaim(t *testing.T) {
	t.Parallel()
	fault := &claimFault{}
	hs := newHarness(t, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
	u := hs.user("retry-callback@example.com", nil)
	b := hs.browser("192.0.2.95")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	if resp.status != http.StatusSeeOther || resp.loc != callbackURL(id) {
		t.Fatalf("password = %d %q, want 303 to the callback", resp.status, resp.loc)
	}
	fault.armed.Store(true)
	first := b.get(callbackURL(id))
	if first.status != http.StatusServiceUnavailable || first.header.Get("Retry-After") == "" {
		t.Fatalf("the callback whose claim failed = %d (Retry-After %q), want 503", first.status, first.header.Get("Retry-After"))
	}
	if ar := hs.authRequest(id); !bytes.Equal(ar.BindingHash, storage.ClaimedBinding(bindingHash(b.cookie(flowCookie)))) {
		t.Fatal("the failed claim did not commit: the test does not test the retry of a committed claim")
	}
	if n := len(hs.issued()); n != 0 {
		t.Fatalf("%d codes issued by the callback that failed", n)
	}

	// The same browser's cookies without the claim cookie: a parallel
	// callback, refused as the claim's losers are.
	parallel := hs.browser("192.0.2.95")
	for _, c := range b.jar.Cookies(baseURL) {
		if c.Name != hs.h.CookieName(claimCookie) {
			parallel.jar.SetCookies(baseURL, []*http.Cookie{c})
		}
	}
	if b.cookie(claimCookie) == "" {
		t.Fatal("the 503 set no claim cookie")
	}
	expectEnded(t, parallel.get(callbackURL(id)))
	other := hs.browser("192.0.2.96")
	hs.authorize(other, testClientID, nil)
	expectEnded(t, other.get(callbackURL(id)))

	// The retry gets the request's one code, and no second one.
	hs.expectIssued(b, id)
	if b.cookie(claimCookie) != "" {
		t.Error("the claim cookie outlived the retry")
	}
}

// grantFault is the Store of a Handler whose next CompleteSignIn, which
// ends a sign-in in one transaction (the session, the request done and
// its session grant), once armed, commits and then fails, as a COMMIT
// whose answer was lost with its connection, the outcome unresolved: the
// request is done and the browser gets a 503.
type grantFault struct {
	storage.Store
	armed atomic.Bool
}

func (s *grantFault) CompleteSignIn(ctx context.Context, c *storage.SignInCompletion) error {
	err := s.Store.CompleteSignIn(ctx, c)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		return errors.New("storage: complete sign-in: the commit lost its connection and its outcome is unknown")
	}
	return err
}

// TestRetryAfterLostAnswer: a sign-in step whose answer was a 503 after
// its request was done (the commit's answer was lost) is posted again by
// the browser, as a client retries a 503. The retry of the same browser,
// with the session the first post started, goes on to the callback as
// the first answer would have, the session grant recorded with the
// request done; the callback then answers once. Without that session (the flow
// cookie alone) the retry finds the sign-in expired; another browser is
// refused; and once the callback has claimed the request, a retry is
// refused as over.
func TestRetryAfterLostAnswer(t *testing.T) {
	t.Parallel()
	fault := &grantFault{}
	hs := newHarness(t, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
	ctx := t.Context()

	t.Run("password", func(t *testing.T) {
		hs := hs.in(t)
		u := hs.user("retry-password@example.com", nil)
		b := hs.browser("192.0.2.90")
		id := hs.authorize(b, testClientID, nil)
		form := hs.signInForm(b, id, u.Email, testPassword)
		fault.armed.Store(true)
		first := b.post("/login", form)
		if first.status != http.StatusServiceUnavailable || first.header.Get("Retry-After") == "" {
			t.Fatalf("the post whose session grant failed = %d (Retry-After %q), want 503 with Retry-After", first.status, first.header.Get("Retry-After"))
		}
		if !hs.authRequest(id).Done {
			t.Fatal("the request is not done after the first post: the test does not test the retry of a done request")
		}

		// The flow cookie alone (a browser that lost the session cookie)
		// finds the sign-in expired, and another browser is refused.
		flowOnly := hs.browser("192.0.2.90")
		flowOnly.jar, _ = cookiejar.New(nil)
		for _, c := range b.jar.Cookies(baseURL) {
			if c.Name == hs.h.CookieName(flowCookie) {
				flowOnly.jar.SetCookies(baseURL, []*http.Cookie{c})
			}
		}
		expectPage(t, flowOnly.post("/login", form), http.StatusBadRequest, msgExpired)
		other := hs.browser("192.0.2.91")
		hs.authorize(other, testClientID, nil)
		expectPage(t, other.post("/login", form), http.StatusForbidden, msgOtherBrowser)
		// Without the form's CSRF token, the retry is refused.
		expectPage(t, b.post("/login", with(form, "csrf", "x")), http.StatusForbidden, msgForbidden)

		hs.expectDone(b, id, b.post("/login", form), amrPassword, ACRPassword)
		if _, err := hs.store.GrantSession(ctx, id); err != nil {
			t.Errorf("the session grant of the retried sign-in: %v", err)
		}
		// The callback has answered: a replay of the post is refused.
		expectEnded(t, b.post("/login", form))
	})

	t.Run("code", func(t *testing.T) {
		hs := hs.in(t)
		u, secret := hs.appUser("retry-code@example.com")
		b := hs.browser("192.0.2.92")
		id, _, form := hs.codeStep(b, u.Email, nil)
		form = with(form, "code", hs.totpCode(secret))
		fault.armed.Store(true)
		if first := b.post("/login/otp", form); first.status != http.StatusServiceUnavailable {
			t.Fatalf("the code post whose session grant failed = %d, want 503", first.status)
		}
		hs.expectDone(b, id, b.post("/login/otp", form), amrTOTP, ACRMFA)
		if _, err := hs.store.GrantSession(ctx, id); err != nil {
			t.Errorf("the session grant of the retried sign-in: %v", err)
		}
		expectEnded(t, b.post("/login/otp", form))
	})
}

// TestCallbackRetryAfterProviderFailure: the provider fails (503) after
// the callback's claim, issuing no code, as when its reads fail in a
// database failover. The browser's retry gets the request's one code;
// a replay after it is refused.
func TestCallbackRetryAfterProviderFailure(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	var fail atomic.Bool
	hs.mux = http.NewServeMux()
	hs.mux.Handle(callbackPath, hs.h.CallbackGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.CompareAndSwap(true, false) {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "storage failure", http.StatusServiceUnavailable)
			return
		}
		hs.provider(w, r)
	})))
	hs.mux.Handle("/", hs.h.Routes())
	u := hs.user("retry-provider@example.com", nil)
	b := hs.browser("192.0.2.97")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	if resp.status != http.StatusSeeOther || resp.loc != callbackURL(id) {
		t.Fatalf("password = %d %q, want 303 to the callback", resp.status, resp.loc)
	}
	fail.Store(true)
	if first := b.get(callbackURL(id)); first.status != http.StatusServiceUnavailable {
		t.Fatalf("the callback whose provider failed = %d, want 503", first.status)
	}
	if b.cookie(claimCookie) == "" {
		t.Fatal("the provider's 503 set no claim cookie")
	}
	hs.expectIssued(b, id)
}

// claimFailsUncommitted fails the next claim before it runs: an error
// whose claim did not commit.
type claimFailsUncommitted struct {
	storage.Store
	armed atomic.Bool
}

func (s *claimFailsUncommitted) ClaimAuthRequest(ctx context.Context, id string, binding []byte) error {
	if s.armed.CompareAndSwap(true, false) {
		return errors.New("storage: claim auth request: connection refused")
	}
	return s.Store.ClaimAuthRequest(ctx, id, binding)
}

// TestCallbackRetryAfterUncommittedClaim: a callback whose claim failed
// without committing left the claim cookie; the retry claims and gets the
// code, and the cookie it still held then opens nothing: a replay of the
// callback from the same browser gets no second code.
func TestCallbackRetryAfterUncommittedClaim(t *testing.T) {
	t.Parallel()
	fault := &claimFailsUncommitted{}
	hs := newHarness(t, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
	u := hs.user("uncommitted-claim@example.com", nil)
	b := hs.browser("192.0.2.96")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	if resp.status != http.StatusSeeOther {
		t.Fatalf("password = %d", resp.status)
	}
	fault.armed.Store(true)
	if first := b.get(callbackURL(id)); first.status != http.StatusServiceUnavailable || b.cookie(claimCookie) == "" {
		t.Fatalf("first callback = %d, claim cookie %q: want 503 and the cookie", first.status, b.cookie(claimCookie))
	}
	stale := b.cookie(claimCookie)
	if cb := b.get(callbackURL(id)); cb.status != http.StatusOK || cb.body != "code issued" {
		t.Fatalf("retry = %d %q, want the code", cb.status, cb.body)
	}
	if c := b.cookie(claimCookie); c != "" {
		t.Errorf("the claim cookie outlived the code: %q", c)
	}
	// Replays, with the cookie as the browser now has it and with the
	// stale one put back (a second tab, or a cookie the answer did not
	// clear).
	b.get(callbackURL(id))
	b.jar.SetCookies(baseURL, []*http.Cookie{{Name: claimCookie, Value: stale, Path: "/"}})
	b.get(callbackURL(id))
	if n := len(slices.DeleteFunc(hs.issued(), func(s string) bool { return s != id })); n != 1 {
		t.Errorf("%d codes issued for one sign-in, want 1", n)
	}
}

// TestCallbackRetriesAtOnce: after a callback answered 503 at its claim
// (committed or not), 20 retries at once from that browser, with its claim
// cookie, get one code between them, and 20 from another browser none.
func TestCallbackRetriesAtOnce(t *testing.T) {
	t.Parallel()
	for _, committed := range []bool{false, true} {
		t.Run(map[bool]string{false: "claim not committed", true: "claim committed"}[committed], func(t *testing.T) {
			uncommitted := &claimFailsUncommitted{}
			lost := &claimFault{}
			hs := newHarness(t, func(h *Handler) {
				if committed {
					lost.Store = h.Store.(storage.Store)
					h.Store = lost
				} else {
					uncommitted.Store = h.Store.(storage.Store)
					h.Store = uncommitted
				}
			})
			u := hs.user("at-once@example.com", nil)
			b := hs.browser("192.0.2.97")
			id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
			if resp.status != http.StatusSeeOther {
				t.Fatalf("password = %d", resp.status)
			}
			uncommitted.armed.Store(true)
			lost.armed.Store(true)
			if first := b.get(callbackURL(id)); first.status != http.StatusServiceUnavailable || b.cookie(claimCookie) == "" {
				t.Fatalf("first callback = %d, claim cookie %q: want 503 and the cookie", first.status, b.cookie(claimCookie))
			}
			other := hs.browser("192.0.2.98")
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					if i%2 == 0 {
						b.get(callbackURL(id))
					} else {
						other.get(callbackURL(id))
					}
				})
			}
			wg.Wait()
			if n := len(slices.DeleteFunc(hs.issued(), func(s string) bool { return s != id })); n != 1 {
				t.Errorf("%d codes issued for one sign-in after 40 retries at once, want 1", n)
			}
		})
	}
}
