package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	box, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed := box.Seal(secret, []byte("totp:user1"))
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := box.Seal(secret, []byte("totp:user1")); bytes.Equal(again, sealed) {
		t.Fatal("two seals are equal: nonce reused")
	}
	got, err := box.Open(sealed, []byte("totp:user1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	for name, open := range map[string]func() ([]byte, error){
		"other aad": func() ([]byte, error) { return box.Open(sealed, []byte("totp:user2")) },
		"tampered":  func() ([]byte, error) { return box.Open(tampered, []byte("totp:user1")) },
		"other key": func() ([]byte, error) { return other.Open(sealed, []byte("totp:user1")) },
		"short":     func() ([]byte, error) { return box.Open(sealed[:5], []byte("totp:user1")) },
	} {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open = %v, want ErrOpen", name, err)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}

func TestDeriveIsStableAndSeparated(t *testing.T) {
	a, _ := New(bytes.Repeat([]byte{1}, KeySize))
	b, _ := New(bytes.Repeat([]byte{1}, KeySize))
	if a.Derive("csrf") != b.Derive("csrf") {
		t.Error("Derive differs for the same master key")
	}
	if a.Derive("csrf") == a.Derive("op crypto") {
		t.Error("Derive gives one key for two purposes")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload = %x, %v; want the same key", k2, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not base64!"), 0o600)
	if _, err := LoadOrCreateKey(bad); err == nil {
		t.Error("a malformed key file was accepted")
	}
}
