package login

// The harness of the in-package HTTP tests: a Handler wired as
// cmd/gatehouse's serve wires it (limits, lifetimes, the pages), on a real
// migrated SQLite store, with an injected clock, a capturing mail sender
// and a stand-in for the provider's callback behind CallbackGuard. The
// tests drive it as browsers do, through its routes only.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/login/totp"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
	"github.com/gatehouse-idp/gatehouse/templates"
)

const (
	testIssuer   = "http://id.example"
	testPassword = "a long test password"
	testClientID = "app"
	testRedirect = "https://rp.example/cb"
	callbackPath = "/authorize/callback"
)

// cheapHashing are the cheapest argon2id parameters package password
// reads back (decode refuses less memory, salt or key).
var cheapHashing = password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}

// patientHasher hashes with cheapHashing under a gate that waits up to
// 10 s for a slot, not the default 250 ms: 20 requests at once on a
// machine a whole test suite keeps busy would otherwise be shed as busy
// (429), which tests of other limits do not expect. Tests of the gate set
// their own.
func patientHasher() *password.Hasher {
	h := password.NewHasher(cheapHashing)
	h.Gate = password.NewGate(password.DefaultSlots(cheapHashing), 10*time.Second)
	return h
}

// testClock is the injected clock: it moves only when a test says so.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// failure is an OAuth error the login sent to a client through Fail.
type failure struct{ id, code string }

// harness is one Gatehouse login on its own database.
type harness struct {
	t     *testing.T
	h     *Handler
	store storage.Store
	clock *testClock
	mail  *mail.Outbox
	mux   *http.ServeMux
	rec   *record
}

// record is what the stand-in provider saw.
type record struct {
	mu     sync.Mutex
	fails  []failure
	issued []string // auth requests the stand-in provider answered
}

// in returns the harness for the (sub)test t: its helpers fail t.
func (hs *harness) in(t *testing.T) *harness {
	c := *hs
	c.t = t
	return &c
}

// newHarness returns a harness with the client testClientID; opts adjust
// the Handler before Init (e.g. turn WebAuthn on).
func newHarness(t *testing.T, opts ...func(*Handler)) *harness {
	t.Helper()
	return newHarnessOn(t, "sqlite", opts...)
}

// newHarnessOn is newHarness on the store of backend (teststore.Backends;
// PostgreSQL skips t without its DSN).
func newHarnessOn(t *testing.T, backend string, opts ...func(*Handler)) *harness {
	t.Helper()
	store := teststore.Open(t, backend)
	master := make([]byte, 32)
	rand.Read(master)
	box, err := seal.New(master)
	if err != nil {
		t.Fatal(err)
	}
	// A fixed instant away from a TOTP step boundary, so the codes of one
	// step stay valid while a test runs.
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 5, 0, time.UTC)}
	hs := &harness{t: t, store: store, clock: clock, mail: &mail.Outbox{}, rec: &record{}}
	// The limiters wait up to a minute, not lockout.DefaultBusyWait (2 s),
	// for attempts in flight to finish before refusing one as busy (429
	// "Sign-in is busy"): on a machine the whole suite keeps busy, with this
	// package's tests in parallel, a burst's checks took longer, and tests
	// of the limits themselves failed on it. Tests of that refusal set
	// their own BusyWait.
	limiter := func(scope string, ip, acct storage.Limit, also ...string) *lockout.Limiter {
		return &lockout.Limiter{Store: store, Now: clock.Now, Scope: scope, IP: ip, Account: acct, AlsoBlockedBy: also, BusyWait: time.Minute}
	}
	hour := storage.Limit{Max: 10, Window: time.Hour, Block: time.Hour}
	// The limits are serve's defaults (cmd/gatehouse/config.go).
	h := &Handler{
		Store:     store,
		Pages:     templates.FS,
		Passwords: patientHasher(),
		Limiter: limiter("pwd", storage.Limit{Max: 20, Window: 10 * time.Minute, Block: 10 * time.Minute},
			storage.Limit{Max: 5, Window: 10 * time.Minute, Block: 10 * time.Minute}, "otp"),
		OTPLimiter: limiter("otp", storage.Limit{Max: 3, Window: 10 * time.Minute, Block: 10 * time.Minute},
			storage.Limit{Max: 10, Window: time.Hour, Block: 10 * time.Minute}, "pwd"),
		Mailer:          hs.mail,
		Seal:            box,
		CodeKey:         box.Derive("email codes"),
		TOTPIssuer:      "Gatehouse",
		EmailCodeTTL:    60 * time.Second,
		ResendCooldown:  30 * time.Second,
		BaseURL:         testIssuer,
		Callback:        func(_ context.Context, id string) string { return callbackPath + "?id=" + url.QueryEscape(id) },
		Fail:            hs.fail,
		ClientIP:        remoteIP,
		CSRFKey:         box.Derive("csrf"),
		SessionLifetime: 12 * time.Hour,
		SessionIdle:     time.Hour,
		ReauthWindow:    5 * time.Minute,
		Now:             clock.Now,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registration:    true,
		RegLimiter:      limiter("reg", hour, storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour}),
		RecoverLimiter:  limiter("rec", hour, storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour}),
		MailLimiter: limiter("mail", storage.Limit{Max: 10, Window: 15 * time.Minute, Block: 15 * time.Minute},
			storage.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute}),
	}
	for _, o := range opts {
		o(h)
	}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	hs.h = h
	hs.mux = http.NewServeMux()
	hs.mux.Handle(callbackPath, h.CallbackGuard(http.HandlerFunc(hs.provider)))
	hs.mux.Handle("/", h.Routes())
	hs.client(testClientID, nil)
	return hs
}

// remoteIP is the ClientIP of the tests: the connection's address.
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// provider stands in for the provider's /authorize/callback: it answers
// with a code for the request.
func (hs *harness) provider(w http.ResponseWriter, r *http.Request) {
	hs.rec.mu.Lock()
	hs.rec.issued = append(hs.rec.issued, r.URL.Query().Get("id"))
	hs.rec.mu.Unlock()
	io.WriteString(w, "code issued")
}

func (hs *harness) fail(w http.ResponseWriter, r *http.Request, id, code, _ string) {
	hs.rec.mu.Lock()
	hs.rec.fails = append(hs.rec.fails, failure{id, code})
	hs.rec.mu.Unlock()
	http.Redirect(w, r, testRedirect+"?error="+code, http.StatusFound)
}

// failures returns the OAuth errors sent so far.
func (hs *harness) failures() []failure {
	hs.rec.mu.Lock()
	defer hs.rec.mu.Unlock()
	return slices.Clone(hs.rec.fails)
}

// issued returns the auth requests that got a code, oldest first.
func (hs *harness) issued() []string {
	hs.rec.mu.Lock()
	defer hs.rec.mu.Unlock()
	return slices.Clone(hs.rec.issued)
}

// client registers a client; mod adjusts it first.
func (hs *harness) client(id string, mod func(*storage.Client)) {
	hs.t.Helper()
	now := hs.clock.Now()
	c := &storage.Client{ID: id, Name: "App " + id, Public: true, RedirectURIs: []string{testRedirect},
		TokenEndpointAuthMethod: "none", CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(c)
	}
	if err := hs.store.CreateClient(hs.t.Context(), c); err != nil {
		hs.t.Fatal(err)
	}
}

// user creates a confirmed account with testPassword; mod adjusts it first.
func (hs *harness) user(email string, mod func(*storage.User)) *storage.User {
	hs.t.Helper()
	now := hs.clock.Now()
	u := &storage.User{ID: "u-" + strings.Split(email, "@")[0], Email: email, Name: "Test User",
		PasswordHash: hs.h.Passwords.Hash(testPassword), EmailVerified: true, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(u)
	}
	if err := hs.store.CreateUser(hs.t.Context(), u); err != nil {
		hs.t.Fatal(err)
	}
	return u
}

// authRequest returns the stored auth request id.
func (hs *harness) authRequest(id string) *storage.AuthRequest {
	hs.t.Helper()
	ar, err := hs.store.AuthRequestByID(hs.t.Context(), id)
	if err != nil {
		hs.t.Fatalf("auth request %s: %v", id, err)
	}
	return ar
}

// browser is a user agent with its own cookies and client address.
type browser struct {
	hs   *harness
	jar  *cookiejar.Jar
	ip   string
	lang string // Accept-Language, if set
	// base is the issuer the browser talks to: baseURL, or its https
	// twin when the handler is Secure (its cookies are sent over https
	// only).
	base *url.URL
	// setCookies are the Set-Cookie headers of every answer, in order;
	// mu guards them, for tests that post from one browser at once.
	mu         sync.Mutex
	setCookies []string
}

func (hs *harness) browser(ip string) *browser {
	jar, _ := cookiejar.New(nil)
	base := baseURL
	if hs.h.Secure {
		base = secureBaseURL
	}
	return &browser{hs: hs, jar: jar, ip: ip, base: base}
}

// response is what a browser got back.
type response struct {
	status int
	loc    string
	header http.Header
	body   string
}

var (
	baseURL, _       = url.Parse(testIssuer + "/")
	secureBaseURL, _ = url.Parse(strings.Replace(testIssuer, "http:", "https:", 1) + "/")
)

func (b *browser) request(method, path string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, strings.TrimSuffix(b.base.String(), "/")+path, body)
	r.RemoteAddr = b.ip + ":40000"
	if b.lang != "" {
		r.Header.Set("Accept-Language", b.lang)
	}
	for _, c := range b.jar.Cookies(b.base) {
		r.AddCookie(c)
	}
	return r
}

// serve runs r through handler and keeps the cookies it sets.
func (b *browser) serve(handler http.Handler, r *http.Request) *response {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, r)
	res := rec.Result()
	b.jar.SetCookies(b.base, res.Cookies())
	b.mu.Lock()
	b.setCookies = append(b.setCookies, res.Header.Values("Set-Cookie")...)
	b.mu.Unlock()
	body, _ := io.ReadAll(res.Body)
	return &response{status: res.StatusCode, loc: res.Header.Get("Location"), header: res.Header, body: string(body)}
}

func (b *browser) get(path string) *response {
	return b.serve(b.hs.mux, b.request(http.MethodGet, path, nil))
}

func (b *browser) post(path string, form url.Values) *response {
	r := b.request(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.serve(b.hs.mux, r)
}

// postJSON posts body with the CSRF header, as webauthn.js does.
func (b *browser) postJSON(path, csrf, body string) *response {
	r := b.request(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-CSRF-Token", csrf)
	return b.serve(b.hs.mux, r)
}

// cookie returns the value of the browser's cookie name (with its
// __Host- prefix when the handler is Secure), or "".
func (b *browser) cookie(name string) string {
	for _, c := range b.jar.Cookies(b.base) {
		if c.Name == b.hs.h.CookieName(name) {
			return c.Value
		}
	}
	return ""
}

// authorize plays the provider's /authorize for browser b: the request is
// bound to b's flow cookie (FlowBinding) and stored; it returns its id.
func (hs *harness) authorize(b *browser, clientID string, mod func(*storage.AuthRequest)) string {
	hs.t.Helper()
	r := b.request(http.MethodGet, "/authorize", nil)
	var binding []byte
	b.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { binding = hs.h.FlowBinding(w, r) }), r)
	now := hs.clock.Now()
	ar := &storage.AuthRequest{ID: "ar-" + rand.Text(), ClientID: clientID, RedirectURI: testRedirect,
		Scopes: []string{"openid", "email"}, State: "st", ResponseType: "code", BindingHash: binding,
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
	if mod != nil {
		mod(ar)
	}
	if err := hs.store.CreateAuthRequest(hs.t.Context(), ar); err != nil {
		hs.t.Fatal(err)
	}
	return ar.ID
}

// submitPassword starts a sign-in of clientID in b and posts the password
// form; it returns the auth request id and the answer.
func (hs *harness) submitPassword(b *browser, clientID, email, pass string, mod func(*storage.AuthRequest)) (string, *response) {
	hs.t.Helper()
	id := hs.authorize(b, clientID, mod)
	return id, b.post("/login", hs.signInForm(b, id, email, pass))
}

// signInForm returns the password form b gets for the auth request id,
// filled in with email and pass. (A blocked IP gets the block without the
// form, 429: the form it would have had is posted all the same.)
func (hs *harness) signInForm(b *browser, id, email, pass string) url.Values {
	hs.t.Helper()
	page := b.get("/login?authRequestID=" + url.QueryEscape(id))
	var form url.Values
	if page.status == http.StatusTooManyRequests {
		form = url.Values{"authRequestID": {id}, "csrf": {hs.h.csrfToken("login", b.cookie(flowCookie))}}
	} else {
		form = formOf(hs.t, page.body, "/login")
	}
	form.Set("email", email)
	form.Set("password", pass)
	return form
}

// toStep signs in with the password and follows the redirect to the next
// step's page, which it checks is next; it returns the id and the page.
func (hs *harness) toStep(b *browser, clientID, email, next string, mod func(*storage.AuthRequest)) (string, *response) {
	hs.t.Helper()
	id, resp := hs.submitPassword(b, clientID, email, testPassword, mod)
	want := next + "?authRequestID=" + url.QueryEscape(id)
	if resp.status != http.StatusSeeOther || resp.loc != want {
		hs.t.Fatalf("password step = %d %q, want 303 to %s; alert %q", resp.status, resp.loc, want, alert(resp.body))
	}
	return id, b.get(resp.loc)
}

// codeStep signs in to the account of email from b with the password and
// returns the auth request id, the code page and its form.
func (hs *harness) codeStep(b *browser, email string, mod func(*storage.AuthRequest)) (string, *response, url.Values) {
	hs.t.Helper()
	id, page := hs.toStep(b, testClientID, email, "/login/otp", mod)
	return id, page, formOf(hs.t, page.body, "/login/otp")
}

// signInWithApp signs in to the account of email from b with the
// password and the app's code, and checks that it is done.
func (hs *harness) signInWithApp(b *browser, email, secret string) {
	hs.t.Helper()
	id, _, form := hs.codeStep(b, email, nil)
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
}

// callbackURL is where a done sign-in goes.
func callbackURL(id string) string { return callbackPath + "?id=" + url.QueryEscape(id) }

// expectDone checks that resp sends the browser to the callback of id,
// that the request is done with amr and acr, and that the callback then
// issues a code, once.
func (hs *harness) expectDone(b *browser, id string, resp *response, amr []string, acr string) {
	hs.t.Helper()
	if resp.status != http.StatusSeeOther || resp.loc != callbackURL(id) {
		hs.t.Fatalf("got %d %q, want 303 to the callback; alert %q", resp.status, resp.loc, alert(resp.body))
	}
	ar := hs.authRequest(id)
	if !ar.Done || !slices.Equal(ar.AMR, amr) || ar.ACR != acr {
		hs.t.Errorf("auth request done %v amr %v acr %q, want done amr %v acr %q", ar.Done, ar.AMR, ar.ACR, amr, acr)
	}
	hs.expectIssued(b, id)
}

// expectIssued checks that the callback of id issues a code to b once.
func (hs *harness) expectIssued(b *browser, id string) {
	hs.t.Helper()
	if cb := b.get(callbackURL(id)); cb.status != http.StatusOK || cb.body != "code issued" {
		hs.t.Fatalf("callback = %d %q %q", cb.status, cb.loc, alert(cb.body))
	}
	expectEnded(hs.t, b.get(callbackURL(id)))
	if n := len(slices.DeleteFunc(hs.issued(), func(s string) bool { return s != id })); n != 1 {
		hs.t.Errorf("%d codes issued for one sign-in", n)
	}
}

// expectEnded checks that resp refuses a step of a sign-in that has had
// its answer: once the callback claimed it, it is bound to no browser.
func expectEnded(t *testing.T, resp *response) {
	t.Helper()
	if resp.status != http.StatusForbidden || alert(resp.body) != msgOtherBrowser {
		t.Errorf("got %d %q, want the sign-in refused as over", resp.status, alert(resp.body))
	}
}

// ---- pages ----

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	alertRE  = regexp.MustCompile(`(?s)<p class="alert" role="alert">(.*?)</p>`)
	infoRE   = regexp.MustCompile(`(?s)<p class="info" role="status">(.*?)</p>`)
	secretRE = regexp.MustCompile(`<input id="secret"[^>]* value="([^"]*)"`)
	codesRE  = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
	digitsRE = regexp.MustCompile(`(?m)^(\d{6})$`)
)

// formOf returns the hidden fields of page's form that posts to action.
func formOf(t *testing.T, page, action string) url.Values {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == action {
			v := url.Values{}
			for _, f := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
				v.Set(f[1], html.UnescapeString(f[2]))
			}
			return v
		}
	}
	t.Fatalf("no form posting to %s:\n%s", action, page)
	return nil
}

func firstMatch(re *regexp.Regexp, page string) string {
	if m := re.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

// alert is the page's error message; info its information.
func alert(page string) string { return firstMatch(alertRE, page) }
func info(page string) string  { return firstMatch(infoRE, page) }

// expectPage checks a page's status and error message, exactly.
func expectPage(t *testing.T, resp *response, status int, msg string) {
	t.Helper()
	if resp.status != status || alert(resp.body) != msg {
		t.Errorf("got %d %q, want %d %q", resp.status, alert(resp.body), status, msg)
	}
}

// expectRedirect checks a 303 to loc.
func expectRedirect(t *testing.T, resp *response, loc string) {
	t.Helper()
	if resp.status != http.StatusSeeOther || resp.loc != loc {
		t.Errorf("got %d %q, want 303 to %s; alert %q", resp.status, resp.loc, loc, alert(resp.body))
	}
}

// with returns form with key set to value.
func with(form url.Values, key, value string) url.Values {
	v := url.Values{}
	for k, vs := range form {
		v[k] = slices.Clone(vs)
	}
	v.Set(key, value)
	return v
}

// ---- second factors ----

// totpCode is the authenticator app's code for secret now.
func (hs *harness) totpCode(secret string) string {
	hs.t.Helper()
	c, err := totp.Code(strings.ReplaceAll(secret, " ", ""), hs.clock.Now()) // the page groups the key
	if err != nil {
		hs.t.Fatal(err)
	}
	return c
}

// otherCode returns a six-digit code other than c.
func otherCode(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

// mailCode returns the code of the newest email to addr and how many
// emails addr has got.
func (hs *harness) mailCode(addr string) (string, int) {
	hs.t.Helper()
	n := 0
	for _, m := range hs.mail.Messages() {
		if m.To == addr {
			n++
		}
	}
	m, ok := hs.mail.Last(addr)
	if !ok {
		hs.t.Fatalf("no email to %s", addr)
	}
	return firstMatch(digitsRE, m.Text), n
}

// mailed reports how many emails to addr have subject.
func (hs *harness) mailed(addr, subject string) int {
	n := 0
	for _, m := range hs.mail.Messages() {
		if m.To == addr && m.Subject == subject {
			n++
		}
	}
	return n
}

// appUser creates an account with the authenticator app on and returns
// it and the app's secret.
func (hs *harness) appUser(email string) (*storage.User, string) {
	hs.t.Helper()
	u := hs.user(email, nil)
	secret, _ := hs.enrollTOTP(u)
	return u, secret
}

// enrollTOTP turns the authenticator app on for u through the sign-in
// enrolment of a client that requires a second factor, from a browser of
// its own, and returns the secret and the recovery codes. The clock then
// moves on a step, so the code used here is not the next test's.
func (hs *harness) enrollTOTP(u *storage.User) (secret string, codes []string) {
	hs.t.Helper()
	const mfaClient = "enrol-helper"
	if _, err := hs.store.ClientByID(hs.t.Context(), mfaClient); err != nil {
		hs.client(mfaClient, func(c *storage.Client) { c.RequireMFA = true })
	}
	b := hs.browser("198.51.100.200")
	_, page := hs.toStep(b, mfaClient, u.Email, "/login/enroll", nil)
	secret = firstMatch(secretRE, page.body)
	resp := b.post("/login/enroll", with(formOf(hs.t, page.body, "/login/enroll"), "code", hs.totpCode(secret)))
	if resp.status != http.StatusOK {
		hs.t.Fatalf("enrolment = %d %q", resp.status, alert(resp.body))
	}
	for _, m := range codesRE.FindAllStringSubmatch(resp.body, -1) {
		codes = append(codes, m[1])
	}
	hs.clock.Advance(30 * time.Second)
	return secret, codes
}

// ---- security keys ----

// withWebAuthn turns security keys on, with the test issuer's host as
// relying-party id, as serve does for a host-name issuer.
func withWebAuthn(t *testing.T) func(*Handler) {
	return func(h *Handler) {
		rp, err := webauthn.New(&webauthn.Config{RPID: baseURL.Hostname(), RPDisplayName: "Gatehouse",
			RPOrigins: []string{testIssuer}})
		if err != nil {
			t.Fatal(err)
		}
		h.WebAuthn = rp
	}
}

// softKey is a software security key: one ES256 credential, registered
// straight in the store, that signs assertions as an authenticator does.
type softKey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	handle []byte
	count  uint32
}

// addKey registers a new soft key for u.
func (hs *harness) addKey(u *storage.User) *softKey {
	hs.t.Helper()
	ctx := hs.t.Context()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		hs.t.Fatal(err)
	}
	sk := &softKey{id: []byte(rand.Text()[:16]), key: k}
	if sk.handle, err = hs.store.EnsureWebAuthnHandle(ctx, u.ID, []byte(rand.Text()), hs.clock.Now()); err != nil {
		hs.t.Fatal(err)
	}
	point, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		hs.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		hs.t.Fatal(err)
	}
	if err := hs.store.AddWebAuthnCredential(ctx, &storage.WebAuthnCredential{ID: sk.id, UserID: u.ID, Name: "test key",
		PublicKey: cose, Transports: []string{"usb"}, AAGUID: make([]byte, 16), AttestationType: "none",
		CreatedAt: hs.clock.Now()}, 0, false); err != nil {
		hs.t.Fatal(err)
	}
	return sk
}

// assert returns the credential JSON of an assertion of challenge from
// the test issuer's origin, the user present and verified; the counter
// goes up by one.
func (k *softKey) assert(t *testing.T, challenge string) json.RawMessage {
	t.Helper()
	k.count++
	rp := sha256.Sum256([]byte(baseURL.Hostname()))
	auth := binary.BigEndian.AppendUint32(append(rp[:], 0x01|0x04), k.count)
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": testIssuer, "crossOrigin": false})
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(auth), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	out, _ := json.Marshal(map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(auth),
			"signature": b64(sig), "userHandle": b64(k.handle)},
	})
	return out
}

// keyReply is a JSON answer of the key step.
type keyReply struct {
	Ceremony  string `json:"ceremony"`
	PublicKey struct {
		Challenge string `json:"challenge"`
	} `json:"publicKey"`
	Redirect string `json:"redirect"`
	Error    string `json:"error"`
}

// keyCall posts a JSON step of the key ceremony and decodes the answer.
func (b *browser) keyCall(t *testing.T, path, csrf string, body map[string]any) (int, keyReply) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp := b.postJSON(path, csrf, string(raw))
	var reply keyReply
	if err := json.Unmarshal([]byte(resp.body), &reply); err != nil {
		t.Fatalf("POST %s = %d, not JSON: %s", path, resp.status, resp.body)
	}
	return resp.status, reply
}

// keyCSRF is the CSRF token of the page's key button for mode
// ("second": the key step; "passkey": the sign-in page).
func keyCSRF(t *testing.T, page, mode string) string {
	t.Helper()
	csrf := firstMatch(regexp.MustCompile(`data-webauthn="`+mode+`"[^>]* data-csrf="([^"]*)"`), page)
	if csrf == "" {
		t.Fatalf("no %s key button on the page:\n%s", mode, page)
	}
	return csrf
}

// keyCeremony runs the JSON calls of a key ceremony for the auth request
// id: begin at prefix+"/begin", then finish at prefix+"/finish" with the
// assertion sign makes of the challenge.
type keyCeremony struct {
	t            *testing.T
	b            *browser
	prefix, csrf string
	id           string
}

// begin starts a ceremony and returns its key and challenge.
func (c *keyCeremony) begin() keyReply {
	c.t.Helper()
	status, reply := c.b.keyCall(c.t, c.prefix+"/begin", c.csrf, map[string]any{"authRequestID": c.id})
	if status != http.StatusOK || reply.Ceremony == "" || reply.PublicKey.Challenge == "" {
		c.t.Fatalf("%s/begin = %d %+v", c.prefix, status, reply)
	}
	return reply
}

// finish posts cred for the ceremony and returns the answer.
func (c *keyCeremony) finish(ceremony string, cred json.RawMessage) (int, keyReply) {
	c.t.Helper()
	return c.b.keyCall(c.t, c.prefix+"/finish", c.csrf, map[string]any{"authRequestID": c.id, "ceremony": ceremony, "credential": cred})
}

// keyFailedMsg is the failed key check message with n attempts left.
func keyFailedMsg(n int) string { return fmt.Sprintf(msgKeyFailed, n) }

// userByEmail loads the account with address email.
func (hs *harness) userByEmail(email string) *storage.User {
	hs.t.Helper()
	u, err := hs.store.UserByEmail(hs.t.Context(), email)
	if err != nil {
		hs.t.Fatal(err)
	}
	return u
}

var leadRE = regexp.MustCompile(`(?s)<p class="lead">(.*?)</p>`)

// lead is the page's lead paragraph (the notice pages' message).
func lead(page string) string { return firstMatch(leadRE, page) }

// waitMail waits for the nth email to addr: emails with links go out in
// the background.
func (hs *harness) waitMail(addr string, nth int) mail.Message {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(hs.t.Context(), 5*time.Second)
	defer cancel()
	m, err := hs.mail.Wait(ctx, addr, nth)
	if err != nil {
		hs.t.Fatal(err)
	}
	return m
}

// waitLink waits for the nth email to addr and returns its subject and the
// path of its link to path, with the query.
func (hs *harness) waitLink(addr string, nth int, path string) (subject, link string) {
	hs.t.Helper()
	m := hs.waitMail(addr, nth)
	link = firstMatch(regexp.MustCompile(regexp.QuoteMeta(testIssuer)+`(`+regexp.QuoteMeta(path)+`\?token=[A-Za-z0-9_-]+)`), m.Text)
	if link == "" {
		hs.t.Fatalf("no link to %s in the email to %s:\n%s", path, addr, m.Text)
	}
	return m.Subject, link
}
