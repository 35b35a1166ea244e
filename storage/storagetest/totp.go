package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newTOTP(userID, secret string, created time.Time) *storage.TOTP {
	return &storage.TOTP{UserID: userID, Secret: []byte("sealed:" + secret), CreatedAt: created}
}

// wantTOTP checks the user's stored secret.
func wantTOTP(t *testing.T, s storage.Store, what string, want *storage.TOTP) {
	t.Helper()
	got, err := s.TOTPByUser(t.Context(), want.UserID)
	check(t, err)
	wantEqual(t, what, got, want)
}

// confirmTOTP enrols a secret for userID and confirms it at step.
func confirmTOTP(t *testing.T, s storage.Store, userID string, step int64) *storage.TOTP {
	t.Helper()
	tt := newTOTP(userID, "JBSWY3DPEHPK3PXP", epoch())
	check(t, s.PutTOTP(t.Context(), tt))
	check(t, s.UseTOTPStep(t.Context(), userID, step, false, nil))
	tt.Confirmed, tt.LastStep = true, step
	return tt
}

func testTOTPRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	_, err := s.TOTPByUser(ctx, "u1")
	wantErr(t, "TOTPByUser before PutTOTP", err, storage.ErrNotFound)

	tt := newTOTP("u1", "JBSWY3DPEHPK3PXP", epoch().Add(time.Second))
	check(t, s.PutTOTP(ctx, tt))
	want := &storage.TOTP{UserID: "u1", Secret: []byte("sealed:JBSWY3DPEHPK3PXP"), Confirmed: false,
		LastStep: -1, CreatedAt: epoch().Add(time.Second)}
	wantEqual(t, "PutTOTP's argument after the call", tt, want)
	wantTOTP(t, s, "TOTPByUser", want)

	// PutTOTP stores an unconfirmed secret whatever Confirmed says.
	u2 := newTOTP("u2", "other", epoch())
	u2.Confirmed = true
	check(t, s.PutTOTP(ctx, u2))
	wantTOTP(t, s, "TOTPByUser(u2)", &storage.TOTP{UserID: "u2", Secret: []byte("sealed:other"),
		LastStep: -1, CreatedAt: epoch()})
	wantTOTP(t, s, "TOTPByUser(u1) after PutTOTP(u2)", want)

	_, err = s.TOTPByUser(ctx, "nobody")
	wantErr(t, "TOTPByUser(nobody)", err, storage.ErrNotFound)
	err = s.PutTOTP(ctx, newTOTP("nobody", "x", epoch()))
	wantErr(t, "PutTOTP for an unknown user", err, storage.ErrNotFound)
}

func testPutTOTPReplacesEnrolment(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.PutTOTP(ctx, newTOTP("u1", "first", epoch())))
	second := newTOTP("u1", "second", epoch().Add(time.Minute))
	check(t, s.PutTOTP(ctx, second))
	wantTOTP(t, s, "TOTPByUser after a second PutTOTP", second)

	// Once confirmed, the secret stays until deleted.
	check(t, s.UseTOTPStep(ctx, "u1", 1000, false, nil))
	second.Confirmed, second.LastStep = true, 1000
	err := s.PutTOTP(ctx, newTOTP("u1", "third", epoch().Add(2*time.Minute)))
	wantErr(t, "PutTOTP over a confirmed secret", err, storage.ErrConflict)
	wantTOTP(t, s, "TOTPByUser after PutTOTP over a confirmed secret", second)
}

func testUseTOTPStep(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	err := s.UseTOTPStep(ctx, "u1", 1000, false, nil)
	wantErr(t, "UseTOTPStep without a secret", err, storage.ErrNotFound)
	err = s.UseTOTPStep(ctx, "u1", 1000, true, nil)
	wantErr(t, "UseTOTPStep(confirmed) without a secret", err, storage.ErrNotFound)

	tt := newTOTP("u1", "JBSWY3DPEHPK3PXP", epoch())
	check(t, s.PutTOTP(ctx, tt))
	check(t, s.PutTOTP(ctx, newTOTP("u2", "other", epoch())))

	// An enrolment is not a confirmed secret.
	err = s.UseTOTPStep(ctx, "u1", 1000, true, nil)
	wantErr(t, "UseTOTPStep(confirmed) on an enrolment", err, storage.ErrNotFound)
	wantTOTP(t, s, "TOTPByUser after a refused step", tt)

	// The first step used confirms the enrolment.
	check(t, s.UseTOTPStep(ctx, "u1", 1000, false, nil))
	tt.Confirmed, tt.LastStep = true, 1000
	wantTOTP(t, s, "TOTPByUser after confirmation", tt)

	// A confirmed secret is no enrolment.
	err = s.UseTOTPStep(ctx, "u1", 1001, false, nil)
	wantErr(t, "UseTOTPStep(enrolment) on a confirmed secret", err, storage.ErrNotFound)

	// Steps up to the last one used are replays.
	for _, step := range []int64{1000, 999, 0, -1} {
		err = s.UseTOTPStep(ctx, "u1", step, true, nil)
		wantErr(t, "UseTOTPStep of an old step", err, storage.ErrReplayed)
	}
	wantTOTP(t, s, "TOTPByUser after replays", tt)

	check(t, s.UseTOTPStep(ctx, "u1", 1001, true, nil))
	check(t, s.UseTOTPStep(ctx, "u1", 1005, true, nil))
	err = s.UseTOTPStep(ctx, "u1", 1003, true, nil)
	wantErr(t, "UseTOTPStep of a step before the last", err, storage.ErrReplayed)
	tt.LastStep = 1005
	wantTOTP(t, s, "TOTPByUser after steps", tt)

	// Other users' secrets are untouched.
	wantTOTP(t, s, "TOTPByUser(u2)", &storage.TOTP{UserID: "u2", Secret: []byte("sealed:other"),
		LastStep: -1, CreatedAt: epoch()})
	err = s.UseTOTPStep(ctx, "nobody", 2000, true, nil)
	wantErr(t, "UseTOTPStep(nobody)", err, storage.ErrNotFound)
}

// testUseTOTPStepGivenLastStep checks that PutTOTP keeps a LastStep it is
// given: an enrolment cannot be confirmed with that step or an earlier one.
func testUseTOTPStepGivenLastStep(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	tt := newTOTP("u1", "JBSWY3DPEHPK3PXP", epoch())
	tt.LastStep = 1000
	check(t, s.PutTOTP(ctx, tt))
	wantTOTP(t, s, "TOTPByUser", tt)
	for _, step := range []int64{999, 1000} {
		err := s.UseTOTPStep(ctx, "u1", step, false, nil)
		wantErr(t, "UseTOTPStep(enrolment) up to the given last step", err, storage.ErrReplayed)
	}
	check(t, s.UseTOTPStep(ctx, "u1", 1001, false, nil))
	tt.Confirmed, tt.LastStep = true, 1001
	wantTOTP(t, s, "TOTPByUser after confirmation", tt)
}

func testUseTOTPStepConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	tt := confirmTOTP(t, s, "u1", 1000)
	errs := concurrently(20, func() error {
		return s.UseTOTPStep(ctx, "u1", 1001, true, nil)
	})
	if ok, replayed := count(t, errs, storage.ErrReplayed); ok != 1 || replayed != 19 {
		t.Errorf("20 concurrent UseTOTPStep of one step: %d succeeded, %d replayed; want 1 and 19", ok, replayed)
	}
	tt.LastStep = 1001
	wantTOTP(t, s, "TOTPByUser", tt)
}

// testUseTOTPStepEnrolmentConcurrent confirms an enrolment from many
// callers at once: one wins, and the others find a confirmed secret (not
// found, as an enrolment) or the step used (replayed).
func testUseTOTPStepEnrolmentConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	tt := newTOTP("u1", "JBSWY3DPEHPK3PXP", epoch())
	check(t, s.PutTOTP(ctx, tt))
	errs := concurrently(20, func() error {
		return s.UseTOTPStep(ctx, "u1", 1000, false, nil)
	})
	if ok, refused := count(t, errs, storage.ErrReplayed, storage.ErrNotFound); ok != 1 || refused != 19 {
		t.Errorf("20 concurrent UseTOTPStep confirming an enrolment: %d succeeded, %d refused; want 1 and 19", ok, refused)
	}
	tt.Confirmed, tt.LastStep = true, 1000
	wantTOTP(t, s, "TOTPByUser", tt)
}

// testUseTOTPStepOfReplacedSecret checks UseTOTPStep given the secret the
// step was checked against: an enrolment replaced since is not confirmed
// by it, and the secret that is stored still is.
func testUseTOTPStepOfReplacedSecret(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	first := newTOTP("u1", "first", epoch())
	check(t, s.PutTOTP(ctx, first))
	second := newTOTP("u1", "second", epoch().Add(time.Minute))
	check(t, s.PutTOTP(ctx, second))
	err := s.UseTOTPStep(ctx, "u1", 1000, false, first.Secret)
	wantErr(t, "UseTOTPStep(enrolment) with the replaced secret", err, storage.ErrNotFound)
	wantTOTP(t, s, "TOTPByUser after a step of the replaced secret", second)

	check(t, s.UseTOTPStep(ctx, "u1", 1000, false, second.Secret))
	second.Confirmed, second.LastStep = true, 1000
	wantTOTP(t, s, "TOTPByUser after confirmation", second)
	err = s.UseTOTPStep(ctx, "u1", 1000, true, second.Secret)
	wantErr(t, "UseTOTPStep of the stored secret's last step", err, storage.ErrReplayed)
	err = s.UseTOTPStep(ctx, "u1", 1001, true, first.Secret)
	wantErr(t, "UseTOTPStep(confirmed) with another secret", err, storage.ErrNotFound)
	check(t, s.UseTOTPStep(ctx, "u1", 1001, true, second.Secret))
}

func testDeleteTOTP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	confirmTOTP(t, s, "u1", 1000)
	other := confirmTOTP(t, s, "u2", 2000)

	check(t, s.DeleteTOTP(ctx, "u1"))
	_, err := s.TOTPByUser(ctx, "u1")
	wantErr(t, "TOTPByUser after DeleteTOTP", err, storage.ErrNotFound)
	err = s.UseTOTPStep(ctx, "u1", 1001, true, nil)
	wantErr(t, "UseTOTPStep after DeleteTOTP", err, storage.ErrNotFound)
	wantErr(t, "DeleteTOTP again", s.DeleteTOTP(ctx, "u1"), storage.ErrNotFound)
	wantErr(t, "DeleteTOTP(nobody)", s.DeleteTOTP(ctx, "nobody"), storage.ErrNotFound)
	wantTOTP(t, s, "TOTPByUser(u2)", other)

	// A new enrolment may start, from no step.
	fresh := newTOTP("u1", "fresh", epoch().Add(time.Hour))
	check(t, s.PutTOTP(ctx, fresh))
	wantTOTP(t, s, "TOTPByUser after a new PutTOTP", fresh)
	check(t, s.UseTOTPStep(ctx, "u1", 5, false, nil))

	wantErr(t, "PutTOTP over a confirmed secret", s.PutTOTP(ctx, newTOTP("u1", "x", epoch())), storage.ErrConflict)

	// An enrolment can be deleted too.
	check(t, s.DeleteTOTP(ctx, "u1"))
	check(t, s.PutTOTP(ctx, newTOTP("u1", "y", epoch())))
	check(t, s.DeleteTOTP(ctx, "u1"))
	_, err = s.TOTPByUser(ctx, "u1")
	wantErr(t, "TOTPByUser after deleting an enrolment", err, storage.ErrNotFound)
}
