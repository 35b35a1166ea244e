package storagetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// changedOnce runs change n times at once and returns how many calls
// reported a change; it fails t on an error.
func changedOnce(t *testing.T, n int, change func() (bool, error)) int {
	t.Helper()
	var changed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ok, err := change()
			if err != nil {
				t.Error(err)
			}
			if ok {
				changed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(changed.Load())
}

// testSetUserDisabled: SetUserDisabled reports the change it made; a user already so is left as it
// was (updated_at too) and gives false; of 20 concurrent calls exactly one
// reports the change; an unknown user gives ErrNotFound.
func testSetUserDisabled(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	for i, tc := range []struct {
		disabled, want bool
	}{{true, true}, {true, false}, {false, true}, {false, false}} {
		now := epoch().Add(time.Duration(i+1) * time.Minute)
		changed, err := s.SetUserDisabled(ctx, "u1", tc.disabled, now)
		check(t, err)
		if changed != tc.want {
			t.Errorf("SetUserDisabled(%v) #%d = %v, want %v", tc.disabled, i, changed, tc.want)
		}
		if changed {
			u.Disabled, u.UpdatedAt = tc.disabled, now
		}
		got, err := s.UserByID(ctx, "u1")
		check(t, err)
		wantEqual(t, "user after SetUserDisabled", got, u)
	}
	_, err := s.SetUserDisabled(ctx, "nobody", true, epoch())
	wantErr(t, "SetUserDisabled of an unknown user", err, storage.ErrNotFound)

	for _, disabled := range []bool{true, false} {
		n := changedOnce(t, 20, func() (bool, error) { return s.SetUserDisabled(ctx, "u1", disabled, epoch().Add(time.Hour)) })
		if n != 1 {
			t.Errorf("20 concurrent SetUserDisabled(%v): %d reported a change, want 1", disabled, n)
		}
	}
}

// testRemoveSecondFactors: RemoveSecondFactors turns email codes off and
// deletes the authenticator-app secret and the keys, and reports whether
// the user had one of them as a factor: again it reports false; a user
// with an enrolment not confirmed only, or with nothing, gets false (and
// loses the enrolment); another user keeps theirs. Of 20 concurrent calls
// for a user with every factor, exactly one reports true. An unknown user
// gives ErrNotFound.
func testRemoveSecondFactors(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2", "u3", "u4")
	all := func(userID string) {
		t.Helper()
		check(t, s.SetEmailOTP(ctx, userID, true, epoch()))
		check(t, s.PutTOTP(ctx, newTOTP(userID, "JBSWY3DPEHPK3PXP", epoch())))
		check(t, s.UseTOTPStep(ctx, userID, 1000, false, nil))
		for _, id := range []string{"a", "b"} {
			check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential(userID+id, userID, epoch()), 0, false))
		}
	}
	none := func(userID string) {
		t.Helper()
		u, err := s.UserByID(ctx, userID)
		check(t, err)
		if u.EmailOTP {
			t.Errorf("%s has email codes on after RemoveSecondFactors", userID)
		}
		if _, err := s.TOTPByUser(ctx, userID); err == nil {
			t.Errorf("%s has an authenticator secret after RemoveSecondFactors", userID)
		}
		keys, err := s.WebAuthnCredentials(ctx, userID)
		check(t, err)
		if len(keys) != 0 {
			t.Errorf("%s has %d keys after RemoveSecondFactors", userID, len(keys))
		}
	}
	all("u1")
	all("u2")
	check(t, s.PutTOTP(ctx, newTOTP("u3", "JBSWY3DPEHPK3PXP", epoch()))) // an enrolment only
	for _, tc := range []struct {
		userID string
		want   bool
	}{{"u1", true}, {"u1", false}, {"u3", false}, {"u4", false}} {
		had, err := s.RemoveSecondFactors(ctx, tc.userID, epoch().Add(time.Minute))
		check(t, err)
		if had != tc.want {
			t.Errorf("RemoveSecondFactors(%s) = %v, want %v", tc.userID, had, tc.want)
		}
		none(tc.userID)
	}
	keys, err := s.WebAuthnCredentials(ctx, "u2")
	check(t, err)
	if u, err := s.UserByID(ctx, "u2"); err != nil || !u.EmailOTP || len(keys) != 2 {
		t.Errorf("another user after RemoveSecondFactors(u1): %+v, %v, %d keys", u, err, len(keys))
	}
	_, err = s.RemoveSecondFactors(ctx, "nobody", epoch())
	wantErr(t, "RemoveSecondFactors of an unknown user", err, storage.ErrNotFound)

	for _, setup := range []struct {
		name string
		set  func(string)
	}{
		{"every factor", all},
		{"keys only", func(userID string) {
			for _, id := range []string{"c", "d", "e"} {
				check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential(userID+id, userID, epoch()), 0, false))
			}
		}},
	} {
		setup.set("u4")
		n := changedOnce(t, 20, func() (bool, error) { return s.RemoveSecondFactors(ctx, "u4", epoch().Add(time.Hour)) })
		if n != 1 {
			t.Errorf("20 concurrent RemoveSecondFactors of a user with %s: %d reported factors, want 1", setup.name, n)
		}
		none("u4")
	}
}
