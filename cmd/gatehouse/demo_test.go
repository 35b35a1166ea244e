package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/demo"
)

// demoPasswordRE finds the demo user's password in serve --demo's output.
var demoPasswordRE = regexp.MustCompile(`demo user: +demo@example\.com +password: (\S+)`)

// startDemo starts gatehouse serve --demo on dbURL and returns it with the
// demo user's password ("" when the user existed already).
func startDemo(t *testing.T, dbURL string, extra ...string) (*gatehouse, string) {
	t.Helper()
	g := newGatehouse(t, dbURL, extra...)
	g.args = []string{"--demo"}
	g.start()
	m := demoPasswordRE.FindStringSubmatch(g.output())
	if m == nil {
		return g, ""
	}
	return g, m[1]
}

// TestDemo signs in through the demo application of serve --demo over
// HTTP, on both backends: the demo user and client are created once, the
// page shows the verified ID token's claims under the usual CSP, bad
// callbacks get an error page, and sign-out goes through Gatehouse.
// Without --demo, /demo does not exist.
func TestDemo(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testDemo(t, backend)
		})
	}
}

func testDemo(t *testing.T, backend string) {
	dbURL := databaseURL(t, backend)
	g, password := startDemo(t, dbURL)
	if password == "" {
		t.Fatalf("serve --demo printed no password for the new demo user:\n%s", g.output())
	}
	out := g.output()
	for _, want := range []string{g.base + "/demo", "demo client: ", "(public, PKCE"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --demo output lacks %q", want)
		}
	}

	b := newBrowser(t)
	home := b.get(g.base + "/demo")
	if home.StatusCode != http.StatusOK || !strings.Contains(home.body, `href="/demo/login"`) {
		t.Fatalf("GET /demo = %d:\n%s", home.StatusCode, home.body)
	}
	if csp := home.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("GET /demo: Content-Security-Policy %q", csp)
	}

	// Sign in: /demo/login → /authorize → the login page.
	page, at := b.follow(g.base+"/demo/login", "")
	if !strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatalf("expected the login page at %s, got %d:\n%s", at, page.StatusCode, page.body)
	}
	auth, err := url.Parse(b.get(g.base + "/demo/login").Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if q := auth.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
		q.Get("redirect_uri") != g.base+"/demo/callback" {
		t.Errorf("the demo's authorization request lacks PKCE, nonce or its redirect URI: %s", auth)
	}
	// That second /demo/login replaced the flow cookie; start over.
	page, _ = b.follow(g.base+"/demo/login", "")
	form := formFields(page.body)
	form.Set("email", demo.Email)
	form.Set("password", password)
	resp := b.post(g.base+"/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d:\n%s", resp.StatusCode, resp.body)
	}
	loc, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
	claims, at := b.follow(loc.String(), "")
	if at != g.base+"/demo" || claims.StatusCode != http.StatusOK {
		t.Fatalf("after the sign-in, landed on %s (%d):\n%s", at, claims.StatusCode, claims.body)
	}
	for _, want := range []string{
		`id="signed-in">Signed in as demo@example.com`,
		`<dd id="amr"><code>pwd</code></dd>`,
		`<dd id="acr"><code>urn:gatehouse:loa:1</code></dd>`,
		`<dt>iss</dt><dd><code>&#34;` + g.base + `&#34;</code></dd>`,
		`<dt>email</dt><dd><code>&#34;demo@example.com&#34;</code></dd>`,
	} {
		if !strings.Contains(claims.body, want) {
			t.Errorf("claims page lacks %q:\n%s", want, claims.body)
		}
	}

	// Bad callbacks: an error page, never a 500.
	for _, tt := range []struct {
		name, query string
		browser     *browser
		want        string
	}{
		{"no flow cookie", "?code=x&state=y", newBrowser(t), "was not started here"},
		{"error from Gatehouse", "?error=access_denied&error_description=%3Cscript%3E", newBrowser(t), "access_denied: &lt;script&gt;"},
	} {
		resp := tt.browser.get(g.base + "/demo/callback" + tt.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.body, tt.want) {
			t.Errorf("%s: GET /demo/callback%s = %d, want 400 with %q:\n%s", tt.name, tt.query, resp.StatusCode, tt.want, resp.body)
		}
	}
	forged := newBrowser(t)
	forged.follow(g.base+"/demo/login", "")
	if resp := forged.get(g.base + "/demo/callback?code=x&state=forged"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(resp.body, "state does not match") {
		t.Errorf("forged state: %d\n%s", resp.StatusCode, resp.body)
	}
	bad := newBrowser(t)
	bad.c.Jar.SetCookies(mustURL(t, g.base+"/demo"), []*http.Cookie{{Name: demo.SessionCookie, Value: "garbage", Path: "/demo"}})
	if resp := bad.get(g.base + "/demo"); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `id="sign-in"`) {
		t.Errorf("a forged session cookie: %d\n%s", resp.StatusCode, resp.body)
	}
	if resp := b.post(g.base+"/demo", url.Values{}); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /demo = %d, want 405", resp.StatusCode)
	}

	// Sign-out goes through Gatehouse's end_session and back to /demo.
	signedOut, at := b.follow(g.base+"/demo/logout", "")
	if at != g.base+"/demo" || !strings.Contains(signedOut.body, `id="sign-in"`) {
		t.Errorf("after sign-out, landed on %s (%d):\n%s", at, signedOut.StatusCode, signedOut.body)
	}

	// The password is shown on stdout once, never in the log lines.
	if strings.Count(g.output(), password) != 1 {
		t.Errorf("the demo password appears %d times in the output, want once (stdout)", strings.Count(g.output(), password))
	}

	// A restart finds the demo user and client: nothing new, no password.
	if err := g.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	g.mu.Lock()
	g.logs.Reset()
	g.mu.Unlock()
	g.start()
	if out := g.output(); demoPasswordRE.MatchString(out) || !strings.Contains(out, "its password was printed when it was created") {
		t.Errorf("second serve --demo printed a new password or no note:\n%s", out)
	}
	if n := strings.Count(g.cli("", "clients", "list"), demo.ClientName); n != 1 {
		t.Errorf("%d demo clients after a restart, want 1", n)
	}
}

// TestDemoOff checks that /demo is not served without --demo.
func TestDemoOff(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	for _, p := range []string{"/demo", "/demo/login", "/demo/callback?code=x&state=y"} {
		if resp := newBrowser(t).get(g.base + p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without --demo = %d, want 404", p, resp.StatusCode)
		}
	}
	if strings.Contains(g.cli("", "clients", "list"), demo.ClientName) {
		t.Errorf("a demo client exists without --demo")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
