package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// startHome opens path in b without a session and checks that it is sent
// to sign in as the account area's client; it returns the state.
func (hs *harness) startHome(b *browser, path string) string {
	hs.t.Helper()
	resp := b.get(path)
	if resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?") {
		hs.t.Fatalf("GET %s = %d %q, want 303 to /authorize", path, resp.status, resp.loc)
	}
	u, err := url.Parse(resp.loc)
	if err != nil {
		hs.t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{"client_id": AccountClientID, "response_type": "code", "scope": "openid",
		"redirect_uri": testIssuer + AccountCallbackPath, "code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			hs.t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) != 43 || len(q.Get("code_challenge")) != 43 {
		hs.t.Errorf("state %q, code_challenge %q: want 256 bits each", q.Get("state"), q.Get("code_challenge"))
	}
	return q.Get("state")
}

// pendingHome starts a sign-in of the account area in b, signed in or not,
// returning to back; it returns the state.
func (hs *harness) pendingHome(b *browser, back string) string {
	hs.t.Helper()
	resp := b.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.h.signInToAccount(w, r, back)
	}), b.request(http.MethodGet, "/", nil))
	u, err := url.Parse(resp.loc)
	if err != nil {
		hs.t.Fatal(err)
	}
	return u.Query().Get("state")
}

// signInPassword gives b a session of the account of email, which has no
// second factor, through a sign-in of clientID.
func (hs *harness) signInPassword(b *browser, clientID, email string) {
	hs.t.Helper()
	id, resp := hs.submitPassword(b, clientID, email, testPassword, nil)
	hs.expectDone(b, id, resp, []string{"pwd"}, ACRPassword)
}

func TestHomeSignsIn(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	hs.user("home@example.com", nil)

	b := hs.browser("192.0.2.200")
	hs.startHome(b, "/")
	var cookie *http.Cookie
	for _, c := range b.jar.Cookies(baseURL) {
		if c.Name == accountSignInCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no sign-in cookie")
	}
	// The cookie's attributes, from the Set-Cookie header itself.
	set := b.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.h.signInToAccount(w, r, "/")
	}), b.request(http.MethodGet, "/", nil)).header.Values("Set-Cookie")
	i := slices.IndexFunc(set, func(s string) bool { return strings.HasPrefix(s, accountSignInCookie+"=") })
	if i < 0 || !strings.Contains(set[i], "HttpOnly") || !strings.Contains(set[i], "SameSite=Lax") ||
		!strings.Contains(set[i], "Max-Age=1800") || !strings.Contains(set[i], "Path=/") {
		t.Errorf("Set-Cookie %q, want HttpOnly, SameSite=Lax, Max-Age=1800, Path=/", set)
	}
	state := hs.startHome(b, "/") // the cookie now holds this one

	hs.signInPassword(b, AccountClientID, "home@example.com")
	expectRedirect(t, b.get(AccountCallbackPath+"?code=c&state="+url.QueryEscape(state)), "/")
	home := b.get("/")
	if home.status != http.StatusOK || !strings.Contains(home.body, "home@example.com") || !strings.Contains(home.body, `action="/account/name"`) {
		t.Fatalf("GET / signed in = %d, want the account page:\n%s", home.status, home.body)
	}
	// Once: the cookie is spent.
	expectPage(t, b.get(AccountCallbackPath+"?code=c&state="+url.QueryEscape(state)), http.StatusBadRequest, msgAccountSignInLost)
}

func TestHomeReturnsToTheAccountPage(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	hs.user("back@example.com", nil)
	for _, path := range []string{"/account/security?x=1", "/account", "/account/password", "/account/reauth?next=%2Faccount%2Fsecurity"} {
		b := hs.browser("192.0.2.201")
		state := hs.startHome(b, path)
		hs.signInPassword(b, AccountClientID, "back@example.com")
		expectRedirect(t, b.get(AccountCallbackPath+"?code=c&state="+url.QueryEscape(state)), path)
		if resp := b.get(path); resp.status != http.StatusOK {
			t.Errorf("GET %s after the sign-in = %d %q", path, resp.status, resp.loc)
		}
	}
}

func TestHomeCallbackRefused(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	hs.user("cb@example.com", nil)
	callback := func(state string) string { return AccountCallbackPath + "?code=c&state=" + url.QueryEscape(state) }

	t.Run("another browser", func(t *testing.T) {
		hs := hs.in(t)
		a, b := hs.browser("192.0.2.202"), hs.browser("192.0.2.203")
		stateA := hs.startHome(a, "/account/security")
		hs.startHome(b, "/")
		hs.signInPassword(b, testClientID, "cb@example.com")
		// A's state in B (which has its own cookie).
		expectPage(t, b.get(callback(stateA)), http.StatusBadRequest, msgAccountSignInLost)
		// A's cookie and state replayed in B: bound to A's flow cookie.
		stateA = hs.startHome(a, "/account/security")
		b.jar.SetCookies(baseURL, []*http.Cookie{{Name: accountSignInCookie, Value: a.cookie(accountSignInCookie), Path: "/"}})
		expectPage(t, b.get(callback(stateA)), http.StatusBadRequest, msgAccountSignInLost)
	})
	t.Run("no cookie, forged or expired", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.204")
		hs.signInPassword(b, testClientID, "cb@example.com")
		expectPage(t, b.get(callback("whatever")), http.StatusBadRequest, msgAccountSignInLost)
		hs.pendingHome(b, "/account")
		expectPage(t, b.get(callback("")), http.StatusBadRequest, msgAccountSignInLost)
		state := hs.pendingHome(b, "/account")
		expectPage(t, b.get(callback(state+"x")), http.StatusBadRequest, msgAccountSignInLost)
		state = hs.pendingHome(b, "/account")
		forged := []byte(b.cookie(accountSignInCookie))
		forged[10] ^= 1
		b.jar.SetCookies(baseURL, []*http.Cookie{{Name: accountSignInCookie, Value: string(forged), Path: "/"}})
		expectPage(t, b.get(callback(state)), http.StatusBadRequest, msgAccountSignInLost)
		state = hs.pendingHome(b, "/account")
		hs.clock.Advance(accountSignInTTL)
		// (The browser would have dropped it; a replayed one is refused.)
		expectPage(t, b.get(callback(state)), http.StatusBadRequest, msgAccountSignInLost)
	})
	t.Run("an error from the provider", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.205")
		hs.signInPassword(b, testClientID, "cb@example.com")
		state := hs.pendingHome(b, "/account")
		expectPage(t, b.get(AccountCallbackPath+"?error=access_denied&state="+url.QueryEscape(state)), http.StatusBadRequest,
			"The sign-in did not complete. Please sign in again.")
	})
	t.Run("no session", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.206")
		state := hs.startHome(b, "/account")
		resp := b.get(callback(state))
		// No loop back to the sign-in: a page.
		expectPage(t, resp, http.StatusUnauthorized, "You are not signed in.")
	})
}

// The account client's sign-in is an application's: the same steps, and
// the same amr and acr on the session.
func TestHomeSameSignIn(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	u, secret := hs.appUser("same@example.com")
	b := hs.browser("192.0.2.207")
	hs.startHome(b, "/")
	// The sign-in page is Gatehouse's own: no "to continue to".
	id := hs.authorize(b, AccountClientID, nil)
	if p := b.get("/login?authRequestID=" + url.QueryEscape(id)); p.status != http.StatusOK || strings.Contains(p.body, "to continue to") {
		t.Errorf("the account's sign-in page (%d) names a client:\n%s", p.status, p.body)
	}
	id, page := hs.toStep(b, AccountClientID, u.Email, "/login/otp", nil)
	form := formOf(t, page.body, "/login/otp")
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
	sess, err := hs.store.SessionByID(t.Context(), sessionID(b.cookie(sessionCookie)), hs.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sess.AMR, amrTOTP) {
		t.Errorf("session amr %v, want %v", sess.AMR, amrTOTP)
	}
	// Three wrong codes block the IP, for applications too.
	c := hs.browser("192.0.2.208")
	hs.startHome(c, "/")
	_, page = hs.toStep(c, AccountClientID, u.Email, "/login/otp", nil)
	form = formOf(t, page.body, "/login/otp")
	for range 2 {
		c.post("/login/otp", with(form, "code", otherCode(hs.totpCode(secret))))
	}
	blocked := c.post("/login/otp", with(form, "code", otherCode(hs.totpCode(secret))))
	expectPage(t, blocked, http.StatusTooManyRequests, "You have reached the limit of attempts. Please try again later in 10 minutes.")
	_, resp := hs.submitPassword(hs.browser("192.0.2.208"), testClientID, u.Email, testPassword, nil)
	expectPage(t, resp, http.StatusTooManyRequests, "You have reached the limit of attempts. Please try again later in 10 minutes.")
}

func TestHomeNoOpenRedirect(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("redir@example.com", nil)
	b := hs.browser("192.0.2.209")
	hs.signInPassword(b, testClientID, "redir@example.com")
	bad := []string{
		"", "/", "https://evil.example/", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
		"/%5Cevil.example", "/%5cevil.example", "%2F%2Fevil.example", "/%2F%2Fevil.example", "/account/%2F%2Fevil.example",
		"/account//evil.example", "/account/../evil", "/account/%2e%2e/evil", "/account/..%2F..%2Fevil", "http:/evil.example",
		"http://evil.example/account", "javascript:alert(1)", " /account", "/account\r\nX: y", "/account\\evil",
		"/account%00", "/accounts", "/login", "/authorize?client_id=x", "/account/" + strings.Repeat("a", 600),
		"/administrator", "/admin/../evil", "//admin", "/admin\\evil",
	}
	for _, next := range bad {
		if got := homePath(next); got != "/" {
			t.Errorf("homePath(%q) = %q, want /", next, got)
		}
		resp := b.get("/?next=" + url.QueryEscape(next))
		if resp.status != http.StatusOK || resp.loc != "" {
			t.Errorf("signed in, /?next=%q = %d %q, want the account at /", next, resp.status, resp.loc)
		}
	}
	for _, next := range []string{"/account", "/account/security?x=1", "/account/security/recovery/show?c=abc",
		"/admin", "/admin/users?q=alice"} { // the admin console signs in here too
		if got := homePath(next); got != next {
			t.Errorf("homePath(%q) = %q", next, got)
		}
		expectRedirect(t, b.get("/?next="+url.QueryEscape(next)), next)
	}
	// Signed out, the return path the cookie keeps is checked the same
	// way: an attempt comes back to /.
	hs.client(AccountClientID, nil)
	c := hs.browser("192.0.2.210")
	state := hs.startHome(c, "/?next="+url.QueryEscape("//evil.example/"))
	hs.signInPassword(c, AccountClientID, "redir@example.com")
	expectRedirect(t, c.get(AccountCallbackPath+"?code=c&state="+url.QueryEscape(state)), "/")
}

// A form posted without a session gets the page, no redirect; a GET of
// an account page signs in.
func TestHomeFormsWithoutSession(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("gone@example.com", nil)
	b := hs.browser("192.0.2.211")
	hs.signInPassword(b, testClientID, u.Email)
	page := b.get("/account")
	form := formOf(t, page.body, "/account/name")
	if _, err := hs.store.EndUserSessions(t.Context(), u.ID, "", hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp := b.post("/account/name", with(form, "name", "X"))
	expectPage(t, resp, http.StatusUnauthorized, "You are not signed in. Sign in again, then come back here.")
	if resp.loc != "" || !strings.Contains(resp.body, `<a href="/">Sign in</a>`) {
		t.Errorf("POST without a session: Location %q; want none and a link to sign in:\n%s", resp.loc, resp.body)
	}
	hs.startHome(b, "/account/security")
}

// The footer links the sign-in, registration, recovery and the account.
func TestHomeFooterLinks(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("links@example.com", nil)
	out := hs.browser("192.0.2.212").get("/recover").body
	for _, want := range []string{`<a href="/">Sign in</a>`, `<a href="/register">Create an account</a>`, `<a href="/recover">`} {
		if !strings.Contains(out, want) {
			t.Errorf("signed out, /recover lacks %s", want)
		}
	}
	b := hs.browser("192.0.2.213")
	hs.signInPassword(b, testClientID, "links@example.com")
	in := b.get("/account/security").body
	for _, want := range []string{`<a href="/">Your account</a>`, `<a href="/account/security">`} {
		if !strings.Contains(in, want) {
			t.Errorf("signed in, the security page lacks %s", want)
		}
	}
	// Not on the steps of a sign-in, where they would lose it.
	c := hs.browser("192.0.2.214")
	id := hs.authorize(c, testClientID, nil)
	if step := c.get("/login?authRequestID=" + url.QueryEscape(id)); step.status != http.StatusOK || strings.Contains(step.body, `class="site-nav"`) {
		t.Errorf("a sign-in step (%d) shows the footer links", step.status)
	}
	hs.h.Registration = false
	if strings.Contains(hs.browser("192.0.2.215").get("/recover").body, `href="/register"`) {
		t.Error("registration off, the footer still links to /register")
	}
}
