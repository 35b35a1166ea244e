package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// testUnrecordedRevoked checks that UnrecordedRevoked reports the record
// of a revoked unrecorded token, as asked by a request that read its
// client first (with RequestCounts, as the introspection endpoint does)
// and without: a revocation committed before a request began is seen by
// it, another token's is not.
func testUnrecordedRevoked(t *testing.T, s storage.Store) {
	check(t, s.CreateClient(t.Context(), newClient("c1", epoch())))
	// request asks, as a new request that authenticated c1, whether each
	// id is revoked.
	request := func(ids ...string) []bool {
		t.Helper()
		ctx := storage.WithRequestCounts(t.Context())
		_, err := s.ClientByID(ctx, "c1")
		check(t, err)
		var got []bool
		for _, id := range ids {
			revoked, err := s.UnrecordedRevoked(ctx, id)
			check(t, err)
			got = append(got, revoked)
		}
		return got
	}
	a, b := storage.UnrecordedPrefix+"a", storage.UnrecordedPrefix+"b"
	wantEqual(t, "before any revocation", request(a, b), []bool{false, false})

	revoke := func(id string) {
		t.Helper()
		at := epoch().Add(time.Minute)
		tok := newAccessToken(id, "c1", "", epoch())
		tok.Subject, tok.RevokedAt = "c1", &at
		check(t, s.CreateAccessToken(t.Context(), tok))
	}
	revoke(a)
	wantEqual(t, "after a's revocation", request(a, b), []bool{true, false})
	revoke(b)
	wantEqual(t, "after b's revocation", request(a, b, storage.UnrecordedPrefix+"c"), []bool{true, true, false})

	// Without RequestCounts, or before the request read any count.
	for _, ctx := range []context.Context{t.Context(), storage.WithRequestCounts(t.Context())} {
		for id, want := range map[string]bool{a: true, storage.UnrecordedPrefix + "c": false} {
			got, err := s.UnrecordedRevoked(ctx, id)
			check(t, err)
			if got != want {
				t.Errorf("UnrecordedRevoked(%s) without the request's count = %v, want %v", id, got, want)
			}
		}
	}
}
