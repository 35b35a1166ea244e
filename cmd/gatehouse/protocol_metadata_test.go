package main

// The issuer in authorization responses (RFC 9207) and the authorization
// server metadata (RFC 8414), as a strict relying party checks them
// (issue 16 §2).

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// pmResponse returns the parameters of the authorization response at
// location, from its query or (fragment) its fragment, checking that the
// other place has none of them.
func pmResponse(t *testing.T, location string, fragment bool) url.Values {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("Location %q: %v", location, err)
	}
	params, other := u.Query(), u.Fragment
	if fragment {
		if params, err = url.ParseQuery(u.Fragment); err != nil {
			t.Fatalf("fragment of %s: %v", location, err)
		}
		other = u.RawQuery
	}
	if other != "" {
		t.Errorf("response %s has parameters in both the query and the fragment", location)
	}
	return params
}

// pmIssuer checks that the response params carries iss = the issuer, once.
func pmIssuer(t *testing.T, g *gatehouse, location string, params url.Values) {
	t.Helper()
	if got := params["iss"]; len(got) != 1 || got[0] != g.base {
		t.Errorf("response %s: iss %q, want [%s]", location, got, g.base)
	}
}

// pmSignIn runs f in a fresh browser up to the redirect to the client,
// signing in as alice on the way, and returns the redirect.
func pmSignIn(t *testing.T, rp *relyingParty, f *flow) string {
	t.Helper()
	b := newBrowser(t)
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil {
		return at
	}
	form := formFields(page.body)
	form.Set("email", alice)
	form.Set("password", alicePass)
	resp := b.post(rp.g.base+"/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d, want 303:\n%.400s", resp.StatusCode, resp.body)
	}
	page, at = b.follow(resp.Header.Get("Location"), rpRedirect)
	if page != nil {
		t.Fatalf("after login, landed on %s (%d):\n%.400s", at, page.StatusCode, page.body)
	}
	return at
}

// TestAuthorizationResponseIssuer: every authorization response carries
// iss, the issuer (RFC 9207 §2), among its other parameters: the code from
// the callback, in the query or the fragment as the response mode asks,
// and the errors of every path that answers the client: the login's
// prompt=none, the provider's own checks, and Gatehouse's screening at
// /authorize. Discovery says so.
func TestAuthorizationResponseIssuer(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)

			t.Run("code", func(t *testing.T) {
				for _, tc := range []struct {
					name     string
					extra    []oauth2.AuthCodeOption
					fragment bool
				}{
					{"query", nil, false},
					{"response_mode=query", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_mode", "query")}, false},
				} {
					t.Run(tc.name, func(t *testing.T) {
						rp := tfRP(t, rp)
						f := rp.newFlow(tc.extra...)
						at := pmSignIn(t, rp, f)
						params := pmResponse(t, at, tc.fragment)
						if params.Get("code") == "" || params.Get("state") != f.state {
							t.Fatalf("redirect %s: no code or state %q, want %q", at, params.Get("state"), f.state)
						}
						pmIssuer(t, g, at, params)
						// The client redeems the code as before.
						rp.remember(params.Get("code"))
						rp.exchange(params.Get("code"), f)
					})
				}
			})

			t.Run("prompt=none without a session", func(t *testing.T) {
				f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
				page, at := newBrowser(t).follow(f.authURL, rpRedirect)
				if page != nil {
					t.Fatalf("landed on %s (%d), want the client:\n%.400s", at, page.StatusCode, page.body)
				}
				params := pmResponse(t, at, false)
				if params.Get("error") != "login_required" || params.Get("state") != f.state {
					t.Fatalf("redirect %s: want login_required with the state", at)
				}
				pmIssuer(t, g, at, params)
			})

			for _, tc := range []struct {
				name     string
				set      url.Values
				want     string
				fragment bool
			}{
				// Gatehouse's screening (authorize.go).
				{"response_type=token", url.Values{"response_type": {"token"}}, "unsupported_response_type", false},
				{"response_type=id_token", url.Values{"response_type": {"id_token"}}, "unsupported_response_type", true},
				{"response_type=code, response_mode=fragment, state twice", url.Values{"response_mode": {"fragment"}, "state": {"a", "b"}}, "invalid_request", true},
				// A code in the fragment is not offered (formpost.go): the
				// error goes where the client asked.
				{"response_type=code, response_mode=fragment", url.Values{"response_mode": {"fragment"}}, "invalid_request", true},
				// The provider's own checks.
				{"code_challenge_method=plain", url.Values{"code_challenge_method": {"plain"}}, "invalid_request", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					q := paQuery(rp.client.ID, rpRedirect, "st-"+randomString())
					for k, v := range tc.set {
						q[k] = v
					}
					resp := newBrowser(t).get(g.base + "/authorize?" + q.Encode())
					if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), rpRedirect) {
						t.Fatalf("%d Location %q, want 302 to the client:\n%.400s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
					}
					loc := resp.Header.Get("Location")
					params := pmResponse(t, loc, tc.fragment)
					if params.Get("error") != tc.want {
						t.Errorf("redirect %s: error %q, want %q", loc, params.Get("error"), tc.want)
					}
					pmIssuer(t, g, loc, params)
				})
			}

			t.Run("discovery", func(t *testing.T) {
				var doc map[string]any
				pmGetJSON(t, g.base+discoveryPath, &doc)
				if doc["authorization_response_iss_parameter_supported"] != true {
					t.Errorf("discovery: authorization_response_iss_parameter_supported = %v, want true", doc["authorization_response_iss_parameter_supported"])
				}
			})
		})
	}
}

// pmAdminListening waits until g's admin listener, which starts after the
// public one that startGatehouse waits for, has said it listens.
func pmAdminListening(t *testing.T, g *gatehouse) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(g.output(), `"admin listening"`) {
			return
		}
	}
	t.Fatal("the admin listener did not start")
}

// pmGet GETs u with header and returns the answer and its body.
func pmGet(t *testing.T, method, u string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// pmGetJSON GETs the JSON document at u into v.
func pmGetJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, body := pmGet(t, http.MethodGet, u, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%.400s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%.400s", u, err, body)
	}
}

// TestAuthorizationServerMetadata: the RFC 8414 metadata at
// /.well-known/oauth-authorization-server is the discovery document, with
// the same issuer, headers, ETag, CORS and caching, whether it is the
// first document asked for or not, answered ahead of the router like
// discovery.
func TestAuthorizationServerMetadata(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	pmAdminListening(t, g)
	before, _ := scrapeMetrics(t, g)
	origin := http.Header{"Origin": {"https://app.example"}}
	// The metadata first: the first request makes the document.
	meta, metaBody := pmGet(t, http.MethodGet, g.base+metadataPath, origin)
	disc, discBody := pmGet(t, http.MethodGet, g.base+discoveryPath, origin)
	if meta.StatusCode != http.StatusOK || disc.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, GET %s = %d:\n%.400s", metadataPath, meta.StatusCode, discoveryPath, disc.StatusCode, metaBody)
	}
	if string(metaBody) != string(discBody) {
		t.Errorf("the documents differ:\n%s: %s\n%s: %s", metadataPath, metaBody, discoveryPath, discBody)
	}
	var doc struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		IssParameter          bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := json.Unmarshal(metaBody, &doc); err != nil {
		t.Fatalf("%s: %v", metadataPath, err)
	}
	if doc.Issuer != g.base || doc.AuthorizationEndpoint == "" || doc.TokenEndpoint == "" || !doc.IssParameter {
		t.Errorf("%s: %+v, want issuer %s, the endpoints and the iss parameter", metadataPath, doc, g.base)
	}
	// The headers as documentsFirst answers (the first request, which
	// makes the document, goes the full way, with a page's headers).
	meta, metaBody = pmGet(t, http.MethodGet, g.base+metadataPath, origin)
	disc, discBody = pmGet(t, http.MethodGet, g.base+discoveryPath, origin)
	if string(metaBody) != string(discBody) {
		t.Errorf("the documents differ, answered early:\n%s: %s\n%s: %s", metadataPath, metaBody, discoveryPath, discBody)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Etag", "Content-Security-Policy",
		"X-Content-Type-Options", "Access-Control-Allow-Origin", "Vary"} {
		if got, want := meta.Header.Values(h), disc.Header.Values(h); strings.Join(got, ",") != strings.Join(want, ",") || len(want) == 0 {
			t.Errorf("%s: %s %q, discovery's %q", metadataPath, h, got, want)
		}
	}
	// Cached like discovery: revalidated with the ETag, HEAD, answered
	// early (counted under its path, with a debug line in the log).
	if r, body := pmGet(t, http.MethodGet, g.base+metadataPath, http.Header{"If-None-Match": {meta.Header.Get("Etag")}}); r.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET %s with its ETag: %d, %d bytes; want 304", metadataPath, r.StatusCode, len(body))
	}
	if r, body := pmGet(t, http.MethodHead, g.base+metadataPath, nil); r.StatusCode != http.StatusOK || len(body) != 0 || r.Header.Get("Etag") != meta.Header.Get("Etag") {
		t.Errorf("HEAD %s: %d, %d bytes, ETag %q", metadataPath, r.StatusCode, len(body), r.Header.Get("Etag"))
	}
	after, _ := scrapeMetrics(t, g)
	expectDeltas(t, "metadata", before, after, map[string]float64{
		`gatehouse_http_requests_total{code="304",method="GET",route="/.well-known/oauth-authorization-server"}`:  1,
		`gatehouse_http_requests_total{code="200",method="HEAD",route="/.well-known/oauth-authorization-server"}`: 1,
	})
	// The log reaches the test through a pipe: wait for the line.
	infraWaitLog(t, g, 1, `"method":"GET","path":"`+metadataPath+`","status":304`)
}
