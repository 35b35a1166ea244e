package console

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// consoleForms are the console's forms: the route each posts to, with
// fields that would change something if the form were accepted.
func consoleForms(clientID string) []struct {
	path string
	form url.Values
} {
	c := "/admin/clients/" + clientID
	return []struct {
		path string
		form url.Values
	}{
		{"/admin/clients", url.Values{"name": {"Evil"}, "redirect_uris": {"https://evil.example/cb"}}},
		{c + "/uris", url.Values{"redirect_uris": {"https://evil.example/cb"}}},
		{c + "/settings", url.Values{"signing_algorithm": {"ES256"}, "access_token_format": {"jwt"}}},
		{c + "/secret", url.Values{}},
		{c + "/disable", url.Values{}},
		{c + "/enable", url.Values{}},
		{c + "/delete", url.Values{}},
		{"/admin/users", url.Values{"email": {"mallory@example.com"}, "password": {"a long enough password"}}},
		{"/admin/users/u-carol/disable", url.Values{}},
		{"/admin/users/u-carol/enable", url.Values{}},
		{"/admin/users/u-carol/reset-2fa", url.Values{}},
		{"/admin/users/u-carol/sign-out", url.Values{}},
		{"/admin/users/u-carol/password-link", url.Values{}},
		{"/admin/blocks/clear", url.Values{"subject": {"192.0.2.1"}}},
	}
}

// TestEveryFormNeedsItsToken: no console form is accepted without the
// session's CSRF token, with another session's, or from a signed-in user
// who is not (or no longer) an administrator; nothing changes.
func TestEveryFormNeedsItsToken(t *testing.T) {
	hs := newHarness(t)
	svc := admin.NewService(hs.store, password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}), hs.clock.Now, "test")
	svc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := svc.CreateClient(t.Context(), admin.ClientSpec{Name: "Wiki", RedirectURIs: []string{"https://wiki.example.com/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	adm := hs.signIn("u-admin", mfa, time.Minute)
	other := hs.signIn("u-admin", mfa, time.Minute)
	otherToken := other.csrf("/admin/users/u-carol")
	carol := hs.signIn("u-carol", mfa, time.Minute)
	second := storage.User{ID: "u-admin2", Email: "second@example.com", Admin: true, EmailOTP: true, CreatedAt: hs.clock.Now(), UpdatedAt: hs.clock.Now()}
	if err := hs.store.CreateUser(t.Context(), &second); err != nil {
		t.Fatal(err)
	}
	demoted := hs.signIn("u-admin2", mfa, time.Minute)
	demotedToken := demoted.csrf("/admin/users/u-carol")
	if err := hs.store.SetUserAdmin(t.Context(), "u-admin2", false, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		browser *browser
		csrf    string
		status  int
	}{
		{"no token", adm, "", http.StatusForbidden},
		{"another session's token", adm, otherToken, http.StatusForbidden},
		{"a plain user with an admin's token", carol, otherToken, http.StatusForbidden},
		{"an admin demoted mid-session, with their token", demoted, demotedToken, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range consoleForms(c.ID) {
				form := url.Values{}
				for k, v := range f.form {
					form[k] = v
				}
				if tt.csrf != "" {
					form.Set("csrf", tt.csrf)
				}
				if w := tt.browser.do(http.MethodPost, f.path, form); w.Code != tt.status {
					t.Errorf("POST %s = %d, want %d", f.path, w.Code, tt.status)
				}
			}
			after, err := hs.store.ClientByID(t.Context(), c.ID)
			if err != nil || after.Disabled || after.RedirectURIs[0] != "https://wiki.example.com/cb" || after.SigningAlgorithm != "RS256" {
				t.Fatalf("the client changed: %+v %v", after, err)
			}
			if u := hs.user(plainEmail); u.Disabled {
				t.Fatal("carol was disabled")
			}
			if _, err := hs.store.UserByEmail(t.Context(), "mallory@example.com"); err == nil {
				t.Fatal("a user was created")
			}
		})
	}
}

var secretRE = regexp.MustCompile(`id="secret" class="mono" value="([^"]+)"`)

// TestAdminDemotedMidSession: the console refuses an administrator at
// once when the role is revoked, and a disabled one.
func TestAdminDemotedMidSession(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	token := b.csrf("/admin/users/u-carol")
	if err := hs.store.SetUserAdmin(t.Context(), "u-admin", false, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if w := b.do(http.MethodGet, "/admin/users", nil); w.Code != http.StatusForbidden {
		t.Errorf("GET after the role was revoked = %d, want 403", w.Code)
	}
	if w := b.do(http.MethodPost, "/admin/users/u-carol/disable", url.Values{"csrf": {token}}); w.Code != http.StatusForbidden {
		t.Errorf("POST after the role was revoked = %d, want 403", w.Code)
	}
	if err := hs.store.SetUserAdmin(t.Context(), "u-admin", true, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.store.SetUserDisabled(t.Context(), "u-admin", true, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if w := b.do(http.MethodPost, "/admin/users/u-carol/disable", url.Values{"csrf": {token}}); w.Code == http.StatusSeeOther || w.Code == http.StatusOK {
		t.Errorf("POST of a disabled administrator = %d", w.Code)
	}
	if hs.user(plainEmail).Disabled {
		t.Error("carol was disabled")
	}
}

// TestConsoleSecretsShownOnce: the client's secret is on the page that
// created it, and on no other page or audit event.
func TestConsoleSecretsShownOnce(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	w := b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Wiki"}, "redirect_uris": {"https://wiki.example.com/cb"}})
	m := secretRE.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusCreated || m == nil {
		t.Fatalf("create = %d:\n%s", w.Code, w.Body)
	}
	secret := m[1]
	cs, err := hs.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range cs {
		if c.Name == "Wiki" {
			id = c.ID
		}
	}
	for _, p := range []string{"/admin/clients", "/admin/clients/" + id, "/admin/clients/" + id + "/delete", "/admin/audit", "/admin"} {
		if w := b.do(http.MethodGet, p, nil); w.Code != http.StatusOK || strings.Contains(w.Body.String(), secret) {
			t.Errorf("GET %s = %d, shows the secret: %v", p, w.Code, strings.Contains(w.Body.String(), secret))
		}
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "https://x.example/cb#f", "http://evil.example/cb"} {
		w := b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Bad"}, "redirect_uris": {bad}})
		if w.Code != http.StatusBadRequest {
			t.Errorf("create with %s = %d, want 400", bad, w.Code)
		}
		w = b.post("/admin/clients/"+id, "/admin/clients/"+id+"/uris", url.Values{"redirect_uris": {bad}})
		if w.Code != http.StatusBadRequest {
			t.Errorf("set URIs to %s = %d, want 400", bad, w.Code)
		}
	}
}

// TestCreateClientFormOnce: the new client form sent twice (a double
// click, a reload, a replay) creates one client, as does a form whose
// one-time key is missing, forged or another session's.
func TestCreateClientFormOnce(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	other := hs.signIn("u-admin", mfa, time.Minute)
	count := func() int {
		t.Helper()
		cs, err := hs.store.ListClients(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if c.Name == "Twice" {
				n++
			}
		}
		return n
	}
	csrf, once := b.tokens("/admin/clients/new")
	if once == "" {
		t.Fatal("the new client form has no one-time key")
	}
	form := url.Values{"name": {"Twice"}, "redirect_uris": {"https://twice.example.com/cb"}, "csrf": {csrf}, "once": {once}}
	if w := b.do(http.MethodPost, "/admin/clients", form); w.Code != http.StatusCreated {
		t.Fatalf("create = %d:\n%s", w.Code, w.Body)
	}
	if w := b.do(http.MethodPost, "/admin/clients", form); w.Code != http.StatusConflict {
		t.Errorf("the same form again = %d, want 409", w.Code)
	}
	_, otherOnce := other.tokens("/admin/clients/new")
	for name, v := range map[string]string{"no key": "", "a forged key": strings.Repeat("A", 43), "another session's key": otherOnce} {
		f := with(form, "once", v)
		if w := b.do(http.MethodPost, "/admin/clients", f); w.Code != http.StatusConflict {
			t.Errorf("create with %s = %d, want 409", name, w.Code)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("%d clients created by one form, want 1", n)
	}
}

// with returns a copy of form with key set to value.
func with(form url.Values, key, value string) url.Values {
	v := url.Values{}
	for k, vs := range form {
		v[k] = vs
	}
	v.Set(key, value)
	return v
}

// TestRotateSecretFormOnce: the rotation form of a client's page sent
// twice rotates once, so the secret the first answer showed keeps
// working; the page opened again rotates again.
func TestRotateSecretFormOnce(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	w := b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Rotated"}, "redirect_uris": {"https://rotated.example.com/cb"}})
	if w.Code != http.StatusCreated {
		t.Fatalf("create = %d:\n%s", w.Code, w.Body)
	}
	cs, err := hs.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range cs {
		if c.Name == "Rotated" {
			id = c.ID
		}
	}
	path := "/admin/clients/" + id
	csrf, once := b.tokens(path)
	if once == "" {
		t.Fatal("the client page's rotation form has no one-time key")
	}
	form := url.Values{"csrf": {csrf}, "once": {once}}
	first := b.do(http.MethodPost, path+"/secret", form)
	m := secretRE.FindStringSubmatch(first.Body.String())
	if first.Code != http.StatusOK || m == nil {
		t.Fatalf("rotate = %d:\n%s", first.Code, first.Body)
	}
	rotated, err := hs.store.ClientByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if w := b.do(http.MethodPost, path+"/secret", form); w.Code != http.StatusConflict || secretRE.MatchString(w.Body.String()) {
		t.Errorf("the same rotation form again = %d, want 409 and no secret", w.Code)
	}
	if after, err := hs.store.ClientByID(t.Context(), id); err != nil || !slices.Equal(after.SecretHash, rotated.SecretHash) {
		t.Errorf("the secret the first rotation showed was replaced (%v)", err)
	}
	if w := b.post(path, path+"/secret", nil); w.Code != http.StatusOK {
		t.Errorf("rotate from the page opened again = %d", w.Code)
	}
}

// TestUserActionFormsOnce: the actions of a user's page that email the
// user (disable, reset-2fa, password-link) are done once by a form sent
// twice, or by one whose one-time key is missing, forged or another
// session's: one email (a second set-password link would void the
// first). Signing out and enabling may be sent again.
func TestUserActionFormsOnce(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	other := hs.signIn("u-admin", mfa, time.Minute)
	const page = "/admin/users/u-carol"
	for _, action := range []string{"password-link", "reset-2fa", "disable"} {
		t.Run(action, func(t *testing.T) {
			csrf, once := b.tokens(page)
			if once == "" {
				t.Fatalf("the %s form has no one-time key", action)
			}
			form := url.Values{"csrf": {csrf}, "once": {once}}
			before := len(hs.mail.Messages())
			if w := b.do(http.MethodPost, page+"/"+action, form); w.Code != http.StatusSeeOther {
				t.Fatalf("%s = %d:\n%s", action, w.Code, w.Body)
			}
			if w := b.do(http.MethodPost, page+"/"+action, form); w.Code != http.StatusConflict {
				t.Errorf("the same %s form again = %d, want 409", action, w.Code)
			}
			_, otherOnce := other.tokens(page)
			for name, v := range map[string]string{"no key": "", "a forged key": strings.Repeat("A", 43), "another session's key": otherOnce} {
				if w := b.do(http.MethodPost, page+"/"+action, with(form, "once", v)); w.Code != http.StatusConflict {
					t.Errorf("%s with %s = %d, want 409", action, name, w.Code)
				}
			}
			if n := len(hs.mail.Messages()) - before; n != 1 {
				t.Errorf("%s sent %d emails, want 1", action, n)
			}
		})
	}
	for _, action := range []string{"enable", "sign-out"} {
		csrf, once := b.tokens(page)
		form := url.Values{"csrf": {csrf}, "once": {once}}
		for range 2 {
			if w := b.do(http.MethodPost, page+"/"+action, form); w.Code != http.StatusSeeOther {
				t.Errorf("%s = %d, want 303", action, w.Code)
			}
		}
	}
}
