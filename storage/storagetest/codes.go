package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// cooldown is the time between two codes of one (user, purpose, binding).
const cooldown = 30 * time.Second

// newCode returns a code of u1 for signing in through auth request ar1,
// valid for ten minutes from created.
func newCode(id string, created time.Time) *storage.OneTimeCode {
	return &storage.OneTimeCode{
		ID:        id,
		UserID:    "u1",
		Purpose:   "signin",
		Binding:   "ar1",
		Hash:      hash(id),
		CreatedAt: created,
		ExpiresAt: created.Add(10 * time.Minute),
	}
}

// wantLatest checks the live code of c's (user, purpose, binding) at now.
func wantLatest(t *testing.T, s storage.Store, what string, c *storage.OneTimeCode, now time.Time) {
	t.Helper()
	got, err := s.LatestCode(t.Context(), c.UserID, c.Purpose, c.Binding, now)
	check(t, err)
	wantEqual(t, what, got, c)
}

// wantNoLatest checks that (user, purpose, binding) has no live code at now.
func wantNoLatest(t *testing.T, s storage.Store, what, userID, purpose, binding string, now time.Time) {
	t.Helper()
	_, err := s.LatestCode(t.Context(), userID, purpose, binding, now)
	wantErr(t, what, err, storage.ErrNotFound)
}

func testIssueCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	wantNoLatest(t, s, "LatestCode before IssueCode", "u1", "signin", "ar1", epoch())

	c := newCode("c1", epoch())
	check(t, s.IssueCode(ctx, c, cooldown, epoch()))
	wantLatest(t, s, "LatestCode", c, epoch())
	wantLatest(t, s, "LatestCode just before expiry", c, c.ExpiresAt.Add(-time.Millisecond))

	// Codes of other users, purposes and bindings are apart.
	wantNoLatest(t, s, "LatestCode of another user", "u2", "signin", "ar1", epoch())
	wantNoLatest(t, s, "LatestCode of another purpose", "u1", "enable-email", "ar1", epoch())
	wantNoLatest(t, s, "LatestCode of another binding", "u1", "signin", "ar2", epoch())

	// An empty id is set to a random one, a zero creation time to now.
	blank := newCode("", time.Time{})
	blank.Purpose, blank.ExpiresAt = "enable-email", epoch().Add(time.Minute)
	check(t, s.IssueCode(ctx, blank, cooldown, epoch()))
	if blank.ID == "" {
		t.Error("IssueCode left an empty id")
	}
	if !blank.CreatedAt.Equal(epoch()) {
		t.Errorf("IssueCode set CreatedAt to %v, want now, %v", blank.CreatedAt, epoch())
	}
	wantLatest(t, s, "LatestCode of a code issued with no id", blank, epoch())
	wantLatest(t, s, "LatestCode of the first code", c, epoch())

	err := s.IssueCode(ctx, &storage.OneTimeCode{ID: "x", UserID: "nobody", Purpose: "signin", Binding: "ar1",
		Hash: hash("x"), CreatedAt: epoch(), ExpiresAt: epoch().Add(time.Minute)}, cooldown, epoch())
	wantErr(t, "IssueCode for an unknown user", err, storage.ErrNotFound)
	dup := newCode("c1", epoch())
	dup.UserID = "u2"
	wantErr(t, "IssueCode with a taken id", s.IssueCode(ctx, dup, cooldown, epoch()), storage.ErrConflict)
	wantNoLatest(t, s, "LatestCode after IssueCode with a taken id", "u2", "signin", "ar1", epoch())
}

func testIssueCodeCooldown(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	c1 := newCode("c1", epoch())
	check(t, s.IssueCode(ctx, c1, cooldown, epoch()))
	other := newCode("other", epoch().Add(10*time.Second))
	other.Binding = "ar2"
	check(t, s.IssueCode(ctx, other, cooldown, epoch().Add(10*time.Second)))

	// Within the cooldown, nothing changes.
	for _, at := range []time.Duration{0, 10 * time.Second, cooldown - time.Millisecond} {
		c2 := newCode("c2", epoch().Add(at))
		err := s.IssueCode(ctx, c2, cooldown, epoch().Add(at))
		wantErr(t, fmt.Sprintf("IssueCode %v after the last", at), err, storage.ErrConflict)
		wantLatest(t, s, "LatestCode after a refused IssueCode", c1, epoch().Add(at))
	}
	// A used code counts as much as a live one.
	check(t, s.UseCode(ctx, c1.ID, epoch().Add(time.Second)))
	c1.UsedAt = new(epoch().Add(time.Second))
	err := s.IssueCode(ctx, newCode("c2", epoch().Add(20*time.Second)), cooldown, epoch().Add(20*time.Second))
	wantErr(t, "IssueCode within the cooldown of a used code", err, storage.ErrConflict)

	// After it, the new code replaces the old one.
	c2 := newCode("c2", epoch().Add(cooldown))
	check(t, s.IssueCode(ctx, c2, cooldown, epoch().Add(cooldown)))
	wantLatest(t, s, "LatestCode after the cooldown", c2, epoch().Add(cooldown))
	err = s.UseCode(ctx, c1.ID, epoch().Add(cooldown))
	wantErr(t, "UseCode of the replaced code", err, storage.ErrNotFound)

	c3 := newCode("c3", epoch().Add(time.Hour))
	check(t, s.IssueCode(ctx, c3, cooldown, epoch().Add(time.Hour)))
	wantLatest(t, s, "LatestCode of the newest", c3, epoch().Add(time.Hour))
	err = s.UseCode(ctx, c2.ID, epoch().Add(time.Hour))
	wantErr(t, "UseCode of an unused replaced code", err, storage.ErrNotFound)

	// Another binding kept its code.
	wantLatest(t, s, "LatestCode of another binding", other, epoch().Add(10*time.Second))

	// A cooldown of zero allows a code at once.
	c4 := newCode("c4", epoch().Add(time.Hour))
	check(t, s.IssueCode(ctx, c4, 0, epoch().Add(time.Hour)))
	wantLatest(t, s, "LatestCode after no cooldown", c4, epoch().Add(time.Hour))
}

func testIssueCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	codes := make(chan *storage.OneTimeCode, 10)
	for i := range 10 {
		codes <- newCode(fmt.Sprintf("c%d", i), epoch())
	}
	issued := make(chan *storage.OneTimeCode, 10)
	errs := concurrently(10, func() error {
		c := <-codes
		err := s.IssueCode(ctx, c, cooldown, epoch())
		if err == nil {
			issued <- c
		}
		return err
	})
	if ok, conflicts := count(t, errs, storage.ErrConflict); ok != 1 || conflicts != 9 {
		t.Fatalf("10 concurrent IssueCode: %d succeeded, %d conflicts; want 1 and 9", ok, conflicts)
	}
	winner := <-issued
	wantLatest(t, s, "LatestCode", winner, epoch())
	for i := range 10 {
		if id := fmt.Sprintf("c%d", i); id != winner.ID {
			wantErr(t, "UseCode of a refused code", s.UseCode(ctx, id, epoch()), storage.ErrNotFound)
		}
	}
}

func testCodeExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	c := newCode("c1", epoch())
	check(t, s.IssueCode(ctx, c, cooldown, epoch()))
	wantNoLatest(t, s, "LatestCode at expiry", "u1", "signin", "ar1", c.ExpiresAt)
	wantNoLatest(t, s, "LatestCode after expiry", "u1", "signin", "ar1", c.ExpiresAt.Add(time.Hour))
	wantErr(t, "UseCode at expiry", s.UseCode(ctx, "c1", c.ExpiresAt), storage.ErrNotFound)
	wantErr(t, "UseCode after expiry", s.UseCode(ctx, "c1", c.ExpiresAt.Add(time.Hour)), storage.ErrNotFound)
	// Refusing an expired code did not use it.
	check(t, s.UseCode(ctx, "c1", c.ExpiresAt.Add(-time.Millisecond)))
}

func testUseCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	c := newCode("c1", epoch())
	check(t, s.IssueCode(ctx, c, cooldown, epoch()))
	other := newCode("c2", epoch())
	other.Binding = "ar2"
	check(t, s.IssueCode(ctx, other, cooldown, epoch()))

	check(t, s.UseCode(ctx, "c1", epoch().Add(time.Minute)))
	wantNoLatest(t, s, "LatestCode after UseCode", "u1", "signin", "ar1", epoch().Add(time.Minute))
	wantErr(t, "UseCode again", s.UseCode(ctx, "c1", epoch().Add(time.Minute)), storage.ErrReplayed)
	wantErr(t, "UseCode again after expiry", s.UseCode(ctx, "c1", epoch().Add(time.Hour)), storage.ErrReplayed)
	wantErr(t, "UseCode of an unknown code", s.UseCode(ctx, "nope", epoch()), storage.ErrNotFound)
	wantLatest(t, s, "LatestCode of another binding", other, epoch().Add(time.Minute))
}

func testUseCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.IssueCode(ctx, newCode("c1", epoch()), cooldown, epoch()))
	errs := concurrently(20, func() error {
		return s.UseCode(ctx, "c1", epoch().Add(time.Second))
	})
	if ok, replayed := count(t, errs, storage.ErrReplayed); ok != 1 || replayed != 19 {
		t.Errorf("20 concurrent UseCode: %d succeeded, %d replayed; want 1 and 19", ok, replayed)
	}
}

func testVoidCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	issue := func(id, userID, purpose, binding string) *storage.OneTimeCode {
		c := newCode(id, epoch())
		c.UserID, c.Purpose, c.Binding = userID, purpose, binding
		check(t, s.IssueCode(ctx, c, cooldown, epoch()))
		return c
	}
	issue("a", "u1", "signin", "ar1")
	issue("b", "u1", "signin", "ar2")
	enable := issue("c", "u1", "enable-email", "s1")
	u2 := issue("d", "u2", "signin", "ar1")

	check(t, s.VoidCodes(ctx, "u1", "signin", "ar1"))
	wantNoLatest(t, s, "LatestCode after VoidCodes", "u1", "signin", "ar1", epoch())
	wantErr(t, "UseCode after VoidCodes", s.UseCode(ctx, "a", epoch()), storage.ErrNotFound)
	b, err := s.LatestCode(ctx, "u1", "signin", "ar2", epoch())
	check(t, err)
	if b.ID != "b" {
		t.Errorf("LatestCode of another binding after VoidCodes: %s, want b", b.ID)
	}

	// With the codes gone, so is the cooldown.
	a2 := issue("a2", "u1", "signin", "ar1")
	wantLatest(t, s, "LatestCode after VoidCodes and IssueCode", a2, epoch())

	// Binding "" voids every binding of the purpose.
	check(t, s.VoidCodes(ctx, "u1", "signin", ""))
	wantNoLatest(t, s, "LatestCode(ar1) after VoidCodes of every binding", "u1", "signin", "ar1", epoch())
	wantNoLatest(t, s, "LatestCode(ar2) after VoidCodes of every binding", "u1", "signin", "ar2", epoch())
	wantLatest(t, s, "LatestCode of another purpose", enable, epoch())
	wantLatest(t, s, "LatestCode of another user", u2, epoch())

	// Voiding nothing is no error.
	check(t, s.VoidCodes(ctx, "u1", "signin", ""))
	check(t, s.VoidCodes(ctx, "nobody", "signin", "ar1"))
}
