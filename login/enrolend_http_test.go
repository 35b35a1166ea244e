package login

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// enrolEndStore is signInEndStore for the enrolment's end: once late is
// armed, it runs advance after the enrolment's last write before the
// sign-in's end, the first factor turned on: the app's first code used,
// which confirms it (UseTOTPStep), or email codes turned on
// (SetEmailOTP). Once failing is armed, CompleteSignIn fails before it
// changes anything.
type enrolEndStore struct{ signInEndStore }

func (s *enrolEndStore) UseTOTPStep(ctx context.Context, userID string, step int64, confirmed bool, secret []byte) error {
	defer s.tick()
	return s.Store.UseTOTPStep(ctx, userID, step, confirmed, secret)
}

func (s *enrolEndStore) SetEmailOTP(ctx context.Context, id string, enabled bool, now time.Time) error {
	defer s.tick()
	return s.Store.SetEmailOTP(ctx, id, enabled, now)
}

// enrolEnd is an enrolment that ends a sign-in, ready for its last step
// (step: the enrolment form posted with the right code), with factor,
// the factor it turns on, and retry, which signs in after a step whose
// completion failed, as the flow allows, and checks it.
type enrolEnd struct {
	signInEnd
	factor string
	retry  func(resp *response)
}

// enrolEnds are the enrolments of a first factor that end a sign-in, for
// the user u: the authenticator app and email codes, each demanded by a
// client that requires a second factor and by the request's acr_values.
// mod sets up the request.
func enrolEnds(hs *harness) []struct {
	name  string
	start func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd
} {
	const strict = "enrol-end-strict"
	hs.client(strict, func(c *storage.Client) { c.RequireMFA = true })
	acr := func(v string, mod func(*storage.AuthRequest)) func(*storage.AuthRequest) {
		return func(ar *storage.AuthRequest) {
			ar.ACRValues = []string{v}
			if mod != nil {
				mod(ar)
			}
		}
	}
	enrol := func(t *testing.T, u *storage.User, client, factor, ip string, mod func(*storage.AuthRequest)) *enrolEnd {
		hs := hs.in(t)
		b := hs.browser(ip)
		id, page := hs.toStep(b, client, u.Email, "/login/enroll", mod)
		if factor == factorEmail {
			page = b.get("/login/enroll?method=email&authRequestID=" + url.QueryEscape(id))
		}
		form := formOf(t, page.body, "/login/enroll")
		if form.Get("method") != factor {
			t.Fatalf("enrolment of %s, want %s", form.Get("method"), factor)
		}
		var code string
		if factor == factorTOTP {
			code = hs.totpCode(firstMatch(secretRE, page.body))
		} else {
			code, _ = hs.mailCode(u.Email)
		}
		amr, acr := amrTOTP, ACRMFA
		if factor == factorEmail {
			amr, acr = amrEmail, ACREmail
		}
		e := &enrolEnd{factor: factor, signInEnd: signInEnd{id: id, b: b,
			step: func() *response { return b.post("/login/enroll", with(form, "code", code)) },
			done: func(resp *response) {
				t.Helper()
				codes := codesRE.FindAllStringSubmatch(resp.body, -1)
				if resp.status != http.StatusOK || len(codes) != recoveryCodeCount || !strings.Contains(resp.body, `href="`+callbackURL(id)+`"`) {
					t.Fatalf("enrolment = %d %q, %d recovery codes, want 200 with %d and the callback", resp.status, alert(resp.body), len(codes), recoveryCodeCount)
				}
				if ar := hs.authRequest(id); !ar.Done || !slices.Equal(ar.AMR, amr) || ar.ACR != acr {
					t.Errorf("auth request done %v amr %v acr %q, want done amr %v acr %q", ar.Done, ar.AMR, ar.ACR, amr, acr)
				}
				hs.expectIssued(b, id)
			}}}
		e.retry = func(resp *response) {
			t.Helper()
			// The factor is on (it was turned on before the completion
			// failed): the same post goes on to the code page, whose code
			// signs in. The app's code of the enrolment is used; the
			// next one is the app's next time step's.
			otp := "/login/otp?authRequestID=" + url.QueryEscape(id)
			expectRedirect(t, resp, otp)
			page := b.get(otp)
			form := formOf(t, page.body, "/login/otp")
			if form.Get("method") != factor {
				t.Fatalf("code page for %s after the failed enrolment's end, want %s", form.Get("method"), factor)
			}
			var code string
			if factor == factorTOTP {
				hs.clock.Advance(30 * time.Second)
				app, err := hs.store.TOTPByUser(t.Context(), u.ID)
				if err != nil {
					t.Fatal(err)
				}
				secret, err := hs.h.Seal.Open(app.Secret, totpAAD(u.ID))
				if err != nil {
					t.Fatal(err)
				}
				code = hs.totpCode(string(secret))
			} else {
				code, _ = hs.mailCode(u.Email)
			}
			hs.expectDone(b, id, b.post("/login/otp", with(form, "code", code)), amr, acr)
		}
		return e
	}
	return []struct {
		name  string
		start func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd
	}{
		{"app for the client", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd {
			return enrol(t, u, strict, factorTOTP, "192.0.2.171", mod)
		}},
		{"email codes for the client", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd {
			return enrol(t, u, strict, factorEmail, "192.0.2.172", mod)
		}},
		{"app for acr_values", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd {
			return enrol(t, u, testClientID, factorTOTP, "192.0.2.173", acr(ACRMFA, mod))
		}},
		{"email codes for acr_values", func(t *testing.T, u *storage.User, mod func(*storage.AuthRequest)) *enrolEnd {
			return enrol(t, u, testClientID, factorEmail, "192.0.2.174", acr(ACREmail, mod))
		}},
	}
}

// TestEnrolEndNotPendingMeanwhile: an enrolment of a first factor within
// a sign-in (the authenticator app or email codes, demanded by the
// client's --require-mfa or by acr_values) whose sign-in stops being
// pending between the step's load of the request and its end does not
// sign in: the request expired meanwhile (the clock runs on past it), or
// the user's pending sign-ins were ended (EndPendingSignIns: a password
// reset, an administrator's sign-out). CompleteSignIn refuses it, the
// browser is told the sign-in expired (400), and nothing is written: no
// session, no session cookie, no signin.succeeded event, the request not
// done. The factor stays on: it was the user's own, confirmed with its
// code. SQLite and PostgreSQL.
func TestEnrolEndNotPendingMeanwhile(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second // shorter than the email code's 60 s
	short := func(ar *storage.AuthRequest) { ar.ExpiresAt = ar.CreatedAt.Add(ttl) }
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &enrolEndStore{}
			hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			ends := enrolEnds(hs)
			for _, meanwhile := range []struct {
				name string
				mod  func(*storage.AuthRequest)
				// advance is what happens between the load and the end.
				advance func(t *testing.T, u *storage.User) func()
			}{
				{"request expires", short, func(*testing.T, *storage.User) func() {
					return func() { hs.clock.Advance(ttl) }
				}},
				{"sign-in ended", nil, func(t *testing.T, u *storage.User) func() {
					return func() {
						if err := hs.store.EndPendingSignIns(context.Background(), u.ID); err != nil {
							t.Error(err)
						}
					}
				}},
			} {
				for _, tc := range ends {
					t.Run(meanwhile.name+"/"+tc.name, func(t *testing.T) {
						u := hs.user(strings.ReplaceAll(meanwhile.name+"-"+tc.name, " ", "-")+"@example.com", nil)
						s := tc.start(t, u, meanwhile.mod)
						before := hs.signInTrace(t, u)

						fault.advance = meanwhile.advance(t, u)
						fault.late.Store(true)
						resp := s.step()
						if fault.late.Load() {
							t.Fatal("the hook did not run")
						}
						expectPage(t, resp, http.StatusBadRequest, msgExpired)
						hs.expectNothingWritten(t, &s.signInEnd, u, resp, before)
						if cb := s.b.get(callbackURL(s.id)); cb.status == http.StatusOK && cb.body == "code issued" {
							t.Error("the callback of the sign-in that did not end issued a code")
						}
					})
				}
			}
		})
	}
}

// TestEnrolEndRetryAfterFailedCompletion: an enrolment of a first factor
// within a sign-in whose completion fails in the store before it writes
// anything (the database failed over) answers 503 with Retry-After and
// writes nothing of the sign-in: no session cookie, no session, no
// signin.succeeded event, the request not done. The retry then signs in:
// the factor is on, so the same post goes on to the code page, and its
// code completes the request. SQLite and PostgreSQL.
func TestEnrolEndRetryAfterFailedCompletion(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			fault := &enrolEndStore{}
			hs := newHarnessOn(t, backend, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
			for _, tc := range enrolEnds(hs) {
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
						t.Errorf("the enrolment whose completion failed = %d (Retry-After %q) %q, want 503 with Retry-After",
							resp.status, resp.header.Get("Retry-After"), alert(resp.body))
					}
					hs.expectNothingWritten(t, &s.signInEnd, u, resp, before)

					s.retry(s.step())
					after := hs.signInTrace(t, u)
					if want := (signInTrace{before.sessions + 1, before.succeeded + 1}); after != want {
						t.Errorf("after the retry: %d sessions and %d signin.succeeded events, want %d and %d",
							after.sessions, after.succeeded, want.sessions, want.succeeded)
					}
				})
			}
		})
	}
}

// TestEnrolEndSignsIn: the enrolments of enrolEnds, undisturbed, sign in
// (the setup of the tests above is right). SQLite.
func TestEnrolEndSignsIn(t *testing.T) {
	t.Parallel()
	fault := &enrolEndStore{}
	hs := newHarness(t, func(h *Handler) { fault.Store = h.Store.(storage.Store); h.Store = fault })
	for _, tc := range enrolEnds(hs) {
		t.Run(tc.name, func(t *testing.T) {
			u := hs.user("plain-"+strings.ReplaceAll(tc.name, " ", "-")+"@example.com", nil)
			s := tc.start(t, u, nil)
			before := hs.signInTrace(t, u)
			s.done(s.step())
			if after, want := hs.signInTrace(t, u), (signInTrace{before.sessions + 1, before.succeeded + 1}); after != want {
				t.Errorf("after the enrolment: %d sessions and %d signin.succeeded events, want %d and %d",
					after.sessions, after.succeeded, want.sessions, want.succeeded)
			}
		})
	}
}
