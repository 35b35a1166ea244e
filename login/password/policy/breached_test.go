package policy

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hashOf is the upper-case hex SHA-1 of password, as the list writes it.
func hashOf(password string) string {
	sum := sha1.Sum([]byte(password))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// writeList writes lines to a new file in a test directory and returns its
// name.
func writeList(tb testing.TB, content string) string {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "pwned.txt")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return name
}

// listOf returns the list of passwords, with counts, sorted by hash, with
// lines ended by eol.
func listOf(counts map[string]int, eol string) string {
	var lines []string
	for p, n := range counts {
		lines = append(lines, fmt.Sprintf("%s:%d", hashOf(p), n))
	}
	slices.Sort(lines)
	return strings.Join(lines, eol) + eol
}

func TestBreachedContains(t *testing.T) {
	counts := map[string]int{
		"Password1!":          3,
		"correct horse":       1,
		"hunter2hunter2":      17,
		"пароль12345":         2,
		"padding only":        0,
		"CaseMatters":         5,
		"trailing space ":     4,
		"x":                   99999999999,
		"another one":         12,
		"and the last of all": 1,
	}
	absent := []string{"password1!", "casematters", "trailing space", "not in the list", "", "Password1"}
	for _, tt := range []struct{ name, eol string }{{"LF", "\n"}, {"CRLF", "\r\n"}} {
		for _, lower := range []bool{false, true} {
			content := listOf(counts, tt.eol)
			if lower {
				content = strings.ToLower(content)
			}
			t.Run(fmt.Sprintf("%s lower=%v", tt.name, lower), func(t *testing.T) {
				b, err := OpenBreached(writeList(t, content), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				for p, n := range counts {
					if got, err := b.Contains(p); err != nil || got != (n > 0) {
						t.Errorf("Contains(%q) = %v, %v, want %v", p, got, err, n > 0)
					}
				}
				for _, p := range absent {
					if got, err := b.Contains(p); err != nil || got {
						t.Errorf("Contains(%q) = %v, %v, want false", p, got, err)
					}
				}
			})
		}
	}
}

// TestBreachedEveryLine searches lists of many sizes for every hash on them
// and for hashes between them, so that every branch of the binary search
// meets every position: the first line, the last, and those in between.
func TestBreachedEveryLine(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8, 64, 257, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			counts := make(map[string]int, n)
			var present, missing []string
			for i := range n {
				p := rand.Text()
				counts[p] = i + 1 // counts of different lengths
				present = append(present, p)
				missing = append(missing, rand.Text())
			}
			b, err := OpenBreached(writeList(t, listOf(counts, "\n")), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, p := range present {
				if got, err := b.Contains(p); err != nil || !got {
					t.Fatalf("Contains(%q) = %v, %v, want true", p, got, err)
				}
			}
			for _, p := range missing {
				if got, err := b.Contains(p); err != nil || got {
					t.Fatalf("Contains(%q) = %v, %v, want false", p, got, err)
				}
			}
		})
	}
}

func TestBreachedCheck(t *testing.T) {
	b, err := OpenBreached(writeList(t, listOf(map[string]int{"Tr0ub4dor&3xyz": 7}, "\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check("Tr0ub4dor&3xyz"); !errors.Is(err, ErrBreached) {
		t.Errorf("Check(breached) = %v, want ErrBreached", err)
	}
	if err := b.Check("Tr0ub4dor&3xyz "); err != nil {
		t.Errorf("Check(breached with a space) = %v, want nil: the list is checked exactly as typed", err)
	}
	var none *Breached
	if err := none.Check("Tr0ub4dor&3xyz"); err != nil {
		t.Errorf("nil Breached: Check = %v, want nil", err)
	}
	b.Close() // now every read fails
	if err := b.Check("anything at all"); !errors.Is(err, ErrUnchecked) {
		t.Errorf("Check on a closed file = %v, want ErrUnchecked", err)
	}
}

func TestOpenBreachedRefuses(t *testing.T) {
	good := hashOf("a") + ":1\n"
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", "empty"},
		{"text", "hello world\n", "not HASH:COUNT"},
		{"suffix only", good[5:], "not HASH:COUNT"},
		{"no count", hashOf("a") + "\n", "not HASH:COUNT"},
		{"bad count", hashOf("a") + ":x\n", "not HASH:COUNT"},
		{"not hex", strings.Repeat("G", 40) + ":1\n", "not HASH:COUNT"},
		{"bad last line", good + strings.Repeat(hashOf("b")+":1\n", 3) + "oops\n", "last line"},
		{"unsorted", strings.Repeat("F", 40) + ":1\n" + strings.Repeat("0", 40) + ":1\n", "not sorted"},
		{"no line end", strings.Repeat("A", 500), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := OpenBreached(writeList(t, tt.content), nil)
			if err == nil {
				b.Close()
				t.Fatalf("OpenBreached(%.40q) = nil error, want one saying %q", tt.content, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenBreached(%.40q) = %v, want it to say %q", tt.content, err, tt.want)
			}
		})
	}
	if _, err := OpenBreached(filepath.Join(t.TempDir(), "missing.txt"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := OpenBreached(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("directory: %v, want 'not a regular file'", err)
	}
}

// benchListLines is the size of the list BenchmarkBreached searches. The
// real list holds about a billion lines, some 30 steps of binary search
// against this list's 20 or so.
const benchListLines = 1 << 20

// BenchmarkBreached measures one lookup in a list of a million hashes
// (about 45 MB): the cost the breached check adds to setting a password,
// to compare with hashing it (BenchmarkHash in login/password).
func BenchmarkBreached(b *testing.B) {
	name := filepath.Join(b.TempDir(), "pwned.txt")
	hashes := make([]string, benchListLines)
	for i := range hashes {
		hashes[i] = hashOf(fmt.Sprint("password number ", i))
	}
	slices.Sort(hashes)
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i, h := range hashes {
		fmt.Fprintf(w, "%s:%d\r\n", h, i%5000+1)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	list, err := OpenBreached(name, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer list.Close()
	for _, bb := range []struct{ name, password string }{
		{"found", "password number 123456"},
		{"absent", "correct horse battery staple"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := list.Contains(bb.password); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
