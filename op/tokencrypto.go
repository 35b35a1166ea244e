package op

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// tokenCryptoPrefix starts every value tokenCrypto seals. It is also the
// associated data, so that a value is only ever opened as this format.
const tokenCryptoPrefix = "g1."

// tokenCrypto seals what zitadel encrypts: authorization codes (the auth
// request's id) and opaque access tokens (the token's id and subject).
// zitadel's own Crypto writes a JWE (A256GCMKW, A256GCM): its JSON
// header, key wrap and JWE parsing cost more than the rest of a userinfo
// request. tokenCrypto writes "g1." and base64url(nonce ‖ AES-256-GCM
// ciphertext) under a key derived from the configured one with HKDF, and
// still opens the JWEs that zitadel's Crypto wrote, so that the codes and
// opaque tokens handed out before an upgrade keep working until they
// expire.
type tokenCrypto struct {
	aead   cipher.AEAD
	legacy zop.Crypto // opens zitadel's JWEs
}

// newTokenCrypto derives the sealing key from key, the provider's
// CryptoKey; keyID is the kid of zitadel's JWEs.
func newTokenCrypto(key [32]byte, keyID string) (*tokenCrypto, error) {
	derived, err := hkdf.Key(sha256.New, key[:], nil, "gatehouse op token crypto v1", 32)
	if err != nil {
		return nil, fmt.Errorf("op: token key: %w", err)
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		return nil, fmt.Errorf("op: token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("op: token key: %w", err)
	}
	return &tokenCrypto{aead: aead, legacy: zop.NewAES256GCMCrypto(key, keyID)}, nil
}

// Encrypt implements zop.Crypto.
func (c *tokenCrypto) Encrypt(plain string) (string, error) {
	n := c.aead.NonceSize()
	buf := make([]byte, n, n+len(plain)+c.aead.Overhead())
	rand.Read(buf) // never fails: crypto/rand crashes the program first
	sealed := c.aead.Seal(buf, buf, []byte(plain), []byte(tokenCryptoPrefix))
	return tokenCryptoPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// errNotSealed is what Decrypt returns for anything it did not seal.
var errNotSealed = errors.New("op: not a token of this issuer")

// Decrypt implements zop.Crypto. zitadel first tries it on every access
// token, JWTs included: a JWT (three parts) fails at once.
func (c *tokenCrypto) Decrypt(s string) (string, error) {
	b64, ok := strings.CutPrefix(s, tokenCryptoPrefix)
	if !ok {
		if strings.Count(s, ".") != 4 { // a JWE has five parts
			return "", errNotSealed
		}
		return c.legacy.Decrypt(s)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	n := c.aead.NonceSize()
	if err != nil || len(sealed) < n+c.aead.Overhead() {
		return "", errNotSealed
	}
	plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], []byte(tokenCryptoPrefix))
	if err != nil {
		return "", errNotSealed
	}
	return string(plain), nil
}
