package totp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	ptotp "github.com/pquerna/otp/totp"
)

// The parameters every common authenticator app supports.
const (
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Digits is the number of digits in a code.
	Digits = 6
	// Skew is the number of steps accepted on either side of the current one.
	Skew = 1
	// SecretSize is the size in bytes of a generated secret (160 bits, as
	// RFC 4226 recommends for HMAC-SHA1).
	SecretSize = 20
	// minSecretSize is the shortest secret Verify and Code accept
	// (128 bits, RFC 4226 §4 requirement R6).
	minSecretSize = 16
)

// ErrMalformedSecret is returned by Code for a secret that is not the
// unpadded base32 encoding of at least 128 bits.
var ErrMalformedSecret = errors.New("totp: malformed secret")

// b32 is the encoding of secrets: RFC 4648 base32 without padding, as in
// otpauth:// URLs.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// A Key is a newly generated TOTP key, ready to be shown to the user once
// for enrolment.
type Key struct {
	key *otp.Key
}

// Generate returns a key with a fresh random 160-bit secret for account
// (usually the user's email address) at issuer (the name apps display).
// Neither may be empty or contain a colon, which separates them in the
// otpauth:// label.
func Generate(issuer, account string) (*Key, error) {
	if strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return nil, fmt.Errorf("totp: generate key: issuer %q and account %q must not contain ':'", issuer, account)
	}
	k, err := ptotp.Generate(ptotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(Period / time.Second),
		SecretSize:  SecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
		// Rand is left nil: pquerna/otp then reads crypto/rand.Reader.
	})
	if err != nil {
		return nil, fmt.Errorf("totp: generate key: %w", err)
	}
	return &Key{key: k}, nil
}

// FromSecret rebuilds the key of an enrolment in progress from its stored
// secret, to show its QR code again.
func FromSecret(issuer, account, secret string) (*Key, error) {
	if _, err := decodeSecret(secret); err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", strconv.Itoa(int(Period/time.Second)))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	k, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("totp: rebuild key: %w", err)
	}
	return &Key{key: k}, nil
}

// Secret returns the shared secret as unpadded base32, the form users type
// into an app by hand and the form Verify and Code take. It must be stored
// encrypted and never shown again after enrolment.
func (k *Key) Secret() string { return k.key.Secret() }

// URL returns the otpauth://totp/Issuer:account?… URL of the key, which
// authenticator apps import from the QR code or a tapped link.
func (k *Key) URL() string { return k.key.URL() }

// QRPNG returns a size×size PNG image of the QR code of URL.
func (k *Key) QRPNG(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("totp: QR code size %d is not positive", size)
	}
	img, err := k.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code of %d×%d pixels: %w", size, size, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// Verify reports whether passcode is the valid code for secret at time now,
// allowing one step of clock drift either way, and returns the time step
// (Unix time divided by 30 s) it matched.
//
// passcode must be exactly six ASCII digits once surrounding white space is
// trimmed. Steps at or before lastStep are refused, so that a code is never
// accepted twice: pass the step returned by the previous successful call,
// or a negative number if there was none, and persist the returned step
// before treating the code as valid. A malformed secret never verifies.
//
// Each candidate code is compared in constant time, and all candidates are
// computed whatever the outcome.
func Verify(secret, passcode string, now time.Time, lastStep int64) (step int64, ok bool) {
	passcode = strings.TrimSpace(passcode)
	if !isDigits(passcode, Digits) {
		return 0, false
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return 0, false
	}
	t := stepAt(now)
	for s := t - Skew; s <= t+Skew; s++ {
		if s < 0 {
			continue
		}
		match := subtle.ConstantTimeCompare([]byte(code(key, s, Digits)), []byte(passcode)) == 1
		// On the (10⁻⁶) chance that two steps share a code, the later one
		// wins so that the same code cannot be replayed as the later step.
		if match && s > lastStep {
			step, ok = s, true
		}
	}
	return step, ok
}

// Code returns the six-digit code for secret at time t, as an
// authenticator app would display it.
func Code(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	s := stepAt(t)
	if s < 0 {
		return "", fmt.Errorf("totp: time %v is before the Unix epoch", t)
	}
	return code(key, s, Digits), nil
}

// stepAt returns the RFC 6238 time step T containing t.
func stepAt(t time.Time) int64 {
	u := t.Unix()
	s := u / int64(Period/time.Second)
	if u < 0 && u%int64(Period/time.Second) != 0 {
		s-- // floor, not truncation, before the epoch
	}
	return s
}

// decodeSecret decodes an unpadded (or padded) base32 secret, ignoring case
// and surrounding white space.
func decodeSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	key, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSecret, err)
	}
	if len(key) < minSecretSize {
		return nil, fmt.Errorf("%w: %d bits, want at least %d", ErrMalformedSecret, 8*len(key), 8*minSecretSize)
	}
	return key, nil
}

// isDigits reports whether s consists of exactly n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// code computes the RFC 4226 HOTP value of secret for counter step with
// the given number of digits, zero-padded: HMAC-SHA1 of the big-endian
// counter, dynamic truncation to 31 bits, then reduction modulo 10^digits.
// RFC 6238 TOTP is HOTP with the time step as the counter.
func code(secret []byte, step int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := uint64(binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff)
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}
