package op

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testHTU = "https://id.example.com/oauth/token"

// testProof signs claims as a DPoP proof with key (a private key) and alg,
// carrying jwk in its header (the public key of key unless set), typ
// dpop+jwt unless typ says otherwise.
func testProof(t testing.TB, key any, alg jose.SignatureAlgorithm, jwk *jose.JSONWebKey, typ string, claims map[string]any) string {
	t.Helper()
	if jwk == nil {
		pub := jose.JSONWebKey{Key: publicOf(key)}
		jwk = &pub
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("jwk", jwk)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publicOf(key any) any {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k.Public()
	case *rsa.PrivateKey:
		return k.Public()
	case ed25519.PrivateKey:
		return k.Public()
	}
	return key
}

func proofClaims(now time.Time) map[string]any {
	return map[string]any{"jti": rand.Text(), "htm": "POST", "htu": testHTU, "iat": now.Unix()}
}

func TestVerifyDPoPProof(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ath := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	with := func(k string, v any) map[string]any {
		c := proofClaims(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	private := jose.JSONWebKey{Key: ec}
	otherPublic := jose.JSONWebKey{Key: other.Public()}
	symmetric := jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}
	tests := []struct {
		name   string
		proof  string
		token  string
		wantOK bool
	}{
		{"ES256", testProof(t, ec, jose.ES256, nil, "dpop+jwt", proofClaims(now)), "", true},
		{"RS256", testProof(t, rk, jose.RS256, nil, "dpop+jwt", proofClaims(now)), "", true},
		{"PS256", testProof(t, rk, jose.PS256, nil, "dpop+jwt", proofClaims(now)), "", true},
		{"EdDSA", testProof(t, ed, jose.EdDSA, nil, "dpop+jwt", proofClaims(now)), "", true},
		{"htu with a query", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htu", testHTU+"?x=1#f")), "", true},
		{"htu host in capitals", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htu", "https://ID.example.com/oauth/token")), "", true},
		{"iat 59 s ago", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("iat", now.Add(-59*time.Second).Unix())), "", true},
		{"with the token's ath", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("ath", ath("tok"))), "tok", true},

		{"typ JWT", testProof(t, ec, jose.ES256, nil, "JWT", proofClaims(now)), "", false},
		{"HS256", testProof(t, []byte("0123456789abcdef0123456789abcdef"), jose.HS256, &symmetric, "dpop+jwt", proofClaims(now)), "", false},
		{"alg none", noneProof(t, ec, proofClaims(now)), "", false},
		{"private key in jwk", testProof(t, ec, jose.ES256, &private, "dpop+jwt", proofClaims(now)), "", false},
		{"jwk of another key", testProof(t, ec, jose.ES256, &otherPublic, "dpop+jwt", proofClaims(now)), "", false},
		{"htm GET", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htm", "GET")), "", false},
		{"htm post", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htm", "post")), "", false},
		{"htu of userinfo", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htu", "https://id.example.com/userinfo")), "", false},
		{"htu on another host", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htu", "https://evil.example.com/oauth/token")), "", false},
		{"htu relative", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("htu", "/oauth/token")), "", false},
		{"iat 61 s ago", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("iat", now.Add(-61*time.Second).Unix())), "", false},
		{"iat 61 s ahead", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("iat", now.Add(61*time.Second).Unix())), "", false},
		{"no iat", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("iat", nil)), "", false},
		{"no jti", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("jti", nil)), "", false},
		{"no ath with a token", testProof(t, ec, jose.ES256, nil, "dpop+jwt", proofClaims(now)), "tok", false},
		{"ath of another token", testProof(t, ec, jose.ES256, nil, "dpop+jwt", with("ath", ath("other"))), "tok", false},
		{"garbage", "a.b.c", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := verifyDPoPProof(tt.proof, "POST", testHTU, tt.token, now)
			if tt.wantOK != (err == nil) {
				t.Fatalf("verifyDPoPProof = %v, want ok %t", err, tt.wantOK)
			}
			if err != nil {
				t.Log(err)
				if !errors.Is(err, errDPoP) {
					t.Errorf("error %v is not errDPoP", err)
				}
				return
			}
			if p.jti == "" || p.iat.IsZero() {
				t.Errorf("proof = %+v", p)
			}
		})
	}
}

// noneProof is an unsigned JWT (alg none) with key's public JWK.
func noneProof(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: key.Public()})
	header, _ := json.Marshal(map[string]any{"alg": "none", "typ": "dpop+jwt", "jwk": json.RawMessage(jwk)})
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "."
}

// TestDPoPThumbprint checks the thumbprint against RFC 7638 §3.1's example.
func TestDPoPThumbprint(t *testing.T) {
	t.Parallel()
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(`{"kty":"RSA","e":"AQAB","n":"`+n+`"}`), &k); err != nil {
		t.Fatal(err)
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base64.RawURLEncoding.EncodeToString(sum), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestWithTokenType(t *testing.T) {
	t.Parallel()
	got := withTokenType([]byte(`{"access_token":"a","token_type":"Bearer","expires_in":300}`), "DPoP")
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["token_type"] != "DPoP" || m["access_token"] != "a" || m["expires_in"] != 300.0 {
		t.Errorf("withTokenType = %s", got)
	}
}

// BenchmarkVerifyDPoPProof measures a proof's verification at the token
// endpoint (parse, signature, claims, thumbprint), per algorithm; the jti
// check is a database write and not included.
func BenchmarkVerifyDPoPProof(b *testing.B) {
	now := time.Now()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, bc := range []struct {
		name string
		key  any
		alg  jose.SignatureAlgorithm
	}{{"ES256", ec, jose.ES256}, {"RS256", rk, jose.RS256}, {"PS256", rk, jose.PS256}, {"EdDSA", ed, jose.EdDSA}} {
		b.Run(bc.name, func(b *testing.B) {
			proof := testProof(b, bc.key, bc.alg, nil, "dpop+jwt", proofClaims(now))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifyDPoPProof(proof, "POST", testHTU, "", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
