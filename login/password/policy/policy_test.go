package policy

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	const (
		email = "Alice.Smith@example.com"
		name  = "Ivan Petrov"
	)
	tests := []struct {
		name     string
		password string
		want     error
	}{
		{"common", "password123", ErrCommon},
		{"common digits", "123456789", ErrCommon},
		{"common keyboard row", "qwertyuiop", ErrCommon},
		{"common ignoring case", "Password123", ErrCommon},
		{"common upper case", "QWERTYUIOP", ErrCommon},
		{"common with a space after", "password123 ", ErrCommon},
		{"common with spaces around", "  Password123\t", ErrCommon},
		{"common with a digit and symbol after", "Password1!", ErrCommon},
		{"common with digits and symbols after", "Password2024!?", ErrCommon},
		{"common with a symbol after", "iloveyou!", ErrCommon},
		{"common digits with a symbol after", "12345678!", ErrCommon},
		{"common with a symbol before", "!password", nil},
		{"common inside a longer password", "password cactus 1", nil},
		{"long unusual password with a digit after", "violet otter lantern9", nil},
		{"short base with digits after", "xk4#pQz9!!", nil},
		{"7 characters", "xk4#pQz", ErrTooShort},
		{"8 characters", "xk4#pQz9", nil},
		{"8 spaces", "        ", nil},
		{"7 Cyrillic letters", "корабль", ErrTooShort},
		{"8 Cyrillic letters", "крокодил", nil},
		{"100 characters", "Vq7#mZ!r2Lp9@xT4wK8^nB3&cF6*hJ1(dG5)sA0_eY-uI=oP+lQ[zW]xC{vN}bM|a;S:d'F\"g,H<j.K>l/Z?x`C~v Bn Mq Rt1", nil},
		{"64 four-byte characters", strings.Repeat("🔑", 64), nil},
		{"1024 bytes", strings.Repeat("a1b2", MaxBytes/4), nil},
		{"1025 bytes", strings.Repeat("a1b2", MaxBytes/4) + "c", ErrTooLong},
		{"email", email, ErrCommon},
		{"email local part", "alice.smith", ErrCommon},
		{"email local part upper case", "ALICE.SMITH", ErrCommon},
		{"name", "ivan petrov", ErrCommon},
		{"name in a longer password", "ivan petrov 1987 blue", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.password, email, name)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check(%q) = %v, want %v", tt.password, err, tt.want)
			}
		})
	}
}

func TestCheckEmptyEmailAndName(t *testing.T) {
	if err := Check("correct horse battery", "", ""); err != nil {
		t.Errorf("Check with no email and name = %v, want nil", err)
	}
	if err := Check("bob.jones", "bob.jones", ""); err != ErrCommon {
		t.Errorf("Check(email without @) = %v, want ErrCommon", err)
	}
	if err := Check("x.y.z@a.b", "x.y.z@a.b@example.com", ""); err != ErrCommon {
		t.Errorf("Check(local part holding @) = %v, want ErrCommon", err)
	}
}

func TestCheckRandom(t *testing.T) {
	for range 100 {
		p := rand.Text() + rand.Text() + rand.Text() + rand.Text()
		p = p[:100]
		if err := Check(p, "someone@example.com", "Someone"); err != nil {
			t.Fatalf("Check(%q) = %v, want nil", p, err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		password string
		want     string
	}{
		{"short", "Use at least 8 characters."},
		{strings.Repeat("x", MaxBytes+1), "Use at most 1024 bytes."},
		{"password123", "This password is too common. Choose another one."},
	}
	for _, tt := range tests {
		err := Check(tt.password, "", "")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Check(%.20q) = %#v, want an *Error", tt.password, err)
		}
		if e.Message != tt.want || err.Error() != tt.want {
			t.Errorf("Check(%.20q): Message %q, Error() %q, want %q", tt.password, e.Message, err.Error(), tt.want)
		}
	}
}

func TestList(t *testing.T) {
	if !strings.HasSuffix(commonText, "\n") {
		t.Error("common.txt does not end with a newline")
	}
	seen := make(map[string]int)
	n := 0
	for line := range strings.Lines(commonText) {
		n++
		p := strings.TrimSuffix(line, "\n")
		switch {
		case p == "":
			t.Errorf("line %d is blank", n)
		case strings.TrimSpace(p) != p:
			t.Errorf("line %d: %q has surrounding space", n, p)
		case strings.ToLower(p) != p:
			t.Errorf("line %d: %q is not lower-case", n, p)
		case !utf8.ValidString(p):
			t.Errorf("line %d: %q is not UTF-8", n, p)
		case utf8.RuneCountInString(p) < MinLength:
			t.Errorf("line %d: %q is shorter than %d characters", n, p, MinLength)
		}
		if first, ok := seen[p]; ok {
			t.Errorf("line %d: %q repeats line %d", n, p, first)
		}
		seen[p] = n
	}
	if n < 10000 {
		t.Errorf("common.txt has %d passwords, want at least 10000", n)
	}
	if got := len(common()); got != n {
		t.Errorf("set has %d passwords, want %d", got, n)
	}
}

func BenchmarkCheck(b *testing.B) {
	common() // Build the set outside the measurement.
	for _, bb := range []struct{ name, password string }{
		{"common", "Password123"},
		{"accepted", "correct horse battery staple"},
		{"1024 bytes", strings.Repeat("a1b2", MaxBytes/4)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Check(bb.password, "alice@example.com", "Alice")
			}
		})
	}
}

// BenchmarkLoad measures building the set of common passwords: B/op is the
// memory it holds.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		load()
	}
}
