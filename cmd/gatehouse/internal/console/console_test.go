package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
	"github.com/gatehouse-idp/gatehouse/templates"
)

// testClock is the injected clock; the tests move it (they do not run in
// parallel).
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time          { return c.now }
func (c *testClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// harness is a console over a real SQLite store, with the login that owns
// its sessions.
type harness struct {
	t     *testing.T
	store storage.Store
	clock *testClock
	mail  *mail.Outbox
	mux   chi.Router
}

// The harness's users: an administrator with email codes, one without a
// second factor, and a plain user.
const (
	adminEmail   = "root@example.com"
	noMFAEmail   = "weak@example.com"
	plainEmail   = "carol@example.com"
	adminDetail  = "by admin " + adminEmail + " (console)"
	testClientIP = "192.0.2.7"
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newBrandedHarness(t, login.Brand{})
}

// newBrandedHarness is newHarness with the operator's brand.
func newBrandedHarness(t *testing.T, brand login.Brand) *harness {
	t.Helper()
	store := teststore.Open(t, "sqlite")
	box, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	limiter := func(scope string) *lockout.Limiter {
		l := storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour}
		return &lockout.Limiter{Store: store, Now: clock.Now, Scope: scope, IP: l, Account: l}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clientIP := func(r *http.Request) netip.Addr {
		ap, _ := netip.ParseAddrPort(r.RemoteAddr)
		return ap.Addr()
	}
	outbox := &mail.Outbox{}
	hasher := password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16})
	lh := &login.Handler{
		Store: store, Pages: templates.FS, Passwords: hasher,
		Limiter: limiter("pwd"), OTPLimiter: limiter("otp"), MailLimiter: limiter("mail"),
		RegLimiter: limiter("reg"), RecoverLimiter: limiter("rec"),
		Mailer: outbox, Seal: box, CodeKey: box.Derive("codes"), TOTPIssuer: "Gatehouse",
		EmailCodeTTL: time.Minute, ResendCooldown: 30 * time.Second, BaseURL: "http://gatehouse.test",
		Callback: func(context.Context, string) string { return "/callback" },
		Fail:     func(http.ResponseWriter, *http.Request, string, string, string) {},
		ClientIP: clientIP, CSRFKey: box.Derive("csrf"),
		SessionLifetime: 12 * time.Hour, SessionIdle: 2 * time.Hour, Now: clock.Now, Logger: logger,
		Brand: brand,
	}
	if err := lh.Init(); err != nil {
		t.Fatal(err)
	}
	ch := &Handler{Login: lh, Store: store, Passwords: hasher, Now: clock.Now, Logger: logger,
		ClientIP: clientIP, CSRFKey: box.Derive("console")}
	if err := ch.Init(); err != nil {
		t.Fatal(err)
	}
	mux := chi.NewRouter()
	same := func(h http.Handler) http.Handler { return h }
	if err := ch.Mount(mux, same); err != nil {
		t.Fatal(err)
	}
	if err := lh.Mount(mux, same); err != nil { // the re-authentication
		t.Fatal(err)
	}
	hs := &harness{t: t, store: store, clock: clock, mail: outbox, mux: mux}
	for _, u := range []storage.User{
		{ID: "u-admin", Email: adminEmail, Admin: true, EmailOTP: true},
		{ID: "u-weak", Email: noMFAEmail, Admin: true},
		{ID: "u-carol", Email: plainEmail, EmailOTP: true},
	} {
		u.PasswordHash, u.CreatedAt, u.UpdatedAt = hasher.Hash("correct horse battery"), clock.Now(), clock.Now()
		if err := store.CreateUser(t.Context(), &u); err != nil {
			t.Fatal(err)
		}
	}
	return hs
}

// browser is one browser's cookies: its session and what the console
// sets.
type browser struct {
	hs      *harness
	session string // the session cookie's value; "" for none
	cookies map[string]*http.Cookie
}

// signIn returns a browser signed in as the user userID authTime ago,
// with amr.
func (hs *harness) signIn(userID string, amr []string, ago time.Duration) *browser {
	hs.t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	value := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(value))
	now := hs.clock.Now()
	s := &storage.Session{ID: hex.EncodeToString(sum[:]), UserID: userID, AuthTime: now.Add(-ago), AMR: amr,
		IP: testClientIP, CreatedAt: now.Add(-ago), LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour), IdleUntil: now.Add(2 * time.Hour)}
	if err := hs.store.CreateSession(hs.t.Context(), s); err != nil {
		hs.t.Fatal(err)
	}
	return &browser{hs: hs, session: value, cookies: map[string]*http.Cookie{}}
}

// sessionID is the stored id of the browser's session.
func (b *browser) sessionID() string {
	sum := sha256.Sum256([]byte(b.session))
	return hex.EncodeToString(sum[:])
}

// do sends a request from the browser and keeps the cookies it sets.
func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = testClientIP + ":40000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.session != "" {
		r.AddCookie(&http.Cookie{Name: "gh_session", Value: b.session})
	}
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.hs.mux.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "gh_session" {
			// A new session id (the login rotates it when the user
			// re-authenticates) replaces the old, as in a browser.
			b.session = c.Value
			continue
		}
		b.cookies[c.Name] = c
	}
	return w
}

var (
	csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	onceRE = regexp.MustCompile(`name="once" value="([^"]+)"`)
)

// csrf returns the form token of the page at path.
func (b *browser) csrf(path string) string {
	csrf, _ := b.tokens(path)
	return csrf
}

// tokens returns the form token of the page at path and its form's
// one-time key, if it has one ("").
func (b *browser) tokens(path string) (csrf, once string) {
	b.hs.t.Helper()
	w := b.do(http.MethodGet, path, nil)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		b.hs.t.Fatalf("GET %s = %d, no CSRF token:\n%s", path, w.Code, w.Body)
	}
	if o := onceRE.FindStringSubmatch(w.Body.String()); o != nil {
		once = o[1]
	}
	return m[1], once
}

// post submits form to path with the token of the page at from, and its
// one-time key, as a browser does.
func (b *browser) post(from, path string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	csrf, once := b.tokens(from)
	form.Set("csrf", csrf)
	if once != "" {
		form.Set("once", once)
	}
	return b.do(http.MethodPost, path, form)
}

// user loads the user with email.
func (hs *harness) user(email string) *storage.User {
	hs.t.Helper()
	return must(hs.t)(hs.store.UserByEmail(hs.t.Context(), email))
}

// must returns a function that returns v, failing t on err.
func must(t *testing.T) func(*storage.User, error) *storage.User {
	return func(u *storage.User, err error) *storage.User {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

// wantEvent checks that the newest event of type typ names the
// administrator and the client's IP.
func (hs *harness) wantEvent(typ storage.EventType) {
	hs.t.Helper()
	es, err := hs.store.Events(hs.t.Context(), storage.EventFilter{Type: typ, Limit: 1})
	if err != nil {
		hs.t.Fatal(err)
	}
	if len(es) == 0 {
		hs.t.Fatalf("no %s event", typ)
	}
	if !strings.Contains(es[0].Detail, adminDetail) || es[0].IP != testClientIP {
		hs.t.Errorf("%s event: detail %q ip %q, want %q from %s", typ, es[0].Detail, es[0].IP, adminDetail, testClientIP)
	}
}

var mfa = []string{"pwd", "email", "mfa"}

// TestGuard: who may use the console, and when it asks again.
func TestGuard(t *testing.T) {
	hs := newHarness(t)
	reauth := login.ReauthURL("/admin/users")
	tests := []struct {
		name     string
		browser  func() *browser
		status   int
		location string // the redirect's, for a 303
		body     string
	}{
		{"no session", func() *browser { return &browser{hs: hs, cookies: map[string]*http.Cookie{}} }, http.StatusSeeOther, "/?next=%2Fadmin%2Fusers", ""},
		{"not an admin", func() *browser { return hs.signIn("u-carol", mfa, time.Minute) }, http.StatusForbidden, "", "Not an administrator"},
		{"admin without a second factor", func() *browser { return hs.signIn("u-weak", []string{"pwd"}, time.Minute) }, http.StatusForbidden, "", `href="/account/security"`},
		{"admin signed in with a password alone", func() *browser { return hs.signIn("u-admin", []string{"pwd"}, time.Minute) }, http.StatusSeeOther, reauth, ""},
		{"admin with a second factor", func() *browser { return hs.signIn("u-admin", mfa, time.Minute) }, http.StatusOK, "", "Email contains"},
		{"admin idle for 15 minutes", func() *browser { return hs.signIn("u-admin", mfa, 15*time.Minute) }, http.StatusSeeOther, reauth, ""},
		{"admin who re-authenticated", func() *browser {
			b := hs.signIn("u-admin", []string{"pwd"}, time.Hour)
			if err := hs.store.MarkReauthenticated(t.Context(), b.sessionID(), hs.clock.Now().Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			return b
		}, http.StatusOK, "", "Email contains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.browser().do(http.MethodGet, "/admin/users", nil)
			if w.Code != tt.status || w.Header().Get("Location") != tt.location || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("GET /admin/users = %d Location %q, want %d %q with %q:\n%s", w.Code, w.Header().Get("Location"), tt.status, tt.location, tt.body, w.Body)
			}
		})
	}

	t.Run("the login's re-authentication returns to the console", func(t *testing.T) {
		b := hs.signIn("u-admin", []string{"pwd"}, time.Minute)
		w := b.do(http.MethodGet, "/admin/users", nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != reauth {
			t.Fatalf("GET /admin/users = %d %q", w.Code, w.Header().Get("Location"))
		}
		csrf := b.csrf(reauth)
		form := url.Values{"csrf": {csrf}, "next": {"/admin/users"}}
		if w := b.do(http.MethodPost, "/account/reauth/code", form); w.Code != http.StatusOK {
			t.Fatalf("send the code = %d:\n%s", w.Code, w.Body)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		m, err := hs.mail.Wait(ctx, adminEmail, 1)
		if err != nil {
			t.Fatal(err)
		}
		code := regexp.MustCompile(`\b\d{6}\b`).FindString(m.Text)
		form.Set("password", "correct horse battery")
		form.Set("code", code)
		w = b.do(http.MethodPost, "/account/reauth", form)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users" {
			t.Fatalf("re-authenticate = %d %q:\n%s", w.Code, w.Header().Get("Location"), w.Body)
		}
		if w := b.do(http.MethodGet, "/admin/users", nil); w.Code != http.StatusOK {
			t.Errorf("GET /admin/users after the re-authentication = %d", w.Code)
		}
	})
	t.Run("idle counts from the last console request", func(t *testing.T) {
		b := hs.signIn("u-admin", mfa, 0)
		for i, step := range []struct {
			advance time.Duration
			status  int
		}{{0, http.StatusOK}, {10 * time.Minute, http.StatusOK}, {10 * time.Minute, http.StatusOK}, {15 * time.Minute, http.StatusSeeOther}} {
			hs.clock.Advance(step.advance)
			if w := b.do(http.MethodGet, "/admin", nil); w.Code != step.status {
				t.Errorf("request %d after %v: %d, want %d", i, step.advance, w.Code, step.status)
			}
		}
	})
	t.Run("another session's activity cookie does not count", func(t *testing.T) {
		a := hs.signIn("u-admin", mfa, 0)
		a.do(http.MethodGet, "/admin", nil)
		hs.clock.Advance(20 * time.Minute)
		b := hs.signIn("u-admin", mfa, 20*time.Minute)
		b.cookies = a.cookies
		if w := b.do(http.MethodGet, "/admin", nil); w.Code != http.StatusSeeOther {
			t.Errorf("GET /admin with another session's activity = %d, want 303", w.Code)
		}
	})
	t.Run("a refused POST changes nothing and returns to the page", func(t *testing.T) {
		b := hs.signIn("u-admin", []string{"pwd"}, time.Minute)
		w := b.do(http.MethodPost, "/admin/users/u-carol/disable", url.Values{"csrf": {"x"}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != login.ReauthURL("/admin/users/u-carol") {
			t.Errorf("POST disable = %d %q", w.Code, w.Header().Get("Location"))
		}
		if hs.user(plainEmail).Disabled {
			t.Error("the user was disabled")
		}
	})
}

// TestCSRF: a form without the session's token changes nothing.
func TestCSRF(t *testing.T) {
	hs := newHarness(t)
	adm := hs.signIn("u-admin", mfa, time.Minute)
	other := hs.signIn("u-admin", mfa, time.Minute) // a second browser of the same admin
	token := other.csrf("/admin/users/u-carol")
	tests := []struct {
		name    string
		browser *browser
		csrf    string
		status  int
	}{
		{"no token", adm, "", http.StatusForbidden},
		{"a wrong token", adm, "AAAA" + token[4:], http.StatusForbidden},
		{"another browser's token", adm, token, http.StatusForbidden},
		{"the token without the session", &browser{hs: hs, cookies: map[string]*http.Cookie{}}, adm.csrf("/admin/users/u-carol"), http.StatusUnauthorized},
		{"another user's browser with the admin's token", hs.signIn("u-carol", mfa, time.Minute), adm.csrf("/admin/users/u-carol"), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			if tt.csrf != "" {
				form.Set("csrf", tt.csrf)
			}
			if w := tt.browser.do(http.MethodPost, "/admin/users/u-carol/disable", form); w.Code != tt.status {
				t.Errorf("POST = %d, want %d:\n%s", w.Code, tt.status, w.Body)
			}
			if hs.user(plainEmail).Disabled {
				t.Fatal("the user was disabled")
			}
		})
	}
}

// TestActions: each action changes the store and is audited as the
// administrator.
func TestActions(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	ctx := t.Context()
	// One client to change, made through the service.
	svc := admin.NewService(hs.store, password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}), hs.clock.Now, "test")
	svc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := svc.CreateClient(ctx, admin.ClientSpec{Name: "Wiki", RedirectURIs: []string{"https://wiki.example.com/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	original, err := hs.store.ClientByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	client := func() *storage.Client {
		got, err := hs.store.ClientByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	cpath := "/admin/clients/" + c.ID
	tests := []struct {
		name   string
		from   string // the page whose form it is
		path   string
		form   url.Values
		status int
		event  storage.EventType
		check  func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{"create a client", "/admin/clients/new", "/admin/clients", url.Values{"name": {"Chat"}, "redirect_uris": {"https://chat.example.com/cb\r\n"},
			"type": {"confidential"}, "signing_algorithm": {"ES256"}, "access_token_format": {"jwt"}, "require_mfa": {"on"}}, http.StatusCreated, storage.EventClientCreated,
			func(t *testing.T, w *httptest.ResponseRecorder) {
				cs, _ := hs.store.ListClients(ctx)
				i := slices.IndexFunc(cs, func(c storage.Client) bool { return c.Name == "Chat" })
				if len(cs) != 2 || i < 0 || cs[i].SigningAlgorithm != "ES256" || cs[i].AccessTokenFormat != "jwt" || !cs[i].RequireMFA {
					t.Fatalf("clients: %+v", cs)
				}
				if !strings.Contains(w.Body.String(), `id="secret"`) || !strings.Contains(w.Body.String(), "data-copy") {
					t.Errorf("the secret is not shown:\n%s", w.Body)
				}
			}},
		{"redirect URIs", cpath, cpath + "/uris", url.Values{"redirect_uris": {"https://wiki.example.com/a\nhttps://wiki.example.com/b"},
			"post_logout_redirect_uris": {"https://wiki.example.com/bye"}}, http.StatusSeeOther, storage.EventClientUpdated,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if got := client(); len(got.RedirectURIs) != 2 || len(got.PostLogoutRedirectURIs) != 1 {
					t.Errorf("uris: %v %v", got.RedirectURIs, got.PostLogoutRedirectURIs)
				}
			}},
		{"settings", cpath, cpath + "/settings", url.Values{"require_mfa": {"on"}, "signing_algorithm": {"EdDSA"}, "access_token_format": {"jwt"}},
			http.StatusSeeOther, storage.EventClientUpdated,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if got := client(); !got.RequireMFA || got.SigningAlgorithm != "EdDSA" || got.AccessTokenFormat != "jwt" {
					t.Errorf("settings: %+v", got)
				}
			}},
		{"bad redirect URI", cpath, cpath + "/uris", url.Values{"redirect_uris": {"http://evil.example.com/"}}, http.StatusBadRequest, "", nil},
		{"rotate the secret", cpath, cpath + "/secret", nil, http.StatusOK, storage.EventClientSecretRotated,
			func(t *testing.T, w *httptest.ResponseRecorder) {
				if string(client().SecretHash) == string(original.SecretHash) || !strings.Contains(w.Body.String(), `id="secret"`) {
					t.Errorf("secret not rotated or not shown")
				}
			}},
		{"disable the client", cpath, cpath + "/disable", nil, http.StatusSeeOther, storage.EventClientDisabled,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !client().Disabled {
					t.Errorf("the client is not disabled")
				}
			}},
		{"enable the client", cpath, cpath + "/enable", nil, http.StatusSeeOther, storage.EventClientEnabled,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if client().Disabled {
					t.Errorf("the client is still disabled")
				}
			}},
		{"delete the client", cpath + "/delete", cpath + "/delete", nil, http.StatusSeeOther, storage.EventClientDeleted,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if _, err := hs.store.ClientByID(ctx, c.ID); err == nil {
					t.Error("the client is still there")
				}
			}},
		{"create a user", "/admin/users", "/admin/users", url.Values{"email": {"dave@example.com"}, "name": {"Dave"}, "password": {"a long enough passphrase"}},
			http.StatusSeeOther, storage.EventUserCreated,
			func(t *testing.T, _ *httptest.ResponseRecorder) { hs.user("dave@example.com") }},
		{"invite a user", "/admin/users", "/admin/users", url.Values{"email": {"erin@example.com"}, "name": {"Erin"}, "password": {""}},
			http.StatusSeeOther, storage.EventUserCreated,
			func(t *testing.T, w *httptest.ResponseRecorder) {
				hs.user("erin@example.com")
				if m, ok := hs.mail.Last("erin@example.com"); !ok || !strings.Contains(m.Text, "/recover/reset?token=") || !strings.Contains(w.Header().Get("Location"), "done=invited") {
					t.Errorf("invitation %v %+v, redirect %q", ok, m, w.Header().Get("Location"))
				}
			}},
		{"email a set-password link", "/admin/users/u-carol", "/admin/users/u-carol/password-link", nil, http.StatusSeeOther, storage.EventPasswordResetRequested,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if m, ok := hs.mail.Last(plainEmail); !ok || !strings.Contains(m.Text, "/recover/reset?token=") {
					t.Errorf("link %v %+v", ok, m)
				}
			}},
		{"disable a user", "/admin/users/u-carol", "/admin/users/u-carol/disable", nil, http.StatusSeeOther, storage.EventUserDisabled,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !hs.user(plainEmail).Disabled {
					t.Error("not disabled")
				}
			}},
		{"enable a user", "/admin/users/u-carol", "/admin/users/u-carol/enable", nil, http.StatusSeeOther, storage.EventUserEnabled,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if hs.user(plainEmail).Disabled {
					t.Error("still disabled")
				}
			}},
		{"reset the second factor", "/admin/users/u-carol", "/admin/users/u-carol/reset-2fa", nil, http.StatusSeeOther, storage.EventFactorReset,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if hs.user(plainEmail).EmailOTP {
					t.Error("email codes still on")
				}
			}},
		{"sign out everywhere", "/admin/users/u-carol", "/admin/users/u-carol/sign-out", nil, http.StatusSeeOther, storage.EventUserSignedOut,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if ss, _ := hs.store.UserSessions(ctx, "u-carol", hs.clock.Now()); len(ss) != 0 {
					t.Errorf("%d sessions left", len(ss))
				}
			}},
		{"clear a block", "/admin/blocks", "/admin/blocks/clear", url.Values{"subject": {"198.51.100.9"}}, http.StatusSeeOther, storage.EventBlockCleared,
			func(t *testing.T, _ *httptest.ResponseRecorder) {
				if bs, _ := hs.store.Blocks(ctx, hs.clock.Now()); len(bs) != 0 {
					t.Errorf("blocks left: %v", bs)
				}
			}},
	}
	hs.signIn("u-carol", mfa, time.Minute)
	key := lockout.IPCounter("pwd", netip.MustParseAddr("198.51.100.9")).String()
	for range 3 {
		if _, err := hs.store.RecordFailure(ctx, key, storage.Limit{Max: 1, Window: time.Hour, Block: time.Hour}, hs.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if bs, _ := hs.store.Blocks(ctx, hs.clock.Now()); len(bs) != 1 {
		t.Fatalf("set-up: %d blocks, want 1", len(bs))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := *hs
			hs.t = t
			hs.clock.Advance(time.Second) // the action's event is the newest
			w := b.post(tt.from, tt.path, tt.form)
			if w.Code != tt.status {
				t.Fatalf("POST %s = %d, want %d:\n%s", tt.path, w.Code, tt.status, w.Body)
			}
			if tt.event != "" {
				hs.wantEvent(tt.event)
			}
			if tt.check != nil {
				tt.check(t, w)
			}
		})
	}
}

// TestPages: every area renders, in English and Russian, and the audit
// log pages through its events.
func TestPages(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	for i := range 60 {
		e := &storage.Event{Time: hs.clock.Now().Add(-time.Duration(i) * time.Second), Type: storage.EventSigninFailed, UserID: "u-carol", IP: "192.0.2.99"}
		if err := hs.store.AddEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/admin", "/admin/clients", "/admin/clients/new", "/admin/users", "/admin/users?q=car", "/admin/users/u-carol", "/admin/blocks", "/admin/audit", "/admin/audit?ip=192.0.2.99&type=signin.failed&since=24h"} {
		w := b.do(http.MethodGet, path, nil)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<h1>") {
			t.Errorf("GET %s = %d:\n%s", path, w.Code, w.Body)
		}
	}
	if w := b.do(http.MethodGet, "/admin/users?q=car", nil); strings.Contains(w.Body.String(), adminEmail+"</a>") || !strings.Contains(w.Body.String(), plainEmail+"</a>") {
		t.Errorf("search for car:\n%s", w.Body)
	}
	b.cookies["gh_lang"] = &http.Cookie{Name: "gh_lang", Value: "ru"}
	if w := b.do(http.MethodGet, "/admin/users", nil); !strings.Contains(w.Body.String(), `lang="ru"`) || !strings.Contains(w.Body.String(), "Пользователи") {
		t.Errorf("the Russian page:\n%s", w.Body)
	}
	delete(b.cookies, "gh_lang")

	next := regexp.MustCompile(`href="(/admin/audit\?[^"]+)" rel="next"`)
	w := b.do(http.MethodGet, "/admin/audit?type=signin.failed", nil)
	m := next.FindStringSubmatch(w.Body.String())
	if m == nil || strings.Count(w.Body.String(), "signin.failed</code>") != auditPage {
		t.Fatalf("first page of the audit log: %d events, next %v", strings.Count(w.Body.String(), "signin.failed</code>"), m)
	}
	w = b.do(http.MethodGet, strings.ReplaceAll(m[1], "&amp;", "&"), nil)
	if got := strings.Count(w.Body.String(), "signin.failed</code>"); w.Code != http.StatusOK || got != 60-auditPage || next.MatchString(w.Body.String()) {
		t.Errorf("second page: %d, %d events, want %d and no next page", w.Code, got, 60-auditPage)
	}
}

// TestBackPage: a refused or failed form leads back to the page that
// shows it.
func TestBackPage(t *testing.T) {
	for path, want := range map[string]string{
		"/admin/clients":           "/admin/clients/new",
		"/admin/clients/c1/uris":   "/admin/clients/c1",
		"/admin/clients/c1/delete": "/admin/clients/c1",
		"/admin/users":             "/admin/users",
		"/admin/users/u1/disable":  "/admin/users/u1",
		"/admin/blocks/clear":      "/admin/blocks",
		"/admin/audit":             "/admin",
		"/admin":                   "/admin",
	} {
		if got := backPage(path); got != want {
			t.Errorf("backPage(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestBrand: the console names the operator's product, never Gatehouse.
func TestBrand(t *testing.T) {
	hs := newBrandedHarness(t, login.Brand{Name: "Axxon Datacenter"})
	w := hs.signIn("u-admin", mfa, time.Minute).do(http.MethodGet, "/admin/users", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Axxon Datacenter") || strings.Contains(w.Body.String(), "Gatehouse") {
		t.Errorf("GET /admin/users = %d, want the brand's name and no Gatehouse:\n%s", w.Code, w.Body)
	}
	plain := newHarness(t)
	if w := plain.signIn("u-admin", mfa, time.Minute).do(http.MethodGet, "/admin/users", nil); !strings.Contains(w.Body.String(), "Gatehouse admin") {
		t.Errorf("without a brand, GET /admin/users lacks Gatehouse's name:\n%s", w.Body)
	}
}

// TestActionsTellTheUser: removing a user's second factors or disabling
// them from the console emails them, as the CLI and the API do.
func TestActionsTellTheUser(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	for _, tc := range []struct{ action, want string }{
		{"reset-2fa", "An administrator removed every second factor"},
		{"disable", "An administrator disabled your Gatehouse account"},
	} {
		before := len(hs.mail.Messages())
		if w := b.post("/admin/users/u-carol", "/admin/users/u-carol/"+tc.action, nil); w.Code != http.StatusSeeOther {
			t.Fatalf("POST %s = %d:\n%s", tc.action, w.Code, w.Body)
		}
		ms := hs.mail.Messages()[before:]
		if len(ms) != 1 || ms[0].To != plainEmail || !strings.Contains(ms[0].Text, tc.want) {
			t.Errorf("%s: emails %+v, want one to %s saying %q", tc.action, ms, plainEmail, tc.want)
		}
	}
}

// TestClientGrantTypeForms: the new client form and a client's settings
// set its grant types; a form without the grant boxes keeps the defaults
// or the current grants.
func TestClientGrantTypeForms(t *testing.T) {
	hs := newHarness(t)
	b := hs.signIn("u-admin", mfa, time.Minute)
	ctx := t.Context()
	byName := func(name string) *storage.Client {
		t.Helper()
		cs, err := hs.store.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(cs, func(c storage.Client) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("no client %s in %+v", name, cs)
		}
		return &cs[i]
	}
	page := b.do(http.MethodGet, "/admin/clients/new", nil).Body.String()
	for _, box := range []string{`value="authorization_code" checked`, `value="refresh_token" checked`, `value="client_credentials">`} {
		if !strings.Contains(page, box) {
			t.Errorf("the new client form lacks %s:\n%s", box, page)
		}
	}

	w := b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Batch"}, "type": {"confidential"},
		"grant_types_shown": {"1"}, "grant_types": {"client_credentials"}})
	if w.Code != http.StatusCreated {
		t.Fatalf("create a client_credentials client = %d:\n%s", w.Code, w.Body)
	}
	batch := byName("Batch")
	if !slices.Equal(batch.GrantTypes, []string{"client_credentials"}) || len(batch.RedirectURIs) != 0 {
		t.Errorf("Batch: grant types %q, redirect URIs %q", batch.GrantTypes, batch.RedirectURIs)
	}

	w = b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Native"}, "type": {"public"}, "redirect_uris": {"com.example.app:/cb"},
		"grant_types_shown": {"1"}, "grant_types": {"authorization_code", "client_credentials"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "public client cannot use the client_credentials grant") {
		t.Errorf("create a public client_credentials client = %d:\n%s", w.Code, w.Body)
	}

	w = b.post("/admin/clients/new", "/admin/clients", url.Values{"name": {"Wiki"}, "type": {"confidential"}, "redirect_uris": {"https://wiki.example.com/cb"}})
	if w.Code != http.StatusCreated {
		t.Fatalf("create a client without grant boxes = %d:\n%s", w.Code, w.Body)
	}
	wiki := byName("Wiki")
	if !slices.Equal(wiki.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("Wiki: grant types %q, want the defaults", wiki.GrantTypes)
	}

	cpath := "/admin/clients/" + wiki.ID
	settings := url.Values{"signing_algorithm": {"RS256"}, "access_token_format": {"opaque"}}
	with := func(v url.Values, pairs ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = slices.Clone(vs)
		}
		for i := 0; i < len(pairs); i += 2 {
			out.Add(pairs[i], pairs[i+1])
		}
		return out
	}
	w = b.post(cpath, cpath+"/settings", with(settings, "grant_types_shown", "1", "grant_types", "authorization_code", "grant_types", "client_credentials"))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("settings with grant types = %d:\n%s", w.Code, w.Body)
	}
	if got := byName("Wiki").GrantTypes; !slices.Equal(got, []string{"authorization_code", "client_credentials"}) {
		t.Errorf("after the settings form: grant types %q", got)
	}
	if page := b.do(http.MethodGet, cpath, nil).Body.String(); !strings.Contains(page, `value="client_credentials" checked`) || strings.Contains(page, `value="refresh_token" checked`) {
		t.Errorf("the client page does not show its grants:\n%s", page)
	}
	w = b.post(cpath, cpath+"/settings", with(settings, "grant_types_shown", "1"))
	if w.Code != http.StatusBadRequest {
		t.Errorf("settings with no grant ticked = %d, want 400:\n%s", w.Code, w.Body)
	}
	w = b.post(cpath, cpath+"/settings", settings)
	if got := byName("Wiki").GrantTypes; w.Code != http.StatusSeeOther || !slices.Equal(got, []string{"authorization_code", "client_credentials"}) {
		t.Errorf("settings without grant boxes = %d, grant types %q; want them kept", w.Code, got)
	}
}
