package login

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// completionFault is the Store of a Handler whose next write of a new
// session fails once armed, before it changes anything, as when the
// database fails over (its connections terminated) while a sign-in
// ends: CreateSession, or CompleteSignIn, which writes the session with
// the rest of the sign-in's end.
type completionFault struct {
	storage.Store
	armed atomic.Bool
}

var errFailover = errors.New("storage: terminating connection due to administrator command (SQLSTATE 57P01)")

func (s *completionFault) CreateSession(ctx context.Context, sess *storage.Session) error {
	if s.armed.CompareAndSwap(true, false) {
		return errFailover
	}
	return s.Store.CreateSession(ctx, sess)
}

func (s *completionFault) CompleteSignIn(ctx context.Context, c *storage.SignInCompletion) error {
	if s.armed.CompareAndSwap(true, false) {
		return errFailover
	}
	return s.Store.CompleteSignIn(ctx, c)
}

// TestCodeStepRetryAfterFailedCompletion: a right code whose sign-in
// could not be completed (the database failed after the code was checked)
// answers 503, spends no attempt and leaves the code unused: a wrong code
// then has all but one attempt left, the retry with the right code signs
// in (one session), and the code is refused afterwards, for that request
// and another. Before, the code's use committed on its own before the
// completion failed, and the retry was refused as a replayed code:
// "Invalid One Time Password! (Attempts left: 1)". For the authenticator
// app, emailed codes and recovery codes, SQLite and PostgreSQL.
func TestCodeStepRetryAfterFailedCompletion(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		for _, factor := range []string{factorTOTP, factorEmail, factorRecovery} {
			t.Run(backend+"/"+factor, func(t *testing.T) {
				fault := &completionFault{}
				hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
				ctx := t.Context()
				var (
					u    *storage.User
					code func() string
					amr  = amrTOTP
					acr  = ACRMFA
				)
				switch factor {
				case factorEmail:
					u = hs.user("commit-email@example.com", func(u *storage.User) { u.EmailOTP = true })
					code = func() string { c, _ := hs.mailCode(u.Email); return c }
					amr, acr = amrEmail, ACREmail
				default:
					var secret string
					var codes []string
					u = hs.user("commit-"+factor+"@example.com", nil)
					secret, codes = hs.enrollTOTP(u)
					code = func() string { return hs.totpCode(secret) }
					if factor == factorRecovery {
						code = func() string { return codes[0] }
					}
				}
				b := hs.browser("192.0.2.120")
				id, _, form := hs.codeStep(b, u.Email, nil)
				form = with(with(form, "method", factor), "code", code())
				before, err := hs.store.UserSessions(ctx, u.ID, hs.clock.Now())
				if err != nil {
					t.Fatal(err)
				}

				fault.armed.Store(true)
				first := b.post("/login/otp", form)
				if first.status != http.StatusServiceUnavailable || first.header.Get("Retry-After") == "" {
					t.Fatalf("the code post whose completion failed = %d (Retry-After %q) %q, want 503 with Retry-After",
						first.status, first.header.Get("Retry-After"), alert(first.body))
				}
				if fault.armed.Load() {
					t.Fatal("the fault did not fire")
				}
				if hs.authRequest(id).Done {
					t.Fatal("the request is done after the failed completion")
				}
				// The failed try spent no attempt.
				expectPage(t, b.post("/login/otp", with(form, "code", otherCode(form.Get("code")))), http.StatusUnauthorized, wrongCode(2))

				hs.expectDone(b, id, b.post("/login/otp", form), amr, acr)
				after, err := hs.store.UserSessions(ctx, u.ID, hs.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before)+1 {
					t.Errorf("%d sessions after the sign-in, want %d", len(after), len(before)+1)
				}

				// The code is used: refused for this request, and for another
				// (an emailed code is bound to its request: it is used up).
				expectEnded(t, b.post("/login/otp", form))
				if factor == factorEmail {
					if c, err := hs.store.LatestCode(ctx, u.ID, purposeSignIn, id, hs.clock.Now()); err == nil {
						t.Errorf("the emailed code %s is still live after the sign-in", c.ID)
					}
					return
				}
				other := hs.browser("192.0.2.121")
				id2, _, form2 := hs.codeStep(other, u.Email, nil)
				expectPage(t, other.post("/login/otp", with(with(form2, "method", factor), "code", form.Get("code"))),
					http.StatusUnauthorized, wrongCode(2))
				if hs.authRequest(id2).Done {
					t.Error("the used code signed in another request")
				}
			})
		}
	}
}

// TestCodeStepAtOnce: of posts at once of one right code from the
// browser (as many as the code limiter lets be checked at once), exactly
// one signs in, with one session: the others are refused, or, reaching
// the request once it is done with the winner's session cookie in the
// browser, go on to the callback as a retry does (resumeDone). The code is
// then refused for another request. SQLite and PostgreSQL.
func TestCodeStepAtOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			u, secret := hs.appUser("at-once-code@example.com")
			before, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			b := hs.browser("192.0.2.130")
			id, _, form := hs.codeStep(b, u.Email, nil)
			form = with(form, "code", hs.totpCode(secret))
			n := hs.h.OTPLimiter.IP.Max
			answers := make([]*response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					answers[i] = b.post("/login/otp", form)
				})
			}
			close(start)
			wg.Wait()
			done := 0
			for _, a := range answers {
				switch {
				case a.status == http.StatusSeeOther && a.loc == callbackURL(id):
					done++
				case a.status >= 500:
					t.Errorf("a post at once = %d %q", a.status, alert(a.body))
				}
			}
			if done == 0 {
				t.Errorf("none of %d posts at once of one code went on to the callback", n)
			}
			after, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Errorf("%d sessions after %d posts at once of one code, want %d", len(after), n, len(before)+1)
			}
			if !hs.authRequest(id).Done {
				t.Error("the request is not done")
			}
			other := hs.browser("192.0.2.131")
			id2, _, form2 := hs.codeStep(other, u.Email, nil)
			expectPage(t, other.post("/login/otp", with(form2, "code", form.Get("code"))), http.StatusUnauthorized, wrongCode(2))
			if hs.authRequest(id2).Done {
				t.Error("the used code signed in another request")
			}
		})
	}
}
