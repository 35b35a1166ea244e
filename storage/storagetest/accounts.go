package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// newActionToken returns a token of u1 whose hash is hash(name), valid for
// thirty minutes from created.
func newActionToken(name, purpose string, created time.Time) *storage.ActionToken {
	return &storage.ActionToken{
		Hash:      hash(name),
		Purpose:   purpose,
		UserID:    "u1",
		CreatedAt: created,
		ExpiresAt: created.Add(30 * time.Minute),
	}
}

// wantActionToken uses the token with t's hash and purpose at now and
// checks what comes back: t, marked used at now.
func wantActionToken(t *testing.T, s storage.Store, what string, want *storage.ActionToken, now time.Time) {
	t.Helper()
	got, err := s.UseActionToken(t.Context(), want.Hash, want.Purpose, now)
	check(t, err)
	used := *want
	used.UsedAt = &now
	wantEqual(t, what, got, &used)
}

func testActionTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	change := newActionToken("change", "change-email", epoch())
	change.Data = "new@example.com"
	check(t, s.CreateActionToken(ctx, change))
	confirm := newActionToken("confirm", "confirm-email", epoch().Add(time.Second))
	confirm.UserID = "u2"
	check(t, s.CreateActionToken(ctx, confirm))

	wantActionToken(t, s, "UseActionToken(change-email)", change, epoch().Add(time.Minute))
	wantActionToken(t, s, "UseActionToken(confirm-email)", confirm, epoch().Add(time.Minute))

	err := s.CreateActionToken(ctx, newActionToken("change", "reset-password", epoch()))
	wantErr(t, "CreateActionToken with a taken hash", err, storage.ErrConflict)
	nobody := newActionToken("nobody", "reset-password", epoch())
	nobody.UserID = "nobody"
	wantErr(t, "CreateActionToken for an unknown user", s.CreateActionToken(ctx, nobody), storage.ErrNotFound)
	_, err = s.UseActionToken(ctx, nobody.Hash, nobody.Purpose, epoch())
	wantErr(t, "UseActionToken of a token refused for an unknown user", err, storage.ErrNotFound)
}

func testUseActionToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	reset := newActionToken("reset", "reset-password", epoch())
	check(t, s.CreateActionToken(ctx, reset))

	// Another purpose does not use it.
	for _, purpose := range []string{"confirm-email", "change-email", ""} {
		_, err := s.UseActionToken(ctx, reset.Hash, purpose, epoch())
		wantErr(t, fmt.Sprintf("UseActionToken as %q", purpose), err, storage.ErrNotFound)
	}
	_, err := s.UseActionToken(ctx, hash("nope"), "reset-password", epoch())
	wantErr(t, "UseActionToken of an unknown token", err, storage.ErrNotFound)

	wantActionToken(t, s, "UseActionToken", reset, epoch().Add(time.Minute))
	_, err = s.UseActionToken(ctx, reset.Hash, reset.Purpose, epoch().Add(2*time.Minute))
	wantErr(t, "UseActionToken again", err, storage.ErrNotFound)
	_, err = s.UseActionToken(ctx, reset.Hash, reset.Purpose, epoch().Add(time.Hour))
	wantErr(t, "UseActionToken again after expiry", err, storage.ErrNotFound)
}

func testActionTokenExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	tok := newActionToken("confirm", "confirm-email", epoch())
	check(t, s.CreateActionToken(ctx, tok))
	_, err := s.UseActionToken(ctx, tok.Hash, tok.Purpose, tok.ExpiresAt)
	wantErr(t, "UseActionToken at expiry", err, storage.ErrNotFound)
	_, err = s.UseActionToken(ctx, tok.Hash, tok.Purpose, tok.ExpiresAt.Add(time.Hour))
	wantErr(t, "UseActionToken after expiry", err, storage.ErrNotFound)
	// Refusing an expired token did not use it.
	wantActionToken(t, s, "UseActionToken just before expiry", tok, tok.ExpiresAt.Add(-time.Millisecond))
}

func testUseActionTokenConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	tok := newActionToken("reset", "reset-password", epoch())
	check(t, s.CreateActionToken(ctx, tok))
	errs := concurrently(20, func() error {
		_, err := s.UseActionToken(ctx, tok.Hash, tok.Purpose, epoch().Add(time.Second))
		return err
	})
	if ok, refused := count(t, errs, storage.ErrNotFound); ok != 1 || refused != 19 {
		t.Errorf("20 concurrent UseActionToken: %d succeeded, %d refused; want 1 and 19", ok, refused)
	}
}

func testDeleteActionTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	create := func(name, userID, purpose string) *storage.ActionToken {
		tok := newActionToken(name, purpose, epoch())
		tok.UserID = userID
		check(t, s.CreateActionToken(ctx, tok))
		return tok
	}
	reset1 := create("reset1", "u1", "reset-password")
	reset2 := create("reset2", "u1", "reset-password")
	change := create("change", "u1", "change-email")
	confirm := create("confirm", "u1", "confirm-email")
	other := create("other", "u2", "reset-password")

	check(t, s.DeleteActionTokens(ctx, "u1", "reset-password"))
	for _, tok := range []*storage.ActionToken{reset1, reset2} {
		_, err := s.UseActionToken(ctx, tok.Hash, tok.Purpose, epoch())
		wantErr(t, "UseActionToken after DeleteActionTokens", err, storage.ErrNotFound)
	}
	wantActionToken(t, s, "UseActionToken of another purpose", change, epoch())
	wantActionToken(t, s, "UseActionToken of another user", other, epoch())

	// Purpose "" deletes every token of the user, used or not.
	check(t, s.DeleteActionTokens(ctx, "u1", ""))
	_, err := s.UseActionToken(ctx, confirm.Hash, confirm.Purpose, epoch())
	wantErr(t, "UseActionToken after DeleteActionTokens of every purpose", err, storage.ErrNotFound)
	// The hash of a deleted token is free again.
	check(t, s.CreateActionToken(ctx, change))

	// Deleting nothing is no error.
	check(t, s.DeleteActionTokens(ctx, "u1", "reset-password"))
	check(t, s.DeleteActionTokens(ctx, "nobody", ""))
}

func testSupersedeActionTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	create := func(name, userID, purpose string, created time.Time) *storage.ActionToken {
		tok := newActionToken(name, purpose, created)
		tok.UserID = userID
		check(t, s.CreateActionToken(ctx, tok))
		return tok
	}
	at := epoch().Add(time.Second)
	older := create("older", "u1", "reset-password", epoch())
	usedOlder := create("used-older", "u1", "reset-password", epoch())
	_, err := s.UseActionToken(ctx, usedOlder.Hash, usedOlder.Purpose, epoch())
	check(t, err)
	sameTime := create("same-time", "u1", "reset-password", at)
	mine := create("mine", "u1", "reset-password", at)
	newer := create("newer", "u1", "reset-password", at.Add(time.Millisecond))
	change := create("change", "u1", "change-email", epoch())
	other := create("other", "u2", "reset-password", epoch())

	check(t, s.SupersedeActionTokens(ctx, mine))
	for _, tok := range []*storage.ActionToken{older, sameTime} {
		_, err = s.UseActionToken(ctx, tok.Hash, tok.Purpose, at)
		wantErr(t, "UseActionToken of a superseded token", err, storage.ErrNotFound)
	}
	// The used one is gone too: its hash can be stored again.
	check(t, s.CreateActionToken(ctx, usedOlder))
	wantActionToken(t, s, "UseActionToken of the superseding token", mine, at)
	wantActionToken(t, s, "UseActionToken of a newer token", newer, at)
	wantActionToken(t, s, "UseActionToken of another purpose", change, at)
	wantActionToken(t, s, "UseActionToken of another user", other, at)
}

// wantCodesLeft checks how many unused recovery codes the user has.
func wantCodesLeft(t *testing.T, s storage.Store, what, userID string, want int) {
	t.Helper()
	n, err := s.RecoveryCodesLeft(t.Context(), userID)
	check(t, err)
	if n != want {
		t.Errorf("%s: RecoveryCodesLeft(%s) = %d, want %d", what, userID, n, want)
	}
}

// recoveryHashes returns the hashes of n recovery codes named prefix0…
func recoveryHashes(prefix string, n int) [][]byte {
	var hashes [][]byte
	for i := range n {
		hashes = append(hashes, hash(fmt.Sprintf("%s%d", prefix, i)))
	}
	return hashes
}

func testReplaceRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	wantCodesLeft(t, s, "before any", "u1", 0)
	wantCodesLeft(t, s, "unknown user", "nobody", 0)

	first := recoveryHashes("first", 10)
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", first, epoch()))
	check(t, s.ReplaceRecoveryCodes(ctx, "u2", recoveryHashes("u2-", 10), epoch()))
	wantCodesLeft(t, s, "after ReplaceRecoveryCodes", "u1", 10)
	check(t, s.UseRecoveryCode(ctx, "u1", first[0], epoch()))
	wantCodesLeft(t, s, "after a code is used", "u1", 9)

	// The new set replaces the old one, used codes included.
	second := recoveryHashes("second", 3)
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", second, epoch().Add(time.Minute)))
	wantCodesLeft(t, s, "after a second ReplaceRecoveryCodes", "u1", 3)
	for _, h := range first[1:] {
		wantErr(t, "UseRecoveryCode of a replaced code", s.UseRecoveryCode(ctx, "u1", h, epoch()), storage.ErrNotFound)
	}
	// A code of the old set may return in a new one, unused.
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", [][]byte{first[0], second[0]}, epoch()))
	wantCodesLeft(t, s, "after a set reusing a code", "u1", 2)
	check(t, s.UseRecoveryCode(ctx, "u1", first[0], epoch()))

	// A set that cannot be stored changes nothing.
	err := s.ReplaceRecoveryCodes(ctx, "u1", [][]byte{hash("x"), hash("x")}, epoch())
	wantErr(t, "ReplaceRecoveryCodes with a repeated hash", err, storage.ErrConflict)
	wantCodesLeft(t, s, "after a failed ReplaceRecoveryCodes", "u1", 1)
	check(t, s.UseRecoveryCode(ctx, "u1", second[0], epoch()))
	wantCodesLeft(t, s, "after the last code", "u1", 0)

	// nil and empty sets leave none.
	for _, none := range [][][]byte{nil, {}} {
		check(t, s.ReplaceRecoveryCodes(ctx, "u1", second, epoch()))
		check(t, s.ReplaceRecoveryCodes(ctx, "u1", none, epoch()))
		wantCodesLeft(t, s, fmt.Sprintf("after ReplaceRecoveryCodes(%#v)", none), "u1", 0)
		wantErr(t, "UseRecoveryCode after an empty set", s.UseRecoveryCode(ctx, "u1", second[1], epoch()), storage.ErrNotFound)
	}

	wantCodesLeft(t, s, "other user", "u2", 10)
	err = s.ReplaceRecoveryCodes(ctx, "nobody", second, epoch())
	wantErr(t, "ReplaceRecoveryCodes for an unknown user", err, storage.ErrNotFound)
	err = s.ReplaceRecoveryCodes(ctx, "nobody", nil, epoch())
	wantErr(t, "ReplaceRecoveryCodes(nil) for an unknown user", err, storage.ErrNotFound)
}

func testUseRecoveryCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	codes := recoveryHashes("code", 10)
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", codes, epoch()))
	other := recoveryHashes("other", 1)
	check(t, s.ReplaceRecoveryCodes(ctx, "u2", other, epoch()))

	for i, h := range codes {
		check(t, s.UseRecoveryCode(ctx, "u1", h, epoch().Add(time.Duration(i)*time.Minute)))
		wantCodesLeft(t, s, fmt.Sprintf("after using %d codes", i+1), "u1", 9-i)
		wantErr(t, "UseRecoveryCode again", s.UseRecoveryCode(ctx, "u1", h, epoch()), storage.ErrNotFound)
	}
	wantErr(t, "UseRecoveryCode of an unknown code", s.UseRecoveryCode(ctx, "u1", hash("nope"), epoch()), storage.ErrNotFound)
	// A code is the user's own.
	wantErr(t, "UseRecoveryCode of another user's code", s.UseRecoveryCode(ctx, "u1", other[0], epoch()), storage.ErrNotFound)
	wantErr(t, "UseRecoveryCode for an unknown user", s.UseRecoveryCode(ctx, "nobody", other[0], epoch()), storage.ErrNotFound)
	wantCodesLeft(t, s, "other user", "u2", 1)
	check(t, s.UseRecoveryCode(ctx, "u2", other[0], epoch()))
}

func testUseRecoveryCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	codes := recoveryHashes("code", 10)
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", codes, epoch()))
	errs := concurrently(20, func() error {
		return s.UseRecoveryCode(ctx, "u1", codes[3], epoch())
	})
	if ok, refused := count(t, errs, storage.ErrNotFound); ok != 1 || refused != 19 {
		t.Errorf("20 concurrent UseRecoveryCode: %d succeeded, %d refused; want 1 and 19", ok, refused)
	}
	wantCodesLeft(t, s, "after concurrent use", "u1", 9)
}

// testReplaceRecoveryCodesConcurrent replaces one user's set from many
// callers at once: the sets are stored one after the other, so one whole
// set remains, never a mix.
func testReplaceRecoveryCodesConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	sets := make(chan [][]byte, 10)
	for i := range 10 {
		sets <- recoveryHashes(fmt.Sprintf("set%d-", i), 10)
	}
	errs := concurrently(10, func() error {
		return s.ReplaceRecoveryCodes(ctx, "u1", <-sets, epoch())
	})
	if ok, _ := count(t, errs); ok != 10 {
		t.Fatalf("10 concurrent ReplaceRecoveryCodes: %d succeeded, want 10", ok)
	}
	wantCodesLeft(t, s, "after concurrent ReplaceRecoveryCodes", "u1", 10)
	// The codes left are one set: exactly one set's first code works.
	var left int
	for i := range 10 {
		if err := s.UseRecoveryCode(ctx, "u1", hash(fmt.Sprintf("set%d-0", i)), epoch()); err == nil {
			left++
		}
	}
	if left != 1 {
		t.Errorf("after concurrent ReplaceRecoveryCodes, codes of %d sets are left, want 1", left)
	}
}

// testIssueFirstRecoveryCodes: the first factor's set is stored only for a
// user without unused codes, and of concurrent callers (factors enabled
// at once) exactly one stores its set.
func testIssueFirstRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	issued, err := s.IssueFirstRecoveryCodes(ctx, "u1", recoveryHashes("first-", 10), epoch())
	if err != nil || !issued {
		t.Fatalf("IssueFirstRecoveryCodes for a user without codes = %t, %v; want true", issued, err)
	}
	issued, err = s.IssueFirstRecoveryCodes(ctx, "u1", recoveryHashes("second-", 10), epoch())
	if err != nil || issued {
		t.Fatalf("IssueFirstRecoveryCodes for a user with codes = %t, %v; want false", issued, err)
	}
	check(t, s.UseRecoveryCode(ctx, "u1", hash("first-0"), epoch()))
	wantCodesLeft(t, s, "after a refused IssueFirstRecoveryCodes", "u1", 9)
	// All used: a new first set replaces them.
	for i := 1; i < 10; i++ {
		check(t, s.UseRecoveryCode(ctx, "u1", hash(fmt.Sprintf("first-%d", i)), epoch()))
	}
	issued, err = s.IssueFirstRecoveryCodes(ctx, "u1", recoveryHashes("third-", 10), epoch())
	if err != nil || !issued {
		t.Fatalf("IssueFirstRecoveryCodes for a user whose codes are all used = %t, %v; want true", issued, err)
	}
	wantCodesLeft(t, s, "after IssueFirstRecoveryCodes", "u1", 10)
	_, err = s.IssueFirstRecoveryCodes(ctx, "nobody", recoveryHashes("x-", 10), epoch())
	wantErr(t, "IssueFirstRecoveryCodes for an unknown user", err, storage.ErrNotFound)

	sets := make(chan [][]byte, 10)
	for i := range 10 {
		sets <- recoveryHashes(fmt.Sprintf("set%d-", i), 10)
	}
	var mu sync.Mutex
	won := 0
	errs := concurrently(10, func() error {
		issued, err := s.IssueFirstRecoveryCodes(ctx, "u2", <-sets, epoch())
		if issued {
			mu.Lock()
			won++
			mu.Unlock()
		}
		return err
	})
	if ok, _ := count(t, errs); ok != 10 || won != 1 {
		t.Fatalf("10 concurrent IssueFirstRecoveryCodes: %d succeeded, %d issued; want 10 and 1", ok, won)
	}
	wantCodesLeft(t, s, "after concurrent IssueFirstRecoveryCodes", "u2", 10)
}
