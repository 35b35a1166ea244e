package sqlite_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestRevokedSetAnotherProcess has a server's store answer whether
// unrecorded tokens are revoked from memory, and another store on the
// same file, as another process, revoke one: the server's next request
// sees it, with no delay. Past maxRevokedSet records the server reads each
// token's record instead, and still answers right.
func TestRevokedSetAnotherProcess(t *testing.T) {
	ctx := t.Context()
	server, other, now := twoProcesses(t, nil)
	// revoked asks, as a request that authenticated the client, whether
	// the token id is revoked.
	revoked := func(id string) bool {
		t.Helper()
		rctx := storage.WithRequestCounts(ctx)
		if _, err := server.ClientByID(rctx, "app"); err != nil {
			t.Fatal(err)
		}
		got, err := server.UnrecordedRevoked(rctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	revoke := func(id string) {
		t.Helper()
		if err := other.CreateAccessToken(ctx, &storage.AccessToken{ID: id, ClientID: "app", Subject: "app",
			ExpiresAt: now.Add(time.Hour), RevokedAt: &now, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	id := func(i int) string { return fmt.Sprintf("%s%05d", storage.UnrecordedPrefix, i) }

	for range 3 {
		if revoked(id(0)) {
			t.Fatal("a token no one revoked is revoked")
		}
	}
	if answers, loads := server.RevokedSetStats(); answers != 3 || loads != 1 {
		t.Fatalf("three questions: %d answered from memory after %d reads of the set, want 3 after 1", answers, loads)
	}
	revoke(id(0))
	if !revoked(id(0)) || revoked(id(1)) {
		t.Fatal("after another process revoked token 0: not seen, or token 1 revoked too")
	}
	if answers, loads := server.RevokedSetStats(); answers != 5 || loads != 2 {
		t.Fatalf("after the revocation: %d answered from memory after %d reads of the set, want 5 after 2", answers, loads)
	}

	// More records than the set holds: 4096 more.
	for i := 1; i <= 4096; i++ {
		revoke(id(i))
	}
	if !revoked(id(4096)) || revoked(id(4097)) {
		t.Fatal("past the set's bound: token 4096 not revoked, or token 4097 revoked")
	}
	if answers, _ := server.RevokedSetStats(); answers != 5 {
		t.Errorf("past the set's bound, %d questions answered from memory, want still 5", answers)
	}
}
