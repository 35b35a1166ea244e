// Package password hashes and verifies passwords with argon2id, stored as
// PHC strings ($argon2id$v=19$m=19456,t=2,p=1$salt$hash).
//
// Passwords are verified exactly as typed: no trimming, no normalisation,
// no truncation.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse-idp/gatehouse/login/password/policy"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// OWASP are the parameters OWASP's password storage cheat sheet
// recommends for argon2id: 19 MiB, two passes, one lane.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMismatch is returned by Verify when the password is wrong.
var ErrMismatch = errors.New("password: mismatch")

// ErrMalformed is returned for a stored hash that is not an argon2id PHC
// string this package can read.
var ErrMalformed = errors.New("password: malformed hash")

// Hasher hashes with fixed parameters.
type Hasher struct {
	Params Params
	// Gate bounds the hashes running at once (nil: no bound). NewHasher
	// sets one of DefaultSlots(p) slots waiting at most DefaultWait.
	Gate *Gate
	// Breached, if set, is a local copy of the Pwned Passwords list that
	// Check refuses new passwords from. The hasher is the one every place
	// that sets a password shares, so it carries the list to them.
	Breached *policy.Breached
	dummy    string
}

// NewHasher returns a Hasher for p, under a default gate.
func NewHasher(p Params) *Hasher {
	return &Hasher{Params: p, Gate: NewGate(DefaultSlots(p), DefaultWait), dummy: dummyHash(p)}
}

// dummyHash returns the PHC string VerifyDummy checks passwords against:
// p's parameters, a random salt and a random key. Checking a password
// against it costs one argon2id with p, as a real account's check does,
// and never matches (a 2^-8·KeyLen chance), yet making it costs no hash:
// every process that builds a Hasher (each CLI command included) would
// otherwise spend one argon2id, and touch its memory, before doing
// anything.
func dummyHash(p Params) string {
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	return encode(p, salt, key)
}

// encode is the PHC string of key, derived with p from salt.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Check reports whether password may be set for the account with the given
// email address and name: policy.Check, then, if h has a Breached list,
// the list. Its errors are *policy.Error values, written for the person
// choosing the password.
func (h *Hasher) Check(password, email, name string) error {
	if err := policy.Check(password, email, name); err != nil {
		return err
	}
	return h.Breached.Check(password)
}

// Hash returns the PHC string of password with a fresh random salt. It
// waits for a slot of the gate as long as it takes.
func (h *Hasher) Hash(password string) string {
	defer h.Gate.acquireWait()()
	p := h.Params
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	return encode(p, salt, argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen))
}

// Verify reports whether password matches the PHC string encoded, in
// constant time. It returns ErrMismatch for a wrong password, and ErrBusy
// if the gate had no free slot in time (the password was not checked).
func (h *Hasher) Verify(encoded, password string) error {
	if _, _, _, err := decode(encoded); err != nil {
		return err
	}
	release, err := h.Gate.acquire()
	if err != nil {
		return err
	}
	defer release()
	return h.verify(encoded, password)
}

// verify is Verify without the gate.
func (h *Hasher) verify(encoded, password string) error {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// Slot is a hashing slot of the gate, taken before a password check is
// counted against an attempt limit: a check that may not run for want of a
// slot is then turned away (ErrBusy) before it is counted, and one that is
// counted always runs. The slot holds one hash: Verify and VerifyDummy give
// it back as soon as the hash is done, so that the caller's work after the
// check (its database writes, the next page) does not keep the next
// password waiting. Release it (again) once done: on the paths that do not
// hash, that is what gives it back.
type Slot struct {
	h       *Hasher
	release func() // nil once given back
}

// Acquire takes a slot for one Verify, waiting at most the gate's wait; it
// returns ErrBusy if none freed up.
func (h *Hasher) Acquire() (*Slot, error) {
	release, err := h.Gate.acquire()
	if err != nil {
		return nil, err
	}
	return &Slot{h: h, release: release}, nil
}

// Release gives the slot back, if Verify or VerifyDummy has not already.
func (s *Slot) Release() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// Verify is Hasher.Verify in the slot: it does not wait for another, and
// gives the slot back when the hash is done.
func (s *Slot) Verify(encoded, password string) error {
	defer s.Release()
	return s.h.verify(encoded, password)
}

// VerifyDummy is Hasher.VerifyDummy in the slot, which it gives back when
// the hash is done.
func (s *Slot) VerifyDummy(password string) {
	defer s.Release()
	s.h.verify(s.h.dummy, password)
}

// VerifyDummy spends the time of one Verify, for accounts that do not
// exist, so that timing does not tell them apart. It returns ErrBusy as
// Verify does, and nil otherwise.
func (h *Hasher) VerifyDummy(password string) error {
	if err := h.Verify(h.dummy, password); errors.Is(err, ErrBusy) {
		return err
	}
	return nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// h's, so the caller should store a fresh hash after a successful Verify.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return true
	}
	q := h.Params
	return p.Memory != q.Memory || p.Time != q.Time || p.Threads != q.Threads ||
		uint32(len(salt)) != q.SaltLen || uint32(len(key)) != q.KeyLen
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory < 8 || p.Time < 1 || p.Threads < 1 || p.Memory > 4*1024*1024 || p.Time > 100 {
		return Params{}, nil, nil, ErrMalformed
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, ErrMalformed
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
