package login

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// accountFormPages are the account pages whose forms change the account.
var accountFormPages = []string{"/account", "/account/security", "/account/password"}

// TestEveryAccountFormNeedsItsBrowser posts every form of the account
// area, as browser A loaded it, from a browser without cookies and from
// another browser signed in to the same account (its own session), and
// from A without the token: each is refused and nothing changes. The
// security key endpoints (JSON) too, with A's token in the header.
func TestEveryAccountFormNeedsItsBrowser(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	u, secret := hs.appUser("every-form@example.com")
	hs.addKey(u)
	a, b, none := hs.browser("192.0.2.170"), hs.browser("192.0.2.171"), hs.browser("192.0.2.172")
	hs.signInWithApp(a, u.Email, secret)
	hs.clock.Advance(30 * time.Second)
	hs.signInWithApp(b, u.Email, secret)

	type form struct {
		page, action string
		fields       url.Values
	}
	var forms []form
	var token string
	// collect adds the forms of body, the page from, filled in.
	collect := func(from, body string) []form {
		var found []form
		for _, m := range formRE.FindAllStringSubmatch(body, -1) {
			action := html.UnescapeString(m[1])
			if action == "/logout" || action == "/lang" {
				continue // signs out, or sets a language: no account change
			}
			f := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
				f.Set(h[1], html.UnescapeString(h[2]))
			}
			// What a filled-in form would carry.
			for k, v := range map[string]string{"name": "Mallory", "email": "mallory@example.net", "password": "a brand new password",
				"current": testPassword, "password2": "a brand new password", "code": hs.totpCode(secret)} {
				if f.Get(k) == "" {
					f.Set(k, v)
				}
			}
			if action == "/account/security/email/enable-confirm" {
				code, _ := hs.mailCode(u.Email) // the code A was sent
				f.Set("code", code)
			}
			token = f.Get("csrf")
			found = append(found, form{from, action, f})
		}
		return found
	}
	for _, page := range accountFormPages {
		resp := a.get(page)
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s = %d", page, resp.status)
		}
		forms = append(forms, collect(page, resp.body)...)
	}
	// The second steps: the pages the security forms lead A to (a code to
	// enter, a key to check), whose forms A has not posted.
	for _, f := range slices.Clone(forms) {
		if f.page != "/account/security" {
			continue
		}
		v := with(f.fields, "code", "")
		v.Del("code")
		if resp := a.post(f.action, v); resp.status == http.StatusOK {
			forms = append(forms, collect(f.action, resp.body)...)
		}
	}
	if len(forms) < 6 || token == "" {
		t.Fatalf("found %d account forms (token %q): the pages changed?", len(forms), token)
	}
	for _, f := range forms {
		t.Logf("form of %s posting to %s", f.page, f.action)
	}
	sessionsBefore, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		from *browser
		drop bool // post without the token
	}{
		{"no cookies, A's token", none, false},
		{"another session of the user, A's token", b, false},
		{"A without its token", a, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range forms {
				v := with(f.fields, "csrf", f.fields.Get("csrf"))
				if tt.drop {
					v.Del("csrf")
				}
				resp := tt.from.post(f.action, v)
				if resp.status != http.StatusForbidden && resp.status != http.StatusUnauthorized {
					t.Errorf("POST %s (form of %s) = %d %q (Location %q), want 401 or 403", f.action, f.page, resp.status, alert(resp.body), resp.loc)
				}
			}
			for _, path := range []string{"/account/security/webauthn/register/begin", "/account/security/webauthn/remove/begin",
				"/account/security/recovery/key/begin"} {
				csrf := token
				if tt.drop {
					csrf = ""
				}
				resp := tt.from.postJSON(path, csrf, `{"name":"Mallory's key"}`)
				if resp.status != http.StatusForbidden && resp.status != http.StatusUnauthorized {
					t.Errorf("POST %s = %d %s, want 401 or 403", path, resp.status, resp.body)
				}
			}
		})
	}

	after, err := hs.store.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Email != u.Email || after.Name != u.Name || after.PasswordHash != u.PasswordHash || after.EmailOTP != u.EmailOTP {
		t.Errorf("the account changed: %+v", after)
	}

	// The forms were good ones: A's own confirmation of email codes, with
	// the code it was sent, turns them on, once; the same form posted again
	// does nothing more.
	var confirm *form
	for i := range forms {
		if forms[i].action == "/account/security/email/enable-confirm" {
			confirm = &forms[i]
		}
	}
	if confirm == nil {
		t.Fatal("no email codes confirmation form")
	}
	for i := range 2 {
		if resp := a.post(confirm.action, confirm.fields); resp.status >= 400 {
			t.Errorf("A's confirmation %d = %d %q", i, resp.status, alert(resp.body))
		}
	}
	enabled, err := hs.store.Events(t.Context(), storage.EventFilter{UserID: u.ID, Type: storage.EventFactorEnabled})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range enabled {
		if strings.HasPrefix(e.Detail, factorEmail) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("A's confirmation posted twice: %d factor.enabled events, want 1", n)
	}
	after, err = hs.store.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !after.EmailOTP {
		t.Error("A's confirmation did not turn email codes on")
	}
	if tt, err := hs.store.TOTPByUser(t.Context(), u.ID); err != nil || !tt.Confirmed {
		t.Errorf("the authenticator app is off: %v", err)
	}
	if keys, err := hs.store.WebAuthnCredentials(t.Context(), u.ID); err != nil || len(keys) != 1 {
		t.Errorf("%d keys (%v), want 1", len(keys), err)
	}
	sessionsAfter, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessionsAfter) != len(sessionsBefore) {
		t.Errorf("%d sessions after, %d before", len(sessionsAfter), len(sessionsBefore))
	}
	for _, m := range hs.mail.Messages() {
		if m.To == "mallory@example.net" {
			t.Errorf("a refused email change mailed %q to the new address", m.Subject)
		}
	}
}

// TestAccountFormsReplayed posts the one-time forms of the account area
// twice from the browser that loaded them: the recovery codes' renewal
// confirmed with an app code, and the password change. The second post
// does nothing.
func TestAccountFormsReplayed(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("replayed-forms@example.com")
	a := hs.browser("192.0.2.175")
	hs.signInWithApp(a, u.Email, secret)
	hs.clock.Advance(30 * time.Second)

	page := a.post("/account/security/recovery/regenerate", formOf(t, a.get("/account/security").body, "/account/security/recovery/regenerate"))
	confirm := with(formOf(t, page.body, "/account/security/recovery/regenerate-confirm"), "code", hs.totpCode(secret))
	first := a.post("/account/security/recovery/regenerate-confirm", confirm)
	codes := codesRE.FindAllStringSubmatch(first.body, -1)
	if first.status != http.StatusOK || len(codes) == 0 {
		t.Fatalf("renewal = %d %q, %d codes", first.status, alert(first.body), len(codes))
	}
	if again := a.post("/account/security/recovery/regenerate-confirm", confirm); len(codesRE.FindAllStringSubmatch(again.body, -1)) != 0 {
		t.Errorf("the renewal form posted again showed new codes (%d)", again.status)
	}
	if n, err := hs.store.RecoveryCodesLeft(t.Context(), u.ID); err != nil || n != len(codes) {
		t.Errorf("%d codes left (%v), want the %d shown", n, err, len(codes))
	}

	hs.clock.Advance(30 * time.Second)
	form := formOf(t, a.get("/account/password").body, "/account/password")
	form = with(with(with(with(form, "current", testPassword), "password", "a brand new password"), "password2", "a brand new password"),
		"code", hs.totpCode(secret))
	if resp := a.post("/account/password", form); resp.status >= 400 {
		t.Fatalf("password change = %d %q", resp.status, alert(resp.body))
	}
	changed, err := hs.store.UserByID(t.Context(), u.ID)
	if err != nil || changed.PasswordHash == u.PasswordHash {
		t.Fatalf("the password did not change (%v)", err)
	}
	hs.clock.Advance(30 * time.Second)
	if resp := a.post("/account/password", with(form, "code", hs.totpCode(secret))); resp.status != http.StatusForbidden {
		t.Errorf("the password change posted again = %d %q, want 403 (the session has a new id, the form's token is void)", resp.status, alert(resp.body))
	}
	if after, err := hs.store.UserByID(t.Context(), u.ID); err != nil || after.PasswordHash != changed.PasswordHash {
		t.Errorf("the password changed again (%v)", err)
	}
}
