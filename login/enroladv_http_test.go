package login

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// totpReadHook is the Store of a Handler that, once armed with n, runs
// hook right after the nth TOTPByUser that follows: the moment a check
// has read the secret and not yet used its step.
type totpReadHook struct {
	storage.Store
	left atomic.Int32
	hook func()
}

func (s *totpReadHook) TOTPByUser(ctx context.Context, userID string) (*storage.TOTP, error) {
	t, err := s.Store.TOTPByUser(ctx, userID)
	if s.left.Add(-1) == 0 {
		s.hook()
	}
	return t, err
}

// TestTOTPEnrolmentReplacedWhileChecked covers two browsers of one account
// turning the authenticator app on at once: browser A confirms with the
// code of the key it was shown while browser B's setup replaces that key
// between the check of A's code and its confirmation. A's code must not
// turn on B's key, which A's app does not hold: either A is refused, or
// the key turned on is the one A's code came from.
func TestTOTPEnrolmentReplacedWhileChecked(t *testing.T) {
	t.Parallel()
	hook := &totpReadHook{}
	hs := newHarness(t, func(h *Handler) { hook.Store = h.Store.(storage.Store); h.Store = hook })
	u := hs.user("race-enrol@example.com", nil)
	a, b := hs.browser("192.0.2.150"), hs.browser("192.0.2.151")
	for _, br := range []*browser{a, b} {
		id, resp := hs.submitPassword(br, testClientID, u.Email, testPassword, nil)
		hs.expectDone(br, id, resp, amrPassword, ACRPassword)
	}
	enable := func(br *browser) *response {
		t.Helper()
		page := br.post("/account/security/totp/enable", formOf(t, br.get("/account/security").body, "/account/security/totp/enable"))
		if page.status != http.StatusOK || firstMatch(secretRE, page.body) == "" {
			t.Fatalf("totp/enable = %d %q", page.status, alert(page.body))
		}
		return page
	}
	pageA := enable(a)
	secretA := firstMatch(secretRE, pageA.body)
	var secretB string
	hook.hook = func() { secretB = firstMatch(secretRE, enable(b).body) }
	hook.left.Store(2) // securityAction's factors, then verify's read
	resp := a.post("/account/security/totp/enable-confirm",
		with(formOf(t, pageA.body, "/account/security/totp/enable-confirm"), "code", hs.totpCode(secretA)))
	if secretB == "" {
		t.Fatal("browser B's setup did not run during A's check: the test does not test the race")
	}

	stored, err := hook.Store.TOTPByUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := hs.h.Seal.Open(stored.Secret, totpAAD(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	if stored.Confirmed && string(plain) != strings.ReplaceAll(secretA, " ", "") {
		t.Errorf("A's confirmation (%d) turned on the key shown to B (A's is %v)", resp.status,
			string(plain) == strings.ReplaceAll(secretA, " ", ""))
	}
}

// TestTOTPSetupNotShownToAnotherBrowser covers someone who knows only the
// password and waits at the enrolment step of a sign-in (the account has
// no second factor; the client requires one) while the owner sets up the
// authenticator app on the account page: a wrong code must not show them
// the owner's key, which would then be the account's second factor.
func TestTOTPSetupNotShownToAnotherBrowser(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("mfa", func(c *storage.Client) { c.RequireMFA = true })
	u := hs.user("setup-shown@example.com", nil)
	intruder := hs.browser("203.0.113.170")
	_, enrol := hs.toStep(intruder, "mfa", u.Email, "/login/enroll", nil)

	owner := hs.browser("192.0.2.170")
	id, resp := hs.submitPassword(owner, testClientID, u.Email, testPassword, nil)
	hs.expectDone(owner, id, resp, amrPassword, ACRPassword)
	page := owner.post("/account/security/totp/enable", formOf(t, owner.get("/account/security").body, "/account/security/totp/enable"))
	ownerKey := firstMatch(secretRE, page.body)
	if ownerKey == "" {
		t.Fatalf("totp/enable = %d %q", page.status, alert(page.body))
	}

	form := formOf(t, enrol.body, "/login/enroll")
	resp = intruder.post("/login/enroll", with(form, "code", otherCode(hs.totpCode(ownerKey))))
	if shown := firstMatch(secretRE, resp.body); shown == ownerKey {
		t.Errorf("a wrong code at another browser's enrolment step (%d) showed the owner's key", resp.status)
	}
	// The owner's setup goes on.
	confirm := formOf(t, page.body, "/account/security/totp/enable-confirm")
	if resp := owner.post("/account/security/totp/enable-confirm", with(confirm, "code", hs.totpCode(ownerKey))); resp.status != http.StatusOK {
		t.Errorf("the owner's confirmation = %d %q", resp.status, alert(resp.body))
	}
}
