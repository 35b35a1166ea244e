package main

// Sign-outs replayed across two replicas on one PostgreSQL: the end-session
// request with an ID token hint, its confirmation form, and the account
// page's sign-out form, each sent 20 times at once over both replicas, and
// again afterwards. The session ends, and each client that signed in
// through it receives one back-channel logout token, not one per request.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// requestBurst sends the request made by mk to each of servers in turn, n
// times at once, from browser br, and fails on a transport error or a 5xx.
func requestBurst(t *testing.T, br *browser, n int, mk func(base string) *http.Request, servers ...*gatehouse) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req := mk(servers[i%len(servers)].base)
			status, _, body, err := burstDo(br.c, req)
			if err != nil || status >= 500 {
				t.Errorf("%s %s: %d %v %s", req.Method, req.URL.Path, status, err, body)
			}
		})
	}
	close(start)
	wg.Wait()
}

// wantSignedOut checks that b's session no longer signs in silently.
func wantSignedOut(t *testing.T, rp *relyingParty, b *browser, what string) {
	t.Helper()
	f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
	if _, at := b.follow(f.authURL, rpRedirect); ssQuery(at, "error") != "login_required" {
		t.Errorf("%s: prompt=none = %s, want error=login_required", what, at)
	}
}

// TestReplayLogoutReplicas sends each way of signing out 20 times at once
// over two replicas.
func TestReplayLogoutReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	recv := newBCReceiver(t)
	rp := newRelyingParty(t, a, "--backchannel-logout-uri", recv.url("/rp"))
	a.createUser(alice, "Alice", alicePass)
	form := func(base, path string, v url.Values) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}

	t.Run("end_session with a hint", func(t *testing.T) {
		br := newBrowser(t)
		raw, sub, sid := bcSignIn(t, rp, br, alice, alicePass)
		n := len(recv.tokens("/rp"))
		q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}, "state": {"replay"}}.Encode()
		requestBurst(t, br, 20, func(base string) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, base+"/end_session?"+q, nil)
			return req
		}, a, b)
		verifyLogoutToken(t, a, recv.wait("/rp", n+1), rp.client.ID, sub, sid, 0)
		wantSignedOut(t, rp, br, "after 20 parallel end_session requests")
		// The same request again, at each replica, from a browser with and
		// without the ended session's cookie: nothing more is sent.
		for _, g := range []*gatehouse{a, b} {
			br.follow(g.base+"/end_session?"+q, rpLogout)
			newBrowser(t).follow(g.base+"/end_session?"+q, rpLogout)
		}
		recv.quiet("/rp", n+1)
	})

	t.Run("confirmation form", func(t *testing.T) {
		br := newBrowser(t)
		_, sub, sid := bcSignIn(t, rp, br, alice, alicePass)
		n := len(recv.tokens("/rp"))
		page, at := br.follow(a.base+"/end_session?client_id="+url.QueryEscape(rp.client.ID), "")
		if page == nil || !strings.Contains(page.body, `action="/end_session/confirm"`) {
			t.Fatalf("end_session without a hint ended at %s, want the confirmation page", at)
		}
		fields := formFields(page.body)
		requestBurst(t, br, 20, func(base string) *http.Request { return form(base, "/end_session/confirm", fields) }, b, a)
		verifyLogoutToken(t, a, recv.wait("/rp", n+1), rp.client.ID, sub, sid, 0)
		wantSignedOut(t, rp, br, "after 20 parallel confirmations")
		// Posted again at each replica: nothing more is ended or sent.
		for _, g := range []*gatehouse{a, b} {
			if resp := br.post(g.base+"/end_session/confirm", fields); resp.StatusCode < 400 {
				t.Errorf("the confirmation form again at %s = %d, want a refusal", g.base, resp.StatusCode)
			}
		}
		recv.quiet("/rp", n+1)
	})

	t.Run("account sign-out", func(t *testing.T) {
		br := newBrowser(t)
		_, sub, sid := bcSignIn(t, rp, br, alice, alicePass)
		n := len(recv.tokens("/rp"))
		fields := tfForm(t, br.get(a.base+"/account").body, "/logout")
		requestBurst(t, br, 20, func(base string) *http.Request { return form(base, "/logout", fields) }, a, b)
		verifyLogoutToken(t, a, recv.wait("/rp", n+1), rp.client.ID, sub, sid, 0)
		wantSignedOut(t, rp, br, "after 20 parallel sign-outs")
		recv.quiet("/rp", n+1)
	})
}
