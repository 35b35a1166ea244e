package storage

import (
	"context"
	"time"
)

// SigningKey is a token-signing key pair. PrivateKey is encrypted with the
// secrets key before it reaches the store.
type SigningKey struct {
	ID         string // the JWK "kid"
	Algorithm  string // "RS256", "ES256", "EdDSA"
	PrivateKey []byte // encrypted PKCS#8 DER
	PublicKey  []byte // PKIX DER
	CreatedAt  time.Time
	ActiveAt   time.Time // first moment it may sign
	ExpiresAt  time.Time // removed from the JWKS after this
}

// KeyStore keeps token-signing keys. Store includes it.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys lists keys not yet expired at now, newest ActiveAt first.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
}
