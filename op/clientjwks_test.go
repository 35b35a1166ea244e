package op

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func jwksJSON(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseClientJWKS(t *testing.T) {
	t.Parallel()
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name, jwks, err string
	}{
		{"RSA and EC public keys", jwksJSON(t, jose.JSONWebKey{Key: &r2048.PublicKey, KeyID: "a"}, jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "b", Use: "sig"}), ""},
		{"a private key", jwksJSON(t, jose.JSONWebKey{Key: r2048, KeyID: "a"}), "private"},
		{"a symmetric key", `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, "private or symmetric"},
		{"a short RSA key", jwksJSON(t, jose.JSONWebKey{Key: &r1024.PublicKey}), "2048"},
		{"P-384", jwksJSON(t, jose.JSONWebKey{Key: &p384.PublicKey}), "P-256"},
		{"an encryption key", jwksJSON(t, jose.JSONWebKey{Key: &r2048.PublicKey, Use: "enc"}), "use"},
		{"no key", `{"keys":[]}`, "no key"},
		{"not JSON", `{`, "not a JWK Set"},
	}
	for _, tt := range tests {
		_, err := ParseClientJWKS([]byte(tt.jwks))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.err)
		}
	}
}

func TestCheckJWKSURI(t *testing.T) {
	t.Parallel()
	for uri, ok := range map[string]bool{
		"https://rp.example.com/jwks":     true,
		"http://127.0.0.1:8080/jwks":      true,
		"http://[::1]/jwks":               true,
		"http://localhost/jwks":           true,
		"http://rp.example.com/jwks":      false,
		"https://user:pw@rp.example/jwks": false,
		"https://rp.example/jwks#k":       false,
		"/jwks":                           false,
		"file:///etc/jwks":                false,
	} {
		if err := CheckJWKSURI(uri); (err == nil) != ok {
			t.Errorf("CheckJWKSURI(%q) = %v, want ok %t", uri, err, ok)
		}
	}
}
