package op

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestKeys(t *testing.T) (*Keys, storage.Store, *clock) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	return NewKeys(store, box, clk.Now, time.Hour), store, clk
}

func kids(t *testing.T, k *Keys, alg string) (signing string, published []string) {
	t.Helper()
	k.invalidate()
	sk, err := k.signingKeyFor(context.Background(), alg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.publicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pub {
		if string(p.Algorithm()) == alg {
			published = append(published, p.ID())
		}
	}
	return sk.ID(), published
}

func TestKeyRotation(t *testing.T) {
	k, _, clk := newTestKeys(t)
	ctx := t.Context()
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Ensure(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, alg := range []string{RS256, ES256} {
		signing, pub := kids(t, k, alg)
		if len(pub) != 1 || pub[0] != signing {
			t.Fatalf("%s after Ensure: signing %s, published %v; want one key", alg, signing, pub)
		}
	}
	old, _ := kids(t, k, RS256)

	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	signing, pub := kids(t, k, RS256)
	if signing != old {
		t.Errorf("the new key signs before PublishDelay")
	}
	if len(pub) != 2 || !slices.Contains(pub, old) {
		t.Fatalf("after rotate, published %v; want old and new", pub)
	}
	next := pub[0]
	if next == old {
		next = pub[1]
	}

	clk.Add(PublishDelay)
	if signing, pub = kids(t, k, RS256); signing != next || !slices.Contains(pub, old) {
		t.Fatalf("after PublishDelay: signing %s (want %s), published %v (want old kept)", signing, next, pub)
	}
	clk.Add(time.Hour - time.Second) // retention is one hour
	if _, pub = kids(t, k, RS256); !slices.Contains(pub, old) {
		t.Errorf("old key dropped before its tokens expired")
	}
	clk.Add(2 * time.Second)
	if _, pub = kids(t, k, RS256); slices.Contains(pub, old) || len(pub) != 1 {
		t.Errorf("old key still published after retention: %v", pub)
	}
}

func TestKeysEncryptedAtRest(t *testing.T) {
	k, store, _ := newTestKeys(t)
	if err := k.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := store.SigningKeys(t.Context(), time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	if err != nil || len(rows) != 2 {
		t.Fatalf("SigningKeys = %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
			t.Errorf("key %s is stored in the clear", r.ID)
		}
		// A ciphertext moved to another key id does not open.
		if _, err := k.box.Open(r.PrivateKey, keyAAD("other")); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("key %s opened under another id: %v", r.ID, err)
		}
	}
	// Another secrets key cannot read them.
	otherBox, _ := seal.New(append(make([]byte, seal.KeySize-1), 1))
	other := NewKeys(store, otherBox, k.now, time.Hour)
	if _, err := other.publicKeys(t.Context()); err == nil {
		t.Error("keys opened with the wrong secrets key")
	}
}

func TestJWKSHasNoPrivateParts(t *testing.T) {
	k, _, _ := newTestKeys(t)
	if err := k.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	pub, err := k.publicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pub {
		if _, ok := p.Key().(crypto.Signer); ok {
			t.Errorf("published key %s is a private key (%T)", p.ID(), p.Key())
		}
	}
}
