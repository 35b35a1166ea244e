package main

// The authorization endpoint as strict relying parties and the OpenID
// conformance suite check it (issue 16 §1): errors go back to a registered
// redirect_uri (loopback http included) with state, the error page only
// for a bad client or redirect_uri and in the product's words; repeated
// parameters, request_uri and request are refused; a request without the
// openid scope is plain OAuth 2.0.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const paLocalCB = "http://localhost:7/cb" // a public client's loopback redirect_uri

// paQuery returns a code request of client to redirectURI with state.
func paQuery(clientID, redirectURI, state string) url.Values {
	_, challenge := pkce()
	return url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {state}, "nonce": {"n-" + state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// paErrorAt checks that resp redirects to redirectURI with the error want
// and the state, in the query or (fragment) the fragment, and no code.
func paErrorAt(t *testing.T, resp *response, redirectURI, want, state string, fragment bool) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("%d Location %q, want 302 to %s:\n%.400s", resp.StatusCode, loc, redirectURI, resp.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	params := u.Query()
	if fragment {
		if params, err = url.ParseQuery(u.Fragment); err != nil {
			t.Fatalf("fragment of %s: %v", loc, err)
		}
	}
	if got := params.Get("error"); got != want {
		t.Errorf("redirect %s: error %q, want %q", loc, got, want)
	}
	if got := params.Get("state"); got != state {
		t.Errorf("redirect %s: state %q, want %q", loc, got, state)
	}
	if params.Has("code") {
		t.Errorf("redirect %s carries a code", loc)
	}
}

// libraryTexts are the provider library's words, which no page shows.
var libraryTexts = []string{
	"If you have any questions", "unable to retrieve client", "redirect_uri is http",
	"missing in the client configuration", "auth request", "<", "doctype",
}

// paPage checks that resp is the error page with status, saying want (in
// the page's language), without the library's words.
func paPage(t *testing.T, resp *response, status int, want string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Location") != "" {
		t.Fatalf("%d Location %q, want the error page (%d):\n%.400s", resp.StatusCode, resp.Header.Get("Location"), status, resp.body)
	}
	alert := tfAlert(resp.body)
	if !strings.Contains(alert, want) {
		t.Errorf("the page does not say %q:\n%s", want, alert)
	}
	for _, s := range libraryTexts {
		if strings.Contains(alert, s) {
			t.Errorf("the page shows %q:\n%s", s, alert)
		}
	}
}

// TestAuthorizeErrorRedirects: an error of a request whose client and
// loopback http redirect_uri are registered goes back to the redirect_uri
// (RFC 6749 §4.1.2.1), unsupported_response_type for the response types
// Gatehouse does not offer; only a bad client or redirect_uri gets the
// page, which says so in the product's words, in English or Russian.
func TestAuthorizeErrorRedirects(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			confidential := g.createClient("--name", "Loopback App", "--redirect-uri", rpRedirect)
			public := g.createClient("--name", "Native App", "--public", "--redirect-uri", paLocalCB)
			for _, c := range []struct {
				client
				cb string
			}{{confidential, rpRedirect}, {public, paLocalCB}} {
				for _, tc := range []struct {
					responseType string // "-": none
					want         string
					fragment     bool
				}{
					{"token", "unsupported_response_type", false},
					{"id_token", "unsupported_response_type", true},
					{"code id_token", "unsupported_response_type", false},
					{"id_token token", "unsupported_response_type", true},
					{"junk", "unsupported_response_type", false},
					{"-", "invalid_request", false},
				} {
					t.Run(c.cb+" "+tc.responseType, func(t *testing.T) {
						q := paQuery(c.ID, c.cb, "st-"+randomString())
						if tc.responseType == "-" {
							q.Del("response_type")
						} else {
							q.Set("response_type", tc.responseType)
						}
						resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
						paErrorAt(t, resp, c.cb, tc.want, q.Get("state"), tc.fragment)
					})
				}
			}

			pages := []struct {
				name   string
				query  func() url.Values
				en, ru string
			}{
				{"unknown client", func() url.Values { return paQuery("no-such-client", rpRedirect, "p1") },
					"(the application is not registered)", "(приложение не зарегистрировано)"},
				{"unregistered redirect_uri", func() url.Values { return paQuery(confidential.ID, rpRedirect+"x", "p2") },
					"(its redirect_uri is not registered for the application)", "(его redirect_uri не зарегистрирован для приложения)"},
				{"missing redirect_uri", func() url.Values {
					q := paQuery(confidential.ID, "", "p3")
					q.Del("redirect_uri")
					return q
				}, "(redirect_uri is missing)", "(нет redirect_uri)"},
				{"missing client_id", func() url.Values {
					q := paQuery("", rpRedirect, "p4")
					q.Del("client_id")
					return q
				}, "(client_id is missing)", "(нет client_id)"},
				{"unsupported response_type, unknown client", func() url.Values {
					q := paQuery("no-such-client", rpRedirect, "p5")
					q.Set("response_type", "token")
					return q
				}, "(the application is not registered)", "(приложение не зарегистрировано)"},
				{"unsupported response_type, unregistered redirect_uri", func() url.Values {
					q := paQuery(confidential.ID, "https://evil.example/cb", "p6")
					q.Set("response_type", "token")
					return q
				}, "(its redirect_uri is not registered for the application)", "(его redirect_uri не зарегистрирован для приложения)"},
			}
			for _, p := range pages {
				t.Run(p.name, func(t *testing.T) {
					q := p.query()
					paPage(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), http.StatusBadRequest, p.en)
					q.Set("ui_locales", "ru")
					paPage(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), http.StatusBadRequest, p.ru)
				})
			}

			// The callback's own page is shown as it is, not quoted
			// inside another.
			t.Run("callback", func(t *testing.T) {
				resp := newBrowser(t).get(g.base + "/authorize/callback?id=no-such-request")
				paPage(t, resp, http.StatusBadRequest, "This sign-in request has expired or is not valid.")
			})
		})
	}
}

// TestAuthorizeRepeatedParameters: a parameter given twice is
// invalid_request (RFC 6749 §3.1), at the redirect_uri when client_id and
// redirect_uri are each given once and registered, else on the page.
func TestAuthorizeRepeatedParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			c := g.createClient("--name", "Loopback App", "--redirect-uri", rpRedirect)
			for _, name := range []string{"state", "scope", "nonce", "response_type", "code_challenge", "prompt"} {
				t.Run(name, func(t *testing.T) {
					q := paQuery(c.ID, rpRedirect, "r-"+name)
					for len(q[name]) < 2 {
						q.Add(name, "login")
					}
					state := q.Get("state")
					if name == "state" {
						state = "" // which one is the client's is unknown
					}
					paErrorAt(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), rpRedirect, "invalid_request", state, false)
				})
			}
			// In the query and in a POSTed body.
			t.Run("query and body", func(t *testing.T) {
				q := paQuery(c.ID, rpRedirect, "r-post")
				b := newBrowser(t)
				resp := b.post(g.base+"/authorize?state=other", q)
				paErrorAt(t, resp, rpRedirect, "invalid_request", "", false)
			})
			for _, tc := range []struct{ name, value, want string }{
				{"client_id", c.ID, "(client_id is given more than once)"},
				{"redirect_uri", rpRedirect, "(redirect_uri is given more than once)"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					q := paQuery(c.ID, rpRedirect, "r-"+tc.name)
					q.Add(tc.name, tc.value)
					paPage(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), http.StatusBadRequest, tc.want)
				})
			}
		})
	}
}

// TestAuthorizeRequestObjects: request_uri is request_uri_not_supported
// and request request_not_supported (OIDC Core §3.1.2.6), and discovery
// says neither is supported.
func TestAuthorizeRequestObjects(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			c := g.createClient("--name", "Loopback App", "--redirect-uri", rpRedirect)
			for _, tc := range []struct{ param, value, want string }{
				// A pushed request's urn that was never handed out (par.go).
				{"request_uri", "urn:ietf:params:oauth:request_uri:abc", "invalid_request_uri"},
				{"request_uri", "https://rp.example/req.jwt", "request_uri_not_supported"},
				{"request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ.", "request_not_supported"},
			} {
				t.Run(tc.param, func(t *testing.T) {
					q := paQuery(c.ID, rpRedirect, "o-"+randomString())
					q.Set(tc.param, tc.value)
					paErrorAt(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), rpRedirect, tc.want, q.Get("state"), false)
				})
			}
			t.Run("request_uri, unknown client", func(t *testing.T) {
				q := paQuery("no-such-client", rpRedirect, "o-unknown")
				q.Set("request_uri", "urn:x")
				paPage(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), http.StatusBadRequest, "(the application is not registered)")
			})
			t.Run("discovery", func(t *testing.T) {
				resp := newBrowser(t).get(g.base + "/.well-known/openid-configuration")
				var doc map[string]any
				if err := json.Unmarshal([]byte(resp.body), &doc); err != nil {
					t.Fatalf("discovery: %v", err)
				}
				if v, ok := doc["request_uri_parameter_supported"]; !ok || v != false {
					t.Errorf("request_uri_parameter_supported = %v (present %v), want false", v, ok)
				}
				if v := doc["request_parameter_supported"]; v == true {
					t.Errorf("request_parameter_supported = true")
				}
			})
		})
	}
}

// TestPlainOAuth: a request without the openid scope is OAuth 2.0, not
// OpenID Connect: its token responses, from the code and from a refresh,
// hold no ID token, and userinfo refuses its access token.
func TestPlainOAuth(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)
			for _, tc := range []struct {
				scopes []string
				oidc   bool
			}{
				{[]string{"email", "profile", "offline_access"}, false},
				{[]string{"openid", "email", "profile", "offline_access"}, true},
			} {
				t.Run(strings.Join(tc.scopes, " "), func(t *testing.T) {
					cfg := *rp.oauth
					cfg.Scopes = tc.scopes
					f := &flow{state: randomString(), verifier: oauth2.GenerateVerifier()}
					f.authURL = cfg.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier))
					code := rp.signIn(newBrowser(t), f, alice, alicePass)
					tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(f.verifier))
					if err != nil {
						t.Fatalf("exchange: %v", err)
					}
					rp.remember(tok.AccessToken, tok.RefreshToken)
					if _, has := tok.Extra("id_token").(string); has != tc.oidc {
						t.Errorf("code exchange: id_token present %v, want %v", has, tc.oidc)
					}
					if status := paUserinfo(t, rp, tok.AccessToken); (status == http.StatusOK) != tc.oidc {
						t.Errorf("userinfo = %d, want 200 %v", status, tc.oidc)
					}
					if tok.RefreshToken == "" {
						t.Fatal("no refresh token")
					}
					status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
					if status != http.StatusOK {
						t.Fatalf("refresh = %d %v", status, out)
					}
					if _, has := out["id_token"]; has != tc.oidc {
						t.Errorf("refresh: id_token present %v, want %v", has, tc.oidc)
					}
				})
			}
		})
	}
}

// paUserinfo calls userinfo with token and returns the status.
func paUserinfo(t *testing.T, rp *relyingParty, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rp.provider.UserInfoEndpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuthorizeMalformedParameters: a max_age that is not a number of
// seconds, or a code_challenge that is no base64url SHA-256 (RFC 7636
// §4.2), in a request whose client and redirect_uri are registered, is
// invalid_request at the redirect_uri with state and iss (RFC 6749
// §4.1.2.1, OIDC Core §3.1.2.6), not the error page and not a sign-in;
// a pushed request with such a challenge is refused too. A max_age too
// long for any session to exceed asks for no new sign-in.
func TestAuthorizeMalformedParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)
			public := g.createClient("--name", "Native App", "--public", "--redirect-uri", paLocalCB)
			for _, c := range []struct {
				id, cb string
			}{{rp.client.ID, rpRedirect}, {public.ID, paLocalCB}} {
				for _, tc := range []struct{ name, value string }{
					{"max_age", "abc"},
					{"max_age", "-1"},
					{"max_age", "1.5"},
					{"max_age", "+5"},
					{"max_age", "99999999999999999999999"},
					{"code_challenge", strings.Repeat("a", 42) + "!"},
					{"code_challenge", strings.Repeat("a", 42) + "="},
					{"code_challenge", strings.Repeat("a", 42) + "+"},
					{"code_challenge", strings.Repeat("a", 42) + "~"},
					{"code_challenge", strings.Repeat("a", 42) + "\n"},
				} {
					t.Run(c.cb+" "+tc.name+"="+tc.value, func(t *testing.T) {
						q := paQuery(c.id, c.cb, "mp-"+randomString())
						q.Set(tc.name, tc.value)
						resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
						paErrorAt(t, resp, c.cb, "invalid_request", q.Get("state"), false)
						if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("iss") != g.base {
							t.Errorf("redirect %s: iss, want %s", resp.Header.Get("Location"), g.base)
						}
					})
				}
			}

			t.Run("pushed", func(t *testing.T) {
				form := paQuery(rp.client.ID, rpRedirect, "mp-par")
				form.Set("code_challenge", strings.Repeat("a", 42)+"!")
				if resp := parPush(t, g, form, rp.client.ID, rp.client.Secret); resp.status != http.StatusBadRequest || resp.body["error"] != "invalid_request" {
					t.Errorf("POST /oauth/par with a malformed code_challenge: %d %v, want 400 invalid_request", resp.status, resp.body)
				}
			})

			t.Run("long max_age", func(t *testing.T) {
				b, _ := signInForHint(t, rp, alice, alicePass)
				for _, maxAge := range []string{"10000000000", "18446744073709551615"} {
					f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", maxAge))
					if _, at := b.follow(f.authURL, rpRedirect); !strings.Contains(at, "code=") {
						t.Errorf("prompt=none, max_age=%s, a session of now: %s, want a code", maxAge, at)
					}
				}
			})
		})
	}
}

// TestAuthorizeEmptyParameters: a parameter sent without a value is
// treated as omitted (RFC 6749 §3.1): an empty request_uri is no
// request_uri, and an empty second value is no repetition.
func TestAuthorizeEmptyParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			c := g.createClient("--name", "Loopback App", "--redirect-uri", rpRedirect)
			for _, name := range []string{"request_uri", "request", "client_id", "redirect_uri", "state", "scope", "response_type", "code_challenge", "max_age", "prompt"} {
				t.Run(name, func(t *testing.T) {
					q := paQuery(c.ID, rpRedirect, "e-"+name)
					q.Add(name, "")
					for _, method := range []string{http.MethodGet, http.MethodPost} {
						b := newBrowser(t)
						var resp *response
						if method == http.MethodGet {
							resp = b.get(g.base + "/authorize?" + q.Encode())
						} else {
							resp = b.post(g.base+"/authorize", q)
						}
						if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, g.base+"/login?") {
							t.Errorf("%s with an empty %s: %d Location %q, want the login page:\n%.400s", method, name, resp.StatusCode, loc, tfAlert(resp.body))
						}
					}
				})
			}
			// prompt=none and an empty prompt is prompt=none.
			q := paQuery(c.ID, rpRedirect, "e-none")
			q["prompt"] = []string{"none", ""}
			page, at := newBrowser(t).follow(g.base+"/authorize?"+q.Encode(), rpRedirect)
			if page != nil {
				t.Fatalf("prompt=none and an empty prompt ended at %s (%d)", at, page.StatusCode)
			}
			if p := responseParams(t, at); p.Get("error") != "login_required" || p.Get("state") != "e-none" {
				t.Errorf("prompt=none and an empty prompt: %s, want login_required with the state", at)
			}
		})
	}
}

// TestPushedEmptyParameters: a pushed request's parameter sent without a
// value is omitted too (RFC 6749 §3.1, RFC 9126 §2.1).
func TestPushedEmptyParameters(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			rp := newRelyingParty(t, g)
			for _, name := range []string{"request_uri", "request", "state", "scope", "response_type", "code_challenge", "prompt"} {
				form := paQuery(rp.client.ID, rpRedirect, "pe-"+name)
				form.Add(name, "")
				if resp := parPush(t, g, form, rp.client.ID, rp.client.Secret); resp.status != http.StatusCreated {
					t.Errorf("POST /oauth/par with an empty %s: %d %v, want 201", name, resp.status, resp.body)
				}
			}
		})
	}
}
