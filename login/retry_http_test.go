package login

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// grantFault is the Store of a Handler whose next AddSessionGrant fails
// once armed, as when the database fails over between the writes that
// end a sign-in: the auth request is done, its session grant is not
// recorded and the browser gets a 503.
type grantFault struct {
	storage.Store
	armed atomic.Bool
}

func (s *grantFault) AddSessionGrant(ctx context.Context, g *storage.SessionGrant) error {
	if s.armed.CompareAndSwap(true, false) {
		return errors.New("storage: add session grant: unexpected EOF")
	}
	return s.Store.AddSessionGrant(ctx, g)
}

// TestRetryAfterLostAnswer: a sign-in step whose answer was a 503 after
// its request was done (the database failed between the writes) is
// posted again by the browser, as a client retries a 503. The retry of
// the same browser, with the session the first post started, goes on to
// the callback as the first answer would have, and records the session
// grant; the callback then answers once. Without that session (the flow
// cookie alone) the retry finds the sign-in expired; another browser is
// refused; and once the callback has claimed the request, a retry is
// refused as over.
func TestRetryAfterLostAnswer(t *testing.T) {
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
			if c.Name == hs.h.cookieName(flowCookie) {
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
