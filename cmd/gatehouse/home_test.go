package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/login"
)

// signInAsked reports whether resp sends the browser to sign in to the
// account area (login/home.go): what a GET of an account page without a
// session gets.
func signInAsked(resp *response) bool {
	return resp.StatusCode == http.StatusSeeOther &&
		strings.HasPrefix(resp.Header.Get("Location"), "/authorize?client_id="+login.AccountClientID+"&")
}

// homeCodePage opens start in b, which has no session, follows it to the
// sign-in page, submits u's password and opens the code page.
func (e *tfEnv) homeCodePage(t *testing.T, b *browser, start string, u *tfUser) *response {
	t.Helper()
	page, at := b.follow(start, "")
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `autocomplete="current-password"`) ||
		!strings.HasPrefix(at, e.g.base+"/login?authRequestID=") {
		t.Fatalf("%s without a session landed at %s (%d), want the sign-in page", start, at, page.StatusCode)
	}
	form := tfForm(t, page.body, "/login")
	form.Set("email", u.email)
	form.Set("password", u.pass)
	resp := b.post(e.g.base+"/login", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?authRequestID=") {
		t.Fatalf("password = %d %q, want the code step; alert %q", resp.StatusCode, resp.Header.Get("Location"), tfAlert(resp.body))
	}
	return b.get(redirectTarget(resp))
}

// homeSignIn signs u in at start in b (password and the app's code) and
// returns where the browser lands and the page there.
func (e *tfEnv) homeSignIn(t *testing.T, b *browser, start string, u *tfUser) (*response, string) {
	t.Helper()
	code := e.homeCodePage(t, b, start, u)
	resp := tfPostCode(b, e.g.base+"/login/otp", tfForm(t, code.body, "/login/otp"), e.code(u))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code = %d, want 303; alert %q", resp.StatusCode, tfAlert(resp.body))
	}
	return b.follow(redirectTarget(resp), "")
}

// homeStart starts a gatehouse on backend with a user who has turned the
// authenticator app on.
func homeStart(t *testing.T, backend string) (*tfEnv, *tfUser) {
	e := tfStart(t, databaseURL(t, backend))
	u := e.newUser(t, "home@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.5.1"), u)
	return e, u
}

// TestHome signs in at Gatehouse itself: / and the account pages sign in
// as the built-in client gatehouse-account, with the sign-in every
// application gets, and come back to the page asked for.
func TestHome(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e, u := homeStart(t, backend)
			base := e.g.base

			signedIn := newBrowser(t).from("127.0.5.2")
			t.Run("/ signs in and shows the account", func(t *testing.T) {
				page, at := e.homeSignIn(t, signedIn, base+"/", u)
				if at != base+"/" || page.StatusCode != http.StatusOK || !strings.Contains(page.body, u.email) ||
					!strings.Contains(page.body, `action="/account/name"`) {
					t.Fatalf("after the sign-in landed at %s (%d), want the account at /:\n%s", at, page.StatusCode, page.body)
				}
				// The session is an application's: another application
				// signs in with it, without a password, and gets the amr
				// and acr of a password and an app's code.
				rp := tfRP(t, e.rp)
				f := rp.newFlow()
				if page, at := signedIn.follow(f.authURL, rpRedirect); page != nil {
					t.Fatalf("an application's sign-in after the account's landed on %s (%d)", at, page.StatusCode)
				} else {
					_, _, c := rp.exchange(rp.codeFrom(at, f), f)
					tfClaims(t, c, tfAMRTOTP, tfACR2)
				}
			})

			t.Run("an account page signs in and comes back to it", func(t *testing.T) {
				b := newBrowser(t).from("127.0.5.3")
				first := b.get(base + "/account/security?x=1")
				if !signInAsked(first) {
					t.Fatalf("GET /account/security without a session = %d %q, want a sign-in", first.StatusCode, first.Header.Get("Location"))
				}
				page, at := e.homeSignIn(t, b, base+"/account/security?x=1", u)
				if at != base+"/account/security?x=1" || page.StatusCode != http.StatusOK {
					t.Fatalf("after the sign-in landed at %s (%d), want /account/security?x=1", at, page.StatusCode)
				}
			})

			t.Run("no open redirect", func(t *testing.T) {
				attempts := []string{
					"https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/%5Cevil.example",
					"/%2F%2Fevil.example", "%2F%2Fevil.example", "/account/..%2F..%2F%2Fevil.example", "/account/../..//evil.example",
					"/account//evil.example", "/account/%2Fevil.example", "http:/evil.example", "javascript:alert(1)",
					" /account", "/account\r\nLocation: //evil.example", "/login", "/account\\..\\evil", "/%0d/account",
				}
				for _, next := range attempts {
					r := signedIn.get(base + "/?next=" + url.QueryEscape(next))
					if r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" {
						t.Errorf("signed in, /?next=%q = %d %q, want the account at /", next, r.StatusCode, r.Header.Get("Location"))
					}
				}
				// A path of the account area is where next leads.
				if r := signedIn.get(base + "/?next=" + url.QueryEscape("/account/security?x=1")); r.Header.Get("Location") != "/account/security?x=1" {
					t.Errorf("/?next=/account/security?x=1 = %d %q", r.StatusCode, r.Header.Get("Location"))
				}
				// Signed out, the sign-in comes back to /.
				b := newBrowser(t).from("127.0.5.4")
				if page, at := e.homeSignIn(t, b, base+"/?next="+url.QueryEscape("//evil.example/"), u); at != base+"/" || page.StatusCode != http.StatusOK {
					t.Errorf("signing in at /?next=//evil.example/ landed at %s (%d), want /", at, page.StatusCode)
				}
			})

			t.Run("the callback belongs to the browser that started", func(t *testing.T) {
				// A starts a sign-in; B signs in and stops at its callback.
				a := newBrowser(t).from("127.0.5.5")
				if r := a.get(base + "/"); !signInAsked(r) {
					t.Fatalf("GET / = %d %q, want a sign-in", r.StatusCode, r.Header.Get("Location"))
				}
				b := newBrowser(t).from("127.0.5.6")
				code := e.homeCodePage(t, b, base+"/", u)
				resp := tfPostCode(b, e.g.base+"/login/otp", tfForm(t, code.body, "/login/otp"), e.code(u))
				_, callback := b.follow(redirectTarget(resp), base+login.AccountCallbackPath)
				if !strings.HasPrefix(callback, base+login.AccountCallbackPath+"?") {
					t.Fatalf("the sign-in went to %s, want the account callback", callback)
				}
				cookieName := "gh_account"
				baseURL, _ := url.Parse(base + "/")
				cookieOf := func(br *browser) *http.Cookie {
					for _, c := range br.c.Jar.Cookies(baseURL) {
						if c.Name == cookieName {
							return c
						}
					}
					t.Fatalf("no %s cookie", cookieName)
					return nil
				}
				aCookie, bCookie := cookieOf(a), cookieOf(b)

				refused := func(what string, r *response) {
					t.Helper()
					if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" ||
						!strings.Contains(r.body, "started in another browser or has expired") {
						t.Errorf("%s: callback = %d %q, want 400 refused", what, r.StatusCode, r.Header.Get("Location"))
					}
				}
				// B's callback in A (A's own cookie, another state).
				refused("another browser", a.get(callback))
				// A's cookie replayed in B, and in a browser with none of
				// B's cookies.
				b.c.Jar.SetCookies(baseURL, []*http.Cookie{{Name: cookieName, Value: aCookie.Value, Path: "/"}})
				refused("A's cookie in B", b.get(callback))
				c := newBrowser(t).from("127.0.5.7")
				c.c.Jar.SetCookies(baseURL, []*http.Cookie{{Name: cookieName, Value: bCookie.Value, Path: "/"}})
				refused("B's cookie in a third browser", c.get(callback))
				refused("no cookie", newBrowser(t).from("127.0.5.8").get(callback))
				// B's own cookie and callback: in, and at /.
				b.c.Jar.SetCookies(baseURL, []*http.Cookie{{Name: cookieName, Value: bCookie.Value, Path: "/"}})
				if page, at := b.follow(callback, ""); at != base+"/" || page.StatusCode != http.StatusOK {
					t.Errorf("B's own callback landed at %s (%d), want /", at, page.StatusCode)
				}
				// Once: the cookie is gone, the callback refused.
				refused("replayed", b.get(callback))
			})

			t.Run("the limits and messages of an application's sign-in", func(t *testing.T) {
				b := newBrowser(t).from("127.0.5.9")
				code := e.homeCodePage(t, b, base+"/account", u)
				form := tfForm(t, code.body, "/login/otp")
				tfExpect(t, tfPostCode(b, base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong1)
				tfExpect(t, tfPostCode(b, base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, tfWrong2)
				tfExpect(t, tfPostCode(b, base+"/login/otp", form, e.wrongTOTP(u)), http.StatusTooManyRequests, blockedText)
				// The IP is blocked for applications too, for 10 minutes.
				_, resp := tfPassword(t, tfRP(t, e.rp), newBrowser(t).from("127.0.5.9"), u.email, u.pass)
				tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
				// And the account sign-in says so as well: its page shows
				// the block and no form, and a password posted with a form
				// fetched from another address is refused.
				d := newBrowser(t).from("127.0.5.9")
				page, _ := d.follow(base+"/", "")
				if !strings.Contains(page.body, blockedText) || strings.Contains(page.body, `action="/login"`) {
					t.Errorf("the account sign-in from a blocked address: want the block and no form:\n%s", page.body)
				}
				helper := newBrowser(t).from("127.0.0.254")
				page, _ = helper.follow(base+"/", "")
				front, _ := url.Parse(base + "/")
				d.c.Jar.SetCookies(front, helper.c.Jar.Cookies(front))
				form = tfForm(t, page.body, "/login")
				form.Set("email", u.email)
				form.Set("password", u.pass)
				tfExpect(t, d.post(base+"/login", form), http.StatusTooManyRequests, blockedText)
			})

			t.Run("a form posted without a session is not redirected", func(t *testing.T) {
				b := newBrowser(t).from("127.0.5.10")
				page, _ := e.homeSignIn(t, b, base+"/account", u)
				form := tfForm(t, page.body, "/account/name")
				// The session ends in another browser that holds it.
				baseURL, _ := url.Parse(base + "/")
				other := newBrowser(t).from("127.0.5.11")
				other.c.Jar.SetCookies(baseURL, b.c.Jar.Cookies(baseURL))
				account := other.get(base + "/account")
				tfRedirect(t, other.post(base+"/logout", tfForm(t, account.body, "/logout")), "/signed-out")
				r := b.post(base+"/account/name", tfWith(form, "name", "X"))
				if r.StatusCode != http.StatusUnauthorized || r.Header.Get("Location") != "" ||
					!strings.Contains(r.body, "You are not signed in. Sign in again, then come back here.") {
					t.Errorf("POST without a session = %d %q:\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
				}
				if !strings.Contains(r.body, `<a href="/">Sign in</a>`) {
					t.Error("the page does not link to the sign-in")
				}
			})

			t.Run("the client is built in", func(t *testing.T) {
				for _, args := range [][]string{
					{"clients", "delete", login.AccountClientID},
					{"clients", "update", login.AccountClientID, "--redirect-uri", "https://evil.example/cb"},
				} {
					if _, stderr, err := e.g.tryCLI("", args...); err == nil || !strings.Contains(stderr, "built in") {
						t.Errorf("%v: err %v, stderr %q; want refused", args, err, stderr)
					}
				}
				if out := tfCLI(t, e.g, "", "clients", "list"); !strings.Contains(out, login.AccountClientID) {
					t.Errorf("clients list lacks %s:\n%s", login.AccountClientID, out)
				}
			})
		})
	}
}
