package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// browserRequireEnv, set to 1, makes the browser tests fail instead of skip
// when no Chromium is installed (CI sets it).
const browserRequireEnv = "GATEHOUSE_TEST_REQUIRE_BROWSER"

// browserTimeout bounds one whole browser sign-in, browser start included.
const browserTimeout = 60 * time.Second

// findChromium finds Debian's chromium, or skips the test (fails it when
// GATEHOUSE_TEST_REQUIRE_BROWSER=1).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found (install it: apt-get install --no-install-recommends chromium)"
	if os.Getenv(browserRequireEnv) == "1" {
		t.Fatalf("%s, but %s=1", msg, browserRequireEnv)
	}
	t.Skip(msg)
	return ""
}

// TestBrowserSignIn drives a real Chromium through the authorization code
// flow: a relying party sends the browser to Gatehouse, the user fills in
// the hosted login page, and the relying party exchanges the code (PKCE
// S256) and verifies the ID token.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGatehouse(t, backend)
			const (
				email    = "ada@example.com"
				name     = "Ada Lovelace"
				password = "correct horse battery staple"
			)
			g.createUser(email, name, password)

			rp := newBrowserRP(t, g.base)
			c := g.createClient("--name", "Browser RP", "--redirect-uri", rp.srv.URL+"/cb")
			if c.Secret == "" {
				t.Fatal("confidential client has no secret")
			}
			rp.configure(c)

			b := startChromium(t, chromium)
			ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
			defer cancel()

			// The relying party redirects to /authorize, which lands on the
			// hosted login page.
			b.do(ctx, "open the login page",
				chromedp.Navigate(rp.srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#email")),
			)
			if loc := browserRun(b, ctx, "read the location", chromedp.Location()); !strings.HasPrefix(loc, g.base+"/login?") {
				t.Fatalf("login page at %s, want %s/login?…", loc, g.base)
			}
			for field, want := range map[string]string{"#email": "username", "#password": "current-password"} {
				ac := browserRun(b, ctx, "read "+field+" autocomplete", chromedp.AttributeValue(chromedp.CSS(field), "autocomplete"))
				if !ac.Exists || ac.Value != want {
					t.Errorf("%s autocomplete = %q (present %t), want %q", field, ac.Value, ac.Exists, want)
				}
			}
			shot := browserRun(b, ctx, "screenshot the login page", chromedp.FullScreenshot(100))
			shotPath := filepath.Join(t.TempDir(), "login-"+backend+".png")
			if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("login page screenshot: %s (%d bytes)", shotPath, len(shot))

			b.do(ctx, "sign in",
				chromedp.SendKeys(chromedp.CSS("#email"), email),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
				// The relying party's page, or the login page's error.
				chromedp.WaitVisible(chromedp.CSS("#rp-status, .alert")),
			)
			if msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".alert")?.innerText ?? ""`)); err != nil || msg != "" {
				b.fail("sign in", fmt.Errorf("the login page answered %q (%v)", msg, err))
			}
			finalURL := browserRun(b, ctx, "read the location", chromedp.Location())
			shownEmail := browserRun(b, ctx, "read the email", chromedp.Text(chromedp.CSS("#rp-email")))
			status := browserRun(b, ctx, "read the status", chromedp.Text(chromedp.CSS("#rp-status")))
			if !strings.HasPrefix(finalURL, rp.srv.URL+"/cb?") {
				t.Errorf("signed in at %s, want %s/cb?…", finalURL, rp.srv.URL)
			}
			if shownEmail != email || status != "verified" {
				t.Errorf("relying party shows email %q, status %q; want %q, \"verified\"", shownEmail, status, email)
			}
			if n := rp.signIns(); n != 1 {
				t.Errorf("relying party completed %d sign-ins, want 1", n)
			}
		})
	}
}

// headlessChromium is a headless browser bound to a test.
type headlessChromium struct {
	t   *testing.T
	ctx context.Context // the browser tab; canceled when the test ends
	log *browserLog     // the browser's output and chromedp's errors
}

// startChromium starts a headless Chromium with a fresh profile. The whole
// browser, start included, lives at most twice browserTimeout.
func startChromium(t *testing.T, path string) *headlessChromium {
	t.Helper()
	b := &headlessChromium{t: t, log: &browserLog{}}
	parent, cancelParent := context.WithTimeout(context.Background(), 2*browserTimeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1024, 900),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.CombinedOutput(b.log),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(b.log, format+"\n", args...) }
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelParent()
		if t.Failed() {
			t.Logf("chromium output:\n%s", b.log.String())
		}
	})
	// The first run starts the browser; the browser lives as long as the
	// context of that run, so it gets no shorter deadline than parent's.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b.ctx = ctx
	return b
}

// do runs steps and, if they fail, reports the page the browser shows.
func (b *headlessChromium) do(ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(step, err)
	}
}

// browserRun runs one action and returns its value; if it fails, it
// reports the page the browser shows.
func browserRun[T any](b *headlessChromium, ctx context.Context, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(step, err)
	}
	return v
}

func (b *headlessChromium) fail(step string, err error) {
	b.t.Helper()
	// A fresh, short deadline: the step's context may be the one that ran out.
	dctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	where, lerr := chromedp.Run(dctx, chromedp.Location())
	text, terr := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if derr := errors.Join(lerr, terr); derr != nil {
		text += "\n(could not read the page: " + derr.Error() + ")"
	}
	b.t.Fatalf("%s: %v\nbrowser at %s, page text:\n%s", step, err, where, text)
}

// browserLog is a bytes.Buffer safe for concurrent writers.
type browserLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *browserLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *browserLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// browserRP is a minimal confidential OIDC client: /login starts the
// authorization code flow with PKCE S256, /cb finishes it and shows the
// verified email.
type browserRP struct {
	t      *testing.T
	issuer string
	srv    *httptest.Server

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	pending  map[string]browserPending // by state
	done     int
}

type browserPending struct {
	nonce, codeVerifier string
}

func newBrowserRP(t *testing.T, issuer string) *browserRP {
	rp := &browserRP{t: t, issuer: issuer, pending: map[string]browserPending{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /cb", rp.callback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

// configure discovers the provider and sets the client's credentials.
func (rp *browserRP) configure(c client) {
	rp.t.Helper()
	provider, err := oidc.NewProvider(rp.t.Context(), rp.issuer)
	if err != nil {
		rp.t.Fatalf("discovery at %s: %v", rp.issuer, err)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	ep := provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	rp.oauth = &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Endpoint:     ep,
		RedirectURL:  rp.srv.URL + "/cb",
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
	rp.verifier = provider.Verifier(&oidc.Config{ClientID: c.ID})
}

func (rp *browserRP) signIns() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.done
}

func (rp *browserRP) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, cv := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = browserPending{nonce: nonce, codeVerifier: cv}
	u := rp.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(cv))
	rp.mu.Unlock()
	http.Redirect(w, r, u, http.StatusFound)
}

func (rp *browserRP) callback(w http.ResponseWriter, r *http.Request) {
	email, err := rp.finish(r)
	if err != nil {
		rp.t.Errorf("relying party: %v", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "sign-in failed: %v\n", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	browserRPPage.Execute(w, email)
}

var browserRPPage = template.Must(template.New("rp").Parse(`<!doctype html>
<html><head><title>Relying party</title></head>
<body><p>Signed in as <span id="rp-email">{{.}}</span>: <span id="rp-status">verified</span></p></body></html>
`))

// finish checks state, exchanges the code with its PKCE verifier and
// verifies the ID token; it returns the verified email.
func (rp *browserRP) finish(r *http.Request) (string, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	oauth, verifier := rp.oauth, rp.verifier
	rp.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("unknown state %q", q.Get("state"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	tok, err := oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.codeVerifier))
	if err != nil {
		return "", fmt.Errorf("code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("token response has no id_token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != p.nonce {
		return "", fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, p.nonce)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		AMR           []string `json:"amr"`
		AuthTime      int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("ID token claims: %w", err)
	}
	switch {
	case !slices.Equal(claims.AMR, []string{"pwd"}):
		return "", fmt.Errorf("ID token amr = %q, want [pwd]", claims.AMR)
	case claims.Email == "" || !claims.EmailVerified:
		return "", fmt.Errorf("ID token email %q, email_verified %t", claims.Email, claims.EmailVerified)
	case claims.AuthTime == 0:
		return "", errors.New("ID token has no auth_time")
	}
	rp.mu.Lock()
	rp.done++
	rp.mu.Unlock()
	return claims.Email, nil
}
