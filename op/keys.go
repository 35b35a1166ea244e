package op

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// Supported signing algorithms. RS256 is the default that OIDC requires;
// EdDSA signs with Ed25519 (RFC 8037).
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// algorithms lists the signing algorithms Gatehouse keeps a key for.
var algorithms = []string{RS256, ES256, EdDSA}

// IsAlgorithm reports whether alg is a supported signing algorithm.
func IsAlgorithm(alg string) bool {
	return slices.Contains(algorithms, alg)
}

// keyCacheTTL bounds how long a replica serves keys it read from the
// database. A new key is published PublishDelay before it signs, so every
// replica's JWKS has it before any token carries its kid.
const keyCacheTTL = 10 * time.Second

// PublishDelay is how long a rotated key is published before it signs.
const PublishDelay = 2 * keyCacheTTL

// Keys manages the signing keys: it creates them, rotates them and decides
// which key signs and which are published. Private keys are stored sealed.
type Keys struct {
	store    storage.KeyStore
	box      *seal.Box
	now      func() time.Time
	generate KeyGenerator
	// Retention is how long a replaced key stays published after its
	// successor starts signing: the longest lifetime of a token it signed.
	retention time.Duration

	mu       sync.Mutex
	cache    []key
	loadedAt time.Time
}

type key struct {
	id        string
	alg       string
	private   crypto.Signer
	activeAt  time.Time
	createdAt time.Time
}

// NewKeys returns a key manager. retention is the longest lifetime of a
// token signed by a key.
func NewKeys(store storage.KeyStore, box *seal.Box, now func() time.Time, retention time.Duration) *Keys {
	return &Keys{store: store, box: box, now: now, retention: retention, generate: GenerateKey}
}

// KeyGenerator makes the private key of a new signing key of alg. inUse
// holds the public keys of the keys already stored, which a generator
// drawing from a fixed set must not hand out again.
type KeyGenerator func(alg string, inUse []crypto.PublicKey) (crypto.Signer, error)

// GenerateKey is the KeyGenerator of every server: a fresh random key,
// RSA of 3072 bits, ECDSA on P-256 or Ed25519.
func GenerateKey(alg string, _ []crypto.PublicKey) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, 3072)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	default:
		return nil, fmt.Errorf("op: unsupported signing algorithm %q", alg)
	}
}

// GenerateFrom returns a KeyGenerator whose RS256 keys are the first of
// set that no stored key uses, and fresh ones (GenerateKey) once all are;
// it generates the keys of the other algorithms. The end-to-end tests'
// binary and op's tests use it with a set made once per test run:
// generating a 3072-bit RSA key costs about half a second of CPU, and
// they make hundreds of databases.
func GenerateFrom(set []crypto.Signer) KeyGenerator {
	return func(alg string, inUse []crypto.PublicKey) (crypto.Signer, error) {
		if alg == RS256 {
			for _, k := range set {
				if !slices.ContainsFunc(inUse, k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal) {
					return k, nil
				}
			}
		}
		return GenerateKey(alg, inUse)
	}
}

// SetGenerator replaces GenerateKey for the keys k creates. It is called
// before k is used.
func (k *Keys) SetGenerator(g KeyGenerator) { k.generate = g }

// KeyInfo describes a stored key for listings.
type KeyInfo struct {
	ID        string
	Algorithm string
	CreatedAt time.Time
	ActiveAt  time.Time
	State     string // "next", "signing", "published"
}

// Ensure creates a signing key for each algorithm that has none.
func (k *Keys) Ensure(ctx context.Context) error {
	keys, err := k.load(ctx, true)
	if err != nil {
		return err
	}
	for _, alg := range algorithms {
		if !slices.ContainsFunc(keys, func(x key) bool { return x.alg == alg }) {
			if err := k.create(ctx, keys, alg, k.now()); err != nil {
				return err
			}
		}
	}
	k.invalidate()
	return nil
}

// Rotate adds a new key for each algorithm. It is published at once and
// starts signing after PublishDelay; the keys it replaces stay published
// for the retention period after that. It first opens the stored keys, so
// that a manager whose secrets key is not the one they were sealed with
// adds none that the servers could not open.
func (k *Keys) Rotate(ctx context.Context) ([]KeyInfo, error) {
	keys, err := k.load(ctx, true)
	if err != nil {
		return nil, err
	}
	activeAt := k.now().Add(PublishDelay)
	for _, alg := range algorithms {
		if err := k.create(ctx, keys, alg, activeAt); err != nil {
			return nil, err
		}
	}
	k.invalidate()
	return k.List(ctx)
}

// List describes the keys that are still published.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	keys, err := k.load(ctx, true)
	if err != nil {
		return nil, err
	}
	now := k.now()
	var out []KeyInfo
	for _, x := range published(keys, now, k.retention) {
		signing, _ := signingKey(keys, x.alg, now)
		state := "published"
		switch {
		case x.activeAt.After(now):
			state = "next"
		case x.id == signing.id:
			state = "signing"
		}
		out = append(out, KeyInfo{ID: x.id, Algorithm: x.alg, CreatedAt: x.createdAt, ActiveAt: x.activeAt, State: state})
	}
	return out, nil
}

// create stores a new key of alg, which signs from activeAt; stored are
// the keys loaded before.
func (k *Keys) create(ctx context.Context, stored []key, alg string, activeAt time.Time) error {
	inUse := make([]crypto.PublicKey, 0, len(stored))
	for _, x := range stored {
		inUse = append(inUse, x.private.Public())
	}
	priv, err := k.generate(alg, inUse)
	if err != nil {
		return fmt.Errorf("op: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("op: marshal %s key: %w", alg, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return fmt.Errorf("op: marshal %s public key: %w", alg, err)
	}
	id := randomID(12)
	now := k.now()
	sk := &storage.SigningKey{
		ID:         id,
		Algorithm:  alg,
		PrivateKey: k.box.Seal(der, keyAAD(id)),
		PublicKey:  pub,
		CreatedAt:  now,
		ActiveAt:   activeAt,
		// Expiry is decided from the successor's ActiveAt (see published);
		// the stored bound only lets housekeeping drop keys long gone.
		ExpiresAt: now.Add(100 * 365 * 24 * time.Hour),
	}
	if err := k.store.CreateSigningKey(ctx, sk); err != nil {
		return fmt.Errorf("op: store signing key: %w", err)
	}
	return nil
}

func keyAAD(id string) []byte { return []byte("signing-key:" + id) }

func (k *Keys) invalidate() {
	k.mu.Lock()
	k.loadedAt = time.Time{}
	k.mu.Unlock()
}

// cacheFresh reports whether the keys loaded last are less than
// keyCacheTTL old at now (and not from a clock since set back). k.mu must
// be held.
func (k *Keys) cacheFresh(now time.Time) bool {
	return !k.loadedAt.IsZero() && now.Sub(k.loadedAt) < keyCacheTTL && now.After(k.loadedAt.Add(-time.Second))
}

// publishedInCache reports whether the key kid is published, as the keys
// loaded less than keyCacheTTL ago say, without reading the database. It
// is false when no keys were loaded that lately: the caller then asks
// publicKeys, which loads them.
func (k *Keys) publishedInCache(kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if !k.cacheFresh(now) {
		return false
	}
	for x := range publishedKeys(k.cache, now, k.retention) {
		if x.id == kid {
			return true
		}
	}
	return false
}

// load returns the keys, newest ActiveAt first, from a cache at most
// keyCacheTTL old unless fresh is set.
func (k *Keys) load(ctx context.Context, fresh bool) ([]key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if !fresh && k.cacheFresh(now) {
		return k.cache, nil
	}
	rows, err := k.store.SigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("op: load signing keys: %w", err)
	}
	keys := make([]key, 0, len(rows))
	for _, r := range rows {
		der, err := k.box.Open(r.PrivateKey, keyAAD(r.ID))
		if err != nil {
			return nil, fmt.Errorf("op: signing key %s: %w (is secrets.key_file the one this database was created with?)", r.ID, err)
		}
		p, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("op: signing key %s: %w", r.ID, err)
		}
		signer, ok := p.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("op: signing key %s is not a signer", r.ID)
		}
		keys = append(keys, key{id: r.ID, alg: r.Algorithm, private: signer, activeAt: r.ActiveAt, createdAt: r.CreatedAt})
	}
	slices.SortStableFunc(keys, func(a, b key) int { return b.activeAt.Compare(a.activeAt) })
	k.cache, k.loadedAt = keys, now
	return keys, nil
}

// signingKey picks the newest key of alg already active at now.
func signingKey(keys []key, alg string, now time.Time) (key, bool) {
	for _, x := range keys { // newest ActiveAt first
		if x.alg == alg && !x.activeAt.After(now) {
			return x, true
		}
	}
	return key{}, false
}

// published returns the keys that belong in the JWKS at now, algorithm
// by algorithm: of each algorithm, those not yet signing, the signing one,
// and older ones until retention after their successor took over.
func published(keys []key, now time.Time, retention time.Duration) []key {
	var out []key
	for x := range publishedKeys(keys, now, retention) {
		out = append(out, *x)
	}
	return out
}

// publishedKeys yields the keys published says, in its order, without
// copying them.
func publishedKeys(keys []key, now time.Time, retention time.Duration) iter.Seq[*key] {
	return func(yield func(*key) bool) {
		for _, alg := range algorithms {
			var successor *key
			for i := range keys {
				x := &keys[i]
				if x.alg != alg {
					continue
				}
				if successor == nil || successor.activeAt.After(now) || now.Before(successor.activeAt.Add(retention)) {
					if !yield(x) {
						return
					}
				}
				successor = x
			}
		}
	}
}

// signingKeyFor returns the key that signs for alg now.
func (k *Keys) signingKeyFor(ctx context.Context, alg string) (zopSigningKey, error) {
	keys, err := k.load(ctx, false)
	if err != nil {
		return zopSigningKey{}, err
	}
	x, ok := signingKey(keys, alg, k.now())
	if !ok {
		return zopSigningKey{}, fmt.Errorf("op: no active %s signing key", alg)
	}
	return zopSigningKey{id: x.id, alg: jose.SignatureAlgorithm(x.alg), key: x.private}, nil
}

// publicKeys returns the JWKS keys.
func (k *Keys) publicKeys(ctx context.Context) ([]zopPublicKey, error) {
	keys, err := k.load(ctx, false)
	if err != nil {
		return nil, err
	}
	var out []zopPublicKey
	for _, x := range published(keys, k.now(), k.retention) {
		out = append(out, zopPublicKey{id: x.id, alg: jose.SignatureAlgorithm(x.alg), key: x.private.Public()})
	}
	return out, nil
}

// zopSigningKey implements zop.SigningKey.
type zopSigningKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

// sign returns claims as a compact JWS signed with s, with the typ header
// typ; what names the token in errors.
func (s zopSigningKey) sign(typ jose.ContentType, claims any, what string) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("op: %s claims: %w", what, err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: jose.JSONWebKey{Key: s.key, KeyID: s.id}},
		(&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		return "", fmt.Errorf("op: %s signer: %w", what, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("op: sign %s: %w", what, err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("op: sign %s: %w", what, err)
	}
	return compact, nil
}

// clientAlgorithm is the algorithm that signs c's ID tokens, and with them
// its JWT access tokens and logout tokens: RS256 unless it chose another.
func clientAlgorithm(c *storage.Client) string {
	if c.SigningAlgorithm != "" {
		return c.SigningAlgorithm
	}
	return RS256
}

func (s zopSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return s.alg }
func (s zopSigningKey) Key() any                                    { return s.key }
func (s zopSigningKey) ID() string                                  { return s.id }

// zopPublicKey implements zop.Key with the public half only.
type zopPublicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.PublicKey
}

func (p zopPublicKey) ID() string                         { return p.id }
func (p zopPublicKey) Algorithm() jose.SignatureAlgorithm { return p.alg }
func (p zopPublicKey) Use() string                        { return "sig" }
func (p zopPublicKey) Key() any                           { return p.key }

// randomID returns n random bytes, base64url-encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sortableID returns an id that sorts by t: t in Unix milliseconds as 12
// hex digits, then 18 random bytes (144 bits, base64url). Rows keyed by
// such ids go in at the end of their index, as their neighbours of the
// same moment, so that a commit of many new rows changes a few index pages
// instead of one each; the random part keeps the id unguessable.
func sortableID(t time.Time) string {
	return fmt.Sprintf("%012x", uint64(t.UnixMilli())&(1<<48-1)) + randomID(18)
}
