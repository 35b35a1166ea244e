package policy

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// ErrBreached is the reason Breached.Check refuses a password found in the
// list; ErrUnchecked is returned when the list could not be read, so the
// password was not checked (and is not accepted).
var (
	ErrBreached  = &Error{Message: "This password appears in a known data breach. Choose another one."}
	ErrUnchecked = &Error{Message: "The password could not be checked just now. Please try again in a moment."}
)

// hashLen is the length of an upper-case hexadecimal SHA-1 hash.
const hashLen = 2 * sha1.Size

// maxLine bounds the length of a line of the list, with its line end:
// 40 hex digits, a colon, a count of up to 20 digits and "\r\n". A read of
// 2*maxLine bytes from any offset holds the rest of one line and the whole
// next one.
const maxLine = hashLen + 1 + 20 + 2

// Breached is a local copy of the Pwned Passwords list, read in place: the
// file is never loaded into memory, and a lookup is a binary search over it
// by file offset, a few dozen small reads served from the page cache.
//
// The file holds one line per breached password, "HASH:COUNT", where HASH
// is the SHA-1 of the password in 40 upper-case hexadecimal digits and
// COUNT how often it was seen, sorted by HASH, with "\n" or "\r\n" line
// ends. That is the single-file output of Have I Been Pwned's Pwned
// Passwords downloader, and of its older "ordered by hash" archives. A line
// with COUNT 0 (padding) counts as absent.
//
// A Breached is safe for concurrent use.
type Breached struct {
	f      *os.File
	size   int64
	logger *slog.Logger // nil: Check logs nothing
}

// OpenBreached opens the list in the file name and checks that its first
// and last lines look like Pwned Passwords lines. Check logs to logger
// (if not nil) when the file cannot be read.
func OpenBreached(name string, logger *slog.Logger) (*Breached, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	b, err := newBreached(f, logger)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

func newBreached(f *os.File, logger *slog.Logger) (*Breached, error) {
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, errors.New("not a regular file")
	case fi.Size() == 0:
		return nil, errors.New("the file is empty")
	}
	b := &Breached{f: f, size: fi.Size(), logger: logger}
	_, first, _, err := b.lineFrom(0)
	if err != nil {
		return nil, fmt.Errorf("first line: %w", err)
	}
	// The last line starts within maxLine bytes of the end.
	last := first
	for off := max(0, b.size-maxLine); ; {
		start, hash, _, err := b.lineFrom(off)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("last line: %w", err)
		}
		last, off = hash, start+1
	}
	if bytes.Compare(first, last) > 0 {
		return nil, errors.New("the lines are not sorted by hash")
	}
	return b, nil
}

// Close closes the file. A nil b has nothing to close.
func (b *Breached) Close() error {
	if b == nil {
		return nil
	}
	return b.f.Close()
}

// Check returns ErrBreached if password, exactly as typed, is on the list,
// ErrUnchecked if the list could not be read, and nil otherwise. A nil b
// accepts every password.
func (b *Breached) Check(password string) error {
	if b == nil {
		return nil
	}
	found, err := b.Contains(password)
	switch {
	case err != nil:
		if b.logger != nil {
			b.logger.Error("breached password list unreadable", "err", err)
		}
		return ErrUnchecked
	case found:
		return ErrBreached
	}
	return nil
}

// Contains reports whether password, exactly as typed, is on the list with
// a count above zero.
func (b *Breached) Contains(password string) (bool, error) {
	sum := sha1.Sum([]byte(password))
	var target [hashLen]byte
	hex.Encode(target[:], sum[:])
	upper(target[:])
	// Every line that starts before lo has a smaller hash, and every line
	// that starts at hi or later a greater one.
	lo, hi := int64(0), b.size
	for lo < hi {
		mid := lo + (hi-lo)/2
		start, hash, count, err := b.lineFrom(mid)
		if errors.Is(err, io.EOF) || err == nil && start >= hi {
			hi = mid // no line starts in [mid, hi)
			continue
		}
		if err != nil {
			return false, err
		}
		switch c := bytes.Compare(hash, target[:]); {
		case c == 0:
			return !isZero(count), nil
		case c < 0:
			lo = start + 1 // past the start of this line
		default:
			hi = mid // the first line from mid is greater already
		}
	}
	return false, nil
}

// lineFrom reads the first line that starts at offset off or later,
// returning where it starts, its hash in upper case and its count. It
// returns io.EOF if no line starts there.
func (b *Breached) lineFrom(off int64) (start int64, hash, count []byte, err error) {
	// From the byte before off: a line starts after the first line end
	// from there (at off itself if that byte is one).
	var buf [2*maxLine + 1]byte
	from := max(0, off-1)
	n, err := b.f.ReadAt(buf[:], from)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, nil, fmt.Errorf("read at %d: %w", from, err)
	}
	data, start := buf[:n], from
	if off > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if from+int64(n) >= b.size {
				return 0, nil, nil, io.EOF
			}
			return 0, nil, nil, fmt.Errorf("no line end near offset %d", off)
		}
		data, start = data[i+1:], from+int64(i+1)
	}
	if len(data) == 0 {
		return 0, nil, nil, io.EOF
	}
	line := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line = data[:i]
	} else if start+int64(len(data)) < b.size {
		return 0, nil, nil, fmt.Errorf("line at offset %d is too long", start)
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	hash, count, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(hash) != hashLen || !isHex(hash) || len(count) == 0 || len(count) > 20 || !isDigits(count) {
		return 0, nil, nil, fmt.Errorf("line at offset %d is not HASH:COUNT: %.80q", start, line)
	}
	upper(hash)
	return start, hash, count, nil
}

func isHex(s []byte) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isZero(count []byte) bool {
	return len(bytes.TrimLeft(count, "0")) == 0
}

// upper turns the hexadecimal digits a-f of s into A-F, in place. Lower-
// and upper-case lists sort alike, so either can be searched.
func upper(s []byte) {
	for i, c := range s {
		if 'a' <= c && c <= 'f' {
			s[i] = c - 'a' + 'A'
		}
	}
}
