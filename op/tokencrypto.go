package op

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// tokenCryptoPrefix starts every value tokenCrypto seals.
const tokenCryptoPrefix = "g1."

// tokenAAD binds a sealed value to its use: a value sealed for anything
// else under the same key does not open as a code or token.
var tokenAAD = []byte("gatehouse op token")

// tokenCrypto seals what zitadel encrypts: authorization codes (the auth
// request's id) and opaque access tokens (the token's id and subject).
// zitadel's own Crypto writes a JWE (A256GCMKW, A256GCM): its JSON
// header, key wrap and JWE parsing cost more than the rest of a userinfo
// request. tokenCrypto writes "g1." and the base64url of a seal.Box value
// (AES-256-GCM, random nonce) under the configured key, and still opens
// the JWEs that zitadel's Crypto wrote, so that the codes and opaque
// tokens handed out before an upgrade keep working until they expire.
//
// zitadel's first step from an access token to its id and subject
// (userinfo, introspection, revocation) is Decrypt; only when it fails
// does zitadel parse the token as a JWT and verify it. So Decrypt also
// answers for the JWTs that verified already know (verifiedKeySet's
// idAndSubject): what zitadel would find after parsing and verifying
// them again.
type tokenCrypto struct {
	box      *seal.Box
	legacy   zop.Crypto      // opens zitadel's JWEs
	verified *verifiedKeySet // may be nil
}

// newTokenCrypto seals under key, the provider's CryptoKey; keyID is the
// kid of zitadel's JWEs. verified, if not nil, knows the JWT access
// tokens already verified.
func newTokenCrypto(key [32]byte, keyID string, verified *verifiedKeySet) (*tokenCrypto, error) {
	box, err := seal.New(key[:])
	if err != nil {
		return nil, fmt.Errorf("op: token key: %w", err)
	}
	return &tokenCrypto{box: box, legacy: zop.NewAES256GCMCrypto(key, keyID), verified: verified}, nil
}

// Encrypt implements zop.Crypto. A JWT access token, which the storage
// signed already and zitadel asks to make a bearer token of, is returned
// as it is (accesstoken.go).
func (c *tokenCrypto) Encrypt(plain string) (string, error) {
	if token, ok := presignedToken(plain); ok {
		return token, nil
	}
	return tokenCryptoPrefix + base64.RawURLEncoding.EncodeToString(c.box.Seal([]byte(plain), tokenAAD)), nil
}

// errNotSealed is what Decrypt returns for anything it did not seal.
var errNotSealed = errors.New("op: not a token of this issuer")

// Decrypt implements zop.Crypto. zitadel first tries it on every access
// token, JWTs included: a JWT (three parts) that verified does not know
// fails at once.
func (c *tokenCrypto) Decrypt(s string) (string, error) {
	if c.verified != nil && strings.Count(s, ".") == 2 {
		if id, subject, ok := c.verified.idAndSubject(s); ok {
			return id + ":" + subject, nil
		}
	}
	return c.open(s)
}

// open returns what c sealed in s, or what zitadel's Crypto sealed in a
// JWE; errNotSealed for anything else, JWTs included.
func (c *tokenCrypto) open(s string) (string, error) {
	b64, ok := strings.CutPrefix(s, tokenCryptoPrefix)
	if !ok {
		if strings.Count(s, ".") != 4 { // a JWE has five parts
			return "", errNotSealed
		}
		return c.legacy.Decrypt(s)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", errNotSealed
	}
	plain, err := c.box.Open(sealed, tokenAAD)
	if err != nil {
		return "", errNotSealed
	}
	return string(plain), nil
}
