package storagetest

import (
	"fmt"
	"sync/atomic"
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

	// Purpose "" voids every code of the user (an administrator's reset
	// of the second factors), and no other user's.
	issue("e", "u1", "signin", "ar3")
	check(t, s.VoidCodes(ctx, "u1", "", ""))
	wantNoLatest(t, s, "LatestCode of a purpose after VoidCodes of every purpose", "u1", "enable-email", "s1", epoch())
	wantNoLatest(t, s, "LatestCode(ar3) after VoidCodes of every purpose", "u1", "signin", "ar3", epoch())
	wantLatest(t, s, "LatestCode of another user after VoidCodes of every purpose", u2, epoch())
}

// testPendingCode covers a code stored pending while its email is sent: it
// holds the cooldown but no check sees it, and the code before it stays as
// it is until ActivateCode makes the new one the only live code, or
// DiscardCode drops it (the email not sent). A code used while a newer one
// is pending stays used whichever way the newer one goes.
func testPendingCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	at := func(d time.Duration) time.Time { return epoch().Add(d) }
	pending := func(id string, created time.Time) *storage.OneTimeCode {
		c := newCode(id, created)
		c.Pending = true
		return c
	}
	other := newCode("other", epoch())
	other.Binding = "ar2"
	check(t, s.IssueCode(ctx, other, cooldown, epoch()))

	c1 := newCode("c1", epoch())
	check(t, s.IssueCode(ctx, c1, cooldown, epoch()))
	c2 := pending("c2", at(cooldown))
	check(t, s.IssueCode(ctx, c2, cooldown, at(cooldown)))
	wantLatest(t, s, "LatestCode while a newer code is pending", c1, at(cooldown))
	wantErr(t, "UseCode of a pending code", s.UseCode(ctx, c2.ID, at(cooldown)), storage.ErrNotFound)
	err := s.IssueCode(ctx, pending("x", at(cooldown+time.Second)), cooldown, at(cooldown+time.Second))
	wantErr(t, "IssueCode within the cooldown of a pending code", err, storage.ErrConflict)

	// c1 is used while c2's email is on its way, which then fails.
	check(t, s.UseCode(ctx, c1.ID, at(cooldown+time.Second)))
	check(t, s.DiscardCode(ctx, c2.ID))
	wantNoLatest(t, s, "LatestCode after the use of c1 and the discard of c2", "u1", "signin", "ar1", at(cooldown+time.Second))
	wantErr(t, "UseCode of c1 again after the discard of c2", s.UseCode(ctx, c1.ID, at(cooldown+2*time.Second)), storage.ErrReplayed)
	wantErr(t, "UseCode of the discarded code", s.UseCode(ctx, c2.ID, at(cooldown+2*time.Second)), storage.ErrNotFound)
	wantErr(t, "DiscardCode again", s.DiscardCode(ctx, c2.ID), storage.ErrNotFound)
	wantErr(t, "ActivateCode of a discarded code", s.ActivateCode(ctx, c2.ID), storage.ErrNotFound)
	wantErr(t, "DiscardCode of a live code", s.DiscardCode(ctx, c1.ID), storage.ErrNotFound)
	wantErr(t, "UseCode of c1 after DiscardCode of it", s.UseCode(ctx, c1.ID, at(cooldown+2*time.Second)), storage.ErrReplayed)

	// The discarded code held no cooldown: c1's alone counts. c3 is
	// pending while c1 is used, then its email goes out.
	c3 := pending("c3", at(cooldown))
	check(t, s.IssueCode(ctx, c3, cooldown, at(cooldown)))
	wantNoLatest(t, s, "LatestCode with c1 used and c3 pending", "u1", "signin", "ar1", at(cooldown))
	check(t, s.ActivateCode(ctx, c3.ID))
	c3.Pending = false
	wantLatest(t, s, "LatestCode after ActivateCode", c3, at(cooldown))
	wantErr(t, "UseCode of c1 after c3 became live", s.UseCode(ctx, c1.ID, at(cooldown)), storage.ErrNotFound)
	wantErr(t, "ActivateCode again", s.ActivateCode(ctx, c3.ID), storage.ErrNotFound)
	wantErr(t, "DiscardCode of an activated code", s.DiscardCode(ctx, c3.ID), storage.ErrNotFound)
	wantLatest(t, s, "LatestCode after DiscardCode of a live code", c3, at(cooldown))

	// An unused live code stays live while the next is pending, and goes
	// when the next is activated.
	c4 := pending("c4", at(2*cooldown))
	check(t, s.IssueCode(ctx, c4, cooldown, at(2*cooldown)))
	wantLatest(t, s, "LatestCode while c4 is pending", c3, at(2*cooldown))
	check(t, s.ActivateCode(ctx, c4.ID))
	c4.Pending = false
	wantLatest(t, s, "LatestCode after c4 is activated", c4, at(2*cooldown))
	wantErr(t, "UseCode of the code before c4", s.UseCode(ctx, c3.ID, at(2*cooldown)), storage.ErrNotFound)

	// Two pending at once (no cooldown), activated in either order: the
	// newer one ends up the only live code.
	for _, newerFirst := range []bool{true, false} {
		base := at(3 * cooldown)
		if !newerFirst {
			base = at(4 * cooldown)
		}
		older, newer := pending(fmt.Sprintf("older-%v", newerFirst), base), pending(fmt.Sprintf("newer-%v", newerFirst), base.Add(time.Millisecond))
		check(t, s.IssueCode(ctx, older, 0, base))
		check(t, s.IssueCode(ctx, newer, 0, base.Add(time.Millisecond)))
		if newerFirst {
			check(t, s.ActivateCode(ctx, newer.ID))
			wantErr(t, "ActivateCode of a code older than a live one", s.ActivateCode(ctx, older.ID), storage.ErrNotFound)
		} else {
			check(t, s.ActivateCode(ctx, older.ID))
			check(t, s.ActivateCode(ctx, newer.ID))
		}
		newer.Pending = false
		wantLatest(t, s, fmt.Sprintf("LatestCode after two activations (newer first: %v)", newerFirst), newer, base.Add(time.Millisecond))
		wantErr(t, "UseCode of the older code", s.UseCode(ctx, older.ID, base.Add(time.Millisecond)), storage.ErrNotFound)
	}

	// A live code whose created_at is later than the pending one's (a
	// replica's clock ahead of another's) goes too when it is activated.
	ahead := newCode("ahead", at(7*cooldown+10*time.Second))
	ahead.Binding = "ar3"
	check(t, s.IssueCode(ctx, ahead, 0, ahead.CreatedAt))
	behind := pending("behind", at(7*cooldown))
	behind.Binding = "ar3"
	check(t, s.IssueCode(ctx, behind, 0, ahead.CreatedAt))
	check(t, s.ActivateCode(ctx, behind.ID))
	behind.Pending = false
	wantLatest(t, s, "LatestCode after activating a code older than the live one", behind, ahead.CreatedAt)
	wantErr(t, "UseCode of the live code that looked newer", s.UseCode(ctx, ahead.ID, ahead.CreatedAt), storage.ErrNotFound)

	// VoidCodes takes pending codes too.
	c5 := pending("c5", at(6*cooldown))
	check(t, s.IssueCode(ctx, c5, cooldown, at(6*cooldown)))
	check(t, s.VoidCodes(ctx, "u1", "signin", "ar1"))
	wantErr(t, "ActivateCode after VoidCodes", s.ActivateCode(ctx, c5.ID), storage.ErrNotFound)
	wantNoLatest(t, s, "LatestCode after VoidCodes", "u1", "signin", "ar1", at(6*cooldown))

	wantErr(t, "ActivateCode of an unknown code", s.ActivateCode(ctx, "nope"), storage.ErrNotFound)
	wantErr(t, "DiscardCode of an unknown code", s.DiscardCode(ctx, "nope"), storage.ErrNotFound)
	wantLatest(t, s, "LatestCode of another binding", other, at(6*cooldown))
}

// testPendingCodeConcurrent races the uses of the live code against the
// activation or the discard of the pending one after it: one use at most
// succeeds, and the end state is the same as in some order of the two.
// A use that succeeded is never undone: discarded, c1 stays used;
// activated, c1 is gone and c2 is the live code, unused.
func testPendingCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	for i, activate := range []bool{false, true} {
		binding := fmt.Sprintf("ar-%v", activate)
		created := epoch().Add(time.Duration(i) * time.Hour)
		c1 := newCode("c1-"+binding, created)
		c1.Binding = binding
		check(t, s.IssueCode(ctx, c1, cooldown, created))
		c2 := newCode("c2-"+binding, created.Add(cooldown))
		c2.Binding, c2.Pending = binding, true
		check(t, s.IssueCode(ctx, c2, cooldown, created.Add(cooldown)))

		now := created.Add(cooldown + time.Second)
		var settled atomic.Bool
		errs := concurrently(11, func() error {
			if settled.CompareAndSwap(false, true) {
				if activate {
					return s.ActivateCode(ctx, c2.ID)
				}
				return s.DiscardCode(ctx, c2.ID)
			}
			return s.UseCode(ctx, c1.ID, now)
		})
		ok, lost := count(t, errs, storage.ErrReplayed, storage.ErrNotFound)
		if ok < 1 || ok > 2 || ok+lost != 11 {
			t.Fatalf("activate %v: %d succeeded, %d refused; want the settling call and at most one use to succeed", activate, ok, lost)
		}
		used := ok == 2
		if activate {
			c2.Pending = false
			wantLatest(t, s, "LatestCode after the race with ActivateCode", c2, now)
			wantErr(t, "UseCode of c1 after the race with ActivateCode", s.UseCode(ctx, c1.ID, now), storage.ErrNotFound)
			continue
		}
		if !used {
			t.Fatalf("no use of c1 succeeded while c2 was discarded: %v", errs)
		}
		wantNoLatest(t, s, "LatestCode after the race with DiscardCode", "u1", "signin", binding, now)
		wantErr(t, "UseCode of c1 after the race with DiscardCode", s.UseCode(ctx, c1.ID, now), storage.ErrReplayed)
	}
}
