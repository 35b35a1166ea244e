package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestKeyOnlyPasswordChange: for a user whose only second factor is a
// security key, a stale session cannot change the password with the
// password alone: the change asks for a re-authentication, which asks for
// the key (issue 15 §3).
func TestKeyOnlyPasswordChange(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := waTFStart(t, backend)
			u := e.newUser(t, "kim@example.com")
			b := e.session(t, u, "127.0.0.95")
			key := newSoftKey(t, e.g.base)
			reg := keyButton(t, e.security(t, b).body, "register")
			_, begun := b.postJSON(e.g.base+reg["begin"], reg["csrf"], map[string]any{"name": "Kim's key"})
			status, done := b.postJSON(e.g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key.create(begun["publicKey"].(map[string]any))})
			if status != http.StatusOK {
				t.Fatalf("register/finish = %d %v", status, done)
			}
			e.advance(6 * time.Minute) // past session.reauth_window

			page := b.get(e.g.base + "/account/password")
			form := tfForm(t, page.body, "/account/password")
			form.Set("current", u.pass)
			form.Set("password", "a brand new long password")
			form.Set("password2", "a brand new long password")
			resp := b.post(e.g.base+"/account/password", form)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(redirectTarget(resp), e.g.base+"/account/reauth?next="+url.QueryEscape("/account/password")) {
				t.Fatalf("password change of a key-only user from a stale session = %d %q, want 303 to the re-authentication", resp.StatusCode, resp.Header.Get("Location"))
			}
			if r := tryPassword(t, tfRP(t, e.rp), newBrowser(t).from("127.0.0.96"), u.email, u.pass); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("the old password no longer signs in (%d): it was changed without the key", r.StatusCode)
			}
		})
	}
}
