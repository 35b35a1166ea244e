package op

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySigner returns a JWT signer with the current key of alg, as the
// token endpoint signs.
func keySigner(tb testing.TB, k *Keys, alg string) jose.Signer {
	tb.Helper()
	sk, err := k.signingKeyFor(context.Background(), alg)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.SignatureAlgorithm(),
		Key: &jose.JSONWebKey{Key: sk.Key(), KeyID: sk.ID()}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	return signer
}

// signedToken signs claims with the current key of alg.
func signedToken(t *testing.T, k *Keys, alg string, claims string) string {
	t.Helper()
	jws, err := keySigner(t, k, alg).Sign([]byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// verify parses raw as zitadel does and asks v for its payload.
func verify(v *verifiedKeySet, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	return v.VerifySignature(context.Background(), jws)
}

// TestVerifiedKeySet checks the cache of verified signatures: a token
// verified once is answered from it, and nothing else is: not a forged
// signature, payload or header, not a token whose key is no longer
// published, not an expired one.
func TestVerifiedKeySet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k, _, clk := newTestKeys(t)
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	v := newVerifiedKeySet(k, "https://id.example", clk.Now, 16)
	exp := clk.Now().Add(24 * time.Hour).Unix()
	claims := fmt.Sprintf(`{"iss":"https://id.example","sub":"u1","exp":%d,"jti":"a"}`, exp)

	for _, alg := range algorithms {
		raw := signedToken(t, k, alg, claims)
		hits, misses := v.hits.Load(), v.misses.Load()
		for range 3 {
			payload, err := verify(v, raw)
			if err != nil || string(payload) != claims {
				t.Fatalf("%s: %q, %v; want the claims", alg, payload, err)
			}
		}
		if got := v.misses.Load() - misses; got != 1 {
			t.Errorf("%s: %d verifications of one token, want 1", alg, got)
		}
		if got := v.hits.Load() - hits; got != 2 {
			t.Errorf("%s: %d answers from the cache, want 2", alg, got)
		}

		parts := strings.Split(raw, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)/2] ^= 1
		otherClaims := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(claims, `"u1"`, `"u2"`, 1)))
		header, _ := base64.RawURLEncoding.DecodeString(parts[0])
		forged := map[string]string{
			"signature": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
			"payload":   parts[0] + "." + otherClaims + "." + parts[2],
			"header": base64.RawURLEncoding.EncodeToString(bytes.Replace(header, []byte(`"typ":"JWT"`), []byte(`"typ":"at+jwt"`), 1)) +
				"." + parts[1] + "." + parts[2],
		}
		for name, f := range forged {
			if f == raw {
				t.Fatalf("%s: the forged %s is the token itself", alg, name)
			}
			if payload, err := verify(v, f); err == nil {
				t.Errorf("%s: a forged %s was accepted: %s", alg, name, payload)
			}
		}
	}

	// A retired key's tokens are refused, remembered or not.
	raw := signedToken(t, k, ES256, claims)
	if _, err := verify(v, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(PublishDelay + time.Hour + time.Second) // past the retention of the replaced keys
	k.invalidate()
	if _, err := verify(v, raw); err == nil {
		t.Error("a token of a key no longer published was accepted")
	}

	// An expired token is verified again (zitadel then refuses it for its
	// expiry) and not remembered.
	short := signedToken(t, k, ES256, fmt.Sprintf(`{"sub":"u1","exp":%d}`, clk.Now().Add(time.Minute).Unix()))
	if _, err := verify(v, short); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	misses := v.misses.Load()
	if _, err := verify(v, short); err != nil {
		t.Fatal(err)
	}
	if v.misses.Load() != misses+1 {
		t.Error("an expired token was answered from the cache")
	}
}

// TestVerifiedKeySetBound checks that the cache never holds more than its
// size, and that tokens without an expiry are not remembered.
func TestVerifiedKeySetBound(t *testing.T) {
	t.Parallel()
	k, _, clk := newTestKeys(t)
	if err := k.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	const size = 8
	v := newVerifiedKeySet(k, "https://id.example", clk.Now, size)
	for i := range 5 * size {
		raw := signedToken(t, k, EdDSA, fmt.Sprintf(`{"sub":"u%d","exp":%d}`, i, clk.Now().Add(time.Hour).Unix()))
		if _, err := verify(v, raw); err != nil {
			t.Fatal(err)
		}
		if n := len(v.entries); n > size {
			t.Fatalf("after %d tokens the cache holds %d, want at most %d", i+1, n, size)
		}
	}
	v = newVerifiedKeySet(k, "https://id.example", clk.Now, size)
	if _, err := verify(v, signedToken(t, k, EdDSA, `{"sub":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	if n := len(v.entries); n != 0 {
		t.Errorf("a token without exp was remembered (%d entries)", n)
	}
}

// TestIdAndSubject checks the answer verifiedKeySet gives zitadel's first
// question about an access token: the id and subject of a token it
// verified, and only while zitadel's own verification would accept the
// token: issued by this provider, not expired, its key still published as
// the keys loaded lately say. Otherwise nothing, and the token is
// verified in full. tokenCrypto's Decrypt gives the same answer.
func TestIdAndSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k, _, clk := newTestKeys(t)
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	const issuer = "https://id.example"
	v := newVerifiedKeySet(k, issuer, clk.Now, 16)
	c, err := newTokenCrypto([32]byte{1}, "gh1", v)
	if err != nil {
		t.Fatal(err)
	}
	token := func(iss, jti, sub string, ttl time.Duration) string {
		return signedToken(t, k, ES256, fmt.Sprintf(`{"iss":%q,"sub":%q,"exp":%d,"jti":%q}`, iss, sub, clk.Now().Add(ttl).Unix(), jti))
	}
	want := func(raw, id, subject string) {
		t.Helper()
		gotID, gotSubject, ok := v.idAndSubject(raw)
		if id == "" {
			if ok {
				t.Errorf("idAndSubject answered %q, %q; want nothing", gotID, gotSubject)
			}
			if got, err := c.Decrypt(raw); err == nil {
				t.Errorf("Decrypt answered %q; want an error", got)
			}
			return
		}
		if !ok || gotID != id || gotSubject != subject {
			t.Errorf("idAndSubject = %q, %q, %v; want %q, %q", gotID, gotSubject, ok, id, subject)
		}
		if got, err := c.Decrypt(raw); err != nil || got != id+":"+subject {
			t.Errorf("Decrypt = %q, %v; want %q", got, err, id+":"+subject)
		}
	}
	mustVerify := func(raw string) {
		t.Helper()
		if _, err := verify(v, raw); err != nil {
			t.Fatal(err)
		}
	}

	raw := token(issuer, "a", "u1", 24*time.Hour)
	want(raw, "", "") // never verified
	mustVerify(raw)
	want(raw, "a", "u1")
	parts := strings.Split(raw, ".")
	want(parts[0]+"."+parts[1]+"."+parts[2]+"A", "", "") // not the token verified

	for name, raw := range map[string]string{
		"another issuer":     token("https://other.example", "b", "u1", time.Hour),
		"no jti":             token(issuer, "", "u1", time.Hour),
		"a colon in the jti": token(issuer, "c:d", "u1", time.Hour),
		"a colon in the sub": token(issuer, "e", "u:1", time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			mustVerify(raw)
			want(raw, "", "")
		})
	}

	// Keys loaded keyCacheTTL ago are not looked at: the token is verified
	// in full, which loads them, and then it is answered again.
	clk.Add(keyCacheTTL)
	want(raw, "", "")
	mustVerify(raw)
	want(raw, "a", "u1")

	// Expired: not answered, though the keys are fresh.
	short := token(issuer, "f", "u1", time.Minute)
	mustVerify(short)
	want(short, "f", "u1")
	clk.Add(time.Minute)
	if _, err := k.publicKeys(ctx); err != nil {
		t.Fatal(err)
	}
	want(short, "", "")

	// A key no longer published: not answered, once the keys are loaded
	// again.
	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(PublishDelay + time.Hour + time.Second) // past the retention of the replaced keys
	k.invalidate()
	if _, err := k.publicKeys(ctx); err != nil {
		t.Fatal(err)
	}
	want(raw, "", "")
}

// TestUnrecordedClaimsCached checks that the claims of an unrecorded
// client_credentials token are kept when its signature is verified, so
// that introspection need not parse them again, as a copy; and that no
// other token, verified or not, has any.
func TestUnrecordedClaimsCached(t *testing.T) {
	t.Parallel()
	k, _, clk := newTestKeys(t)
	exp := clk.Now().Add(time.Hour).Unix()
	if err := k.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	v := newVerifiedKeySet(k, "https://id.example", clk.Now, 16)
	cc := signedToken(t, k, ES256, fmt.Sprintf(`{"iss":"https://id.example","sub":"svc","client_id":"svc","aud":["svc","rs"],"scope":"a b","exp":%d,"iat":%d,"jti":"cc.one","cnf":{"jkt":"thumb"}}`, exp, exp-3600))
	recorded := signedToken(t, k, ES256, fmt.Sprintf(`{"iss":"https://id.example","sub":"user","client_id":"app","exp":%d,"jti":"two"}`, exp))
	if _, ok := v.unrecordedClaims(cc); ok {
		t.Fatal("claims of a token never verified")
	}
	for _, raw := range []string{cc, recorded} {
		if _, err := verify(v, raw); err != nil {
			t.Fatal(err)
		}
	}
	c, ok := v.unrecordedClaims(cc)
	if !ok || c.ID != "cc.one" || c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "a b" || c.Expiry != exp ||
		c.IssuedAt != exp-3600 || strings.Join(c.Audience, " ") != "svc rs" || c.Confirmation == nil || c.Confirmation.JKT != "thumb" {
		t.Fatalf("unrecordedClaims = %+v, %v", c, ok)
	}
	c.Audience[0] = "changed"
	if again, _ := v.unrecordedClaims(cc); again.Audience[0] != "svc" {
		t.Errorf("the cached claims changed with the copy handed out: %q", again.Audience)
	}
	if c, ok := v.unrecordedClaims(recorded); ok {
		t.Errorf("claims of a recorded token: %+v", c)
	}
}
