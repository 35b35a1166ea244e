package login

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestRefusedKeyGivesBackItsAttempt: a key refused for what it is (its
// signature counter went backwards: a possible copy) is not counted as a
// wrong guess, and its attempt is given back rather than left pending:
// after three such refusals from one address, the account's good key still
// works from there, at the sign-in's key step and at an account change's
// key check alike. Before, each refusal left an attempt pending until the
// counters' window ended (10 minutes for the address, an hour for the
// account), and after three the address's code steps answered "busy" to
// everyone.
func TestRefusedKeyGivesBackItsAttempt(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	for _, tt := range []struct {
		name string
		ip   string
		// start returns the key check to run in b for u, whose key good
		// may sign in first.
		start    func(hs *harness, b *browser, u *storage.User, good *softKey) *keyCeremony
		finished func(reply keyReply) bool // the good key's check passed
	}{
		{"the sign-in's key step", "192.0.2.80",
			func(hs *harness, b *browser, u *storage.User, _ *softKey) *keyCeremony {
				id, page := hs.toStep(b, testClientID, u.Email, "/login/webauthn", nil)
				return &keyCeremony{t: hs.t, b: b, prefix: "/login/webauthn", csrf: keyCSRF(hs.t, page.body, ceremonySecond), id: id}
			},
			func(reply keyReply) bool { return strings.HasPrefix(reply.Redirect, callbackPath) }},
		{"new recovery codes' key check", "192.0.2.81",
			func(hs *harness, b *browser, u *storage.User, good *softKey) *keyCeremony {
				id, page := hs.toStep(b, testClientID, u.Email, "/login/webauthn", nil)
				c := &keyCeremony{t: hs.t, b: b, prefix: "/login/webauthn", csrf: keyCSRF(hs.t, page.body, ceremonySecond), id: id}
				ch := c.begin()
				if status, reply := c.finish(ch.Ceremony, good.assert(hs.t, ch.PublicKey.Challenge)); status != http.StatusOK {
					hs.t.Fatalf("sign-in with the good key = %d %+v", status, reply)
				}
				sec := b.get("/account/security")
				check := b.post("/account/security/recovery/regenerate", formOf(hs.t, sec.body, "/account/security/recovery/regenerate"))
				return &keyCeremony{t: hs.t, b: b, prefix: "/account/security/recovery/key", csrf: keyCSRF(hs.t, check.body, ceremonyCodes)}
			},
			func(reply keyReply) bool { return strings.HasPrefix(reply.Redirect, "/account/security/recovery/show") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			u := hs.user(fmt.Sprintf("refused-%s@example.com", strings.ReplaceAll(tt.name, " ", "-")), nil)
			good := hs.addKey(u)
			// Keys whose counters the server saw further on than they are.
			copied := make([]*softKey, 3)
			for i := range copied {
				copied[i] = hs.addKey(u)
				if err := hs.store.UpdateWebAuthnCredentialUse(t.Context(), copied[i].id, 100, false, false, hs.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			hs.h.OTPLimiter.BusyWait = -1 // a full limit answers at once
			c := tt.start(hs, hs.browser(tt.ip), u, good)
			for i, k := range copied {
				ch := c.begin()
				if status, reply := c.finish(ch.Ceremony, k.assert(t, ch.PublicKey.Challenge)); status != http.StatusUnauthorized || reply.Error != msgKeyRefused {
					t.Fatalf("copied key %d = %d %q, want 401 %q", i+1, status, reply.Error, msgKeyRefused)
				}
			}
			ch := c.begin()
			if status, reply := c.finish(ch.Ceremony, good.assert(t, ch.PublicKey.Challenge)); status != http.StatusOK || !tt.finished(reply) {
				t.Fatalf("the good key after the copied ones = %d %+v", status, reply)
			}
			if bs, err := hs.store.Blocks(t.Context(), hs.clock.Now()); err != nil || len(bs) != 0 {
				t.Errorf("blocks after a refused key: %v %v", bs, err)
			}
		})
	}
}
