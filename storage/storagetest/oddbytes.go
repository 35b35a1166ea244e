package storagetest

import (
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// testOddBytesNotFound looks up ids and addresses that are not UTF-8 or
// hold NUL: each names nothing (ErrNotFound), on every backend, though
// PostgreSQL refuses such text outright.
func testOddBytesNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	for _, odd := range []string{"c1\x00", "a\xffb", "alice@example.com\x00"} {
		_, err := s.ClientByID(ctx, odd)
		wantErr(t, "ClientByID "+odd, err, storage.ErrNotFound)
		_, err = s.AuthRequestByID(ctx, odd)
		wantErr(t, "AuthRequestByID "+odd, err, storage.ErrNotFound)
		_, err = s.UserByEmail(ctx, odd)
		wantErr(t, "UserByEmail "+odd, err, storage.ErrNotFound)
		_, err = s.UserByID(ctx, odd)
		wantErr(t, "UserByID "+odd, err, storage.ErrNotFound)
	}
}
