package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestSelectAccountEndToEnd signs in, then sends a relying party's request
// with prompt=select_account: the sign-in page offers the signed-in
// account instead of answering at once, and choosing it gives the client
// a code for that user.
func TestSelectAccountEndToEnd(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	g.createUser(alice, "Alice Liddell", alicePass)
	rp := newRelyingParty(t, g)
	b := newBrowser(t)
	f := rp.newFlow()
	rp.exchange(rp.signIn(b, f, alice, alicePass), f)

	f = rp.newFlow(oauth2.SetAuthURLParam("prompt", "select_account"))
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil || !strings.Contains(page.body, alice) || !strings.Contains(page.body, `action="/login/continue"`) {
		t.Fatalf("prompt=select_account with a session went to %s, want the page offering %s", at, alice)
	}
	resp := b.post(g.base+"/login/continue", formFields(strings.SplitN(page.body, `action="/login/continue"`, 2)[1]))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue = %d, want 303", resp.StatusCode)
	}
	page, at = b.follow(resp.Header.Get("Location"), rpRedirect)
	cb, err := url.Parse(at)
	if page != nil || err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("after continue the browser is at %s, want the client with a code", at)
	}
	if _, _, c := rp.exchange(cb.Query().Get("code"), f); c.Email != alice {
		t.Errorf("the code's ID token names %q, want %s", c.Email, alice)
	}
}
