package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestBrowserFormPost drives a real Chromium through a form_post sign-in:
// the page that carries the code submits itself under its content
// security policy (its one script has the policy's nonce, and the form
// goes to the relying party's origin), and the relying party receives a
// POST with code, state and iss, exchanges the code and verifies the ID
// token.
func TestBrowserFormPost(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	g := startGatehouse(t, "sqlite")
	const password = "correct horse battery staple"
	g.createUser("ada@example.com", "Ada Lovelace", password)

	// browserRP checks the code and the ID token; this server is the
	// relying party's front, which asks for form_post and takes the POST.
	rp := newBrowserRP(t, g.base)
	mux := http.NewServeMux()
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	c := g.createClient("--name", "Form Post RP", "--redirect-uri", front.URL+"/cb")
	rp.configure(c)
	rp.oauth.RedirectURL = front.URL + "/cb"
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		state, nonce, cv := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = browserPending{nonce: nonce, codeVerifier: cv}
		u := rp.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(cv),
			oauth2.SetAuthURLParam("response_mode", "form_post"))
		rp.mu.Unlock()
		http.Redirect(w, r, u, http.StatusFound)
	})
	mux.HandleFunc("POST /cb", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("iss") != g.base {
			t.Errorf("relying party: form %v (%v), want iss %s", r.PostForm, err, g.base)
		}
		r.URL.RawQuery = r.PostForm.Encode() // browserRP reads the query
		email, err := rp.finish(r)
		if err != nil {
			t.Errorf("relying party: %v", err)
			http.Error(w, fmt.Sprintf("sign-in failed: %v", err), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		browserRPPage.Execute(w, email)
	})

	b := startChromium(t, chromium)
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	b.do(ctx, "open the login page",
		chromedp.Navigate(front.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	b.do(ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#rp-status, .alert")),
	)
	finalURL := browserRun(b, ctx, "read the location", chromedp.Location())
	status := browserRun(b, ctx, "read the status", chromedp.Text(chromedp.CSS("#rp-status")))
	if finalURL != front.URL+"/cb" || status != "verified" {
		t.Errorf("ended at %s with status %q; want %s/cb (a POST, no query) and \"verified\"", finalURL, status, front.URL)
	}
	if n := rp.signIns(); n != 1 {
		t.Errorf("relying party completed %d sign-ins, want 1", n)
	}
	if strings.Contains(finalURL, "code=") {
		t.Errorf("the code is in the URL %s", finalURL)
	}
}
