package main

import (
	"net/http"
	"testing"
)

// TestEndSessionMethods sends the end_session endpoint every method but GET
// and POST (RP-Initiated Logout 1.0 §2): each is refused with 405 and
// Allow: GET, POST, and the browser's session is not touched.
func TestEndSessionMethods(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	g.createUser(alice, "Alice Liddell", alicePass)
	rp := newRelyingParty(t, g)
	b := newBrowser(t)
	f := rp.newFlow()
	_, idt, _ := rp.exchange(rp.signIn(b, f, alice, alicePass), f)
	if idt == nil {
		t.Fatal("no ID token")
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, err := http.NewRequest(method, g.base+"/end_session?client_id="+rp.client.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s /end_session = %d, Allow %q; want 405, Allow GET, POST", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// The session lives on: the next sign-in needs no password.
	f = rp.newFlow()
	if page, at := b.follow(f.authURL, rpRedirect); page != nil {
		t.Errorf("the session ended after refused end_session requests (at %s)", at)
	}
}
