package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOddBytesInAddresses types addresses that are not UTF-8 or hold NUL
// into the sign-in, recovery and registration forms, on both backends:
// each is refused as a wrong or invalid address. PostgreSQL refuses such
// text outright, and the sign-in answered 503, as for a database outage,
// before NormalizeEmail turned it away.
func TestOddBytesInAddresses(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g)
			for _, odd := range []string{"a\x00b@example.com", "a\xffb@example.com", alice + "\x00"} {
				b := newBrowser(t)
				page, _ := b.follow(rp.newFlow().authURL, rpRedirect)
				if page == nil {
					t.Fatal("no sign-in page")
				}
				form := formFields(page.body)
				form.Set("email", odd)
				form.Set("password", alicePass)
				if r := b.post(g.base+"/login", form); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("POST /login with the address %q = %d, want 401", odd, r.StatusCode)
				}
				for _, path := range []string{"/recover", "/register"} {
					fb := newBrowser(t)
					fm := formFields(fb.get(g.base + path).body)
					fm.Set("email", odd)
					fm.Set("name", "Odd")
					fm.Set("password", "a long enough passphrase 42")
					fm.Set("confirm", "a long enough passphrase 42")
					if r := fb.post(g.base+path, fm); r.StatusCode >= 500 {
						t.Errorf("POST %s with the address %q = %d", path, odd, r.StatusCode)
					}
				}
			}
		})
	}
}

// TestOddBytesInIdentifiers sends client ids, request ids, codes and
// tokens that are not UTF-8 or hold NUL to every endpoint that looks
// one up, on both backends: each is an unknown one (4xx, or the
// authorization endpoint's error page), never a 5xx. On PostgreSQL,
// which refuses such text, they answered 503, as for a database outage.
func TestOddBytesInIdentifiers(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			rp := newRelyingParty(t, g)
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			own := url.Values{"client_id": {rp.client.ID}, "client_secret": {rp.client.Secret}}
			with := func(v url.Values, kv ...string) url.Values {
				v = cloneForm(v)
				for i := 0; i < len(kv); i += 2 {
					v.Set(kv[i], kv[i+1])
				}
				return v
			}
			for _, odd := range []string{"a\x00b", "a\xffb"} {
				for _, tc := range []struct {
					path string
					form url.Values // nil: GET
				}{
					{"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {odd}, "client_secret": {"x"}}},
					{"/oauth/token", with(own, "grant_type", "authorization_code", "code", odd)},
					{"/oauth/token", with(own, "grant_type", "refresh_token", "refresh_token", odd)},
					{"/oauth/introspect", with(own, "token", odd)},
					{"/revoke", with(own, "token", odd)},
					{"/oauth/par", url.Values{"client_id": {odd}, "response_type": {"code"}}},
					{"/authorize?" + url.Values{"client_id": {odd}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpRedirect}}.Encode(), nil},
					{"/end_session?" + url.Values{"client_id": {odd}}.Encode(), nil},
					{"/userinfo?" + url.Values{"access_token": {odd}}.Encode(), nil},
					{"/login?" + url.Values{"authRequestID": {odd}}.Encode(), nil},
				} {
					var (
						resp *http.Response
						err  error
					)
					if tc.form == nil {
						resp, err = noRedirect.Get(g.base + tc.path)
					} else {
						resp, err = noRedirect.PostForm(g.base+tc.path, tc.form)
					}
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode >= 500 {
						t.Errorf("%s with %q = %d", tc.path, odd, resp.StatusCode)
					}
				}
			}
		})
	}
}

// TestOddBytesInNames types names that are not plain text (NUL, bytes that
// are not UTF-8, a line break) into the account page and the registration
// form, on both backends: each is refused as an invalid name (400), never a
// 5xx (PostgreSQL refuses NUL and such bytes as a failure of the
// database), and nothing is stored.
func TestOddBytesInNames(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g)
			b := newBrowser(t)
			rp.signIn(b, rp.newFlow(), alice, alicePass)
			for i, odd := range []string{"a\x00b", "a\xffb", "a\nb"} {
				form := formFields(b.get(g.base + "/account").body)
				form.Set("name", odd)
				if r := b.post(g.base+"/account/name", form); r.StatusCode != http.StatusBadRequest {
					t.Errorf("POST /account/name %q = %d, want 400", odd, r.StatusCode)
				}
				reg := newBrowser(t)
				rf := formFields(reg.get(g.base + "/register").body)
				rf.Set("email", fmt.Sprintf("odd-name-%d@example.com", i))
				rf.Set("name", odd)
				rf.Set("password", "a long enough passphrase 42")
				rf.Set("confirm", "a long enough passphrase 42")
				if r := reg.post(g.base+"/register", rf); r.StatusCode != http.StatusBadRequest {
					t.Errorf("POST /register with the name %q = %d, want 400", odd, r.StatusCode)
				}
			}
			if show := g.cli("", "users", "show", alice); !strings.Contains(show, "Alice Liddell") {
				t.Errorf("alice's name after the refused changes:\n%s", show)
			}
		})
	}
}
