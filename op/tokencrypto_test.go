package op

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

func mustTokenCrypto(t *testing.T, key [32]byte) *tokenCrypto {
	t.Helper()
	c, err := newTokenCrypto(key, "gh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTokenCrypto checks the sealing of codes and opaque access tokens:
// what it seals opens only with the same key and unchanged, and the JWEs
// that zitadel's Crypto wrote with the same key still open.
func TestTokenCrypto(t *testing.T) {
	t.Parallel()
	key := [32]byte{1, 2, 3}
	c := mustTokenCrypto(t, key)
	const plain = "token-id:subject-id"

	a, err := c.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Encrypt(plain)
	if a == b {
		t.Error("sealing twice gave the same value: the nonce is not fresh")
	}
	if strings.Contains(a, plain) || !strings.HasPrefix(a, tokenCryptoPrefix) {
		t.Errorf("sealed value %q", a)
	}
	for _, s := range []string{a, b} {
		if got, err := c.Decrypt(s); err != nil || got != plain {
			t.Errorf("Decrypt(%q) = %q, %v; want %q", s, got, err, plain)
		}
	}

	sealed, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, tokenCryptoPrefix))
	refused := map[string]string{
		"empty":                "",
		"prefix only":          tokenCryptoPrefix,
		"not base64":           tokenCryptoPrefix + "!!!",
		"truncated":            a[:len(a)-4],
		"another key":          mustEncrypt(t, mustTokenCrypto(t, [32]byte{9}), plain),
		"another version":      "g2." + strings.TrimPrefix(a, tokenCryptoPrefix),
		"a JWT":                "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln",
		"a JWE of another key": mustEncrypt(t, zop.NewAES256GCMCrypto([32]byte{9}, "gh1"), plain),
	}
	for i := range sealed {
		flipped := append([]byte(nil), sealed...)
		flipped[i] ^= 0x80
		refused[fmt.Sprintf("byte %d flipped", i)] = tokenCryptoPrefix + base64.RawURLEncoding.EncodeToString(flipped)
	}
	for name, s := range refused {
		if got, err := c.Decrypt(s); err == nil {
			t.Errorf("%s: Decrypt(%q) = %q, want an error", name, s, got)
		}
	}

	// zitadel's JWEs, as Gatehouse wrote them before, still open.
	jwe := mustEncrypt(t, zop.NewAES256GCMCrypto(key, "gh1"), plain)
	if got, err := c.Decrypt(jwe); err != nil || got != plain {
		t.Errorf("Decrypt(zitadel's JWE) = %q, %v; want %q", got, err, plain)
	}
}

func mustEncrypt(t *testing.T, c zop.Encrypter, plain string) string {
	t.Helper()
	s, err := c.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOpaqueTokenFormats checks that the provider hands out opaque access
// tokens in the sealed format, and still takes one in zitadel's JWE
// format, as issued before the change, at userinfo and introspection.
func TestOpaqueTokenFormats(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, teststore.Open(t, "sqlite"))
	client := e.clients[ES256]
	at := e.accessToken(t, client)
	if !strings.HasPrefix(at, tokenCryptoPrefix) {
		t.Fatalf("opaque access token %q, want the sealed format", at)
	}
	idSubject, err := e.p.zp.Crypto().Decrypt(at)
	if err != nil {
		t.Fatal(err)
	}
	old := mustEncrypt(t, zop.NewAES256GCMCrypto([32]byte{}, "gh1"), idSubject) // the test provider's CryptoKey is zero
	for name, tok := range map[string]string{"sealed": at, "JWE": old} {
		req := httptest.NewRequest(http.MethodGet, "https://id.example/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body := e.serve(t, req, http.StatusOK).Body.String(); !strings.Contains(body, `"sub":"bench-user"`) {
			t.Errorf("%s userinfo: %s", name, body)
		}
		req = httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, benchSecret)
		if body := e.serve(t, req, http.StatusOK).Body.String(); !strings.Contains(body, `"active":true`) {
			t.Errorf("%s introspection: %s", name, body)
		}
	}
}
