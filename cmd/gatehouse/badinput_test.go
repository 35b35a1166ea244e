package main

// End-to-end tests of bad input: invalid configuration, CLI misuse and
// hostile or malformed HTTP requests, each answered with a clear error and
// never a crash, a stack trace or a redirect that should not happen.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	biEmail    = "alice@example.com"
	biPassword = "correct horse battery staple"
	biLocalCB  = "http://localhost:3000/cb" // confidential client, loopback http
	biWebCB    = "https://app.example/cb"   // confidential client, https
)

// biEnv returns the process environment without any GATEHOUSE_ variable,
// plus extra.
func biEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// biRun runs the gatehouse binary with env and returns its output and exit
// code. A command that does not end within 20s (a server that started
// although it should not have) fails the test.
func biRun(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gatehouse %s did not exit within 20s (it should have refused to start)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), out.String(), errOut.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// biNoCrash fails the test if output holds a Go panic or stack trace.
func biNoCrash(t *testing.T, what, output string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic:", "runtime error:"} {
		if strings.Contains(output, bad) {
			t.Errorf("%s contains %q (a crash or stack trace):\n%s", what, bad, output)
		}
	}
}

func TestBadInputConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		yaml    string            // the config file; "-" for a file that does not exist
		env     map[string]string // on top of the base environment
		want    []string          // in stderr
		notWant []string          // not in stderr
	}{
		{name: "unknown top-level key", yaml: "issuer: http://localhost:8080\nbogus_key: 1\n",
			want: []string{"bogus_key", "unknown key"}},
		{name: "unknown nested key", yaml: "http:\n  bogus_nested: 1\n",
			want: []string{"http.bogus_nested", "unknown key"}},
		{name: "unknown deeply nested key", yaml: "mail:\n  smtp:\n    hostname: mail.example.com\n",
			want: []string{"mail.smtp.hostname", "unknown key"}},
		{name: "bad duration", yaml: "lockout:\n  block_duration: ten minutes\n",
			want: []string{"lockout.block_duration", "invalid duration", "10m"}},
		{name: "negative duration", yaml: "second_factor:\n  email_code_ttl: -60s\n",
			want: []string{"second_factor.email_code_ttl", "must be positive"}},
		{name: "bad issuer URL", yaml: "issuer: not a url\n",
			want: []string{"issuer:", "absolute URL"}},
		{name: "http issuer on a public host", yaml: "issuer: http://id.example.com\n",
			want: []string{"issuer:", "https"}},
		{name: "bad CIDR", yaml: "http:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
			want: []string{"http.trusted_proxies", "10.0.0.0/33"}},
		{name: "bad database url scheme", yaml: "database:\n  url: mysql://root:hunter2@db.example/gatehouse\n",
			env:     map[string]string{"GATEHOUSE_DATABASE_URL": ""},
			want:    []string{"database.url", "postgres://"},
			notWant: []string{"hunter2"}},
		{name: "bad mail.smtp.tls", yaml: "mail:\n  smtp:\n    tls: ssl\n",
			want: []string{"mail.smtp.tls", `"ssl"`, "starttls"}},
		{name: "missing config file", yaml: "-",
			want: []string{"does-not-exist.yaml", "no such file"}},
		{name: "bad env override", yaml: "lockout:\n  max_attempts: 3\n",
			env:  map[string]string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS": "three"},
			want: []string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS", "lockout.max_attempts", "three"}},
		{name: "bad env duration", yaml: "",
			env:  map[string]string{"GATEHOUSE_LOCKOUT_BLOCK_DURATION": "forever"},
			want: []string{"GATEHOUSE_LOCKOUT_BLOCK_DURATION", "lockout.block_duration", "invalid duration"}},
	}

	// base is a valid configuration but for the case's file and variables.
	base := func(t *testing.T, c string, env map[string]string) (cfgPath, dbPath string, environ []string) {
		dir := t.TempDir()
		dbPath = filepath.Join(dir, "gatehouse.db")
		vars := map[string]string{
			"GATEHOUSE_DATABASE_URL":     "sqlite:" + dbPath,
			"GATEHOUSE_SECRETS_KEY_FILE": filepath.Join(dir, "secret.key"),
			"GATEHOUSE_HTTP_ADDRESS":     "127.0.0.1:0",
			"GATEHOUSE_ADMIN_ADDRESS":    "127.0.0.1:0",
		}
		for k, v := range env {
			vars[k] = v
		}
		for k, v := range vars {
			environ = append(environ, k+"="+v)
		}
		cfgPath = filepath.Join(dir, "does-not-exist.yaml")
		if c != "-" {
			cfgPath = filepath.Join(dir, "gatehouse.yaml")
			if err := os.WriteFile(cfgPath, []byte(c), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return cfgPath, dbPath, biEnv(environ...)
	}

	// The base itself is valid: the failures below are the cases' doing.
	t.Run("control", func(t *testing.T) {
		cfg, db, env := base(t, "lockout:\n  block_duration: 10m\n  max_attempts: 4\n",
			map[string]string{"GATEHOUSE_LOCKOUT_BLOCK_DURATION": "5m"})
		out, errOut, code := biRun(t, env, "", "migrate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "database migrated") {
			t.Fatalf("migrate with a valid config: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
		}
		if _, err := os.Stat(db); err != nil {
			t.Fatalf("valid migrate did not create the database: %v", err)
		}
	})

	for _, tc := range cases {
		for _, command := range []string{"serve", "migrate"} {
			t.Run(tc.name+"/"+command, func(t *testing.T) {
				t.Parallel()
				cfg, db, env := base(t, tc.yaml, tc.env)
				out, errOut, code := biRun(t, env, "", command, "--config", cfg)
				if code == 0 {
					t.Fatalf("gatehouse %s accepted the configuration (exit 0)\nstdout:\n%s\nstderr:\n%s", command, out, errOut)
				}
				if code != 1 {
					t.Errorf("exit code %d, want 1", code)
				}
				if !strings.Contains(errOut, "invalid configuration") {
					t.Errorf("stderr does not say %q:\n%s", "invalid configuration", errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("stderr does not name %q:\n%s", w, errOut)
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(errOut+out, w) {
						t.Errorf("output reveals %q:\n%s%s", w, out, errOut)
					}
				}
				biNoCrash(t, "stderr", errOut)
				if strings.Contains(out, "serving") {
					t.Errorf("gatehouse started serving with a bad configuration:\n%s", out)
				}
				if _, err := os.Stat(db); err == nil {
					t.Errorf("the database %s was created although the configuration was refused", db)
				}
			})
		}
	}
}

func TestBadInputCLI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := newGatehouse(t, databaseURL(t, backend))
			cases := []struct {
				name  string
				stdin string
				args  []string
				code  int
				want  string
			}{
				{"client without redirect uri", "", []string{"clients", "create", "--name", "App"},
					2, "at least one --redirect-uri is required"},
				{"client without name", "", []string{"clients", "create", "--redirect-uri", biWebCB},
					2, "--name is required"},
				{"redirect uri with fragment", "", []string{"clients", "create", "--name", "App", "--redirect-uri", "https://app.example/cb#frag"},
					2, "must not have a fragment"},
				{"redirect uri with wildcard", "", []string{"clients", "create", "--name", "App", "--redirect-uri", "https://*.example.com/cb"},
					2, "wildcards are not allowed"},
				{"http redirect uri on a public host", "", []string{"clients", "create", "--name", "App", "--redirect-uri", "http://app.example.com/cb"},
					2, "http is allowed only for loopback"},
				{"second redirect uri bad", "", []string{"clients", "create", "--name", "App", "--redirect-uri", biWebCB, "--redirect-uri", "http://app.example.com/cb"},
					2, "http://app.example.com/cb"},
				{"relative redirect uri", "", []string{"clients", "create", "--name", "App", "--redirect-uri", "/cb"},
					2, "must be an absolute URI"},
				{"bad email", biPassword + "\n", []string{"users", "create", "--email", "not-an-email", "--password-stdin"},
					2, "is not an email address"},
				{"email with display name", biPassword + "\n", []string{"users", "create", "--email", "Bob <bob@example.com>", "--password-stdin"},
					2, "is not an email address"},
				{"no --password-stdin", "", []string{"users", "create", "--email", "bob@example.com"},
					2, "--password-stdin is required"},
				{"5-character password", "abcde\n", []string{"users", "create", "--email", "bob@example.com", "--password-stdin"},
					1, "at least 8 characters"},
				{"empty password", "", []string{"users", "create", "--email", "bob@example.com", "--password-stdin"},
					1, "at least 8 characters"},
				{"unknown users subcommand", "", []string{"users", "frobnicate"},
					2, `unknown subcommand "frobnicate"`},
				{"unknown clients subcommand", "", []string{"clients", "frobnicate"},
					2, `unknown subcommand "frobnicate"`},
				{"missing subcommand", "", []string{"keys"},
					2, "missing subcommand"},
				{"unknown command", "", []string{"frobnicate"},
					2, `unknown command "frobnicate"`},
				{"unknown flag", "", []string{"users", "create", "--bogus"},
					2, "bogus"},
				{"show unknown user", "", []string{"users", "show", "nobody@example.com"},
					1, "no user with email"},
				{"delete unknown client", "", []string{"clients", "delete", "no-such-client"},
					1, "no client with id"},
				{"keys rotate with an argument", "", []string{"keys", "rotate", "now"},
					2, "keys rotate: unexpected argument now"},
				{"keys list with an argument", "", []string{"keys", "list", "all"},
					2, "keys list: unexpected argument all"},
				{"migrate with an argument", "", []string{"migrate", "down"},
					2, "migrate: unexpected argument down"},
				{"serve with an argument", "", []string{"serve", "demo"},
					2, "serve: unexpected argument demo"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					out, errOut, err := g.tryCLI(tc.stdin, tc.args...)
					code := 0
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					if code != tc.code {
						t.Errorf("gatehouse %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s",
							strings.Join(tc.args, " "), code, tc.code, out, errOut)
					}
					if !strings.Contains(errOut, tc.want) {
						t.Errorf("stderr does not say %q:\n%s", tc.want, errOut)
					}
					if strings.Contains(out, "client_secret") || strings.Contains(out, "created user") {
						t.Errorf("a refused command printed a result:\n%s", out)
					}
					biNoCrash(t, "stderr", errOut)
				})
			}

			// Nothing of the refused commands was stored.
			if out := g.cli("", "keys", "list"); strings.Contains(out, "next") {
				t.Errorf("a refused keys rotate rotated the keys:\n%s", out)
			}
			if rows := biListRows(g.cli("", "clients", "list")); len(rows) != 0 {
				t.Errorf("clients list after refused creates: %q, want no clients", rows)
			}
			if rows := biListRows(g.cli("", "users", "list")); len(rows) != 0 {
				t.Errorf("users list after refused creates: %q, want no users", rows)
			}

			// A duplicate email, differing only in case and spaces.
			g.createUser(biEmail, "Alice", biPassword)
			out, errOut, err := g.tryCLI(biPassword+"\n", "users", "create", "--email", " Alice@Example.COM ", "--name", "Other", "--password-stdin")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("duplicate user: err %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
			}
			if !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, biEmail) {
				t.Errorf("duplicate user: stderr should say %s already exists:\n%s", biEmail, errOut)
			}
			biNoCrash(t, "stderr", errOut)
			if rows := biListRows(g.cli("", "users", "list")); len(rows) != 1 || !strings.Contains(rows[0], "Alice") {
				t.Errorf("users list after the duplicate: %q, want only the first Alice", rows)
			}
		})
	}
}

// biListRows returns the rows of a list command's table, without the
// header.
func biListRows(out string) []string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) <= 1 {
		return nil
	}
	return lines[1:]
}

// biAuthorizeURL returns an authorization request for clientID.
func biAuthorizeURL(g *gatehouse, q url.Values) string {
	return g.base + "/authorize?" + q.Encode()
}

func biAuthQuery(clientID, redirect, state, challenge string) url.Values {
	return url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {redirect},
		"response_type":         {"code"},
		"scope":                 {"openid email profile"},
		"state":                 {state},
		"nonce":                 {"n-" + state},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// biLoginPage starts a sign-in for clientID in b and returns the password
// page and the PKCE verifier.
func biLoginPage(t *testing.T, g *gatehouse, b *browser, clientID, redirect, state string) (*response, string) {
	t.Helper()
	verifier, challenge := pkce()
	page, at := b.follow(biAuthorizeURL(g, biAuthQuery(clientID, redirect, state, challenge)), redirect)
	if page == nil {
		t.Fatalf("authorize went straight to the client: %s", at)
	}
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `name="csrf"`) ||
		!strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatalf("expected the login page at %s, got %d:\n%s", at, page.StatusCode, page.body)
	}
	return page, verifier
}

// biLoginForm returns the login page's form filled in.
func biLoginForm(page *response, email, password string) url.Values {
	form := formFields(page.body)
	form.Set("email", email)
	form.Set("password", password)
	return form
}

// biPost posts form to u with extra headers.
func biPost(b *browser, u string, form url.Values, hdr http.Header) *response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return b.do(req)
}

// biGet gets u with extra headers.
func biGet(b *browser, u string, hdr http.Header) *response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return b.do(req)
}

// biCode follows a successful login response (303) to the client's
// redirect URI and returns the code.
func biCode(t *testing.T, b *browser, resp *response, redirect, state string) string {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page, at := b.follow(loc.String(), redirect)
	if page != nil {
		t.Fatalf("after login, landed on %s (%d):\n%s", at, page.StatusCode, page.body)
	}
	u, err := url.Parse(at)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != "" || q.Get("code") == "" || q.Get("state") != state {
		t.Fatalf("redirect to the client without a code (or wrong state %q): %s", state, at)
	}
	return q.Get("code")
}

// biToken posts form to the token endpoint, authenticating as id:secret
// when id is set, and returns the status and decoded JSON body.
func biToken(t *testing.T, g *gatehouse, id, secret string, form url.Values) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	return resp.StatusCode, m, string(body)
}

// biErrorPage checks that resp is Gatehouse's HTML error page with status,
// saying want, with no redirect and the security headers.
func biErrorPage(t *testing.T, resp *response, status int, want string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s %s = %d, want %d:\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, resp.body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", resp.Request.URL.Path, ct)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("%s: error page carries Location %q", resp.Request.URL.Path, loc)
	}
	if !strings.Contains(strings.ToLower(resp.body), strings.ToLower(want)) {
		t.Errorf("%s: page does not say %q:\n%s", resp.Request.URL.Path, want, resp.body)
	}
	biNoCrash(t, "error page", resp.body)
	biSecurityHeaders(t, resp, true)
}

// biSecurityHeaders checks the headers every page carries.
func biSecurityHeaders(t *testing.T, resp *response, noStore bool) {
	t.Helper()
	h := resp.Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors 'none'", resp.Request.URL.Path, csp)
	}
	if v := h.Get("X-Frame-Options"); v != "DENY" {
		t.Errorf("%s: X-Frame-Options %q, want DENY", resp.Request.URL.Path, v)
	}
	if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", resp.Request.URL.Path, v)
	}
	if v := h.Get("Cache-Control"); noStore && !strings.Contains(v, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", resp.Request.URL.Path, v)
	}
}

// biNoCodeOutcome checks that an authorization request that is refused
// either shows the error page or sends an error (never a code) to the
// registered redirect URI.
func biNoCodeOutcome(t *testing.T, resp *response, registered, state string) {
	t.Helper()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, registered+"?") {
			t.Fatalf("redirected to %q, want an error at the registered %s", loc, registered)
		}
		q := u.Query()
		if q.Get("error") == "" || q.Has("code") {
			t.Errorf("redirect %s: want an error and no code", loc)
		}
		if q.Get("state") != state {
			t.Errorf("redirect %s: state %q, want %q", loc, q.Get("state"), state)
		}
		return
	}
	biErrorPage(t, resp, http.StatusBadRequest, "invalid sign-in request")
}

func TestBadInputHTTP(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			local := g.createClient("--name", "Local App", "--redirect-uri", biLocalCB, "--grant-type", allGrants)
			web := g.createClient("--name", "Web App", "--redirect-uri", biWebCB)
			g.createUser(biEmail, "Alice", biPassword)
			_, challenge := pkce()

			t.Run("unknown client_id", func(t *testing.T) {
				b := newBrowser(t)
				resp := b.get(biAuthorizeURL(g, biAuthQuery("no-such-client", biLocalCB, "s1", challenge)))
				biErrorPage(t, resp, http.StatusBadRequest, "invalid sign-in request")
			})

			t.Run("missing client_id", func(t *testing.T) {
				q := biAuthQuery("", biWebCB, "s2", challenge)
				q.Del("client_id")
				resp := newBrowser(t).get(biAuthorizeURL(g, q))
				biErrorPage(t, resp, http.StatusBadRequest, "invalid sign-in request")
			})

			t.Run("missing redirect_uri", func(t *testing.T) {
				for _, c := range []client{local, web} {
					q := biAuthQuery(c.ID, "", "s3", challenge)
					q.Del("redirect_uri")
					resp := newBrowser(t).get(biAuthorizeURL(g, q))
					// Never a redirect: there is no redirect_uri to trust.
					biErrorPage(t, resp, http.StatusBadRequest, "invalid sign-in request")
				}
			})

			t.Run("unregistered redirect_uri", func(t *testing.T) {
				resp := newBrowser(t).get(biAuthorizeURL(g, biAuthQuery(web.ID, "https://evil.example/cb", "s4", challenge)))
				biErrorPage(t, resp, http.StatusBadRequest, "invalid sign-in request")
			})

			t.Run("missing response_type", func(t *testing.T) {
				for _, c := range []struct {
					client
					cb string
				}{{local, biLocalCB}, {web, biWebCB}} {
					q := biAuthQuery(c.ID, c.cb, "s5", challenge)
					q.Del("response_type")
					resp := newBrowser(t).get(biAuthorizeURL(g, q))
					biNoCodeOutcome(t, resp, c.cb, "s5")
				}
			})

			t.Run("unsupported response_type", func(t *testing.T) {
				q := biAuthQuery(web.ID, biWebCB, "s6", challenge)
				q.Set("response_type", "token")
				resp := newBrowser(t).get(biAuthorizeURL(g, q))
				biNoCodeOutcome(t, resp, biWebCB, "s6")
			})

			t.Run("oversized bodies", func(t *testing.T) {
				pad := strings.Repeat("a", 70000) // over http.max_body_bytes, 65536
				b := newBrowser(t)
				page, _ := biLoginPage(t, g, b, local.ID, biLocalCB, "s7")
				form := biLoginForm(page, biEmail, biPassword)
				form.Set("pad", pad)
				resp := b.post(g.base+"/login", form)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("POST /login with %d bytes = %d, want 413:\n%.300s", len(form.Encode()), resp.StatusCode, resp.body)
				}
				if resp.Header.Get("Location") != "" {
					t.Errorf("oversized POST /login redirected to %s", resp.Header.Get("Location"))
				}

				tok := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}, "pad": {pad}}
				status, _, body := biToken(t, g, local.ID, local.Secret, tok)
				if status != http.StatusRequestEntityTooLarge {
					t.Errorf("POST /oauth/token with %d bytes = %d, want 413:\n%.300s", len(tok.Encode()), status, body)
				}

				// A body of unknown length (chunked) is capped too.
				req, err := http.NewRequest(http.MethodPost, g.base+"/login",
					io.MultiReader(strings.NewReader(form.Encode()), strings.NewReader("")))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if req.ContentLength != 0 {
					t.Fatalf("request has a length; want chunked")
				}
				resp = b.do(req)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("chunked POST /login with %d bytes = %d, want 413:\n%.300s", len(form.Encode()), resp.StatusCode, resp.body)
				}
			})

			t.Run("cross-origin login POST", func(t *testing.T) {
				b := newBrowser(t)
				page, verifier := biLoginPage(t, g, b, local.ID, biLocalCB, "s8")
				form := biLoginForm(page, biEmail, biPassword)
				for _, hdr := range []http.Header{
					{"Sec-Fetch-Site": {"cross-site"}},
					{"Origin": {"https://evil.example"}},
					{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
				} {
					resp := biPost(b, g.base+"/login", form, hdr)
					biErrorPage(t, resp, http.StatusForbidden, "Request refused")
					for _, c := range resp.Cookies() {
						if strings.Contains(c.Name, "gh_session") {
							t.Errorf("cross-origin POST %v set a session cookie", hdr)
						}
					}
				}
				// The same form, same-origin, signs in: the refusals above
				// were the origin's doing.
				resp := biPost(b, g.base+"/login", form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {g.base}})
				code := biCode(t, b, resp, biLocalCB, "s8")

				// The token endpoint refuses a wrong client secret, even
				// with a genuine code.
				status, m, body := biToken(t, g, local.ID, "wrong-secret", url.Values{
					"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {biLocalCB}, "code_verifier": {verifier},
				})
				if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
					t.Errorf("code exchange with a wrong client secret = %d %s, want 401 invalid_client", status, body)
				}
				if _, ok := m["id_token"]; ok {
					t.Errorf("tokens issued for a wrong client secret: %s", body)
				}
			})

			t.Run("CSRF token", func(t *testing.T) {
				b := newBrowser(t)
				page, _ := biLoginPage(t, g, b, local.ID, biLocalCB, "s9")
				good := biLoginForm(page, biEmail, biPassword)

				wrong := biLoginForm(page, biEmail, biPassword)
				wrong.Set("csrf", "AAAA"+good.Get("csrf")[4:])
				biErrorPage(t, b.post(g.base+"/login", wrong), http.StatusForbidden, "could not be verified")

				missing := biLoginForm(page, biEmail, biPassword)
				missing.Del("csrf")
				biErrorPage(t, b.post(g.base+"/login", missing), http.StatusForbidden, "could not be verified")

				// Another browser's valid token does not fit this browser.
				other := newBrowser(t)
				otherPage, _ := biLoginPage(t, g, other, local.ID, biLocalCB, "s9b")
				foreign := biLoginForm(otherPage, biEmail, biPassword)
				foreign.Set("csrf", good.Get("csrf"))
				biErrorPage(t, other.post(g.base+"/login", foreign), http.StatusForbidden, "could not be verified")

				// The genuine token works.
				biCode(t, b, b.post(g.base+"/login", good), biLocalCB, "s9")
			})

			t.Run("login without a valid auth request", func(t *testing.T) {
				b := newBrowser(t)
				biErrorPage(t, b.get(g.base+"/login"), http.StatusBadRequest, "expired or is not valid")
				biErrorPage(t, b.get(g.base+"/login?authRequestID=no-such-request"), http.StatusBadRequest, "expired or is not valid")
				biErrorPage(t, b.get(g.base+"/login?authRequestID="+strings.Repeat("x", 500)), http.StatusBadRequest, "expired or is not valid")
				biErrorPage(t, b.post(g.base+"/login", url.Values{"authRequestID": {"no-such-request"}, "email": {biEmail}, "password": {biPassword}}),
					http.StatusBadRequest, "expired or is not valid")
			})

			t.Run("account without a session", func(t *testing.T) {
				// A GET signs in first (home_test.go); a form gets the page.
				biErrorPage(t, newBrowser(t).post(g.base+"/account/name", url.Values{"name": {"x"}}), http.StatusForbidden, "could not be verified")
				if r := newBrowser(t).get(g.base + "/account"); !signInAsked(r) {
					t.Errorf("GET /account without a session = %d %s, want a sign-in", r.StatusCode, r.Header.Get("Location"))
				}
			})

			t.Run("token endpoint client authentication", func(t *testing.T) {
				cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
				for _, c := range []struct{ id, secret string }{
					{local.ID, "wrong-secret"},
					{local.ID, ""},
					{local.ID, web.Secret},
					{"no-such-client", "whatever"},
				} {
					status, m, body := biToken(t, g, c.id, c.secret, cc)
					if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
						t.Errorf("client_credentials as %q:%q = %d %s, want 401 invalid_client", c.id, c.secret, status, body)
					}
					if _, ok := m["access_token"]; ok {
						t.Errorf("access token issued to a wrong secret: %s", body)
					}
				}
				// The right secret works: the refusals were the secret's.
				status, m, body := biToken(t, g, local.ID, local.Secret, cc)
				if status != http.StatusOK || m["access_token"] == nil {
					t.Errorf("client_credentials with the right secret = %d %s, want 200 with a token", status, body)
				}
			})

			t.Run("token endpoint garbage grant_type", func(t *testing.T) {
				for _, gt := range []string{"garbage", ""} {
					status, m, body := biToken(t, g, local.ID, local.Secret, url.Values{"grant_type": {gt}})
					if status != http.StatusBadRequest {
						t.Errorf("grant_type %q = %d %s, want 400", gt, status, body)
					}
					if e, _ := m["error"].(string); e != "unsupported_grant_type" && e != "invalid_request" {
						t.Errorf("grant_type %q: error %q, want unsupported_grant_type or invalid_request (%s)", gt, e, body)
					}
				}
				status, m, body := biToken(t, g, local.ID, local.Secret, url.Values{"grant_type": {"garbage"}})
				if status != http.StatusBadRequest || m["error"] != "unsupported_grant_type" {
					t.Errorf("grant_type garbage = %d %s, want 400 unsupported_grant_type", status, body)
				}
			})

			t.Run("security headers", func(t *testing.T) {
				b := newBrowser(t)
				page, _ := biLoginPage(t, g, b, local.ID, biLocalCB, "s10")
				biSecurityHeaders(t, page, true)
				if ct := page.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("login page Content-Type %q", ct)
				}
				// Error pages: biErrorPage checks the same headers.
				biErrorPage(t, b.get(g.base+"/login?authRequestID=nope"), http.StatusBadRequest, "expired")
				biErrorPage(t, b.get(biAuthorizeURL(g, biAuthQuery("no-such-client", biLocalCB, "s10b", challenge))),
					http.StatusBadRequest, "invalid sign-in request")
				// And the protocol endpoints.
				biSecurityHeaders(t, b.get(g.base+"/.well-known/openid-configuration"), false)
			})

			t.Run("CORS", func(t *testing.T) {
				evil := http.Header{"Origin": {"https://evil.example"}}
				b := newBrowser(t)
				authz := biGet(b, biAuthorizeURL(g, biAuthQuery(local.ID, biLocalCB, "s11", challenge)), evil)
				if authz.StatusCode != http.StatusFound && authz.StatusCode != http.StatusSeeOther {
					t.Fatalf("GET /authorize = %d, want a redirect to the login page:\n%s", authz.StatusCode, authz.body)
				}
				loc, err := authz.Request.URL.Parse(authz.Header.Get("Location"))
				if err != nil {
					t.Fatal(err)
				}
				login := biGet(b, loc.String(), evil)
				if login.StatusCode != http.StatusOK {
					t.Fatalf("GET %s = %d, want the login page", loc, login.StatusCode)
				}
				bad := biGet(b, g.base+"/login", evil)
				account := biGet(b, g.base+"/account", evil)
				for _, r := range []*response{authz, login, bad, account} {
					if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
						t.Errorf("%s answers a foreign Origin with Access-Control-Allow-Origin %q", r.Request.URL.Path, v)
					}
					if v := r.Header.Get("Access-Control-Allow-Credentials"); v != "" {
						t.Errorf("%s sends Access-Control-Allow-Credentials %q", r.Request.URL.Path, v)
					}
				}
				for _, p := range []string{"/.well-known/openid-configuration", "/keys"} {
					r := biGet(b, g.base+p, evil)
					if r.StatusCode != http.StatusOK {
						t.Errorf("GET %s = %d", p, r.StatusCode)
					}
					if v := r.Header.Get("Access-Control-Allow-Origin"); v != "*" && v != "https://evil.example" {
						t.Errorf("GET %s with a foreign Origin: Access-Control-Allow-Origin %q, want * or the origin", p, v)
					}
					if v := r.Header.Get("Access-Control-Allow-Credentials"); v == "true" {
						t.Errorf("GET %s: Access-Control-Allow-Credentials: true", p)
					}
				}
			})

			if out := g.output(); strings.Contains(out, "panic") {
				t.Errorf("gatehouse logged a panic:\n%s", out)
			}
		})
	}
}

func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			resp, err := http.Get(g.base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := g.stop(); err != nil {
				t.Fatalf("gatehouse exited with %v after SIGTERM, want exit status 0\n%s", err, g.output())
			}
			if code := g.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0", code)
			}
			out := g.output()
			if !strings.Contains(out, "shutting down") || !strings.Contains(out, `"msg":"stopped"`) {
				t.Errorf("log does not record an orderly shutdown:\n%s", out)
			}
			biNoCrash(t, "gatehouse output", out)
			if resp, err := http.Get(g.base + "/healthz"); err == nil {
				resp.Body.Close()
				t.Errorf("gatehouse still answers after SIGTERM: %d", resp.StatusCode)
			}
		})
	}
}
