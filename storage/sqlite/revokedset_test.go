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

// TestRequestCountsAnotherProcess reads a user's access token as the
// userinfo endpoint does, with the counts (storage.RequestCounts), then
// the token's client: from memory, without a read of the count of its
// own, and yet a client disabled by another process before the request
// began is seen disabled.
func TestRequestCountsAnotherProcess(t *testing.T) {
	ctx := t.Context()
	server, other, now := twoProcesses(t, nil)
	if err := other.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", Name: "U", PasswordHash: "x",
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := other.CreateAccessToken(ctx, &storage.AccessToken{ID: "at1", ClientID: "app", Subject: "u1", GrantID: "g1",
		ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// request reads the token and its user, then its client, as one
	// request.
	request := func() *storage.Client {
		t.Helper()
		rctx := storage.WithRequestCounts(ctx)
		tok, u, err := server.AccessTokenAndUser(rctx, "at1")
		if err != nil || tok.ClientID != "app" || u.ID != "u1" {
			t.Fatalf("AccessTokenAndUser = %+v, %+v, %v", tok, u, err)
		}
		if _, _, ok := storage.RequestCountsFrom(rctx).Get(); !ok {
			t.Fatal("AccessTokenAndUser read no counts for the request")
		}
		c, err := server.ClientByID(rctx, tok.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for range 3 {
		if c := request(); c.Disabled {
			t.Fatal("the client is disabled before anyone disabled it")
		}
	}
	if hits, misses, _ := server.ClientLookupStats(); hits != 2 || misses != 1 {
		t.Fatalf("three requests: %d lookups from memory, %d from the database; want 2, 1", hits, misses)
	}
	if err := other.SetClientDisabled(ctx, "app", true, now); err != nil {
		t.Fatal(err)
	}
	if c := request(); !c.Disabled {
		t.Fatal("after another process disabled the client, the next request still sees it enabled")
	}
}
