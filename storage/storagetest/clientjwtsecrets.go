package storagetest

import (
	"bytes"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func testClientJWTSecret(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	_, err := s.ClientJWTSecret(ctx, "c1")
	wantErr(t, "ClientJWTSecret before any", err, storage.ErrNotFound)

	check(t, s.SetClientJWTSecret(ctx, "c1", []byte("sealed-1"), epoch()))
	check(t, s.SetClientJWTSecret(ctx, "c1", []byte("sealed-2"), epoch()))
	got, err := s.ClientJWTSecret(ctx, "c1")
	check(t, err)
	if !bytes.Equal(got, []byte("sealed-2")) {
		t.Errorf("ClientJWTSecret = %q, want the last one stored", got)
	}

	check(t, s.SetClientJWTSecret(ctx, "c1", nil, epoch()))
	_, err = s.ClientJWTSecret(ctx, "c1")
	wantErr(t, "ClientJWTSecret after removal", err, storage.ErrNotFound)

	// The secret goes with its client.
	check(t, s.SetClientJWTSecret(ctx, "c1", []byte("sealed-3"), epoch()))
	check(t, s.DeleteClient(ctx, "c1"))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	_, err = s.ClientJWTSecret(ctx, "c1")
	wantErr(t, "ClientJWTSecret of a re-created client", err, storage.ErrNotFound)
}
