package main

// The Form Post Response Mode (issue 16): with response_mode=form_post
// every authorization response, the code and the errors, comes back as a
// page whose form POSTs it to the redirect_uri, with the issuer (RFC 9207);
// the page works without scripts, lets only its own script run and its
// form go only to the redirect_uri's origin, and is never stored.

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// fpPage is a form_post page, parsed.
type fpPage struct {
	action string
	fields url.Values
}

var (
	fpFormRE   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	fpScriptRE = regexp.MustCompile(`<script nonce="([^"]+)">document\.forms\[0\]\.submit\(\);</script>`)
	fpNoscript = regexp.MustCompile(`(?s)<noscript>.*<button type="submit">[^<]+</button>.*</noscript>\s*</form>`)
	fpHandler  = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
)

// fpParse checks that resp is a form_post page to redirectURI that works
// without scripts, under a content security policy that allows its one
// script and a form to redirectURI's origin only, and not stored; and
// returns its form.
func fpParse(t *testing.T, resp *response, redirectURI string) fpPage {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("%d Location %q, want a 200 form_post page:\n%.600s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	m := fpFormRE.FindStringSubmatch(resp.body)
	if m == nil || strings.Count(resp.body, "<form") != 1 {
		t.Fatalf("no single POST form in the page:\n%s", resp.body)
	}
	p := fpPage{action: html.UnescapeString(m[1]), fields: formFields(resp.body)}
	if p.action != redirectURI {
		t.Errorf("form action %q, want %q", p.action, redirectURI)
	}
	if !fpNoscript.MatchString(resp.body) {
		t.Errorf("no submit button for browsers without scripts:\n%s", resp.body)
	}
	if fpHandler.MatchString(resp.body) {
		t.Errorf("the page has an inline event handler:\n%s", resp.body)
	}
	s := fpScriptRE.FindStringSubmatch(resp.body)
	if s == nil || strings.Count(resp.body, "<script") != 1 {
		t.Fatalf("want exactly the one submitting script:\n%s", resp.body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	u, _ := url.Parse(redirectURI)
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'nonce-" + s[1] + "'",
		"form-action":     u.Scheme + "://" + u.Host,
		"frame-ancestors": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("CSP %s = %q, want %q (policy %q)", name, got, want, csp)
		}
	}
	return p
}

// fpFlow is a code flow of rp asking for form_post, to redirectURI.
func fpFlow(rp *relyingParty, redirectURI string, extra ...oauth2.AuthCodeOption) *flow {
	cfg := *rp.oauth
	cfg.RedirectURL = redirectURI
	f := &flow{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("nonce", f.nonce), oauth2.S256ChallengeOption(f.verifier),
		oauth2.SetAuthURLParam("response_mode", "form_post"),
	}, extra...)
	f.authURL = cfg.AuthCodeURL(f.state, opts...)
	return f
}

// fpSignIn runs f in b up to the page that answers it, signing in on the
// way if the login asks.
func fpSignIn(t *testing.T, g *gatehouse, b *browser, f *flow) *response {
	t.Helper()
	page, at := b.follow(f.authURL, "")
	if strings.Contains(page.body, `autocomplete="current-password"`) {
		form := formFields(page.body)
		form.Set("email", alice)
		form.Set("password", alicePass)
		resp := b.post(g.base+"/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
		}
		page, at = b.follow(resp.Header.Get("Location"), "")
	}
	if !strings.HasPrefix(at, g.base+"/authorize") {
		t.Fatalf("the response came from %s, want /authorize or its callback", at)
	}
	return page
}

// fpReceiver is a relying party's redirect_uri: it takes the POSTed
// authorization responses.
type fpReceiver struct {
	srv   *httptest.Server
	posts chan url.Values
}

func newFPReceiver(t *testing.T) *fpReceiver {
	rc := &fpReceiver{posts: make(chan url.Values, 8)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/cb" || r.ParseForm() != nil {
			http.Error(w, "want a POSTed form at /cb", http.StatusBadRequest)
			return
		}
		rc.posts <- r.PostForm
		w.Write([]byte("received"))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *fpReceiver) uri() string { return rc.srv.URL + "/cb" }

// TestFormPost: with response_mode=form_post the code reaches the relying
// party as a POST (code, state, iss) that it exchanges, after a sign-in
// and through the SSO session; errors of /authorize, of the provider and
// of the login come back as form posts too, with state and iss; a state
// with markup is escaped; unknown and fragment response modes are
// invalid_request; discovery lists query and form_post.
func TestFormPost(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rc := newFPReceiver(t)
			rp := newRelyingParty(t, g, "--redirect-uri", rc.uri())
			b := newBrowser(t)

			// received submits the page's form as a browser without
			// scripts would, and returns what the relying party got.
			received := func(t *testing.T, p fpPage) url.Values {
				t.Helper()
				if resp := b.post(p.action, p.fields); resp.StatusCode != http.StatusOK {
					t.Fatalf("POST to the redirect_uri = %d %s", resp.StatusCode, resp.body)
				}
				return <-rc.posts
			}
			exchange := func(t *testing.T, got url.Values, f *flow) {
				t.Helper()
				if got.Get("state") != f.state || got.Get("iss") != g.base || got.Get("code") == "" || got.Has("error") {
					t.Fatalf("the relying party received %v, want code, state %q and iss %q", got, f.state, g.base)
				}
				cfg := *rp.oauth
				cfg.RedirectURL = rc.uri()
				tok, err := cfg.Exchange(t.Context(), got.Get("code"), oauth2.VerifierOption(f.verifier))
				if err != nil {
					t.Fatalf("exchange of the posted code: %v", err)
				}
				raw, _ := tok.Extra("id_token").(string)
				rp.remember(got.Get("code"), tok.AccessToken, tok.RefreshToken, raw)
				idt, err := rp.verifier.Verify(t.Context(), raw)
				if err != nil {
					t.Fatalf("verify ID token: %v", err)
				}
				if idt.Nonce != f.nonce {
					t.Errorf("nonce %q, want %q", idt.Nonce, f.nonce)
				}
			}

			t.Run("code after sign-in", func(t *testing.T) {
				f := fpFlow(rp, rc.uri())
				p := fpParse(t, fpSignIn(t, g, b, f), rc.uri())
				exchange(t, received(t, p), f)
			})
			t.Run("code from the SSO session", func(t *testing.T) {
				f := fpFlow(rp, rc.uri())
				resp, at := b.follow(f.authURL, "")
				if !strings.HasPrefix(at, g.base+"/authorize/callback") {
					t.Fatalf("with a session the flow ended at %s, want the callback:\n%.300s", at, resp.body)
				}
				exchange(t, received(t, fpParse(t, resp, rc.uri())), f)
			})
			t.Run("query stays a redirect", func(t *testing.T) {
				f := rp.newFlow()
				code := rp.signIn(b, f, alice, alicePass)
				rp.exchange(code, f)
			})

			errorPost := func(t *testing.T, resp *response, want, state string) {
				t.Helper()
				p := fpParse(t, resp, rc.uri())
				got := received(t, p)
				if got.Get("error") != want || got.Get("state") != state || got.Get("iss") != g.base || got.Has("code") {
					t.Errorf("the relying party received %v, want error %s, state %q, iss", got, want, state)
				}
			}
			t.Run("error of /authorize", func(t *testing.T) {
				f := fpFlow(rp, rc.uri())
				u, _ := url.Parse(f.authURL)
				q := u.Query()
				q.Del("response_type")
				errorPost(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), "invalid_request", f.state)
			})
			t.Run("error of the provider", func(t *testing.T) {
				f := fpFlow(rp, rc.uri(), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
				errorPost(t, newBrowser(t).get(f.authURL), "invalid_request", f.state)
			})
			t.Run("error of the login", func(t *testing.T) {
				f := fpFlow(rp, rc.uri(), oauth2.SetAuthURLParam("prompt", "none"))
				resp, _ := newBrowser(t).follow(f.authURL, "")
				errorPost(t, resp, "login_required", f.state)
			})
			t.Run("state with markup", func(t *testing.T) {
				evil := `"><script>alert(1)</script><input name="code" value="x`
				for _, extra := range [][]oauth2.AuthCodeOption{
					{oauth2.SetAuthURLParam("prompt", "none")},             // the login's error
					{oauth2.SetAuthURLParam("code_challenge_method", "x")}, // the provider's
				} {
					f := fpFlow(rp, rc.uri(), extra...)
					u, _ := url.Parse(f.authURL)
					q := u.Query()
					q.Set("state", evil)
					resp, _ := newBrowser(t).follow(g.base+"/authorize?"+q.Encode(), "")
					if strings.Contains(resp.body, "<script>alert") || strings.Contains(resp.body, `<input name="code"`) {
						t.Fatalf("the state's markup is in the page:\n%s", resp.body)
					}
					p := fpParse(t, resp, rc.uri())
					if p.fields.Get("state") != evil || p.fields.Has("code") {
						t.Errorf("fields %v, want the state as sent and no code", p.fields)
					}
				}
			})
			t.Run("unsupported response modes", func(t *testing.T) {
				for _, tc := range []struct {
					mode     string
					fragment bool
				}{{"fragment", true}, {"form_post.jwt", false}, {"web_message", false}} {
					f := fpFlow(rp, rc.uri(), oauth2.SetAuthURLParam("response_mode", tc.mode))
					paErrorAt(t, newBrowser(t).get(f.authURL), rc.uri(), "invalid_request", f.state, tc.fragment)
				}
			})
			t.Run("discovery", func(t *testing.T) {
				var doc struct {
					Modes []string `json:"response_modes_supported"`
				}
				if err := json.Unmarshal([]byte(newBrowser(t).get(g.base+"/.well-known/openid-configuration").body), &doc); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(doc.Modes, []string{"query", "form_post"}) {
					t.Errorf("response_modes_supported = %v, want [query form_post]", doc.Modes)
				}
			})
		})
	}
}
