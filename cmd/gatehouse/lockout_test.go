package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// from makes b connect from the loopback address ip, so that the server
// sees another client IP.
func (b *browser) from(ip string) *browser {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	return b
}

// tryPassword starts a sign-in in b and submits email and password.
func tryPassword(t *testing.T, rp *relyingParty, b *browser, email, password string) *response {
	t.Helper()
	f := rp.newFlow()
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil || (page.StatusCode != http.StatusOK && page.StatusCode != http.StatusTooManyRequests) {
		t.Fatalf("no login page (landed at %s)", at)
	}
	if page.StatusCode == http.StatusTooManyRequests {
		_, page = blockedLoginPage(t, rp, b)
	}
	form := formFields(page.body)
	form.Set("email", email)
	form.Set("password", password)
	return b.post(rp.g.base+"/login", form)
}

// blockedLoginPage returns a new sign-in of rp and its password page, for
// b, whose client IP is blocked: the page b gets shows the block without
// the form or the passkey button. A browser from an address no test
// blocks opens the sign-in instead, and b takes over its cookies, to which
// the sign-in and the page's CSRF tokens are bound; b then posts from its
// own address all the same.
func blockedLoginPage(t *testing.T, rp *relyingParty, b *browser, opts ...oauth2.AuthCodeOption) (*flow, *response) {
	t.Helper()
	helper := newBrowser(t).from("127.0.0.254")
	f := rp.newFlow(opts...)
	page, at := helper.follow(f.authURL, rpRedirect)
	if page == nil || page.StatusCode != http.StatusOK {
		t.Fatalf("no login page for the helper browser (landed at %s)", at)
	}
	base, err := url.Parse(rp.g.base)
	if err != nil {
		t.Fatal(err)
	}
	b.c.Jar.SetCookies(base, helper.c.Jar.Cookies(base))
	return f, page
}

const blockedText = "You have reached the limit of attempts. Please try again later in 10 minutes."

func TestPasswordLockout(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend,
				"GATEHOUSE_PASSWORD_MAX_ATTEMPTS=3", "GATEHOUSE_PASSWORD_IP_MAX_ATTEMPTS=5")
			g.createUser(alice, "Alice", alicePass)
			g.createUser("bob@example.com", "Bob", "bob's long password")
			rp := newRelyingParty(t, g)

			t.Run("account", func(t *testing.T) {
				b := newBrowser(t).from("127.0.0.11")
				for i := range 2 {
					if r := tryPassword(t, rp, b, "bob@example.com", "wrong one"); r.StatusCode != http.StatusUnauthorized {
						t.Fatalf("attempt %d = %d", i+1, r.StatusCode)
					}
				}
				r := tryPassword(t, rp, b, "bob@example.com", "wrong one")
				if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, blockedText) {
					t.Fatalf("third wrong password = %d, want 429 with the block text:\n%s", r.StatusCode, r.body)
				}
				// The right password from another IP is refused too: the
				// account is blocked, and is not even checked.
				r = tryPassword(t, rp, newBrowser(t).from("127.0.0.12"), "BOB@example.com", "bob's long password")
				if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, "You have reached the limit of attempts") {
					t.Fatalf("right password on a blocked account = %d", r.StatusCode)
				}
				// Another account from the first IP still signs in.
				if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.11"), alice, alicePass); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("alice from the same IP = %d, want 303", r.StatusCode)
				}
				out := g.cli("", "users", "show", "bob@example.com") // the account itself is untouched
				if !strings.Contains(out, "active") {
					t.Errorf("users show = %q", out)
				}
			})

			t.Run("ip", func(t *testing.T) {
				b := newBrowser(t).from("127.0.0.21")
				for i := range 4 {
					r := tryPassword(t, rp, b, "nobody"+string(rune('a'+i))+"@example.com", "whatever pw")
					if r.StatusCode != http.StatusUnauthorized {
						t.Fatalf("attempt %d = %d", i+1, r.StatusCode)
					}
				}
				if r := tryPassword(t, rp, b, "someone@example.com", "whatever pw"); r.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("fifth failure from one IP = %d, want 429", r.StatusCode)
				}
				if r := tryPassword(t, rp, b, alice, alicePass); r.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("right password from a blocked IP = %d, want 429", r.StatusCode)
				}
				// The blocked IP sees the block on the form already.
				page, _ := b.follow(rp.newFlow().authURL, rpRedirect)
				if page == nil || page.StatusCode != http.StatusTooManyRequests || !strings.Contains(page.body, "You have reached the limit of attempts") {
					t.Fatalf("login form from a blocked IP does not show the block")
				}
				if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.22"), alice, alicePass); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("another IP = %d, want 303", r.StatusCode)
				}
			})

			t.Run("forwarded headers are not believed", func(t *testing.T) {
				b := newBrowser(t).from("127.0.0.31")
				for i := range 5 {
					b.header.Set("X-Forwarded-For", "10.9.9."+string(rune('1'+i)))
					tryPassword(t, rp, b, "x"+string(rune('a'+i))+"@example.com", "whatever pw")
				}
				b.header.Set("X-Forwarded-For", "10.1.1.1")
				if r := tryPassword(t, rp, b, alice, alicePass); r.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("a fresh X-Forwarded-For escaped the IP block: %d", r.StatusCode)
				}
			})
		})
	}
}
