package password

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/login/password/policy"
)

func TestHashVerify(t *testing.T) {
	h := NewHasher(OWASP)
	long := strings.Repeat("a", 100)
	tests := []struct {
		name      string
		stored    string
		attempt   string
		wantMatch bool
	}{
		{"same", "correct horse", "correct horse", true},
		{"wrong", "correct horse", "correct horsf", false},
		{"not trimmed", "secret", " secret", false},
		{"case matters", "Secret", "secret", false},
		{"unicode", "пароль-密码", "пароль-密码", true},
		{"no truncation after 72 bytes", long, long[:99] + "b", false},
		{"long", long, long, true},
		{"empty never matches other", "x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := h.Hash(tt.stored)
			if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("hash %q lacks the OWASP argon2id prefix", enc)
			}
			err := h.Verify(enc, tt.attempt)
			if tt.wantMatch && err != nil {
				t.Fatalf("Verify = %v, want match", err)
			}
			if !tt.wantMatch && !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify = %v, want ErrMismatch", err)
			}
		})
	}
}

// TestDummyCostsACheck checks what VerifyDummy checks passwords against:
// a hash with the hasher's own parameters (so that an unknown account's
// check costs what a real one does), which no password matches, and
// which differs from one hasher to the next.
func TestDummyCostsACheck(t *testing.T) {
	p := Params{Memory: 64, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(p)
	got, salt, key, err := decode(h.dummy)
	if err != nil {
		t.Fatalf("the dummy %q does not decode: %v", h.dummy, err)
	}
	if got != p {
		t.Errorf("the dummy's parameters are %+v, want the hasher's %+v", got, p)
	}
	if len(salt) != int(p.SaltLen) || len(key) != int(p.KeyLen) {
		t.Errorf("the dummy's salt and key are %d and %d bytes, want %d and %d", len(salt), len(key), p.SaltLen, p.KeyLen)
	}
	for _, pw := range []string{"", "gatehouse dummy password for unknown accounts", "correct horse"} {
		if err := h.verify(h.dummy, pw); !errors.Is(err, ErrMismatch) {
			t.Errorf("checking %q against the dummy = %v, want ErrMismatch", pw, err)
		}
		if err := h.VerifyDummy(pw); err != nil {
			t.Errorf("VerifyDummy(%q) = %v", pw, err)
		}
	}
	if other := NewHasher(p); other.dummy == h.dummy {
		t.Error("two hashers have the same dummy")
	}
}

func TestSaltsDiffer(t *testing.T) {
	h := NewHasher(OWASP)
	a, b := h.Hash("pw"), h.Hash("pw")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestNeedsRehash(t *testing.T) {
	weak := NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	strong := NewHasher(OWASP)
	old := weak.Hash("pw")
	if !strong.NeedsRehash(old) {
		t.Error("NeedsRehash(weaker hash) = false")
	}
	if strong.NeedsRehash(strong.Hash("pw")) {
		t.Error("NeedsRehash(current hash) = true")
	}
	if err := strong.Verify(old, "pw"); err != nil {
		t.Errorf("old hash no longer verifies: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	h := NewHasher(OWASP)
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		if err := h.Verify(enc, "pw"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", enc, err)
		}
	}
}

func TestHasherCheck(t *testing.T) {
	const breached = "Tr0ub4dor&3 horse"
	sum := sha1.Sum([]byte(breached))
	name := filepath.Join(t.TempDir(), "pwned.txt")
	if err := os.WriteFile(name, []byte(strings.ToUpper(hex.EncodeToString(sum[:]))+":42\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := policy.OpenBreached(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	tests := []struct {
		name     string
		breached *policy.Breached
		password string
		want     error
	}{
		{"common, no list", nil, "Password1!", policy.ErrCommon},
		{"breached, no list", nil, breached, nil},
		{"common, with list", list, "Password1!", policy.ErrCommon},
		{"breached, with list", list, breached, policy.ErrBreached},
		{"too short, with list", list, "short", policy.ErrTooShort},
		{"fine, with list", list, "violet otter lantern", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Hasher{Params: OWASP, Breached: tt.breached}
			if err := h.Check(tt.password, "", ""); !errors.Is(err, tt.want) {
				t.Errorf("Check(%q) = %v, want %v", tt.password, err, tt.want)
			}
		})
	}
}

// BenchmarkHash measures hashing a new password with the OWASP parameters,
// the cost the breached check (BenchmarkBreached in policy) adds to.
func BenchmarkHash(b *testing.B) {
	h := &Hasher{Params: OWASP}
	for b.Loop() {
		h.Hash("violet otter lantern")
	}
}

// BenchmarkNewHasher measures building a Hasher, which every process that
// checks or sets passwords does once, each CLI command included.
func BenchmarkNewHasher(b *testing.B) {
	for b.Loop() {
		NewHasher(OWASP)
	}
}
