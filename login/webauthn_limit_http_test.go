package login

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// create returns the credential JSON of an attestation ("none") of k for
// challenge from the test issuer's origin, as navigator.credentials.create
// gives it.
func (k *softKey) create(t *testing.T, challenge string) json.RawMessage {
	t.Helper()
	point, err := k.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	rp := sha256.Sum256([]byte(baseURL.Hostname()))
	auth := binary.BigEndian.AppendUint32(append(rp[:], 0x01|0x04|0x40), k.count)
	auth = append(auth, make([]byte, 16)...) // AAGUID: zeros
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.id)))
	auth = append(append(auth, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": challenge, "origin": testIssuer, "crossOrigin": false})
	b64 := base64.RawURLEncoding.EncodeToString
	out, _ := json.Marshal(map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(cd), "attestationObject": b64(att), "transports": []string{"usb"}},
	})
	return out
}

// TestKeyLimit covers the cap on a user's keys: with maxKeys keys the
// account page begins no registration, and of two ceremonies begun below
// the cap only the one that reaches it adds a key.
func TestKeyLimit(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	u := hs.user("many-keys@example.com", nil)
	first := hs.addKey(u)
	for range maxKeys - 2 {
		hs.addKey(u)
	}
	// Sign in with the first key, so the session used a second factor.
	b := hs.browser("192.0.2.95")
	id, page := hs.toStep(b, testClientID, u.Email, "/login/webauthn", nil)
	c := &keyCeremony{t: t, b: b, prefix: "/login/webauthn", csrf: keyCSRF(t, page.body, "second"), id: id}
	ch := c.begin()
	if status, reply := c.finish(ch.Ceremony, first.assert(t, ch.PublicKey.Challenge)); status != http.StatusOK {
		t.Fatalf("key step = %d %+v", status, reply)
	}
	csrf := keyCSRF(t, b.get("/account/security").body, "register")
	reg := &keyCeremony{t: t, b: b, prefix: "/account/security/webauthn/register", csrf: csrf}
	begin := func(name string) (int, keyReply) {
		return b.keyCall(t, reg.prefix+"/begin", csrf, map[string]any{"name": name})
	}
	finish := func(ch keyReply, k *softKey) (int, keyReply) {
		return b.keyCall(t, reg.prefix+"/finish", csrf, map[string]any{"ceremony": ch.Ceremony, "credential": k.create(t, ch.PublicKey.Challenge)})
	}
	keys := func() int {
		list, err := hs.store.WebAuthnCredentials(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}

	// Two ceremonies begun with one place left: the first fills it.
	_, ch1 := begin("one")
	_, ch2 := begin("two")
	if ch1.Ceremony == "" || ch2.Ceremony == "" {
		t.Fatalf("register begin with %d keys: %+v %+v", keys(), ch1, ch2)
	}
	if status, reply := finish(ch1, newSoftKey(t)); status != http.StatusOK {
		t.Fatalf("register finish below the cap = %d %+v", status, reply)
	}
	if status, reply := finish(ch2, newSoftKey(t)); status != http.StatusConflict || reply.Error != msgKeyLimit {
		t.Errorf("register finish at the cap = %d %+v, want 409 %q", status, reply, msgKeyLimit)
	}
	if status, reply := begin("three"); status != http.StatusConflict || reply.Error != msgKeyLimit {
		t.Errorf("register begin at the cap = %d %+v, want 409 %q", status, reply, msgKeyLimit)
	}
	if n := keys(); n != maxKeys {
		t.Errorf("%d keys, want %d", n, maxKeys)
	}
}

// newSoftKey is a soft key that is not registered yet.
func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &softKey{id: []byte(rand.Text()[:16]), key: k}
}
