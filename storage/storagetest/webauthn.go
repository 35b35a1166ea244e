package storagetest

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// webauthnTests are the conformance tests of storage.WebAuthnStore.
var webauthnTests = []struct {
	name string
	fn   func(*testing.T, storage.Store)
}{
	{"WebAuthnHandle", testWebAuthnHandle},
	{"WebAuthnHandleConcurrent", testWebAuthnHandleConcurrent},
	{"WebAuthnCredentialRoundTrip", testWebAuthnCredentialRoundTrip},
	{"WebAuthnCredentialConflict", testWebAuthnCredentialConflict},
	{"UpdateWebAuthnCredentialUse", testUpdateWebAuthnCredentialUse},
	{"UpdateWebAuthnCredentialUseNoCounter", testUpdateWebAuthnCredentialUseNoCounter},
	{"UpdateWebAuthnCredentialUseConcurrent", testUpdateWebAuthnCredentialUseConcurrent},
	{"DeleteWebAuthnCredential", testDeleteWebAuthnCredential},
	{"WebAuthnSession", testWebAuthnSession},
	{"WebAuthnSessionExpiry", testWebAuthnSessionExpiry},
	{"TakeWebAuthnSessionConcurrent", testTakeWebAuthnSessionConcurrent},
}

// handle returns a 64-byte user handle derived from s.
func handle(s string) []byte {
	b := bytes.Repeat([]byte{0x5a}, 64)
	copy(b, s)
	return b
}

func newWebAuthnCredential(id, userID string, created time.Time) *storage.WebAuthnCredential {
	return &storage.WebAuthnCredential{
		ID:              []byte("cred:" + id),
		UserID:          userID,
		Name:            "Key " + id,
		PublicKey:       []byte("cose:" + id),
		SignCount:       5,
		BackupEligible:  true,
		BackupState:     false,
		Transports:      []string{"usb", "nfc"},
		AAGUID:          bytes.Repeat([]byte{0xab}, 16),
		AttestationType: "none",
		CreatedAt:       created,
	}
}

func wantWebAuthnCredential(t *testing.T, s storage.Store, what string, want *storage.WebAuthnCredential) {
	t.Helper()
	got, err := s.WebAuthnCredentialByID(t.Context(), want.ID)
	check(t, err)
	wantEqual(t, what, got, want)
}

func testWebAuthnHandle(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	_, err := s.UserByWebAuthnHandle(ctx, handle("h1"))
	wantErr(t, "UserByWebAuthnHandle before any handle", err, storage.ErrNotFound)

	got, err := s.EnsureWebAuthnHandle(ctx, "u1", handle("h1"), epoch())
	check(t, err)
	wantEqual(t, "EnsureWebAuthnHandle(u1)", got, handle("h1"))
	// The handle is stable: a second call returns the first.
	got, err = s.EnsureWebAuthnHandle(ctx, "u1", handle("other"), epoch().Add(time.Hour))
	check(t, err)
	wantEqual(t, "EnsureWebAuthnHandle(u1) again", got, handle("h1"))
	got, err = s.EnsureWebAuthnHandle(ctx, "u2", handle("h2"), epoch())
	check(t, err)
	wantEqual(t, "EnsureWebAuthnHandle(u2)", got, handle("h2"))

	u, err := s.UserByWebAuthnHandle(ctx, handle("h1"))
	check(t, err)
	if u.ID != "u1" {
		t.Errorf("UserByWebAuthnHandle(h1) = %s, want u1", u.ID)
	}
	u, err = s.UserByWebAuthnHandle(ctx, handle("h2"))
	check(t, err)
	if u.ID != "u2" {
		t.Errorf("UserByWebAuthnHandle(h2) = %s, want u2", u.ID)
	}
	_, err = s.UserByWebAuthnHandle(ctx, handle("other"))
	wantErr(t, "UserByWebAuthnHandle of a handle never stored", err, storage.ErrNotFound)
	_, err = s.EnsureWebAuthnHandle(ctx, "nobody", handle("h3"), epoch())
	wantErr(t, "EnsureWebAuthnHandle for an unknown user", err, storage.ErrNotFound)
}

func testWebAuthnHandleConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	results := make([][]byte, 10)
	var next atomic.Int32
	errs := concurrently(10, func() error {
		n := int(next.Add(1)) - 1
		h, err := s.EnsureWebAuthnHandle(ctx, "u1", handle(string(rune('a'+n))), epoch())
		results[n] = h
		return err
	})
	if ok, _ := count(t, errs); ok != 10 {
		t.Fatalf("10 concurrent EnsureWebAuthnHandle: %d succeeded, want 10", ok)
	}
	for n, h := range results {
		if !bytes.Equal(h, results[0]) {
			t.Errorf("caller %d got handle %q, caller 0 %q: want one handle", n, h[:1], results[0][:1])
		}
	}
}

func testWebAuthnCredentialRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	list, err := s.WebAuthnCredentials(ctx, "u1")
	check(t, err)
	if len(list) != 0 {
		t.Errorf("WebAuthnCredentials before any: %d, want 0", len(list))
	}

	a := newWebAuthnCredential("a", "u1", epoch().Add(time.Minute))
	b := newWebAuthnCredential("b", "u1", epoch())
	b.SignCount, b.BackupEligible, b.BackupState, b.Transports, b.AAGUID = 1<<32-1, false, false, nil, nil
	b.AttestationType, b.LastUsedAt, b.CloneWarning = "packed", epoch().Add(time.Hour), true
	c := newWebAuthnCredential("c", "u2", epoch())
	c.BackupState, c.Transports = true, []string{"internal", "hybrid"}
	for _, cred := range []*storage.WebAuthnCredential{a, b, c} {
		check(t, s.AddWebAuthnCredential(ctx, cred, 0, false))
	}
	wantWebAuthnCredential(t, s, "WebAuthnCredentialByID(a)", a)
	wantWebAuthnCredential(t, s, "WebAuthnCredentialByID(b)", b)
	wantWebAuthnCredential(t, s, "WebAuthnCredentialByID(c)", c)

	list, err = s.WebAuthnCredentials(ctx, "u1")
	check(t, err)
	wantEqual(t, "WebAuthnCredentials(u1), oldest first", list, []storage.WebAuthnCredential{*b, *a})
	list, err = s.WebAuthnCredentials(ctx, "nobody")
	check(t, err)
	if len(list) != 0 {
		t.Errorf("WebAuthnCredentials(nobody): %d, want 0", len(list))
	}

	_, err = s.WebAuthnCredentialByID(ctx, []byte("cred:none"))
	wantErr(t, "WebAuthnCredentialByID of an unknown id", err, storage.ErrNotFound)
	err = s.AddWebAuthnCredential(ctx, newWebAuthnCredential("d", "nobody", epoch()), 0, false)
	wantErr(t, "AddWebAuthnCredential for an unknown user", err, storage.ErrNotFound)
}

func testWebAuthnCredentialConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	a := newWebAuthnCredential("a", "u1", epoch())
	check(t, s.AddWebAuthnCredential(ctx, a, 0, false))
	// The same credential id, even for another user, is refused.
	dup := newWebAuthnCredential("a", "u2", epoch().Add(time.Minute))
	dup.Name = "stolen"
	wantErr(t, "AddWebAuthnCredential with a taken id", s.AddWebAuthnCredential(ctx, dup, 0, false), storage.ErrConflict)
	wantWebAuthnCredential(t, s, "the first credential after the conflict", a)
}

func testUpdateWebAuthnCredentialUse(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	a := newWebAuthnCredential("a", "u1", epoch()) // count 5
	check(t, s.AddWebAuthnCredential(ctx, a, 0, false))

	check(t, s.UpdateWebAuthnCredentialUse(ctx, a.ID, 6, true, false, epoch().Add(time.Minute)))
	a.SignCount, a.BackupState, a.LastUsedAt = 6, true, epoch().Add(time.Minute)
	wantWebAuthnCredential(t, s, "after a use", a)

	// The same count, a lower one and 0 are a counter going backwards.
	for _, n := range []uint32{6, 5, 1, 0} {
		err := s.UpdateWebAuthnCredentialUse(ctx, a.ID, n, false, false, epoch().Add(time.Hour))
		wantErr(t, "UpdateWebAuthnCredentialUse with a count not above the stored one", err, storage.ErrReplayed)
	}
	wantWebAuthnCredential(t, s, "after refused uses", a)

	check(t, s.UpdateWebAuthnCredentialUse(ctx, a.ID, 100, false, false, epoch().Add(2*time.Hour)))
	a.SignCount, a.BackupState, a.LastUsedAt = 100, false, epoch().Add(2*time.Hour)
	wantWebAuthnCredential(t, s, "after a jump of the counter", a)

	// A clone warning flags the credential and changes nothing else.
	check(t, s.UpdateWebAuthnCredentialUse(ctx, a.ID, 3, true, true, epoch().Add(3*time.Hour)))
	a.CloneWarning = true
	wantWebAuthnCredential(t, s, "after a clone warning", a)

	err := s.UpdateWebAuthnCredentialUse(ctx, []byte("cred:none"), 1, false, false, epoch())
	wantErr(t, "UpdateWebAuthnCredentialUse of an unknown credential", err, storage.ErrNotFound)
	err = s.UpdateWebAuthnCredentialUse(ctx, []byte("cred:none"), 1, false, true, epoch())
	wantErr(t, "UpdateWebAuthnCredentialUse (clone warning) of an unknown credential", err, storage.ErrNotFound)
}

func testUpdateWebAuthnCredentialUseNoCounter(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	a := newWebAuthnCredential("a", "u1", epoch())
	a.SignCount = 0
	check(t, s.AddWebAuthnCredential(ctx, a, 0, false))
	// An authenticator without a counter always says 0.
	for i := range 3 {
		now := epoch().Add(time.Duration(i+1) * time.Minute)
		check(t, s.UpdateWebAuthnCredentialUse(ctx, a.ID, 0, true, false, now))
		a.BackupState, a.LastUsedAt = true, now
		wantWebAuthnCredential(t, s, "after a use without a counter", a)
	}
	// One that starts counting may.
	check(t, s.UpdateWebAuthnCredentialUse(ctx, a.ID, 1, true, false, epoch().Add(time.Hour)))
	a.SignCount, a.LastUsedAt = 1, epoch().Add(time.Hour)
	wantWebAuthnCredential(t, s, "after the counter started", a)
	err := s.UpdateWebAuthnCredentialUse(ctx, a.ID, 0, true, false, epoch().Add(2*time.Hour))
	wantErr(t, "UpdateWebAuthnCredentialUse back to 0", err, storage.ErrReplayed)
}

func testUpdateWebAuthnCredentialUseConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	a := newWebAuthnCredential("a", "u1", epoch())
	check(t, s.AddWebAuthnCredential(ctx, a, 0, false))
	// Twenty sign-ins with the same assertion's counter: one wins.
	errs := concurrently(20, func() error {
		return s.UpdateWebAuthnCredentialUse(ctx, a.ID, 9, false, false, epoch().Add(time.Minute))
	})
	if ok, refused := count(t, errs, storage.ErrReplayed); ok != 1 || refused != 19 {
		t.Errorf("20 concurrent uses with one count: %d succeeded, %d refused; want 1 and 19", ok, refused)
	}
}

func testDeleteWebAuthnCredential(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	a := newWebAuthnCredential("a", "u1", epoch())
	b := newWebAuthnCredential("b", "u1", epoch().Add(time.Second))
	check(t, s.AddWebAuthnCredential(ctx, a, 0, false))
	check(t, s.AddWebAuthnCredential(ctx, b, 0, false))

	err := s.DeleteWebAuthnCredential(ctx, "u2", a.ID)
	wantErr(t, "DeleteWebAuthnCredential of another user's credential", err, storage.ErrNotFound)
	wantWebAuthnCredential(t, s, "a after another user tried to delete it", a)

	check(t, s.DeleteWebAuthnCredential(ctx, "u1", a.ID))
	_, err = s.WebAuthnCredentialByID(ctx, a.ID)
	wantErr(t, "WebAuthnCredentialByID after delete", err, storage.ErrNotFound)
	wantErr(t, "DeleteWebAuthnCredential again", s.DeleteWebAuthnCredential(ctx, "u1", a.ID), storage.ErrNotFound)
	list, err := s.WebAuthnCredentials(ctx, "u1")
	check(t, err)
	wantEqual(t, "WebAuthnCredentials after delete", list, []storage.WebAuthnCredential{*b})
}

func testWebAuthnSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.PutWebAuthnSession(ctx, "k1", []byte(`{"challenge":"one"}`), epoch().Add(5*time.Minute)))
	check(t, s.PutWebAuthnSession(ctx, "k2", []byte(`{"challenge":"two"}`), epoch().Add(5*time.Minute)))
	err := s.PutWebAuthnSession(ctx, "k1", []byte("other"), epoch().Add(5*time.Minute))
	wantErr(t, "PutWebAuthnSession with a taken key", err, storage.ErrConflict)

	got, err := s.TakeWebAuthnSession(ctx, "k1", epoch())
	check(t, err)
	wantEqual(t, "TakeWebAuthnSession(k1)", got, []byte(`{"challenge":"one"}`))
	// Single use.
	_, err = s.TakeWebAuthnSession(ctx, "k1", epoch())
	wantErr(t, "TakeWebAuthnSession(k1) again", err, storage.ErrNotFound)
	_, err = s.TakeWebAuthnSession(ctx, "nope", epoch())
	wantErr(t, "TakeWebAuthnSession of an unknown key", err, storage.ErrNotFound)

	got, err = s.TakeWebAuthnSession(ctx, "k2", epoch().Add(time.Minute))
	check(t, err)
	wantEqual(t, "TakeWebAuthnSession(k2)", got, []byte(`{"challenge":"two"}`))
	// A taken key may be stored again.
	check(t, s.PutWebAuthnSession(ctx, "k1", []byte("again"), epoch().Add(5*time.Minute)))
}

func testWebAuthnSessionExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	expires := epoch().Add(5 * time.Minute)
	check(t, s.PutWebAuthnSession(ctx, "k1", []byte("one"), expires))
	check(t, s.PutWebAuthnSession(ctx, "k2", []byte("two"), expires))
	check(t, s.PutWebAuthnSession(ctx, "k3", []byte("three"), expires.Add(time.Hour)))
	_, err := s.TakeWebAuthnSession(ctx, "k1", expires)
	wantErr(t, "TakeWebAuthnSession at expiry", err, storage.ErrNotFound)
	// Expired data is gone for good, even when asked for at an earlier time.
	_, err = s.TakeWebAuthnSession(ctx, "k1", epoch())
	wantErr(t, "TakeWebAuthnSession after an expired take", err, storage.ErrNotFound)
	_, err = s.TakeWebAuthnSession(ctx, "k2", epoch())
	wantErr(t, "TakeWebAuthnSession of data expired at an earlier take", err, storage.ErrNotFound)
	got, err := s.TakeWebAuthnSession(ctx, "k3", expires.Add(time.Hour-time.Millisecond))
	check(t, err)
	wantEqual(t, "TakeWebAuthnSession just before expiry", got, []byte("three"))
}

func testTakeWebAuthnSessionConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.PutWebAuthnSession(ctx, "k1", []byte("one"), epoch().Add(5*time.Minute)))
	errs := concurrently(20, func() error {
		_, err := s.TakeWebAuthnSession(ctx, "k1", epoch())
		return err
	})
	if ok, refused := count(t, errs, storage.ErrNotFound); ok != 1 || refused != 19 {
		t.Errorf("20 concurrent TakeWebAuthnSession: %d succeeded, %d refused; want 1 and 19", ok, refused)
	}
}

// testAddWebAuthnCredentialLimit adds 20 credentials of one user at once
// under a limit of 5: exactly 5 are stored, the others get ErrFull, and a
// limit of 0 is none.
func testAddWebAuthnCredentialLimit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	var n atomic.Int64
	errs := concurrently(20, func() error {
		return s.AddWebAuthnCredential(ctx, newWebAuthnCredential(fmt.Sprint("k", n.Add(1)), "u1", epoch()), 5, false)
	})
	ok, full := count(t, errs, storage.ErrFull)
	if ok != 5 || full != 15 {
		t.Fatalf("20 parallel additions under a limit of 5: %d stored, %d full; want 5 and 15", ok, full)
	}
	got, err := s.WebAuthnCredentials(ctx, "u1")
	check(t, err)
	if len(got) != 5 {
		t.Errorf("%d credentials stored, want 5", len(got))
	}
	check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential("no-limit", "u1", epoch()), 0, false))
	wantErr(t, "AddWebAuthnCredential of an unknown user under a limit",
		s.AddWebAuthnCredential(ctx, newWebAuthnCredential("nobody's", "nobody", epoch()), 5, false), storage.ErrNotFound)
}

// testAddFirstWebAuthnCredential adds the first credential of a user
// without a second factor 10 times at once: one is stored, the others get
// ErrFull; a user with a confirmed TOTP secret or emailed codes gets
// ErrFull too, and an unknown user ErrNotFound.
func testAddFirstWebAuthnCredential(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	var n atomic.Int64
	errs := concurrently(10, func() error {
		return s.AddWebAuthnCredential(ctx, newWebAuthnCredential(fmt.Sprint("k", n.Add(1)), "u1", epoch()), 10, true)
	})
	if ok, full := count(t, errs, storage.ErrFull); ok != 1 || full != 9 {
		t.Errorf("10 parallel first credentials: %d stored, %d refused; want 1 and 9", ok, full)
	}
	if got, err := s.WebAuthnCredentials(ctx, "u1"); err != nil || len(got) != 1 {
		t.Errorf("WebAuthnCredentials after 10 parallel first credentials = %d, %v; want 1", len(got), err)
	}
	check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential("second", "u1", epoch()), 10, false))

	check(t, s.CreateUser(ctx, newUser("u2", "bob@example.com", epoch())))
	check(t, s.PutTOTP(ctx, newTOTP("u2", "JBSWY3DPEHPK3PXP", epoch())))
	// An enrolment in progress is no factor yet.
	check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential("u2-enrolling", "u2", epoch()), 0, true))
	check(t, s.DeleteWebAuthnCredential(ctx, "u2", []byte("cred:u2-enrolling")))
	check(t, s.UseTOTPStep(ctx, "u2", 1, false, nil))
	wantErr(t, "AddWebAuthnCredential first, with a confirmed TOTP secret",
		s.AddWebAuthnCredential(ctx, newWebAuthnCredential("u2-key", "u2", epoch()), 0, true), storage.ErrFull)

	check(t, s.CreateUser(ctx, newUser("u3", "carol@example.com", epoch())))
	check(t, s.SetEmailOTP(ctx, "u3", true, epoch()))
	wantErr(t, "AddWebAuthnCredential first, with emailed codes on",
		s.AddWebAuthnCredential(ctx, newWebAuthnCredential("u3-key", "u3", epoch()), 0, true), storage.ErrFull)
	check(t, s.AddWebAuthnCredential(ctx, newWebAuthnCredential("u3-key", "u3", epoch()), 0, false))

	wantErr(t, "AddWebAuthnCredential first, of an unknown user",
		s.AddWebAuthnCredential(ctx, newWebAuthnCredential("nobody's", "nobody", epoch()), 0, true), storage.ErrNotFound)
}
