package op

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// verifiedCacheSize bounds the tokens a verifiedKeySet remembers. An entry
// is about half a kilobyte (Gatehouse's claims and the entry's overhead),
// so about 2 MB in all.
const verifiedCacheSize = 4096

// verifiedKeySet verifies JWT access tokens against the published keys
// (introspection, userinfo and revocation), as zitadel's own key set does,
// and remembers the tokens whose signature it has verified: a resource
// server introspects the same token again and again, and an ES256
// verification costs more than the rest of the request.
//
// What it remembers is a pure function of the token and the key: a
// token's revocation, its user and its client are still read on every
// request, so every replica answers the same. An entry is used only while
// its key is still published and is dropped when the token expires.
// Tokens are keyed by the SHA-256 of their compact serialisation as
// parsed (protected header, payload, signature): a header that differs
// from a verified one only in JSON spelling (key order, whitespace) is
// taken as that token, since every field of it reads the same.
//
// It also answers, without parsing the token again, the question zitadel
// asks first of every access token: its id and subject (idAndSubject).
type verifiedKeySet struct {
	keys   func(context.Context) ([]zopPublicKey, error)
	cached func(kid string) bool // Keys.publishedInCache
	issuer string
	now    func() time.Time
	size   int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken

	hits, misses atomic.Int64
	// shortcuts are the hits idAndSubject answered (also in hits).
	shortcuts atomic.Int64
}

// verifiedToken is a token whose signature was verified with key kid, and
// the claims idAndSubject needs.
type verifiedToken struct {
	kid     string
	payload []byte
	expires time.Time

	issuer, id, subject string
	// unrecorded holds the claims of an unrecorded client_credentials
	// token (clientcredentials.go), which introspection reports; nil for
	// any other token.
	unrecorded *unrecordedClaims
}

// newVerifiedKeySet verifies with the keys k publishes; issuer is the
// provider's, which idAndSubject requires of a token.
func newVerifiedKeySet(k *Keys, issuer string, now func() time.Time, size int) *verifiedKeySet {
	return &verifiedKeySet{keys: k.publicKeys, cached: k.publishedInCache, issuer: issuer, now: now, size: size,
		entries: make(map[[sha256.Size]byte]verifiedToken)}
}

// VerifySignature implements oidc.KeySet: it returns the payload of jws if
// a published key signed it.
func (v *verifiedKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	published, err := v.keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("op: published keys: %w", err)
	}
	set := make([]jose.JSONWebKey, len(published))
	for i, k := range published {
		set[i] = jose.JSONWebKey{KeyID: k.id, Algorithm: string(k.alg), Use: oidc.KeyUseSignature, Key: k.key}
	}
	kid, alg := oidc.GetKeyIDAndAlg(jws)
	key, err := oidc.FindMatchingKey(kid, oidc.KeyUseSignature, alg, set...)
	if err != nil {
		return nil, fmt.Errorf("op: invalid signature: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("op: invalid signature: %w", err)
	}
	id := sha256.Sum256([]byte(compact))
	now := v.now()
	v.mu.Lock()
	e, ok := v.entries[id]
	v.mu.Unlock()
	if ok && e.kid == key.KeyID && now.Before(e.expires) {
		v.hits.Add(1)
		return e.payload, nil
	}
	v.misses.Add(1)
	payload, err := jws.Verify(&key)
	if err != nil {
		return nil, err
	}
	var claims struct {
		Expiry  int64  `json:"exp"`
		Issuer  string `json:"iss"`
		ID      string `json:"jti"`
		Subject string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) == nil && now.Before(time.Unix(claims.Expiry, 0)) {
		e := verifiedToken{kid: key.KeyID, payload: payload, expires: time.Unix(claims.Expiry, 0),
			issuer: claims.Issuer, id: claims.ID, subject: claims.Subject}
		if isUnrecorded(claims.ID) {
			var u unrecordedClaims
			if json.Unmarshal(payload, &u) == nil {
				e.unrecorded = &u
			}
		}
		v.remember(id, e, now)
	}
	return payload, nil
}

// idAndSubject returns the jti and subject of token if it is a JWT this
// set verified and zitadel's access token verification would accept now:
// its signature verified with a key still published (as the keys loaded
// less than keyCacheTTL ago say), issued by this provider, not expired.
// It reads no database and parses nothing: anything else — a token never
// seen, an expired one, keys not loaded lately — is not ok, and the
// caller verifies the token in full. The pair must survive zitadel's
// "id:subject" encoding, so neither may contain a colon.
func (v *verifiedKeySet) idAndSubject(token string) (id, subject string, ok bool) {
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	e, found := v.entries[key]
	v.mu.Unlock()
	if !found || e.issuer != v.issuer || !v.now().Before(e.expires) || e.id == "" || e.subject == "" ||
		strings.Contains(e.id, ":") || strings.Contains(e.subject, ":") {
		return "", "", false
	}
	if !v.cached(e.kid) {
		return "", "", false
	}
	v.hits.Add(1)
	v.shortcuts.Add(1)
	return e.id, e.subject, true
}

// unrecordedClaims returns the claims of token, an unrecorded
// client_credentials token whose signature this set verified, as parsed
// then; not ok for any other token. The caller checks its expiry.
func (v *verifiedKeySet) unrecordedClaims(token string) (*unrecordedClaims, bool) {
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	e, found := v.entries[key]
	v.mu.Unlock()
	if !found || e.unrecorded == nil {
		return nil, false
	}
	c := *e.unrecorded
	c.Audience = slices.Clone(c.Audience)
	return &c, true
}

// stats reports the tokens answered from the cache and verified, and how
// many the cache holds.
func (v *verifiedKeySet) stats() (hits, misses int64, entries int) {
	v.mu.Lock()
	entries = len(v.entries)
	v.mu.Unlock()
	return v.hits.Load(), v.misses.Load(), entries
}

// remember adds a verified token. A full cache first drops its expired
// entries and, if that frees less than an eighth of it, an arbitrary
// eighth: the next inserts then need no scan.
func (v *verifiedKeySet) remember(id [sha256.Size]byte, e verifiedToken, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.size {
		for k, old := range v.entries {
			if !now.Before(old.expires) {
				delete(v.entries, k)
			}
		}
		for k := range v.entries {
			if len(v.entries) <= v.size-max(v.size/8, 1) {
				break
			}
			delete(v.entries, k)
		}
	}
	v.entries[id] = e
}
