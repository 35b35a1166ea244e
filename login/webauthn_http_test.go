package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestSecurityKeySignIn covers the key ceremonies with a software
// authenticator: the key step after the password of a user whose only
// factor is a key, and the passwordless passkey from the sign-in page. A
// bad signature counts as a wrong code, a challenge works once, and a good
// assertion completes the request with acr loa:3.
func TestSecurityKeySignIn(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	for _, tt := range []struct {
		name   string
		prefix string // the ceremony's endpoints
		mode   string // the page's key button
		amr    []string
		start  func(hs *harness, b *browser, u *storage.User) (id, page string)
	}{
		{"key step after the password", "/login/webauthn", "second", []string{"pwd", "hwk", "mfa"},
			func(hs *harness, b *browser, u *storage.User) (string, string) {
				id, page := hs.toStep(b, testClientID, u.Email, "/login/webauthn", nil)
				if !strings.Contains(page.body, `href="/login/otp?method=recovery&amp;authRequestID=`) {
					hs.t.Error("key step without a recovery code link")
				}
				return id, page.body
			}},
		{"passkey without a password", "/login/passkey", "passkey", []string{"hwk", "mfa"},
			func(hs *harness, b *browser, _ *storage.User) (string, string) {
				id := hs.authorize(b, testClientID, nil)
				return id, b.get("/login?authRequestID=" + url.QueryEscape(id)).body
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			u := hs.user("key-"+tt.mode+"@example.com", nil)
			key := hs.addKey(u)
			b := hs.browser("192.0.2.60")
			id, page := tt.start(hs, b, u)
			c := &keyCeremony{t: t, b: b, prefix: tt.prefix, csrf: keyCSRF(t, page, tt.mode), id: id}
			refused := func(what string, status int, reply keyReply, left int) {
				t.Helper()
				if status != http.StatusUnauthorized || reply.Error != keyFailedMsg(left) {
					t.Errorf("%s = %d %q, want 401 %q", what, status, reply.Error, keyFailedMsg(left))
				}
			}

			c1 := c.begin()
			status, reply := c.finish(c1.Ceremony, key.assert(t, "c29tZXRoaW5nIGVsc2U"))
			refused("assertion of another challenge", status, reply, 2)
			status, reply = c.finish(c1.Ceremony, key.assert(t, c1.PublicKey.Challenge))
			refused("assertion of a used challenge", status, reply, 1)
			if b.cookie(sessionCookie) != "" || hs.authRequest(id).Done {
				t.Fatal("a failed key check finished the sign-in")
			}
			c2 := c.begin()
			status, reply = c.finish(c2.Ceremony, key.assert(t, c2.PublicKey.Challenge))
			if status != http.StatusOK || reply.Redirect != callbackURL(id) {
				t.Fatalf("good assertion = %d %+v", status, reply)
			}
			ar := hs.authRequest(id)
			if !ar.Done || ar.UserID != u.ID || !slices.Equal(ar.AMR, tt.amr) || ar.ACR != ACRPhishingResistant {
				t.Errorf("auth request done %v user %q amr %v acr %q", ar.Done, ar.UserID, ar.AMR, ar.ACR)
			}
			hs.expectIssued(b, id)
			if keys, err := hs.store.WebAuthnCredentials(t.Context(), u.ID); err != nil || keys[0].SignCount != key.count || keys[0].LastUsedAt.IsZero() {
				t.Errorf("stored key after use: %+v, %v", keys, err)
			}
		})
	}
}

// TestUnknownPasskeyRefused covers a passkey no account registered: it
// signs nobody in and counts as a failure of the IP.
func TestUnknownPasskeyRefused(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	owner := hs.user("gone@example.com", nil)
	stray := hs.addKey(owner)
	if err := hs.store.DeleteWebAuthnCredential(t.Context(), owner.ID, stray.id); err != nil {
		t.Fatal(err)
	}
	b := hs.browser("192.0.2.61")
	id := hs.authorize(b, testClientID, nil)
	c := &keyCeremony{t: t, b: b, prefix: "/login/passkey", id: id,
		csrf: keyCSRF(t, b.get("/login?authRequestID="+url.QueryEscape(id)).body, "passkey")}
	for left := 2; left >= 0; left-- {
		ch := c.begin()
		status, reply := c.finish(ch.Ceremony, stray.assert(t, ch.PublicKey.Challenge))
		want, wantStatus := keyFailedMsg(left), http.StatusUnauthorized
		if left == 0 {
			want, wantStatus = blocked10, http.StatusTooManyRequests
		}
		if status != wantStatus || reply.Error != want {
			t.Errorf("unknown passkey = %d %q, want %d %q", status, reply.Error, wantStatus, want)
		}
	}
	if hs.authRequest(id).Done || b.cookie(sessionCookie) != "" {
		t.Error("an unknown passkey signed in")
	}
}
