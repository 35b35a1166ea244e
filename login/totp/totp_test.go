package totp

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// rfcSecret is the SHA1 seed of RFC 6238 Appendix B.
const rfcSecret = "12345678901234567890"

func TestCodeRFC6238Vectors(t *testing.T) {
	tests := []struct {
		unix int64
		want string // 8 digits, as printed in the RFC
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	b32Secret := b32.EncodeToString([]byte(rfcSecret))
	for _, tt := range tests {
		now := time.Unix(tt.unix, 0)
		step := stepAt(now)
		if got := code([]byte(rfcSecret), step, 8); got != tt.want {
			t.Errorf("code(T=%d, 8) at %d = %s, want %s", step, tt.unix, got, tt.want)
		}
		want6 := tt.want[2:]
		if got := code([]byte(rfcSecret), step, 6); got != want6 {
			t.Errorf("code(T=%d, 6) at %d = %s, want %s", step, tt.unix, got, want6)
		}
		got, err := Code(b32Secret, now)
		if err != nil || got != want6 {
			t.Errorf("Code(secret, %d) = %q, %v; want %q, nil", tt.unix, got, err, want6)
		}
		if s, ok := Verify(b32Secret, want6, now, -1); !ok || s != step {
			t.Errorf("Verify(%q at %d) = %d, %t; want %d, true", want6, tt.unix, s, ok, step)
		}
	}
}

func TestVerifyWindow(t *testing.T) {
	secret := b32.EncodeToString([]byte(rfcSecret))
	now := time.Unix(1234567890, 0)
	T := stepAt(now)
	tests := []struct {
		name   string
		offset int64 // step of the code relative to T
		ok     bool
	}{
		{"T-2 refused", -2, false},
		{"T-1 accepted", -1, true},
		{"T accepted", 0, true},
		{"T+1 accepted", 1, true},
		{"T+2 refused", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := code([]byte(rfcSecret), T+tt.offset, Digits)
			step, ok := Verify(secret, c, now, -1)
			if ok != tt.ok {
				t.Fatalf("Verify(code of T%+d) ok = %t, want %t", tt.offset, ok, tt.ok)
			}
			if ok && step != T+tt.offset {
				t.Errorf("Verify(code of T%+d) step = %d, want %d", tt.offset, step, T+tt.offset)
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	secret := b32.EncodeToString([]byte(rfcSecret))
	now := time.Unix(1234567890, 0)
	T := stepAt(now)
	current := code([]byte(rfcSecret), T, Digits)
	next := code([]byte(rfcSecret), T+1, Digits)
	tests := []struct {
		name     string
		code     string
		lastStep int64
		ok       bool
	}{
		{"first use", current, -1, true},
		{"older step used before", current, T - 1, true},
		{"same step used before", current, T, false},
		{"later step used before", current, T + 1, false},
		{"next code after current", next, T, true},
		{"next code reused", next, T + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(secret, tt.code, now, tt.lastStep); ok != tt.ok {
				t.Errorf("Verify(lastStep=T%+d) ok = %t, want %t", tt.lastStep-T, ok, tt.ok)
			}
		})
	}

	// A code accepted 31 s later again must be refused once its step is stored.
	step, ok := Verify(secret, current, now, -1)
	if !ok {
		t.Fatal("Verify(current) refused")
	}
	if _, ok := Verify(secret, current, now.Add(31*time.Second), step); ok {
		t.Error("Verify(current) accepted again 31 s later")
	}
}

func TestVerifyMalformedInput(t *testing.T) {
	secret := b32.EncodeToString([]byte(rfcSecret))
	now := time.Unix(1234567890, 0)
	good := code([]byte(rfcSecret), stepAt(now), Digits)
	tests := []struct {
		name   string
		secret string
		code   string
		ok     bool
	}{
		{"valid", secret, good, true},
		{"surrounding spaces trimmed", secret, "  " + good + "\t", true},
		{"lower-case secret", strings.ToLower(secret), good, true},
		{"empty code", secret, "", false},
		{"five digits", secret, good[:5], false},
		{"seven digits", secret, good + "0", false},
		{"eight-digit RFC value", secret, "89005924", false},
		{"letters", secret, "12a456", false},
		{"inner space", secret, good[:3] + " " + good[3:], false},
		{"sign", secret, "+" + good[1:], false},
		{"non-ASCII digits", secret, "١٢٣٤٥٦", false},
		{"empty secret", "", good, false},
		{"secret not base32", "not a secret!", good, false},
		{"secret with bad character", secret[:10] + "1" + secret[11:], good, false},
		{"secret too short", b32.EncodeToString([]byte("0123456789")), code([]byte("0123456789"), stepAt(now), Digits), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(tt.secret, tt.code, now, -1); ok != tt.ok {
				t.Errorf("Verify(%q, %q) ok = %t, want %t", tt.secret, tt.code, ok, tt.ok)
			}
		})
	}
}

func TestCodeMalformedSecret(t *testing.T) {
	for _, secret := range []string{"", "!!!!", "ABCDEFGH"} {
		if _, err := Code(secret, time.Now()); !errors.Is(err, ErrMalformedSecret) {
			t.Errorf("Code(%q) error = %v, want ErrMalformedSecret", secret, err)
		}
	}
}

func TestCodeVerifyRoundTrip(t *testing.T) {
	k, err := Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	last := int64(-1)
	for i := range 5 {
		now := start.Add(time.Duration(i) * Period)
		c, err := Code(k.Secret(), now)
		if err != nil {
			t.Fatal(err)
		}
		step, ok := Verify(k.Secret(), c, now, last)
		if !ok || step != stepAt(now) {
			t.Fatalf("Verify(Code(%v)) = %d, %t; want %d, true", now, step, ok, stepAt(now))
		}
		last = step
	}
}

func TestGenerate(t *testing.T) {
	seen := make(map[string]bool)
	for range 20 {
		k, err := Generate("Gatehouse", "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		s := k.Secret()
		if len(s) != 32 {
			t.Errorf("len(Secret()) = %d, want 32", len(s))
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
		if err != nil || len(raw) != SecretSize {
			t.Errorf("Secret() %q decodes to %d bytes, %v; want %d", s, len(raw), err, SecretSize)
		}
		if seen[s] {
			t.Fatalf("Generate repeated secret %q", s)
		}
		seen[s] = true
	}

	k, err := Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Gatehouse:alice@example.com" {
		t.Errorf("URL() = %s, want otpauth://totp/Gatehouse:alice@example.com?…", k.URL())
	}
	q := u.Query()
	for param, want := range map[string]string{
		"secret": k.Secret(), "issuer": "Gatehouse", "algorithm": "SHA1", "digits": "6", "period": "30",
	} {
		if got := q.Get(param); got != want {
			t.Errorf("URL() %s = %q, want %q", param, got, want)
		}
	}
	parsed, err := otp.NewKeyFromURL(k.URL())
	if err != nil {
		t.Fatalf("otp.NewKeyFromURL(%s): %v", k.URL(), err)
	}
	if parsed.Issuer() != "Gatehouse" || parsed.AccountName() != "alice@example.com" || parsed.Secret() != k.Secret() {
		t.Errorf("parsed URL: issuer %q, account %q, secret %q", parsed.Issuer(), parsed.AccountName(), parsed.Secret())
	}
}

func TestGenerateRefusesBadLabel(t *testing.T) {
	tests := []struct{ issuer, account string }{
		{"", "alice@example.com"},
		{"Gatehouse", ""},
		{"Gate:house", "alice@example.com"},
		{"Gatehouse", "alice:x@example.com"},
	}
	for _, tt := range tests {
		if _, err := Generate(tt.issuer, tt.account); err == nil {
			t.Errorf("Generate(%q, %q) succeeded, want an error", tt.issuer, tt.account)
		}
	}
}

func TestQRPNG(t *testing.T) {
	k, err := Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.QRPNG(256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 256 || got.Y != 256 {
		t.Errorf("QR image is %v, want 256×256", got)
	}
	for _, size := range []int{0, -1, 10} {
		if _, err := k.QRPNG(size); err == nil {
			t.Errorf("QRPNG(%d) succeeded, want an error", size)
		}
	}
}

func TestStepAt(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {-1, -1}, {-30, -1}, {-31, -2},
	}
	for _, tt := range tests {
		if got := stepAt(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("stepAt(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestFromSecret(t *testing.T) {
	k, err := Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	again, err := FromSecret("Gatehouse", "alice@example.com", k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret() != k.Secret() {
		t.Fatalf("secret = %s, want %s", again.Secret(), k.Secret())
	}
	parsed, err := otp.NewKeyFromURL(again.URL())
	if err != nil || parsed.Issuer() != "Gatehouse" || parsed.AccountName() != "alice@example.com" || parsed.Secret() != k.Secret() {
		t.Fatalf("URL %s parses to %v, %v", again.URL(), parsed, err)
	}
	if _, err := FromSecret("Gatehouse", "a@b", "not base32!"); err == nil {
		t.Error("FromSecret accepted a malformed secret")
	}
}
