package login

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// A password stored with other argon2id parameters is hashed again with
// the current ones after a correct sign-in. The new hash takes a slot of
// the gate like any other: with a gate of one slot (parameters whose
// memory budget holds one hash), the check must have given its slot back
// by then, or the sign-in would wait for itself for ever.
func TestRehashAfterSignInWithOneSlot(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(h *Handler) { h.Passwords.Gate = password.NewGate(1, 50*time.Millisecond) })
	old := password.NewHasher(password.Params{Memory: 16, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16})
	u := hs.user("old@example.com", func(u *storage.User) { u.PasswordHash = old.Hash(testPassword) })
	if !hs.h.Passwords.NeedsRehash(u.PasswordHash) {
		t.Fatal("the old hash needs no rehash: the test would prove nothing")
	}

	done := make(chan *response, 1)
	b := hs.browser("192.0.2.20")
	go func() {
		_, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp.status != http.StatusSeeOther {
			t.Fatalf("password step: %d %q", resp.status, alert(resp.body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("password step still running after 10 s: the rehash waits for the slot its own check holds")
	}
	stored, err := hs.store.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hs.h.Passwords.NeedsRehash(stored.PasswordHash) {
		t.Error("the password was not hashed again with the current parameters")
	}
	if err := hs.h.Passwords.Verify(stored.PasswordHash, testPassword); err != nil {
		t.Errorf("the new hash does not verify the password: %v", err)
	}
}
