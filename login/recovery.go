package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Recovery codes stand in for a lost second factor: ten single-use codes,
// shown once when the first factor is enabled, stored as HMACs, checked
// under the same limiter as every other code.
const (
	recoveryCodeCount = 10
	factorRecovery    = "recovery"
)

var recoveryEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newRecoveryCodes returns fresh codes like "k7m2p-q9xhd" (50 bits each).
func newRecoveryCodes() []string {
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, 7)
		rand.Read(b)
		s := recoveryEncoding.EncodeToString(b)[:10]
		codes[i] = s[:5] + "-" + s[5:]
	}
	return codes
}

// normalizeRecoveryCode accepts the code however it was typed: any case,
// with or without the dash and spaces.
func normalizeRecoveryCode(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(s) != 10 {
		return ""
	}
	return s[:5] + "-" + s[5:]
}

func (h *Handler) recoveryHash(userID, code string) []byte {
	m := hmac.New(sha256.New, h.CodeKey[:])
	fmt.Fprintf(m, "recovery\x00%s\x00%s", userID, code)
	return m.Sum(nil)
}

// issueRecoveryCodes replaces u's recovery codes with a fresh set and
// returns them, to be shown once.
func (h *Handler) issueRecoveryCodes(ctx context.Context, u *storage.User) ([]string, error) {
	return h.storeRecoveryCodes(ctx, u, func(hashes [][]byte) (bool, error) {
		return true, h.Store.ReplaceRecoveryCodes(ctx, u.ID, hashes, h.Now())
	})
}

// issueFirstRecoveryCodes gives u a fresh set of recovery codes, as
// issueRecoveryCodes does, if u has none left (the first factor), and
// returns them; nil if u has codes. The check and the write are one
// (IssueFirstRecoveryCodes): of two factors enabled at once, one issues
// the set and shows it, and the other shows none, rather than both showing
// sets of which only the one stored last works.
func (h *Handler) issueFirstRecoveryCodes(ctx context.Context, u *storage.User) ([]string, error) {
	return h.storeRecoveryCodes(ctx, u, func(hashes [][]byte) (bool, error) {
		return h.Store.IssueFirstRecoveryCodes(ctx, u.ID, hashes, h.Now())
	})
}

// storeRecoveryCodes makes a fresh set of recovery codes for u and hands
// their hashes to store, which reports whether it stored them; it returns
// the codes if it did, nil if not.
func (h *Handler) storeRecoveryCodes(ctx context.Context, u *storage.User, store func(hashes [][]byte) (bool, error)) ([]string, error) {
	codes := newRecoveryCodes()
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = h.recoveryHash(u.ID, c)
	}
	stored, err := store(hashes)
	if err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	if !stored {
		return nil, nil
	}
	h.event(ctx, storage.EventRecoveryIssued, u.ID, "", "")
	return codes, nil
}

// useRecoveryCode consumes one of u's recovery codes.
func (h *Handler) useRecoveryCode(ctx context.Context, u *storage.User, code string) (bool, error) {
	code = normalizeRecoveryCode(code)
	if code == "" {
		return false, nil
	}
	err := h.Store.UseRecoveryCode(ctx, u.ID, h.recoveryHash(u.ID, code), h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return true, h.recoveryCodeUsed(ctx, u)
}

// recoveryCodeUsed records and announces that one of u's recovery codes
// was used to sign in.
func (h *Handler) recoveryCodeUsed(ctx context.Context, u *storage.User) error {
	left, err := h.Store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("count recovery codes: %w", err)
	}
	h.event(ctx, storage.EventRecoveryUsed, u.ID, "", fmt.Sprintf("%d left", left))
	h.notify(ctx, u, "A recovery code was used",
		i18n.Tf(langOf(ctx), "A recovery code was used to sign in to your Gatehouse account. %d codes are left.\n\nIf this was not you, change your password and contact your administrator.\n", left))
	return nil
}

// dropRecoveryCodes removes u's recovery codes when u has no factor left
// (as stored now, after the change that may have removed one): they stand
// in for a factor, and go with the last one.
func (h *Handler) dropRecoveryCodes(ctx context.Context, u *storage.User) error {
	now, err := h.Store.UserByID(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	f, err := h.enrolled(ctx, now)
	if err != nil || f.any() {
		return err
	}
	if err := h.Store.ReplaceRecoveryCodes(ctx, u.ID, nil, h.Now()); err != nil {
		return fmt.Errorf("drop recovery codes: %w", err)
	}
	return nil
}

// renderRecoveryCodes shows freshly issued codes once, with a download link and
// where to go next.
func (h *Handler) renderRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string, next string) {
	text := i18n.T(langOf(r.Context()), "Gatehouse recovery codes\n\nEach code works once, in place of a one-time password.\n\n") + strings.Join(codes, "\n") + "\n"
	h.render(w, r, http.StatusOK, "recovery.html", &page{
		Title:     "Your recovery codes",
		Codes:     codes,
		Download:  template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text)),
		CancelURL: next,
	})
}

// offerRecoveryCodes issues recovery codes after a factor was enabled if
// the user has none left (the first factor), and shows them once with a
// link to next. It reports whether it rendered the page.
func (h *Handler) offerRecoveryCodes(w http.ResponseWriter, r *http.Request, u *storage.User, next string) (bool, error) {
	codes, err := h.issueFirstRecoveryCodes(r.Context(), u)
	if err != nil || codes == nil {
		return false, err
	}
	h.renderRecoveryCodes(w, r, codes, next)
	return true, nil
}
