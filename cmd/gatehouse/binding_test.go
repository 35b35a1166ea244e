package main

// A sign-in belongs to the browser that sent /authorize (issue 15 §1,
// SECURITY.md SES-01): an attacker who starts a sign-in and hands its
// /login link to a victim gets no code for her, whether she signs in
// through the link or already has a session, and a done request yields
// one code, to its own browser, once.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// browserFrom is a browser whose connections leave from source address ip
// (127.x.y.z), so that the server sees another client address.
func browserFrom(t *testing.T, ip string) *browser {
	return newBrowser(t).from(ip)
}

// startedFlow starts rp's sign-in in b and stops at the redirect to the
// login page: it returns the /login URL, which carries the request id.
func startedFlow(t *testing.T, rp *relyingParty, b *browser) (*flow, string) {
	t.Helper()
	f := rp.newFlow()
	resp := b.get(f.authURL)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /authorize = %d, want a redirect to the login page:\n%s", resp.StatusCode, resp.body)
	}
	login := redirectTarget(resp)
	if !strings.Contains(login, "/login?authRequestID=") {
		t.Fatalf("GET /authorize redirected to %s, want /login?authRequestID=…", login)
	}
	return f, login
}

// signedInTo fills the password form of the login page at loginURL in b
// (unless b's session answers at once) and follows the redirects up to the
// provider's callback, which it returns unrequested.
func signedInTo(t *testing.T, g *gatehouse, b *browser, loginURL, email, pass string) string {
	t.Helper()
	page := b.get(loginURL)
	if at := redirectTarget(page); page.StatusCode == http.StatusSeeOther && strings.HasPrefix(at, g.base+"/authorize/callback") {
		return at
	}
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%s", loginURL, page.StatusCode, page.body)
	}
	form := formFields(page.body)
	form.Set("email", email)
	form.Set("password", pass)
	resp := b.post(g.base+"/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
	}
	_, at := b.follow(redirectTarget(resp), g.base+"/authorize/callback")
	if !strings.HasPrefix(at, g.base+"/authorize/callback") {
		t.Fatalf("after the password, landed on %s, want the callback", at)
	}
	return at
}

// wantNoCode fails unless resp is a refusal that sends nobody a code.
func wantNoCode(t *testing.T, what string, resp *response) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if strings.Contains(loc, "code=") || strings.HasPrefix(loc, rpRedirect) {
		t.Fatalf("%s: %d with Location %s, want no code and no redirect to the client", what, resp.StatusCode, loc)
	}
	if resp.StatusCode < 400 {
		t.Fatalf("%s: %d, want a refusal (4xx):\n%s", what, resp.StatusCode, resp.body)
	}
}

// codeOf returns the code of a callback's redirect to the client, or "".
func codeOf(resp *response) string {
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, rpRedirect) {
		return ""
	}
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Query().Get("code")
}

func TestSignInBinding(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice", alicePass)
			rp := newRelyingParty(t, g)
			t.Run("LinkOpenedByVictim", func(t *testing.T) { testLinkOpenedByVictim(t, g, rp) })
			t.Run("VictimWithSession", func(t *testing.T) { testVictimWithSession(t, g, rp) })
			t.Run("CallbackOnce", func(t *testing.T) { testCallbackOnce(t, g, rp) })
			t.Run("FlowCookie", func(t *testing.T) { testFlowCookie(t, g, rp) })
		})
	}
}

// TestCallbackOnceAcrossReplicas: parallel callbacks of one done request,
// spread over two replicas on one PostgreSQL, give one code.
func TestCallbackOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a)
	owner := browserFrom(t, "127.0.0.11")
	f, link := startedFlow(t, rp, owner)
	callback := signedInTo(t, a, owner, link, alice, alicePass)
	path := strings.TrimPrefix(callback, a.base)
	var mu sync.Mutex
	var codes []string
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			base := a.base
			if i%2 == 1 {
				base = b.base
			}
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			status, h, _, err := burstDo(owner.c, req)
			if err != nil {
				t.Errorf("callback: %v", err)
				return
			}
			if strings.Contains(h.Get("Location"), "code=") {
				mu.Lock()
				codes = append(codes, h.Get("Location"))
				mu.Unlock()
			} else if status < 400 {
				t.Errorf("a callback that gave no code answered %d", status)
			}
		})
	}
	wg.Wait()
	if len(codes) != 1 {
		t.Fatalf("30 parallel callbacks over two replicas gave %d codes, want 1", len(codes))
	}
	rp.exchange(rp.codeFrom(codes[0], f), f)
}

// testLinkOpenedByVictim: the attacker starts a sign-in and sends the
// victim its /login link. Her browser is refused at every step, and the
// attacker's callback, polled before and after, issues nothing.
func testLinkOpenedByVictim(t *testing.T, g *gatehouse, rp *relyingParty) {
	attacker, victim := browserFrom(t, "127.0.0.2"), browserFrom(t, "127.0.0.3")
	_, link := startedFlow(t, rp, attacker)
	id := mustQuery(t, link, "authRequestID")
	callback := g.base + "/authorize/callback?id=" + url.QueryEscape(id)

	// The attacker polls the callback while the victim has not finished.
	wantNoCode(t, "the attacker's callback before the sign-in", attacker.get(callback))

	page := victim.get(link)
	if page.StatusCode != http.StatusForbidden || !strings.Contains(page.body, "started in another browser") {
		t.Fatalf("the victim opening the attacker's link: %d, want 403 \"started in another browser\":\n%s", page.StatusCode, page.body)
	}
	if strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatal("the victim was shown a password form for the attacker's request")
	}

	// She signs in anyway with a form of her own sign-in, its CSRF token
	// valid for her flow cookie, pointed at the attacker's request.
	_, own := startedFlow(t, rp, victim)
	form := formFields(victim.get(own).body)
	form.Set("authRequestID", id)
	form.Set("email", alice)
	form.Set("password", alicePass)
	resp := victim.post(g.base+"/login", form)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, "started in another browser") {
		t.Fatalf("the victim's password posted to the attacker's request: %d, want 403:\n%s", resp.StatusCode, resp.body)
	}

	// Nobody gets a code: not the attacker with his cookies, not without
	// cookies from a third address, not the victim.
	wantNoCode(t, "the attacker's callback", attacker.get(callback))
	wantNoCode(t, "a cookieless callback", browserFrom(t, "127.0.0.4").get(callback))
	wantNoCode(t, "the victim's callback", victim.get(callback))
}

// testVictimWithSession: a victim who is signed in at Gatehouse opens the
// attacker's link (a cross-site top-level navigation suffices): the request
// is not completed silently with her session.
func testVictimWithSession(t *testing.T, g *gatehouse, rp *relyingParty) {
	attacker, victim := browserFrom(t, "127.0.0.5"), browserFrom(t, "127.0.0.6")
	f := rp.newFlow()
	code := rp.signIn(victim, f, alice, alicePass) // her own sign-in: an SSO session
	rp.exchange(code, f)

	_, link := startedFlow(t, rp, attacker)
	id := mustQuery(t, link, "authRequestID")
	victim.header.Set("Sec-Fetch-Site", "cross-site")
	resp := victim.get(link)
	victim.header.Del("Sec-Fetch-Site")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, "started in another browser") {
		t.Fatalf("a signed-in victim opening the attacker's link: %d (Location %q), want 403:\n%s",
			resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	callback := g.base + "/authorize/callback?id=" + url.QueryEscape(id)
	wantNoCode(t, "the attacker's callback after the victim's visit", attacker.get(callback))
	wantNoCode(t, "a cookieless callback after the victim's visit", browserFrom(t, "127.0.0.7").get(callback))

	// Her session still answers her own applications.
	f = rp.newFlow()
	page, at := victim.follow(f.authURL, rpRedirect)
	if page != nil {
		t.Fatalf("the victim's own next sign-in was not answered from her session: %d at %s", page.StatusCode, at)
	}
	rp.exchange(rp.codeFrom(at, f), f)
}

// testCallbackOnce: a done request's callback answers its own browser once;
// another browser, a replay and a burst of parallel calls get nothing more.
func testCallbackOnce(t *testing.T, g *gatehouse, rp *relyingParty) {
	owner := browserFrom(t, "127.0.0.8")
	f, link := startedFlow(t, rp, owner)
	callback := signedInTo(t, g, owner, link, alice, alicePass)

	wantNoCode(t, "the callback without cookies", browserFrom(t, "127.0.0.9").get(callback))
	post := owner.post(callback, url.Values{"id": {mustQuery(t, callback, "id")}})
	wantNoCode(t, "the callback as a POST", post)

	resp := owner.get(callback)
	code := codeOf(resp)
	if code == "" {
		t.Fatalf("the owner's callback: %d (Location %q), want a code:\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	wantNoCode(t, "the owner's callback again", owner.get(callback))
	rp.exchange(rp.codeFrom(resp.Header.Get("Location"), f), f)

	// Twenty parallel callbacks of one done request from its browser: one
	// code.
	_, link = startedFlow(t, rp, owner)
	callback = signedInTo(t, g, owner, link, alice, alicePass)
	var codes atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, callback, nil)
			status, h, _, err := burstDo(owner.c, req)
			if err != nil {
				t.Errorf("callback: %v", err)
				return
			}
			if strings.Contains(h.Get("Location"), "code=") {
				codes.Add(1)
			} else if status < 400 {
				t.Errorf("a callback that gave no code answered %d", status)
			}
		})
	}
	wg.Wait()
	if n := codes.Load(); n != 1 {
		t.Fatalf("20 parallel callbacks of one sign-in gave %d codes, want 1", n)
	}
}

// testFlowCookie: /authorize sets the flow cookie HttpOnly and SameSite=Lax
// (it must come back on the relying party's cross-site redirect), with no
// id in it.
func testFlowCookie(t *testing.T, g *gatehouse, rp *relyingParty) {
	b := browserFrom(t, "127.0.0.10")
	resp := b.get(rp.newFlow().authURL)
	var flowCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gh_flow" {
			flowCookie = c
		}
	}
	if flowCookie == nil {
		t.Fatalf("GET /authorize set no flow cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if !flowCookie.HttpOnly || flowCookie.SameSite != http.SameSiteLaxMode || flowCookie.Path != "/" {
		t.Errorf("flow cookie %+v, want HttpOnly, SameSite=Lax, Path=/", flowCookie)
	}
	if strings.Contains(redirectTarget(resp), flowCookie.Value) {
		t.Error("the flow cookie's value appears in the redirect")
	}
	// A second /authorize in the same browser keeps its cookie: two
	// sign-ins in two tabs both work.
	if again := b.get(rp.newFlow().authURL); len(again.Cookies()) != 0 {
		t.Errorf("a second /authorize replaced the flow cookie: %q", again.Header.Values("Set-Cookie"))
	}
}

// mustQuery returns the query parameter key of URL u.
func mustQuery(t *testing.T, u, key string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Query().Get(key)
	if v == "" {
		t.Fatalf("%s has no %s", u, key)
	}
	return v
}
