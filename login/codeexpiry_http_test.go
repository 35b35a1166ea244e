package login

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// expiringStore is the Store of a Handler whose next LatestCode, once
// armed, runs the clock on by advance after it read the code: the
// emailed code is checked, after the request was found live, at a time
// the request has expired by (its code still live), as when the request's
// last moments pass while the code step runs.
type expiringStore struct {
	storage.Store
	armed   atomic.Bool
	advance func()
}

func (s *expiringStore) LatestCode(ctx context.Context, userID, purpose, binding string, now time.Time) (*storage.OneTimeCode, error) {
	c, err := s.Store.LatestCode(ctx, userID, purpose, binding, now)
	if s.armed.CompareAndSwap(true, false) {
		s.advance()
	}
	return c, err
}

// TestCodeStepRequestExpiresMeanwhile: a right emailed code whose auth
// request expires between the step's checks of it (loadRequest,
// stillPending) and the sign-in's end does not sign in: CompleteSignIn
// refuses the request expired at the completion's time, the browser is
// told the sign-in expired, no session is made, and the code stays
// unused. SQLite and PostgreSQL.
func TestCodeStepRequestExpiresMeanwhile(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &expiringStore{}
			hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			const ttl = 30 * time.Second // shorter than the code's 60 s
			fault.advance = func() { hs.clock.Advance(ttl) }
			u := hs.user("expiring@example.com", func(u *storage.User) { u.EmailOTP = true })
			b := hs.browser("192.0.2.150")
			id, _, form := hs.codeStep(b, u.Email, func(ar *storage.AuthRequest) { ar.ExpiresAt = ar.CreatedAt.Add(ttl) })
			code, _ := hs.mailCode(u.Email)
			live, err := hs.store.LatestCode(t.Context(), u.ID, purposeSignIn, id, hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			before, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}

			fault.armed.Store(true)
			resp := b.post("/login/otp", with(form, "code", code))
			if fault.armed.Load() {
				t.Fatal("the clock was not run on")
			}
			expectPage(t, resp, http.StatusBadRequest, msgExpired)
			if c := setCookieNamed(resp, hs.h.CookieName(sessionCookie)); c != nil {
				t.Errorf("the expired sign-in set the session cookie %s", c.Value)
			}
			if hs.authRequest(id).Done {
				t.Error("the expired request is done")
			}
			after, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("%d sessions after the expired sign-in, want %d", len(after), len(before))
			}
			if c, err := hs.store.LatestCode(t.Context(), u.ID, purposeSignIn, id, hs.clock.Now()); err != nil || c.ID != live.ID || c.UsedAt != nil {
				t.Errorf("the code after the expired sign-in: %+v, %v; want %s unused", c, err, live.ID)
			}
		})
	}
}

// sessionClockStore is the Store of a Handler whose next CreateSession,
// UserByEmail or TouchSession, once armed, runs the clock on by advance
// after it: the password's user is read (the sign-in's session is made
// with the request's completion since CompleteSignIn does both), or the
// browser's session is kept alive, while the request is live, and the
// request is completed at a time it has expired by.
type sessionClockStore struct {
	storage.Store
	armed   atomic.Bool
	advance func()
}

func (s *sessionClockStore) CreateSession(ctx context.Context, sess *storage.Session) error {
	err := s.Store.CreateSession(ctx, sess)
	if s.armed.CompareAndSwap(true, false) {
		s.advance()
	}
	return err
}

func (s *sessionClockStore) UserByEmail(ctx context.Context, email string) (*storage.User, error) {
	u, err := s.Store.UserByEmail(ctx, email)
	if s.armed.CompareAndSwap(true, false) {
		s.advance()
	}
	return u, err
}

func (s *sessionClockStore) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	err := s.Store.TouchSession(ctx, id, now, idleUntil)
	if s.armed.CompareAndSwap(true, false) {
		s.advance()
	}
	return err
}

// TestMarkDoneRequestExpiresMeanwhile: a sign-in completed without a
// code step (markDone) whose auth request expires between the step's
// load of it and its completion does not complete it: CompleteAuthRequest
// refuses the request expired at the completion's time (ErrConflict), the
// browser is told the sign-in expired, as the code step tells it
// (TestCodeStepRequestExpiresMeanwhile), and the callback issues no code.
// The right password of an account without a second factor, and the
// browser's single sign-on session answering a new request. SQLite and
// PostgreSQL.
func TestMarkDoneRequestExpiresMeanwhile(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	short := func(ar *storage.AuthRequest) { ar.ExpiresAt = ar.CreatedAt.Add(ttl) }
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &sessionClockStore{}
			hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			fault.advance = func() { hs.clock.Advance(ttl) }
			for _, tc := range []struct {
				name string
				// start returns the request, its browser and the browser's
				// step that completes it.
				start func(t *testing.T, u *storage.User) (string, *browser, func() *response)
			}{
				{"password only", func(t *testing.T, u *storage.User) (string, *browser, func() *response) {
					b := hs.browser("192.0.2.151")
					id := hs.authorize(b, testClientID, short)
					form := hs.in(t).signInForm(b, id, u.Email, testPassword)
					return id, b, func() *response { return b.post("/login", form) }
				}},
				{"single sign-on", func(t *testing.T, u *storage.User) (string, *browser, func() *response) {
					b := hs.in(t).signedIn(u, "192.0.2.152")
					id := hs.authorize(b, testClientID, short)
					return id, b, func() *response { return b.get("/login?authRequestID=" + url.QueryEscape(id)) }
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					u := hs.user(strings.ReplaceAll(tc.name, " ", "-")+"@example.com", nil)
					id, b, step := tc.start(t, u)

					fault.armed.Store(true)
					resp := step()
					if fault.armed.Load() {
						t.Fatal("the clock was not run on")
					}
					expectPage(t, resp, http.StatusBadRequest, msgExpired)
					if ar := hs.authRequest(id); ar.Done {
						t.Errorf("the expired request is done (user %q, amr %v)", ar.UserID, ar.AMR)
					}
					if cb := b.get(callbackURL(id)); cb.status == http.StatusOK && cb.body == "code issued" {
						t.Error("the callback of the expired request issued a code")
					}
				})
			}
		})
	}
}
