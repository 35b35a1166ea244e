package login

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// signInEndStore is the Store of a Handler whose sign-in ends go wrong
// on demand. Once late is armed, it runs the clock on by advance after
// the step's last read or write before the sign-in's end: the password's
// user (UserByEmail), the browser's session kept alive (TouchSession), the
// key's use (UpdateWebAuthnCredentialUse); the request, found live by the
// step, has expired by the completion. Once failing is armed, the write
// that ends the sign-in fails before it changes anything, as when the
// database fails over: CompleteSignIn, or AddSessionGrant, the last of
// the separate writes a sign-in without a code step ended with before.
type signInEndStore struct {
	storage.Store
	late, failing atomic.Bool
	advance       func()
}

func (s *signInEndStore) tick() {
	if s.late.CompareAndSwap(true, false) {
		s.advance()
	}
}

func (s *signInEndStore) UserByEmail(ctx context.Context, email string) (*storage.User, error) {
	defer s.tick()
	return s.Store.UserByEmail(ctx, email)
}

func (s *signInEndStore) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	defer s.tick()
	return s.Store.TouchSession(ctx, id, now, idleUntil)
}

func (s *signInEndStore) UpdateWebAuthnCredentialUse(ctx context.Context, id []byte, signCount uint32, backupState, cloneWarning bool, now time.Time) error {
	defer s.tick()
	return s.Store.UpdateWebAuthnCredentialUse(ctx, id, signCount, backupState, cloneWarning, now)
}

func (s *signInEndStore) CompleteSignIn(ctx context.Context, c *storage.SignInCompletion) error {
	if s.failing.CompareAndSwap(true, false) {
		return errFailover
	}
	return s.Store.CompleteSignIn(ctx, c)
}

func (s *signInEndStore) AddSessionGrant(ctx context.Context, g *storage.SessionGrant) error {
	if s.failing.CompareAndSwap(true, false) {
		return errFailover
	}
	return s.Store.AddSessionGrant(ctx, g)
}

// signInEnd is a sign-in that ends without a code step, ready for its
// last step: the request, its browser, the step (a post, or the key
// ceremony's finish), and what a successful step answers, checked by
// done.
type signInEnd struct {
	id   string
	b    *browser
	step func() *response
	done func(resp *response)
}

// signInEnds are the sign-ins without a code step, for the user u: the
// password alone, the browser's single sign-on session answering a new
// request, a passkey from the sign-in page and a security key after the
// password. mod sets up the request.
func signInEnds(hs *harness) []struct {
	name  string
	start func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd
} {
	keyStep := func(t *testing.T, b *browser, id, prefix, mode, page string, key *softKey) *signInEnd {
		c := &keyCeremony{t: t, b: b, prefix: prefix, csrf: keyCSRF(t, page, mode), id: id}
		return &signInEnd{id: id, b: b,
			step: func() *response {
				begun := c.begin()
				body, _ := json.Marshal(map[string]any{"authRequestID": id, "ceremony": begun.Ceremony,
					"credential": key.assert(t, begun.PublicKey.Challenge)})
				return b.postJSON(prefix+"/finish", c.csrf, string(body))
			},
			done: func(resp *response) {
				t.Helper()
				var reply keyReply
				if err := json.Unmarshal([]byte(resp.body), &reply); err != nil || resp.status != http.StatusOK || reply.Redirect != callbackURL(id) {
					t.Fatalf("key step = %d %s, want 200 with the callback", resp.status, resp.body)
				}
				hs.expectIssued(b, id)
			}}
	}
	return []struct {
		name  string
		start func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd
	}{
		{"password only", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd {
			b := hs.browser("192.0.2.161")
			id := hs.authorize(b, testClientID, mod)
			form := hs.in(t).signInForm(b, id, u.Email, testPassword)
			return &signInEnd{id: id, b: b, step: func() *response { return b.post("/login", form) },
				done: func(resp *response) { hs.in(t).expectDone(b, id, resp, amrPassword, ACRPassword) }}
		}},
		{"single sign-on", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd {
			b := hs.in(t).signedIn(u, "192.0.2.162")
			id := hs.authorize(b, testClientID, mod)
			return &signInEnd{id: id, b: b, step: func() *response { return b.get("/login?authRequestID=" + url.QueryEscape(id)) },
				done: func(resp *response) { hs.in(t).expectDone(b, id, resp, amrPassword, ACRPassword) }}
		}},
		{"passkey", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd {
			key := hs.in(t).addKey(u)
			b := hs.browser("192.0.2.163")
			id := hs.authorize(b, testClientID, mod)
			return keyStep(t, b, id, "/login/passkey", "passkey", b.get("/login?authRequestID="+url.QueryEscape(id)).body, key)
		}},
		{"security key", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *signInEnd {
			key := hs.in(t).addKey(u)
			b := hs.browser("192.0.2.164")
			id, page := hs.in(t).toStep(b, testClientID, u.Email, "/login/webauthn", mod)
			return keyStep(t, b, id, "/login/webauthn", "second", page.body, key)
		}},
	}
}

// signInTrace is what a sign-in's end leaves of u: sessions and
// signin.succeeded events.
type signInTrace struct{ sessions, succeeded int }

func (hs *harness) signInTrace(t *testing.T, u *storage.User) signInTrace {
	t.Helper()
	sessions, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	events, err := hs.store.Events(t.Context(), storage.EventFilter{UserID: u.ID, Type: storage.EventSigninSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	return signInTrace{len(sessions), len(events)}
}

// expectNothingWritten checks that the refused or failed end of the
// sign-in s, answered resp, wrote nothing: no session cookie, no new
// session, no signin.succeeded event, the request not done and without
// a session grant.
func (hs *harness) expectNothingWritten(t *testing.T, s *signInEnd, u *storage.User, resp *response, before signInTrace) {
	t.Helper()
	if c := setCookieNamed(resp, hs.h.CookieName(sessionCookie)); c != nil {
		t.Errorf("the sign-in that did not end set the session cookie %s", c.Value)
	}
	if after := hs.signInTrace(t, u); after != before {
		t.Errorf("after the sign-in that did not end: %d sessions and %d signin.succeeded events, want %d and %d",
			after.sessions, after.succeeded, before.sessions, before.succeeded)
	}
	if ar := hs.authRequest(s.id); ar.Done {
		t.Errorf("the request is done (user %q, amr %v)", ar.UserID, ar.AMR)
	}
	if sid, err := hs.store.GrantSession(t.Context(), s.id); err == nil {
		t.Errorf("the request has a session grant (session %s)", sid)
	}
}

// expectExpiredAnswer checks that resp tells the browser the sign-in
// expired: the page, or the key ceremony's JSON error.
func expectExpiredAnswer(t *testing.T, resp *response) {
	t.Helper()
	if !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json") {
		expectPage(t, resp, http.StatusBadRequest, msgExpired)
		return
	}
	var reply keyReply
	if err := json.Unmarshal([]byte(resp.body), &reply); err != nil || resp.status != http.StatusBadRequest || reply.Error != msgExpired {
		t.Errorf("got %d %s, want 400 %q", resp.status, resp.body, msgExpired)
	}
}

// TestSignInEndRequestExpiresMeanwhile: a sign-in that ends without a
// code step (the password alone, single sign-on, a passkey, a security
// key after the password) whose request expires between the step's load
// of it and its end does not end: the session, the request done and the
// session grant are one transaction (CompleteSignIn), which refuses the
// expired request, the browser is told the sign-in expired, and nothing
// is written: no session, no session cookie, no signin.succeeded event.
// Before, the session, its cookie and the event came before the request's
// completion was refused. SQLite and PostgreSQL.
func TestSignInEndRequestExpiresMeanwhile(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	short := func(ar *storage.AuthRequest) { ar.ExpiresAt = ar.CreatedAt.Add(ttl) }
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &signInEndStore{}
			hs := newHarnessOn(t, backend, withWebAuthn(t), func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			fault.advance = func() { hs.clock.Advance(ttl) }
			for _, tc := range signInEnds(hs) {
				t.Run(tc.name, func(t *testing.T) {
					u := hs.user("late-"+strings.ReplaceAll(tc.name, " ", "-")+"@example.com", nil)
					s := tc.start(t, u, short)
					before := hs.signInTrace(t, u)

					fault.late.Store(true)
					resp := s.step()
					if fault.late.Load() {
						t.Fatal("the clock was not run on")
					}
					expectExpiredAnswer(t, resp)
					hs.expectNothingWritten(t, s, u, resp, before)
					if cb := s.b.get(callbackURL(s.id)); cb.status == http.StatusOK && cb.body == "code issued" {
						t.Error("the callback of the expired request issued a code")
					}
				})
			}
		})
	}
}

// TestSignInEndRetryAfterFailedCompletion: a sign-in that ends without a
// code step whose end fails in the store before it writes anything (the
// database failed over) answers 503 and writes nothing: no session
// cookie, no session, no signin.succeeded event, the request not done;
// the browser's retry then signs in. Before, the session, its cookie and
// the event were written before the request was done, and a failure
// between the request done and its session grant left a request done
// without one, which single sign-on's retry found expired. SQLite and
// PostgreSQL.
func TestSignInEndRetryAfterFailedCompletion(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &signInEndStore{}
			hs := newHarnessOn(t, backend, withWebAuthn(t), func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			for _, tc := range signInEnds(hs) {
				t.Run(tc.name, func(t *testing.T) {
					u := hs.user("failover-"+strings.ReplaceAll(tc.name, " ", "-")+"@example.com", nil)
					s := tc.start(t, u, nil)
					before := hs.signInTrace(t, u)

					fault.failing.Store(true)
					resp := s.step()
					if fault.failing.Load() {
						t.Fatal("the fault did not fire")
					}
					if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
						t.Errorf("the step whose completion failed = %d (Retry-After %q), want 503 with Retry-After",
							resp.status, resp.header.Get("Retry-After"))
					}
					hs.expectNothingWritten(t, s, u, resp, before)

					s.done(s.step())
					after := hs.signInTrace(t, u)
					want := signInTrace{before.sessions + 1, before.succeeded + 1}
					if tc.name == "single sign-on" {
						want = before // the browser's session, no new sign-in
					}
					if after != want {
						t.Errorf("after the retry: %d sessions and %d signin.succeeded events, want %d and %d",
							after.sessions, after.succeeded, want.sessions, want.succeeded)
					}
				})
			}
		})
	}
}

// sessionEndsStore is the Store of a Handler whose next TouchSession,
// once armed, ends the session it kept alive, as another tab's sign-out
// does between single sign-on's touch and its completion.
type sessionEndsStore struct {
	storage.Store
	armed atomic.Bool
	now   func() time.Time
}

func (s *sessionEndsStore) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	err := s.Store.TouchSession(ctx, id, now, idleUntil)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		err = s.Store.EndSession(ctx, id, s.now())
	}
	return err
}

// TestSingleSignOnSessionEndsMeanwhile: the browser's session that ends
// between single sign-on's touch of it and the request's completion
// answers nothing: the request is not done (CompleteSignIn with the
// stored session finds it gone), and the sign-in page, which asks again,
// is the answer, as for a session that ended before the touch. Before,
// the request was done for the ended session, without its session grant.
// SQLite and PostgreSQL.
func TestSingleSignOnSessionEndsMeanwhile(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &sessionEndsStore{}
			hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			fault.now = hs.clock.Now
			u := hs.user("sso-ends@example.com", nil)
			b := hs.signedIn(u, "192.0.2.165")
			id := hs.authorize(b, testClientID, nil)

			fault.armed.Store(true)
			resp := b.get("/login?authRequestID=" + url.QueryEscape(id))
			if fault.armed.Load() {
				t.Fatal("the session was not ended")
			}
			if want := "/login?authRequestID=" + url.QueryEscape(id); resp.status != http.StatusSeeOther || resp.loc != want {
				t.Errorf("single sign-on with a session ended meanwhile = %d %q, want 303 to %s", resp.status, resp.loc, want)
			}
			if ar := hs.authRequest(id); ar.Done {
				t.Errorf("the request is done for the ended session (user %q)", ar.UserID)
			}
			if cb := b.get(callbackURL(id)); cb.status == http.StatusOK && cb.body == "code issued" {
				t.Error("the callback issued a code for the ended session")
			}
		})
	}
}

// TestKeyStepSignInEndedMeanwhile: a security key step whose pending
// sign-in is ended (EndPendingSignIns: the password was reset, or an
// administrator signed the user out) between the step's load of the
// request and its end does not sign in: CompleteSignIn ends only the
// session user's pending sign-in, the browser is told the sign-in
// expired, and nothing is written. Before, the request was done and the
// session made for the sign-in that had been ended. SQLite and
// PostgreSQL.
func TestKeyStepSignInEndedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &signInEndStore{}
			hs := newHarnessOn(t, backend, withWebAuthn(t), func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			u := hs.user("ended-key@example.com", nil)
			fault.advance = func() {
				if err := hs.store.EndPendingSignIns(context.Background(), u.ID); err != nil {
					t.Error(err)
				}
			}
			var s *signInEnd
			for _, tc := range signInEnds(hs) {
				if tc.name == "security key" {
					s = tc.start(t, u, nil)
				}
			}
			before := hs.signInTrace(t, u)

			fault.late.Store(true)
			resp := s.step()
			if fault.late.Load() {
				t.Fatal("the sign-in was not ended")
			}
			expectExpiredAnswer(t, resp)
			hs.expectNothingWritten(t, s, u, resp, before)
		})
	}
}
