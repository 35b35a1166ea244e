package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestSignOutVoidsEmailChanges: an administrator's sign-out, disable or
// second-factor reset of a user also voids the email changes they have
// not confirmed yet, as a password reset does: one asked for by the
// session it ends (an intruder's, to their own address) would otherwise
// still take the account once its link is followed. The user's own
// password-reset link, sent to their own address, stays.
func TestSignOutVoidsEmailChanges(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newAPIHarnessOn(t, backend)
			ctx := t.Context()
			now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			for i, action := range []string{"sign-out", "disable", "reset-2fa"} {
				t.Run(action, func(t *testing.T) {
					email := action + "@example.com"
					u := &storage.User{ID: "u-" + action, Email: email, Name: "User", PasswordHash: "x", EmailVerified: true, CreatedAt: now, UpdatedAt: now}
					if err := hs.store.CreateUser(ctx, u); err != nil {
						t.Fatal(err)
					}
					change := []byte{1, byte(i), 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
					reset := []byte{2, byte(i), 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
					for _, tok := range []*storage.ActionToken{
						{Hash: change, Purpose: login.PurposeChangeEmail, UserID: u.ID, Data: "intruder@example.net", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
						{Hash: reset, Purpose: "reset-password", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
					} {
						if err := hs.store.CreateActionToken(ctx, tok); err != nil {
							t.Fatal(err)
						}
					}
					if w := hs.call(http.MethodPost, "/api/users/"+email+"/"+action, ""); w.Code != http.StatusOK {
						t.Fatalf("POST /api/users/%s/%s = %d %s", email, action, w.Code, w.Body)
					}
					if _, err := hs.store.UseActionToken(ctx, change, login.PurposeChangeEmail, now); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("the unconfirmed email change after %s: %v, want ErrNotFound (void)", action, err)
					}
					if _, err := hs.store.UseActionToken(ctx, reset, "reset-password", now); err != nil {
						t.Errorf("the user's password-reset link after %s: %v, want it usable", action, err)
					}
				})
			}
		})
	}
}

// TestResetTwoFactorVoidsCodes: an administrator's reset of a user's
// second factors voids the one-time codes the user has been emailed, of
// every purpose: a code sent to the old factor's holder no longer passes
// a step. Another user's codes stay.
func TestResetTwoFactorVoidsCodes(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newAPIHarnessOn(t, backend)
			ctx := t.Context()
			now := time.Now()
			var users []*storage.User
			for _, name := range []string{"reset", "other"} {
				u := &storage.User{ID: "u-" + name, Email: name + "@example.com", Name: "User", PasswordHash: "x", EmailVerified: true, CreatedAt: now, UpdatedAt: now}
				if err := hs.store.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				users = append(users, u)
			}
			codes := []*storage.OneTimeCode{
				{ID: "c-signin", UserID: users[0].ID, Purpose: "signin", Binding: "ar1"},
				{ID: "c-reauth", UserID: users[0].ID, Purpose: "reauth", Binding: "s1"},
				{ID: "c-other", UserID: users[1].ID, Purpose: "signin", Binding: "ar2"},
			}
			for _, c := range codes {
				c.Hash, c.CreatedAt, c.ExpiresAt = []byte{1, 2, 3, 4}, now, now.Add(time.Minute)
				if err := hs.store.IssueCode(ctx, c, 0, now); err != nil {
					t.Fatal(err)
				}
			}
			if w := hs.call(http.MethodPost, "/api/users/"+users[0].Email+"/reset-2fa", ""); w.Code != http.StatusOK {
				t.Fatalf("POST /api/users/%s/reset-2fa = %d %s", users[0].Email, w.Code, w.Body)
			}
			for _, c := range codes {
				_, err := hs.store.LatestCode(ctx, c.UserID, c.Purpose, c.Binding, now)
				if c.UserID == users[0].ID && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("code %s of the reset user after reset-2fa: %v, want ErrNotFound (void)", c.ID, err)
				}
				if c.UserID != users[0].ID && err != nil {
					t.Errorf("code %s of another user after reset-2fa: %v, want it live", c.ID, err)
				}
			}
		})
	}
}

// TestNoticeOnce: reset-2fa and disable tell the user once: sent again (a
// retry of the API call, the CLI run twice) they change nothing more and
// send no second email; a reset of a user without a factor sends none.
func TestNoticeOnce(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			store := teststore.Open(t, backend)
			now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			outbox := &mail.Outbox{}
			s := NewService(store, nil, func() time.Time { return now }, "test")
			s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			s.Mailer = outbox
			for _, u := range []*storage.User{
				{ID: "u-factor", Email: "factor@example.com", EmailOTP: true},
				{ID: "u-none", Email: "none@example.com"},
			} {
				u.PasswordHash, u.CreatedAt, u.UpdatedAt = "x", now, now
				if err := store.CreateUser(t.Context(), u); err != nil {
					t.Fatal(err)
				}
			}
			count := func(to string) int {
				n := 0
				for _, m := range outbox.Messages() {
					if m.To == to {
						n++
					}
				}
				return n
			}
			for range 2 {
				for _, ref := range []string{"factor@example.com", "none@example.com"} {
					if _, err := s.ResetTwoFactor(t.Context(), ref); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n, m := count("factor@example.com"), count("none@example.com"); n != 1 || m != 0 {
				t.Errorf("two resets: %d emails to a user with a factor, %d to one without, want 1 and 0", n, m)
			}
			for range 2 {
				if _, err := s.SetUserDisabled(t.Context(), "none@example.com", true); err != nil {
					t.Fatal(err)
				}
			}
			if n := count("none@example.com"); n != 1 {
				t.Errorf("disabled twice: %d emails, want 1", n)
			}
		})
	}
}

// loadTogether is the Store of an admin API whose requests, once armed
// for n, each wait after loading their user by email until n have: every
// request then goes on from the user as it was before any of them
// changed it, as concurrent requests may (a wait is cut short after 5 s).
type loadTogether struct {
	storage.Store
	mu     sync.Mutex
	left   int
	loaded chan struct{}
}

// arm makes the next n loads wait for each other.
func (s *loadTogether) arm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left, s.loaded = n, make(chan struct{})
}

func (s *loadTogether) UserByEmail(ctx context.Context, email string) (*storage.User, error) {
	u, err := s.Store.UserByEmail(ctx, email)
	s.mu.Lock()
	loaded := s.loaded
	if s.left > 0 {
		if s.left--; s.left == 0 {
			close(loaded)
		}
	}
	s.mu.Unlock()
	if loaded != nil {
		select {
		case <-loaded:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
	}
	return u, err
}

// TestConcurrentNoticeOnce: 20 disables of one user sent at once through
// the admin API (a double-clicked console button, a retrying script) tell
// the user once, as do 20 resets of the second factors of a user with
// every kind of factor (email codes, an authenticator app, two security
// keys): the email goes out for the request whose change the store made,
// not for every request that loaded the user before another's change.
// Every request succeeds. SQLite and PostgreSQL.
func TestConcurrentNoticeOnce(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			together := &loadTogether{}
			hs := newAPIHarnessOn(t, backend, func(d *Deps) { together.Store = d.Store.(storage.Store); d.Store = together })
			ctx := t.Context()
			now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			for _, u := range []*storage.User{
				{ID: "u-disable", Email: "disable@example.com"},
				{ID: "u-reset", Email: "reset@example.com", EmailOTP: true},
			} {
				u.Name, u.PasswordHash, u.EmailVerified, u.CreatedAt, u.UpdatedAt = "User", "x", true, now, now
				if err := hs.store.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if err := hs.store.PutTOTP(ctx, &storage.TOTP{UserID: "u-reset", Secret: []byte("sealed secret"), CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := hs.store.UseTOTPStep(ctx, "u-reset", 1000, false, nil); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"key-1", "key-2"} {
				k := &storage.WebAuthnCredential{ID: []byte(id), UserID: "u-reset", Name: id, PublicKey: []byte{1}, CreatedAt: now}
				if err := hs.store.AddWebAuthnCredential(ctx, k, 0, false); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct{ action, email string }{
				{"disable", "disable@example.com"},
				{"reset-2fa", "reset@example.com"},
			} {
				t.Run(tc.action, func(t *testing.T) {
					const n = 20
					together.arm(n)
					codes := make([]int, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							w := hs.call(http.MethodPost, "/api/users/"+tc.email+"/"+tc.action, "")
							codes[i] = w.Code
						})
					}
					wg.Wait()
					for i, c := range codes {
						if c != http.StatusOK {
							t.Errorf("concurrent %s %d answered %d, want 200", tc.action, i, c)
						}
					}
					sent := 0
					for _, m := range hs.mail.Messages() {
						if m.To == tc.email {
							sent++
						}
					}
					if sent != 1 {
						t.Errorf("%d concurrent %s requests sent %d emails to the user, want 1", n, tc.action, sent)
					}
				})
			}
		})
	}
}
