// Package policy decides whether a password may be set, following NIST SP
// 800-63B §5.1.1.2 and OWASP ASVS: at least MinLength characters, at most
// MaxBytes bytes, any characters, no composition rules, and none of the most
// common passwords.
//
// Check sees the password as typed; only its comparisons normalise it. The
// list of common passwords is compared with the password in lower case
// without surrounding white space, and again with each digit, punctuation
// mark, symbol or space at its end stripped in turn, so that "Password1!"
// counts as "password". The email address and the name are compared
// ignoring case. Verifying a password is always exact: this normalisation
// only decides whether a new one is too common.
//
// A Breached list (breached.go) adds a check against a local copy of the
// Pwned Passwords data.
//
// The list, common.txt, holds the passwords of at least MinLength characters
// from the zxcvbn-ts common password list; SOURCE.md says where it comes from
// and how to make it again.
package policy

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinLength is the least number of characters (Unicode code points) in a
// password.
const MinLength = 8

// MaxBytes is the largest size of a password in bytes, UTF-8 encoded. It
// allows at least 256 characters of any kind, well over the 64 that must be
// accepted.
const MaxBytes = 1024

// An Error is the reason Check refuses a password. Its Message is written
// for the person choosing the password. Check returns one of ErrTooShort,
// ErrTooLong and ErrCommon, which callers tell apart with errors.Is, for
// example to show the message in another language.
type Error struct {
	Message string
}

// Error returns e.Message.
func (e *Error) Error() string { return e.Message }

// The errors Check returns.
var (
	ErrTooShort = &Error{Message: "Use at least 8 characters."}
	ErrTooLong  = &Error{Message: "Use at most 1024 bytes."}
	ErrCommon   = &Error{Message: "This password is too common. Choose another one."}
)

//go:embed common.txt
var commonText string

// common returns the set of common passwords, built by load on first use.
var common = sync.OnceValue(load)

// load builds the set of common passwords from commonText. Its keys are
// substrings of commonText, so it copies no password.
func load() map[string]struct{} {
	m := make(map[string]struct{}, strings.Count(commonText, "\n"))
	for line := range strings.Lines(commonText) {
		m[strings.TrimSuffix(line, "\n")] = struct{}{}
	}
	return m
}

// Check reports whether password may be chosen by the account with the given
// email address and name. It returns nil for an acceptable password and
// ErrTooShort, ErrTooLong or ErrCommon otherwise. A password is common if it
// is on the list of common passwords once normalised (see the package
// documentation) or is the email address, its local part or the name,
// ignoring case. An empty email or name is ignored.
func Check(password, email, name string) error {
	switch {
	case utf8.RuneCountInString(password) < MinLength:
		return ErrTooShort
	case len(password) > MaxBytes:
		return ErrTooLong
	case isCommon(password):
		return ErrCommon
	case sameAs(password, email), sameAs(password, localPart(email)), sameAs(password, name):
		return ErrCommon
	}
	return nil
}

// isCommon reports whether password is on the list of common passwords,
// compared in lower case without surrounding white space, and then with
// each trailing digit, punctuation mark, symbol or space stripped in turn:
// "Password1!" is refused for "password1" or "password". Only a base that
// is itself on the list is refused, so a long unusual password that ends in
// a digit is not. The list holds no password shorter than MinLength
// characters, so stripping stops there.
func isCommon(password string) bool {
	set := common()
	s := strings.ToLower(strings.TrimSpace(password))
	for runes := utf8.RuneCountInString(s); runes >= MinLength; runes-- {
		if _, ok := set[s]; ok {
			return true
		}
		r, size := utf8.DecodeLastRuneInString(s)
		if !trailing(r) {
			return false
		}
		s = s[:len(s)-size]
	}
	return false
}

// trailing reports whether r is a character people commonly append to a
// word to make a password pass composition rules: a digit, punctuation
// mark, symbol or space.
func trailing(r rune) bool {
	return unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}

// sameAs reports whether password equals s, ignoring case. An empty s
// matches nothing.
func sameAs(password, s string) bool {
	return s != "" && strings.EqualFold(password, s)
}

// localPart returns the part of the email address before its last "@", or
// the whole address if it has none.
func localPart(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}
