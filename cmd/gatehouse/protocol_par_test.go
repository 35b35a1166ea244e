package main

// Pushed authorization requests (RFC 9126, issue 16): a client pushes its
// request to /oauth/par, authenticated as at the token endpoint, and sends
// the browser to /authorize with the request_uri it got, which works once,
// for that client, within its minute, on any replica; a client may be
// required to push.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// parResponse is an answer of the pushed authorization request endpoint.
type parResponse struct {
	status int
	header http.Header
	body   map[string]any
}

// parPush posts form to g's pushed authorization request endpoint, with
// HTTP Basic credentials unless user is "".
func parPush(t *testing.T, g *gatehouse, form url.Values, user, pass string) parResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base+"/oauth/par", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := parResponse{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("POST /oauth/par = %d, body not JSON: %q", resp.StatusCode, raw)
	}
	return out
}

// parFlowParams returns the authorization request parameters of f.
func parFlowParams(t *testing.T, f *flow) url.Values {
	t.Helper()
	u, err := url.Parse(f.authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// parRequestURI pushes f as rp's client and returns the request_uri.
func parRequestURI(t *testing.T, rp *relyingParty, f *flow) string {
	t.Helper()
	resp := parPush(t, rp.g, parFlowParams(t, f), rp.client.ID, rp.client.Secret)
	if resp.status != http.StatusCreated {
		t.Fatalf("POST /oauth/par = %d %v, want 201", resp.status, resp.body)
	}
	uri, _ := resp.body["request_uri"].(string)
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || len(uri) < 60 {
		t.Fatalf("request_uri %q", uri)
	}
	if resp.body["expires_in"] != float64(60) {
		t.Errorf("expires_in = %v, want 60", resp.body["expires_in"])
	}
	if cc := resp.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	rp.remember(strings.TrimPrefix(uri, "urn:ietf:params:oauth:request_uri:"))
	return uri
}

// parAuthorizeURL is the front-channel request for requestURI.
func parAuthorizeURL(g *gatehouse, clientID, requestURI string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "request_uri": {requestURI}}
	for k, v := range extra {
		q[k] = v
	}
	return g.base + "/authorize?" + q.Encode()
}

// parProceeds reports whether resp, the answer to a front-channel request,
// sends the browser on to the login: the request was accepted.
func parProceeds(g *gatehouse, resp *http.Response) bool {
	return resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), g.base+"/login")
}

// parRace sends n front-channel requests for requestURI at once, spread
// over the bases, each from its own browser, and returns how many were
// accepted and how many got invalid_request_uri.
func parRace(t *testing.T, g *gatehouse, bases []string, clientID, requestURI string, n int) (accepted, refused int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			c := newBrowser(t).c
			resp, err := c.Get(strings.Replace(parAuthorizeURL(g, clientID, requestURI, nil), g.base, bases[i%len(bases)], 1))
			if err != nil {
				t.Errorf("GET /authorize: %v", err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if strings.HasPrefix(resp.Header.Get("Location"), bases[i%len(bases)]+"/login") || parProceeds(g, resp) {
				accepted++
			} else if strings.Contains(resp.Header.Get("Location"), "error=invalid_request_uri") {
				refused++
			}
		})
	}
	wg.Wait()
	return accepted, refused
}

// TestPAR: a pushed request signs the user in through the browser and
// gives the relying party its code, whatever else the front channel says;
// its request_uri works once (also against 20 parallel uses), not after
// its minute, and only for the client that pushed it; pushing needs the
// client's credentials and a request /authorize would accept; a client
// that requires pushed requests is refused plain ones; discovery names
// the endpoint, which has no CORS; the log holds no request_uri.
func TestPAR(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			clockFile := filepath.Join(t.TempDir(), "clock")
			setClock(t, clockFile, 0)
			g := startGatehouse(t, backend, "GATEHOUSE_TEST_CLOCK_FILE="+clockFile, "GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off")
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)
			public := g.createClient("--name", "Native App", "--public", "--redirect-uri", paLocalCB)

			t.Run("sign-in", func(t *testing.T) {
				f := rp.newFlow()
				uri := parRequestURI(t, rp, f)
				// The front channel's other parameters are ignored.
				f.authURL = parAuthorizeURL(g, rp.client.ID, uri, url.Values{
					"state": {"front"}, "redirect_uri": {"https://evil.example/cb"}, "scope": {"openid"}, "prompt": {"none"},
				})
				code := rp.signIn(newBrowser(t), f, alice, alicePass)
				_, _, claims := rp.exchange(code, f)
				if claims.Email != alice {
					t.Errorf("claims %+v: the pushed scopes were not used", claims)
				}

				// Used once: the replay's error goes to the pushed request's
				// redirect_uri, with its state.
				resp := newBrowser(t).get(parAuthorizeURL(g, rp.client.ID, uri, nil))
				paErrorAt(t, resp, rpRedirect, "invalid_request_uri", f.state, false)
			})

			t.Run("form_post", func(t *testing.T) {
				f := rp.newFlow(oauth2.SetAuthURLParam("response_mode", "form_post"))
				uri := parRequestURI(t, rp, f)
				f.authURL = parAuthorizeURL(g, rp.client.ID, uri, nil)
				page := fpSignIn(t, g, newBrowser(t), f)
				p := fpParse(t, page, rpRedirect)
				if p.fields.Get("state") != f.state || p.fields.Get("iss") != g.base || p.fields.Get("code") == "" {
					t.Fatalf("form fields %v", p.fields)
				}
				rp.remember(p.fields.Get("code"))
				rp.exchange(p.fields.Get("code"), f)
			})

			t.Run("20 parallel uses", func(t *testing.T) {
				uri := parRequestURI(t, rp, rp.newFlow())
				accepted, refused := parRace(t, g, []string{g.base}, rp.client.ID, uri, 20)
				if accepted != 1 || refused != 19 {
					t.Errorf("20 parallel uses: %d accepted, %d invalid_request_uri; want 1 and 19", accepted, refused)
				}
			})

			t.Run("another client's request_uri", func(t *testing.T) {
				f := rp.newFlow()
				uri := parRequestURI(t, rp, f)
				resp := newBrowser(t).get(parAuthorizeURL(g, public.ID, uri, nil))
				paPage(t, resp, http.StatusBadRequest, "This sign-in request has expired or is not valid.")
				// With the other client's registered redirect_uri, the error
				// goes there.
				resp = newBrowser(t).get(parAuthorizeURL(g, public.ID, uri, url.Values{"redirect_uri": {paLocalCB}, "state": {"s1"}}))
				paErrorAt(t, resp, paLocalCB, "invalid_request_uri", "s1", false)
				// It did not use the request up for its client.
				if resp := newBrowser(t).get(parAuthorizeURL(g, rp.client.ID, uri, nil)); !parProceeds(g, resp.Response) {
					t.Errorf("after another client's try, the pushing client got %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
			})

			t.Run("unknown request_uri", func(t *testing.T) {
				resp := newBrowser(t).get(parAuthorizeURL(g, rp.client.ID, "urn:ietf:params:oauth:request_uri:"+randomString(), nil))
				paPage(t, resp, http.StatusBadRequest, "This sign-in request has expired or is not valid.")
			})

			t.Run("expired", func(t *testing.T) {
				f := rp.newFlow()
				uri := parRequestURI(t, rp, f)
				setClock(t, clockFile, 61*time.Second)
				defer setClock(t, clockFile, 0)
				resp := newBrowser(t).get(parAuthorizeURL(g, rp.client.ID, uri, nil))
				paErrorAt(t, resp, rpRedirect, "invalid_request_uri", f.state, false)
			})

			t.Run("client authentication", func(t *testing.T) {
				form := parFlowParams(t, rp.newFlow())
				for _, tc := range []struct {
					name       string
					form       url.Values
					user, pass string
				}{
					{"none", withValues(form, "client_id", ""), "", ""},
					{"client_id only", form, "", ""},
					{"wrong secret", form, rp.client.ID, rp.client.Secret + "x"},
					{"wrong secret in the body", withValues(form, "client_secret", "nope"), "", ""},
					{"unknown client", withValues(form, "client_id", ""), "no-such-client", "secret"},
				} {
					resp := parPush(t, g, tc.form, tc.user, tc.pass)
					if resp.status != http.StatusUnauthorized || resp.body["error"] != "invalid_client" {
						t.Errorf("%s: %d %v, want 401 invalid_client", tc.name, resp.status, resp.body)
					}
					if tc.user != "" && !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Basic") {
						t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.header.Get("WWW-Authenticate"))
					}
				}
				// Only the method the client registered: rp's is
				// client_secret_basic, so the secret in the body fails, and
				// with Basic too it is two methods.
				resp := parPush(t, g, withValues(form, "client_id", rp.client.ID, "client_secret", rp.client.Secret), "", "")
				if resp.status != http.StatusUnauthorized || resp.body["error"] != "invalid_client" {
					t.Errorf("client_secret_post by a client_secret_basic client: %d %v, want 401 invalid_client", resp.status, resp.body)
				}
				resp = parPush(t, g, withValues(form, "client_id", rp.client.ID, "client_secret", rp.client.Secret), rp.client.ID, rp.client.Secret)
				if resp.status != http.StatusBadRequest || resp.body["error"] != "invalid_request" {
					t.Errorf("Basic and client_secret_post at once: %d %v, want 400 invalid_request", resp.status, resp.body)
				}
				post := newRelyingParty(t, g, "--token-endpoint-auth-method", "client_secret_post")
				postForm := parFlowParams(t, post.newFlow())
				resp = parPush(t, g, withValues(postForm, "client_id", post.client.ID, "client_secret", post.client.Secret), "", "")
				if resp.status != http.StatusCreated {
					t.Errorf("client_secret_post by a client_secret_post client: %d %v, want 201", resp.status, resp.body)
				}
				// The secret is not kept with the request.
				if strings.Contains(g.output(), rp.client.Secret) {
					t.Error("the log holds the client secret")
				}
			})

			t.Run("requests /authorize would refuse", func(t *testing.T) {
				_, challenge := pkce()
				base := parFlowParams(t, rp.newFlow())
				pub := url.Values{
					"client_id": {public.ID}, "redirect_uri": {paLocalCB}, "response_type": {"code"},
					"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
				}
				for _, tc := range []struct {
					name       string
					form       url.Values
					user, pass string
					want       string
				}{
					{"request_uri", withValues(base, "request_uri", "urn:ietf:params:oauth:request_uri:x"), rp.client.ID, rp.client.Secret, "invalid_request"},
					{"request object", withValues(base, "request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ."), rp.client.ID, rp.client.Secret, "request_not_supported"},
					{"repeated parameter", addValue(base, "scope", "openid"), rp.client.ID, rp.client.Secret, "invalid_request"},
					{"unregistered redirect_uri", withValues(base, "redirect_uri", "https://evil.example/cb"), rp.client.ID, rp.client.Secret, "invalid_request"},
					{"response_type token", withValues(base, "response_type", "token"), rp.client.ID, rp.client.Secret, "unsupported_response_type"},
					{"response_mode fragment", withValues(base, "response_mode", "fragment"), rp.client.ID, rp.client.Secret, "invalid_request"},
					{"PKCE plain", withValues(base, "code_challenge_method", "plain"), rp.client.ID, rp.client.Secret, "invalid_request"},
					{"public client without PKCE", withValues(pub, "code_challenge", "", "code_challenge_method", ""), "", "", "invalid_request"},
				} {
					resp := parPush(t, g, tc.form, tc.user, tc.pass)
					if resp.status != http.StatusBadRequest || resp.body["error"] != tc.want {
						t.Errorf("%s: %d %v, want 400 %s", tc.name, resp.status, resp.body, tc.want)
					}
				}
				if resp := parPush(t, g, pub, "", ""); resp.status != http.StatusCreated {
					t.Errorf("public client with PKCE: %d %v, want 201", resp.status, resp.body)
				}
				req, _ := http.NewRequest(http.MethodGet, g.base+"/oauth/par", nil)
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("GET /oauth/par: %v %v, want 405", resp, err)
				} else {
					resp.Body.Close()
				}
			})

			t.Run("admin API", func(t *testing.T) {
				token := adminToken(t, g, g.createClient("--name", "Operations", "--admin"))
				r := adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Strict","redirect_uris":["`+rpRedirect+`"],"require_pushed_authorization_requests":true}`)
				var c map[string]any
				r.json(t, &c)
				id, _ := c["client_id"].(string)
				if r.status != http.StatusCreated || c["require_pushed_authorization_requests"] != true {
					t.Fatalf("create: %d %s", r.status, r.body)
				}
				q := paQuery(id, rpRedirect, "adm")
				paErrorAt(t, newBrowser(t).get(g.base+"/authorize?"+q.Encode()), rpRedirect, "invalid_request", "adm", false)
				r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+id+"/settings", `{"require_pushed_authorization_requests":false}`)
				r.json(t, &c)
				if r.status != http.StatusOK || c["require_pushed_authorization_requests"] != false {
					t.Fatalf("patch: %d %s", r.status, r.body)
				}
				if resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode()); !parProceeds(g, resp.Response) {
					t.Errorf("after the patch: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
				adminCall(t, g, token, http.MethodPatch, "/api/clients/"+id+"/settings", `{"require_pushed_authorization_requests":"yes"}`).
					wantError(t, http.StatusBadRequest, "invalid_request")
				adminCall(t, g, token, http.MethodPatch, "/api/clients/nope/settings", `{"require_pushed_authorization_requests":true}`).
					wantError(t, http.StatusNotFound, "not_found")
			})

			t.Run("discovery and CORS", func(t *testing.T) {
				var doc map[string]any
				if err := json.Unmarshal([]byte(newBrowser(t).get(g.base+"/.well-known/openid-configuration").body), &doc); err != nil {
					t.Fatal(err)
				}
				if doc["pushed_authorization_request_endpoint"] != g.base+"/oauth/par" || doc["require_pushed_authorization_requests"] != false {
					t.Errorf("discovery: pushed_authorization_request_endpoint %v, require_pushed_authorization_requests %v",
						doc["pushed_authorization_request_endpoint"], doc["require_pushed_authorization_requests"])
				}
				for _, method := range []string{http.MethodPost, http.MethodOptions} {
					req, _ := http.NewRequest(method, g.base+"/oauth/par", strings.NewReader(parFlowParams(t, rp.newFlow()).Encode()))
					req.Header.Set("Origin", "https://rp.example")
					req.Header.Set("Access-Control-Request-Method", "POST")
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(rp.client.ID, rp.client.Secret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
						t.Errorf("%s /oauth/par: Access-Control-Allow-Origin %q", method, v)
					}
				}
			})

			t.Run("required", func(t *testing.T) {
				c := g.createClient("--name", "Strict App", "--redirect-uri", rpRedirect, "--require-par")
				strict := &relyingParty{t: t, g: g, client: c, provider: rp.provider, verifier: rp.verifier}
				cfg := *rp.oauth
				cfg.ClientID, cfg.ClientSecret = c.ID, c.Secret
				strict.oauth = &cfg
				f := strict.newFlow()
				resp := newBrowser(t).get(f.authURL)
				paErrorAt(t, resp, rpRedirect, "invalid_request", f.state, false)
				if loc := resp.Header.Get("Location"); !strings.Contains(loc, "pushed+authorization+request+required") {
					t.Errorf("redirect %s does not say a pushed request is required", loc)
				}
				uri := parRequestURI(t, strict, f)
				if resp := newBrowser(t).get(parAuthorizeURL(g, c.ID, uri, nil)); !parProceeds(g, resp.Response) {
					t.Errorf("pushed request of the strict client: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
				g.cli("", "clients", "update", c.ID, "--require-par=false")
				if resp := newBrowser(t).get(strict.newFlow().authURL); !parProceeds(g, resp.Response) {
					t.Errorf("after --require-par=false: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
				g.cli("", "clients", "update", c.ID, "--redirect-uri", rpRedirect, "--require-par")
				f = strict.newFlow()
				paErrorAt(t, newBrowser(t).get(f.authURL), rpRedirect, "invalid_request", f.state, false)
				if out := g.cli("", "clients", "show", c.ID); !regexp.MustCompile(`require pushed authorization requests:\s+true`).MatchString(out) {
					t.Errorf("clients show does not say the client requires pushed requests:\n%s", out)
				}
				if _, errOut, err := g.tryCLI("", "clients", "update", c.ID, "--require-par=maybe"); err == nil || !strings.Contains(errOut, "require-par") {
					t.Errorf("clients update --require-par=maybe: err %v, stderr %q", err, errOut)
				}
			})

			// No request_uri, code or token reached the log.
			logs := g.output()
			for _, s := range rp.seen {
				if strings.Contains(logs, s) {
					t.Errorf("the log contains a request_uri, code or token: %.12s…", s)
				}
			}
		})
	}
}

// TestPARReplicas: a request pushed to one replica is used at the other,
// once: a replay on the first is refused, and of 20 parallel uses spread
// over both only one proceeds.
func TestPARReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a)

	f := rp.newFlow()
	uri := parRequestURI(t, rp, f)
	resp := newBrowser(t).get(strings.Replace(parAuthorizeURL(a, rp.client.ID, uri, nil), a.base, b.base, 1))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), a.base+"/login") {
		t.Fatalf("pushed at A, used at B: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	paErrorAt(t, newBrowser(t).get(parAuthorizeURL(a, rp.client.ID, uri, nil)), rpRedirect, "invalid_request_uri", f.state, false)

	uri = parRequestURI(t, rp, rp.newFlow())
	accepted, refused := parRace(t, a, []string{a.base, b.base}, rp.client.ID, uri, 20)
	if accepted != 1 || refused != 19 {
		t.Errorf("20 parallel uses on two replicas: %d accepted, %d invalid_request_uri; want 1 and 19", accepted, refused)
	}
}

// withValues returns a copy of v with the name/value pairs set; an empty
// value deletes the name.
func withValues(v url.Values, pairs ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			out.Del(pairs[i])
		} else {
			out.Set(pairs[i], pairs[i+1])
		}
	}
	return out
}

// addValue returns a copy of v with value added to name.
func addValue(v url.Values, name, value string) url.Values {
	out := withValues(v)
	out.Add(name, value)
	return out
}
