package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Review findings of issue 15, each reproduced before its fix.

// TestKeyOnlyPasswordChange: for a user whose only second factor is a
// security key, a stale session cannot change the password with the
// password alone: the change asks for a re-authentication, which asks for
// the key (issue 15 §3).
func TestKeyOnlyPasswordChange(t *testing.T) {
	t.Parallel()
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

// TestEndSessionOldHint: an ID token of an earlier sign-in of the same user
// is no hint for the current session: end_session asks to confirm, and
// only the current sign-in's ID token signs out at once.
func TestEndSessionOldHint(t *testing.T) {
	t.Parallel()
	e := tfStart(t, databaseURL(t, "sqlite"))
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "hint@example.com")
	b := newBrowser(t).from("127.0.0.97")
	signIn := func() string {
		f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "login"))
		tok, _, _ := rp.exchange(rp.signIn(b, f, u.email, u.pass), f)
		raw, _ := tok.Extra("id_token").(string)
		return raw
	}
	endSession := func(hint string) *response {
		return b.get(e.g.base + "/end_session?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLogout}}.Encode())
	}
	old := signIn()
	e.advance(2 * time.Second)
	current := signIn() // a new session, a later auth_time
	if r := endSession(old); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `action="/end_session/confirm"`) {
		t.Fatalf("end_session with an earlier sign-in's ID token = %d (Location %q), want the confirmation page", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b.get(e.g.base + "/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("after end_session with an old hint, /account = %d: the session was ended", r.StatusCode)
	}
	if r := endSession(current); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), rpLogout) {
		t.Fatalf("end_session with the current sign-in's ID token = %d %q, want 302 to the client", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b.get(e.g.base + "/account"); r.StatusCode == http.StatusOK {
		t.Fatal("the current sign-in's hint did not end the session")
	}
}

// TestEmailChangeCap: the confirmation mails of email changes count against
// the caps of code emails (5 per account), so that an account cannot flood
// an address with them.
func TestEmailChangeCap(t *testing.T) {
	t.Parallel()
	e := tfStart(t, databaseURL(t, "sqlite"), "GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_ACCOUNT=5")
	u := e.newUser(t, "flood@example.com")
	b := e.session(t, u, "127.0.0.98")
	form := tfForm(t, b.get(e.g.base+"/account").body, "/account/email")
	form.Set("email", "victim@target.example")
	capped := 0
	for i := range 8 {
		r := b.post(e.g.base+"/account/email", form)
		switch loc := r.Header.Get("Location"); loc {
		case "/account?done=email-capped":
			capped++
		case "/account?done=email-sent":
		default:
			t.Fatalf("email change %d = %d %q", i, r.StatusCode, loc)
		}
	}
	if sent := e.mail.count("victim@target.example", "Confirm your new email address"); sent != 5 || capped != 3 {
		t.Fatalf("8 email changes to one address: %d confirmation mails, %d refused; want 5 and 3", sent, capped)
	}
}

// TestEmailChangeCapPerAddress: the confirmation mails of email changes
// also count against the new address's cap (5 an hour, with recovery
// links), so that many accounts cannot flood one address: seven accounts
// send it five.
func TestEmailChangeCapPerAddress(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			const victim = "victim@many.example"
			sent, capped := 0, 0
			for i := range 7 {
				u := e.newUser(t, fmt.Sprintf("flood-%d@example.com", i))
				b := e.session(t, u, fmt.Sprintf("127.0.35.%d", 10+i))
				form := tfForm(t, b.get(e.g.base+"/account").body, "/account/email")
				form.Set("email", victim)
				switch r := b.post(e.g.base+"/account/email", form); r.Header.Get("Location") {
				case "/account?done=email-sent":
					sent++
				case "/account?done=email-capped":
					capped++
				default:
					t.Fatalf("email change %d = %d %q", i, r.StatusCode, r.Header.Get("Location"))
				}
			}
			if got := e.mail.count(victim, "Confirm your new email address"); got != 5 || sent != 5 || capped != 2 {
				t.Fatalf("7 accounts changing their address to one: %d confirmation mails, %d sent, %d refused; want 5, 5 and 2", got, sent, capped)
			}
		})
	}
}

// TestDisableOffersEndOthers: turning a factor off offers to sign out the
// other sessions (SECURITY.md OTP-04), and the offer works.
func TestDisableOffersEndOthers(t *testing.T) {
	t.Parallel()
	e := tfStart(t, databaseURL(t, "sqlite"))
	u := e.newUser(t, "offer@example.com")
	b := e.session(t, u, "127.0.0.99")
	other := e.session(t, u, "127.0.0.100")
	e.enableTOTP(t, b, u)
	page := b.post(e.g.base+"/account/security/totp/disable", tfForm(t, e.security(t, b).body, "/account/security/totp/disable"))
	resp := tfPostCode(b, e.g.base+"/account/security/totp/disable-confirm", tfForm(t, page.body, "/account/security/totp/disable-confirm"), e.code(u))
	tfRedirect(t, resp, "/account/security?done=totp-off")
	done := b.get(redirectTarget(resp))
	offer := tfForm(t, done.body, "/account/sessions/end-others")
	if r := b.post(e.g.base+"/account/sessions/end-others", offer); r.Header.Get("Location") != "/account?done=others" {
		t.Fatalf("the offer to sign out elsewhere = %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := other.get(e.g.base + "/account"); r.StatusCode == http.StatusOK {
		t.Fatal("the other session is still signed in")
	}
}
