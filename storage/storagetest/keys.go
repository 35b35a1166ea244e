package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newSigningKey(id string, active, expires time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID:         id,
		Algorithm:  "RS256",
		PrivateKey: []byte("sealed private key " + id),
		PublicKey:  []byte("public key " + id),
		CreatedAt:  active.Add(-time.Hour),
		ActiveAt:   active,
		ExpiresAt:  expires,
	}
}

func testSigningKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx, epoch())
	check(t, err)
	if len(keys) != 0 {
		t.Fatalf("SigningKeys of an empty store: %d keys", len(keys))
	}

	day := 24 * time.Hour
	expired := newSigningKey("expired", epoch().Add(-60*day), epoch().Add(-day))
	expiring := newSigningKey("expiring", epoch().Add(-30*day), epoch()) // expired at epoch
	old := newSigningKey("old", epoch().Add(-10*day), epoch().Add(day))
	current := newSigningKey("current", epoch().Add(-time.Hour), epoch().Add(90*day))
	current.Algorithm = "ES256"
	next := newSigningKey("next", epoch().Add(time.Hour), epoch().Add(91*day)) // published before use
	for _, k := range []*storage.SigningKey{old, expired, next, current, expiring} {
		check(t, s.CreateSigningKey(ctx, k))
	}
	err = s.CreateSigningKey(ctx, newSigningKey("old", epoch(), epoch().Add(day)))
	wantErr(t, "CreateSigningKey with a taken id", err, storage.ErrConflict)

	keys, err = s.SigningKeys(ctx, epoch())
	check(t, err)
	want := []*storage.SigningKey{next, current, old}
	if len(keys) != len(want) {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		t.Fatalf("SigningKeys = %v, want next, current, old", ids)
	}
	for i := range keys {
		wantEqual(t, "SigningKeys["+want[i].ID+"]", &keys[i], want[i])
	}
}
