package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// consentWriteHook is the Store of a Handler that runs hook once, just
// before the first write of an Allow that stores a grant (GrantConsent or
// ConsentAuthRequest): the moment a Deny of the same form may land.
type consentWriteHook struct {
	storage.Store
	fired atomic.Bool
	hook  func()
}

func (s *consentWriteHook) before() {
	if s.hook != nil && s.fired.CompareAndSwap(false, true) {
		s.hook()
	}
}

func (s *consentWriteHook) GrantConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	s.before()
	return s.Store.GrantConsent(ctx, userID, clientID, scopes, now)
}

func (s *consentWriteHook) ConsentAuthRequest(ctx context.Context, id, userID, clientID string, scopes []string, now time.Time) error {
	s.before()
	return s.Store.ConsentAuthRequest(ctx, id, userID, clientID, scopes, now)
}

// TestConsentAllowRacesDeny posts Deny while an Allow of the same consent
// page is under way, just before the Allow stores the grant: the client
// is told access_denied, so no grant may be stored and the Allow goes
// nowhere.
func TestConsentAllowRacesDeny(t *testing.T) {
	t.Parallel()
	hook := &consentWriteHook{}
	hs := newHarness(t, func(h *Handler) { hook.Store = h.Store.(storage.Store); h.Store = hook })
	hs.client("third", func(c *storage.Client) { c.Consent = true })
	u := hs.user("racy-connie@example.com", nil)
	b := hs.browser("192.0.2.81")
	id, resp := hs.submitPassword(b, "third", u.Email, testPassword, nil)
	expectRedirect(t, resp, callbackURL(id))
	consentPage := ConsentPath + "?authRequestID=" + url.QueryEscape(id)
	expectRedirect(t, b.get(callbackURL(id)), consentPage)
	form := formOf(t, b.get(consentPage).body, ConsentPath)

	var deny *response
	hook.hook = func() { deny = b.post(ConsentPath, with(form, "decision", "deny")) }
	allow := b.post(ConsentPath, with(form, "decision", "allow"))
	if deny == nil {
		t.Fatal("the Deny did not run during the Allow: the test does not test the race")
	}
	if deny.status != http.StatusFound || deny.loc != testRedirect+"?error=access_denied" {
		t.Fatalf("deny = %d %q, want access_denied", deny.status, deny.loc)
	}
	if g, err := hs.store.ConsentGrant(t.Context(), u.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the client was told access_denied, and the Allow racing the Deny stored the grant %+v (%v); Allow answered %d %q",
			g, err, allow.status, allow.loc)
	}
	if allow.loc != "" {
		t.Errorf("the Allow after the Deny sent the browser to %q", allow.loc)
	}
	if n := len(hs.issued()); n != 0 {
		t.Errorf("%d codes issued for a denied request", n)
	}
}
