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

	jose "github.com/go-jose/go-jose/v4"
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

// wantSignedOut checks that b's session no longer signs in silently at
// any of servers (the first is the issuer).
func wantSignedOut(t *testing.T, rp *relyingParty, b *browser, what string, servers ...*gatehouse) {
	t.Helper()
	for _, g := range servers {
		f := rp.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		if _, at := b.follow(strings.Replace(f.authURL, servers[0].base, g.base, 1), rpRedirect); ssQuery(at, "error") != "login_required" {
			t.Errorf("%s: prompt=none at %s = %s, want error=login_required", what, g.base, at)
		}
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
		wantSignedOut(t, rp, br, "after 20 parallel end_session requests", a, b)
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
		wantSignedOut(t, rp, br, "after 20 parallel confirmations", a, b)
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
		wantSignedOut(t, rp, br, "after 20 parallel sign-outs", a, b)
		recv.quiet("/rp", n+1)
	})
	// The admin API's sign-out everywhere and disable, 20 times at once
	// over both replicas' admin listeners: each session ends once, and
	// its client is told once.
	token := adminToken(t, a, a.createClient("--name", "Operations", "--admin"))
	for _, tc := range []struct{ name, email, path string }{
		{"admin sign-out everywhere", "everywhere@example.com", "/sign-out"},
		{"admin disable", "disabled@example.com", "/disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.createUser(tc.email, "Signed Out", alicePass)
			laptop, phone := newBrowser(t), newBrowser(t)
			_, sub, sid1 := bcSignIn(t, rp, laptop, tc.email, alicePass)
			_, _, sid2 := bcSignIn(t, rp, phone, tc.email, alicePass)
			n := len(recv.tokens("/rp"))
			got := adminBurst(t, token, http.MethodPost, "/api/users/"+tc.email+tc.path, "", 20, a, b)
			if got[http.StatusOK]+got[http.StatusNoContent] != 20 {
				t.Errorf("20 parallel %s: %v, want every one answered 200 or 204", tc.path, got)
			}
			sids := map[string]bool{}
			for i := range 2 {
				raw := recv.wait("/rp", n+i+1)
				sid := sid1
				if strings.Contains(logoutPayload(t, raw), `"sid":"`+sid2+`"`) {
					sid = sid2
				}
				sids[verifyLogoutToken(t, a, raw, rp.client.ID, sub, sid, 0).SID] = true
			}
			if !sids[sid1] || !sids[sid2] {
				t.Errorf("logout tokens for sessions %v, want %s and %s", sids, sid1, sid2)
			}
			recv.quiet("/rp", n+2)
			wantSignedOut(t, rp, laptop, "the laptop after "+tc.name, a, b)
			wantSignedOut(t, rp, phone, "the phone after "+tc.name, a, b)
		})
	}
}

// logoutPayload returns the payload of the logout token raw, unverified:
// which session it names (verifyLogoutToken checks it).
func logoutPayload(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return string(jws.UnsafePayloadWithoutVerification())
}
