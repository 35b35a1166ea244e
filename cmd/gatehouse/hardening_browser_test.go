package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestEveryAnswerNotStored checks the headers of the answers that no page
// handler writes — the routers' 404 and 405, and the probes — next to
// pages and error pages: each carries the page headers (SECURITY.md
// SES-05, SES-06), Cache-Control: no-store, and no CORS header for a
// cross-site Origin (SES-07). The answers that may be cached (the
// stylesheet, the discovery document) keep their own Cache-Control.
func TestEveryAnswerNotStored(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			b := newBrowser(t)
			b.header.Set("Origin", "https://evil.example")
			for _, tt := range []struct {
				method, path string
				status       int
				cache        string // the Cache-Control wanted
			}{
				{http.MethodGet, "/no/such/page", http.StatusNotFound, "no-store"},
				{http.MethodGet, "/account/no-such-page", http.StatusNotFound, "no-store"},
				{http.MethodDelete, "/login", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodPut, "/account", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodPatch, "/logout", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodGet, "/healthz", http.StatusOK, "no-store"},
				{http.MethodGet, "/login", http.StatusBadRequest, "no-store"},
				{http.MethodPost, "/logout", http.StatusForbidden, "no-store"},
				{http.MethodGet, "/signed-out", http.StatusOK, "no-store"},
				{http.MethodGet, "/authorize", http.StatusBadRequest, "no-store"},
				{http.MethodGet, "/static/gatehouse.css", http.StatusOK, "public, max-age=3600"},
				{http.MethodGet, discoveryPath, http.StatusOK, "public, max-age=300"},
			} {
				req, err := http.NewRequest(tt.method, g.base+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp := b.do(req)
				h := resp.Header
				if resp.StatusCode != tt.status || h.Get("Cache-Control") != tt.cache {
					t.Errorf("%s %s = %d, Cache-Control %q; want %d, %q", tt.method, tt.path, resp.StatusCode, h.Get("Cache-Control"), tt.status, tt.cache)
				}
				if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
					h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s %s: CSP %q, nosniff %q", tt.method, tt.path, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
				}
				if tt.path != discoveryPath && (h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer") {
					t.Errorf("%s %s: X-Frame-Options %q, Referrer-Policy %q", tt.method, tt.path, h.Get("X-Frame-Options"), h.Get("Referrer-Policy"))
				}
				if tt.path != discoveryPath && (h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "") {
					t.Errorf("%s %s: CORS headers %q %q for a cross-site Origin", tt.method, tt.path,
						h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
				}
			}
		})
	}
}

// TestReauthNewSessionID checks on the binary, on both backends, that a
// re-authentication and a password change give the browser's session a new
// cookie (SECURITY.md SES-02): the cookie from before signs nobody in to
// the account area, and a relying party's prompt=none with it gets
// login_required, while the browser goes on signed in with the new one.
func TestReauthNewSessionID(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := ssStart(t, databaseURL(t, backend))
			sessionCookie := func(b *browser) string {
				u, _ := url.Parse(e.g.base)
				for _, c := range b.c.Jar.Cookies(u) {
					if c.Name == "gh_session" {
						return c.Value
					}
				}
				return ""
			}
			// signedIn reports whether the session cookie value lets a
			// browser into the account page, and into a relying party
			// with prompt=none.
			signedIn := func(t *testing.T, value string) (account, silent bool) {
				b := e.browser(t)
				u, _ := url.Parse(e.g.base)
				b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_session", Value: value, Path: "/"}})
				account = b.get(e.g.base+"/account").StatusCode == http.StatusOK
				rp := e.relyingParty(t)
				f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
				_, loc := b.follow(f.authURL, rpRedirect)
				cb, err := url.Parse(loc)
				silent = err == nil && loc != "" && cb.Query().Get("code") != ""
				return account, silent
			}
			for _, tt := range []struct {
				name string
				step func(t *testing.T, b *browser, u *ssUser)
			}{
				{"re-authentication", func(t *testing.T, b *browser, u *ssUser) {
					resp := b.post(e.g.base+"/account/email", ssWith(ssForm(t, b.get(e.g.base+"/account").body, "/account/email"),
						"email", "elsewhere-"+u.email))
					if resp = e.suReauth(t, b, resp, u.pass, ""); resp.StatusCode != http.StatusSeeOther || e.suPath(resp) != "/account" {
						t.Fatalf("re-authentication = %d %q", resp.StatusCode, e.suPath(resp))
					}
				}},
				{"password change", func(t *testing.T, b *browser, u *ssUser) {
					form := ssWith(ssForm(t, b.get(e.g.base+"/account/password").body, "/account/password"),
						"current", u.pass, "password", "a brand new password 1", "password2", "a brand new password 1")
					if resp := b.post(e.g.base+"/account/password", form); resp.StatusCode != http.StatusOK {
						t.Fatalf("password change = %d:\n%s", resp.StatusCode, resp.body)
					}
				}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					u := e.newUser(t, strings.ReplaceAll(tt.name, " ", "-")+"@example.com")
					b, _ := e.suStale(t, u, nil)
					before := sessionCookie(b)
					tt.step(t, b, u)
					after := sessionCookie(b)
					if after == "" || after == before {
						t.Fatalf("session cookie %q after the %s, want a new one (was %q)", after, tt.name, before)
					}
					if account, silent := signedIn(t, before); account || silent {
						t.Errorf("the cookie from before the %s: account page %v, prompt=none signs in %v; want neither", tt.name, account, silent)
					}
					if account, silent := signedIn(t, after); !account || !silent {
						t.Errorf("the new cookie: account page %v, prompt=none signs in %v; want both", account, silent)
					}
				})
			}
		})
	}
}
