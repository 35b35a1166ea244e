package op

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
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
	store := teststore.Open(t, "sqlite")
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	k := NewKeys(store, box, clk.Now, time.Hour)
	k.SetGenerator(testKeyGenerator)
	return k, store, clk
}

// testRSAKeys are RSA keys made once for the package's tests: generating
// a 3072-bit key costs about half a second of CPU.
var testRSAKeys = sync.OnceValue(func() []crypto.Signer {
	keys := make([]crypto.Signer, 3)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := GenerateKey(RS256, nil)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

// testKeyGenerator is GenerateFrom(testRSAKeys()), the set made on first
// use.
func testKeyGenerator(alg string, inUse []crypto.PublicKey) (crypto.Signer, error) {
	return GenerateFrom(testRSAKeys())(alg, inUse)
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
	t.Parallel()
	k, _, clk := newTestKeys(t)
	ctx := t.Context()
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Ensure(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, alg := range algorithms {
		signing, pub := kids(t, k, alg)
		if len(pub) != 1 || pub[0] != signing {
			t.Fatalf("%s after Ensure: signing %s, published %v; want one key", alg, signing, pub)
		}
		old[alg] = signing
	}

	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	next := map[string]string{}
	for _, alg := range algorithms {
		signing, pub := kids(t, k, alg)
		if signing != old[alg] {
			t.Errorf("%s: the new key signs before PublishDelay", alg)
		}
		if len(pub) != 2 || !slices.Contains(pub, old[alg]) {
			t.Fatalf("%s after rotate, published %v; want old and new", alg, pub)
		}
		next[alg] = pub[0]
		if next[alg] == old[alg] {
			next[alg] = pub[1]
		}
	}

	clk.Add(PublishDelay)
	for _, alg := range algorithms {
		if signing, pub := kids(t, k, alg); signing != next[alg] || !slices.Contains(pub, old[alg]) {
			t.Fatalf("%s after PublishDelay: signing %s (want %s), published %v (want old kept)", alg, signing, next[alg], pub)
		}
	}
	clk.Add(time.Hour - time.Second) // retention is one hour
	for _, alg := range algorithms {
		if _, pub := kids(t, k, alg); !slices.Contains(pub, old[alg]) {
			t.Errorf("%s: old key dropped before its tokens expired", alg)
		}
	}
	clk.Add(2 * time.Second)
	for _, alg := range algorithms {
		if _, pub := kids(t, k, alg); slices.Contains(pub, old[alg]) || len(pub) != 1 {
			t.Errorf("%s: old key still published after retention: %v", alg, pub)
		}
	}
}

func TestKeysEncryptedAtRest(t *testing.T) {
	t.Parallel()
	k, store, _ := newTestKeys(t)
	if err := k.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := store.SigningKeys(t.Context(), time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	if err != nil || len(rows) != len(algorithms) {
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

// TestRotateWithWrongSecretsKey: a rotation by a manager whose secrets
// key is not the one the stored keys were sealed with fails and stores
// nothing, so the servers, which hold the right key, go on signing; a key
// they cannot open would stop every signature once it became active.
func TestRotateWithWrongSecretsKey(t *testing.T) {
	t.Parallel()
	k, store, clk := newTestKeys(t)
	ctx := t.Context()
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	otherBox, _ := seal.New(append(make([]byte, seal.KeySize-1), 1))
	other := NewKeys(store, otherBox, k.now, time.Hour)
	if _, err := other.Rotate(ctx); err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
		t.Errorf("Rotate with another secrets key: %v, want an error naming secrets.key_file", err)
	}
	clk.Add(PublishDelay + time.Second)
	rows, err := store.SigningKeys(ctx, clk.Now())
	if err != nil || len(rows) != len(algorithms) {
		t.Errorf("after the refused rotation: %d stored keys, %v; want %d", len(rows), err, len(algorithms))
	}
	for _, alg := range algorithms {
		k.invalidate()
		if _, err := k.signingKeyFor(ctx, alg); err != nil {
			t.Errorf("the server cannot sign with %s after the refused rotation: %v", alg, err)
		}
	}
}

func TestJWKSHasNoPrivateParts(t *testing.T) {
	t.Parallel()
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

// TestSortableID checks the ids of auth requests and tokens: they sort by
// their time, and two of the same millisecond differ.
func TestSortableID(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	a, b := sortableID(t0), sortableID(t0)
	later := sortableID(t0.Add(time.Millisecond))
	much := sortableID(t0.Add(100 * 365 * 24 * time.Hour))
	if a == b {
		t.Errorf("two ids of one millisecond are equal: %s", a)
	}
	if !(a < later && b < later && later < much) {
		t.Errorf("ids do not sort by time: %s, %s, %s, %s", a, b, later, much)
	}
	for _, id := range []string{a, later, much} {
		if len(id) != 36 || strings.ContainsAny(id, ".:") {
			t.Errorf("id %q: want 36 characters, no dot or colon", id)
		}
	}
}

// TestKeyGenerator checks that the keys come from the generator set with
// SetGenerator, which is told the public keys already stored, so that a
// generator drawing from a fixed set can give each database distinct keys.
func TestKeyGenerator(t *testing.T) {
	t.Parallel()
	k, _, _ := newTestKeys(t)
	ctx := t.Context()
	var seen [][]crypto.PublicKey // inUse of each RS256 call
	k.SetGenerator(func(alg string, inUse []crypto.PublicKey) (crypto.Signer, error) {
		if alg == RS256 {
			seen = append(seen, inUse)
		}
		return GenerateKey(alg, inUse)
	})
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("the generator made %d RS256 keys, want 2 (Ensure, Rotate)", len(seen))
	}
	if len(seen[0]) != 0 {
		t.Errorf("Ensure on an empty database told the generator of %d keys in use, want 0", len(seen[0]))
	}
	if len(seen[1]) != len(algorithms) {
		t.Errorf("Rotate told the generator of %d keys in use, want the %d stored", len(seen[1]), len(algorithms))
	}
	k.invalidate()
	keys, err := k.load(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, stored := range keys {
		if stored.activeAt.After(k.now()) {
			continue // made by Rotate
		}
		if !slices.ContainsFunc(seen[1], func(p crypto.PublicKey) bool {
			return p.(interface{ Equal(crypto.PublicKey) bool }).Equal(stored.private.Public())
		}) {
			t.Errorf("key %s (%s), stored before Rotate, was not among the keys in use", stored.id, stored.alg)
		}
	}

	k.SetGenerator(func(string, []crypto.PublicKey) (crypto.Signer, error) {
		return nil, errors.New("no key today")
	})
	if _, err := k.Rotate(ctx); err == nil || !strings.Contains(err.Error(), "no key today") {
		t.Errorf("Rotate with a failing generator: %v, want its error", err)
	}
}

// TestGenerateFrom: GenerateFrom hands out the first key of its set that
// no stored key uses, a fresh one once all are used, and fresh keys of
// the other algorithms.
func TestGenerateFrom(t *testing.T) {
	t.Parallel()
	set := testRSAKeys()[:2]
	g := GenerateFrom(set)
	pub := func(s crypto.Signer) crypto.PublicKey { return s.Public() }
	same := func(a, b crypto.Signer) bool {
		return a.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Public())
	}
	for _, tc := range []struct {
		name  string
		inUse []crypto.PublicKey
		want  crypto.Signer // nil: a key not in set
	}{
		{"none in use", nil, set[0]},
		{"the first in use", []crypto.PublicKey{pub(set[0])}, set[1]},
		{"all in use", []crypto.PublicKey{pub(set[1]), pub(set[0])}, nil},
	} {
		got, err := g(RS256, tc.inUse)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.want != nil && !same(got, tc.want) {
			t.Errorf("%s: got another key than the set's expected one", tc.name)
		}
		if tc.want == nil && (same(got, set[0]) || same(got, set[1])) {
			t.Errorf("%s: got a key of the set, want a fresh one", tc.name)
		}
	}
	for _, alg := range []string{ES256, EdDSA} {
		if k, err := g(alg, nil); err != nil || k == nil {
			t.Errorf("%s: %v, %v; want a fresh key", alg, k, err)
		}
	}
	if _, err := g("HS256", nil); err == nil {
		t.Error("HS256: no error")
	}
}
