// Package seal encrypts secrets at rest (signing keys, TOTP secrets) with
// AES-256-GCM under the key in the secrets key file.
//
// A sealed value is version byte || 96-bit random nonce || ciphertext+tag.
// The additional data names what the value is and whom it belongs to, so a
// ciphertext copied to another row fails to open.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const version = 1

// KeySize is the length of the master key in bytes.
const KeySize = 32

// ErrOpen is returned when a sealed value cannot be decrypted: wrong key,
// wrong additional data or tampered bytes.
var ErrOpen = errors.New("seal: cannot open sealed value")

// Box seals and opens values under one master key.
type Box struct {
	master []byte
	aead   cipher.AEAD
}

// New returns a Box for a 32-byte master key.
func New(master []byte) (*Box, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("seal: key must be %d bytes, got %d", KeySize, len(master))
	}
	k, err := hkdf.Key(sha256.New, master, nil, "gatehouse seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{master: bytes.Clone(master), aead: aead}, nil
}

// Seal encrypts plaintext bound to aad.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	rand.Read(out[1:])
	return b.aead.Seal(out, out[1:], plaintext, aad)
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Derive returns a 32-byte subkey of the master key for purpose, for
// keys that must be stable across restarts and replicas (the code and
// access-token encryption key, the CSRF key).
func (b *Box) Derive(purpose string) [32]byte {
	k, err := hkdf.Key(sha256.New, b.master, nil, "gatehouse "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf refuses; 32 is always fine
	}
	return [32]byte(k)
}

// LoadOrCreateKey reads the base64 master key at path, creating the file
// (mode 0600, parent directories 0700) with a fresh random key when it does
// not exist.
func LoadOrCreateKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, KeySize)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secrets.key_file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(path) // another process won the race
		}
		if err != nil {
			return nil, fmt.Errorf("secrets.key_file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("secrets.key_file: write %s: %w", path, werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secrets.key_file: %s must hold %d base64-encoded bytes", path, KeySize)
	}
	return key, nil
}
