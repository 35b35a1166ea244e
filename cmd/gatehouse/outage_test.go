package main

// End-to-end test of a database outage: PostgreSQL becomes unreachable
// while gatehouse runs, and reachable again, without a restart.

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// outageProxy forwards TCP connections from a loopback port to target. It
// can be stopped, which refuses new connections and cuts live ones, and
// started again on the same port.
type outageProxy struct {
	t      *testing.T
	target string
	addr   string // 127.0.0.1:PORT, fixed for the proxy's life

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{t: t, target: target, addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	t.Cleanup(func() {
		p.stop()
		p.wg.Wait()
	})
	return p
}

func (p *outageProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // stopped
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(ln, c)
			}()
		}
	}()
}

// track registers c as live unless the listener ln it came through has
// been stopped meanwhile, in which case it closes c.
func (p *outageProxy) track(ln net.Listener, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *outageProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *outageProxy) forward(ln net.Listener, c net.Conn) {
	if !p.track(ln, c) {
		return
	}
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(ln, up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done // either side ended: the deferred untracks close both
}

// stop closes the listener and every live connection.
func (p *outageProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// start listens again on the proxy's port.
func (p *outageProxy) start() {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("restart proxy on %s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outageGet GETs u with a short timeout, for polling.
func outageGet(u string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// TestOutagePostgres cuts gatehouse off from PostgreSQL in the middle of a
// sign-in, checks that it answers 503 meanwhile (and never a 500, a stack
// trace or a code), and that it recovers by itself once the database is
// back.
func TestOutagePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := newOutageProxy(t, target)
	u.Host = proxy.addr
	g := newGatehouse(t, u.String())
	g.start()
	pid := g.cmd.Process.Pid

	c := g.createClient("--name", "Outage App", "--redirect-uri", biLocalCB, "--grant-type", allGrants)
	g.createUser(biEmail, "Alice", biPassword)

	// A sign-in begins while the database is up.
	b := newBrowser(t)
	page, verifier := biLoginPage(t, g, b, c.ID, biLocalCB, "outage-1")
	form := biLoginForm(page, biEmail, biPassword)

	// Another sign-in completes before the outage; its code is exchanged
	// during it.
	b2 := newBrowser(t)
	page2, verifier2 := biLoginPage(t, g, b2, c.ID, biLocalCB, "outage-0")
	code2 := biCode(t, b2, b2.post(g.base+"/login", biLoginForm(page2, biEmail, biPassword)), biLocalCB, "outage-0")
	exchange2 := url.Values{
		"grant_type": {"authorization_code"}, "code": {code2},
		"redirect_uri": {biLocalCB}, "code_verifier": {verifier2},
	}

	proxy.stop()
	t.Log("database unreachable")

	// A code exchange fails as the server's fault (5xx), not the client's:
	// 400 invalid_grant would tell the application its valid code is bad.
	if s, m, body := biToken(t, g, c.ID, c.Secret, exchange2); s < 500 || m["error"] == "invalid_grant" || m["id_token"] != nil {
		t.Errorf("code exchange during the outage = %d %s, want a 5xx server error (the code is still good)", s, body)
	}

	// Readiness reports the outage; liveness does not.
	status, body, err := outageGet(g.base + "/readyz")
	if err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz during the outage = %d %q (%v), want 503", status, body, err)
	}
	status, body, err = outageGet(g.base + "/healthz")
	if err != nil || status != http.StatusOK {
		t.Errorf("GET /healthz during the outage = %d %q (%v), want 200", status, body, err)
	}

	// The password form: a clear 503 page, not a redirect.
	resp := b.post(g.base+"/login", form)
	biErrorPage(t, resp, http.StatusServiceUnavailable, "temporarily unavailable")
	if strings.Contains(resp.body, "postgres") || strings.Contains(resp.body, "dial tcp") {
		t.Errorf("the 503 page reveals internals:\n%s", resp.body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 from /login without Retry-After")
	}
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Name, "gh_session") && ck.MaxAge >= 0 {
			t.Errorf("a session cookie was set during the outage")
		}
	}

	// Reloading the login page: the same.
	biErrorPage(t, b.get(page.Request.URL.String()), http.StatusServiceUnavailable, "temporarily unavailable")

	// A fresh authorization request: 503 or an error redirect, never a
	// 500 and never a code.
	_, challenge := pkce()
	fresh := newBrowser(t).get(biAuthorizeURL(g, biAuthQuery(c.ID, biLocalCB, "outage-2", challenge)))
	t.Logf("GET /authorize during the outage: %d %s", fresh.StatusCode, fresh.Header.Get("Location"))
	switch {
	case fresh.StatusCode >= 300 && fresh.StatusCode < 400:
		loc, err := url.Parse(fresh.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), biLocalCB+"?") {
			t.Errorf("GET /authorize during the outage redirected to %q", fresh.Header.Get("Location"))
		} else if q := loc.Query(); q.Get("error") != "temporarily_unavailable" || q.Has("code") || q.Get("error_description") != op.UnavailableDescription {
			t.Errorf("GET /authorize during the outage redirected with %s, want error=temporarily_unavailable and the fixed description, not the database's words", loc.RawQuery)
		}
	default:
		biErrorPage(t, fresh, http.StatusServiceUnavailable, "temporarily unavailable")
	}

	// The token endpoint (client credentials: only the client lookup
	// needs the database) fails as the server's fault: a 4xx such as
	// invalid_client would send the administrator after a good secret.
	tstatus, tm, tbody := biToken(t, g, c.ID, c.Secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}})
	if tstatus < 500 || tm["access_token"] != nil {
		t.Errorf("client_credentials during the outage = %d %s, want a 5xx server error", tstatus, tbody)
	}
	biNoCrash(t, "token response", tbody)

	// The database comes back: gatehouse recovers by itself.
	proxy.start()
	t.Log("database reachable again")
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, err = outageGet(g.base + "/readyz")
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz still %d %q (%v) 15s after the database came back", status, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The sign-in completes: the page loaded before the outage still works,
	// or, failing that, a new one does.
	var code string
	resp = b.post(g.base+"/login", form)
	if resp.StatusCode == http.StatusSeeOther {
		code = biCode(t, b, resp, biLocalCB, "outage-1")
	} else {
		t.Logf("the old login form answered %d after the outage; starting over", resp.StatusCode)
		page, verifier = biLoginPage(t, g, b, c.ID, biLocalCB, "outage-3")
		code = biCode(t, b, b.post(g.base+"/login", biLoginForm(page, biEmail, biPassword)), biLocalCB, "outage-3")
	}
	tstatus, tm, tbody = biToken(t, g, c.ID, c.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {biLocalCB}, "code_verifier": {verifier},
	})
	if tstatus != http.StatusOK || tm["id_token"] == nil {
		t.Fatalf("code exchange after the outage = %d %s, want 200 with an id_token", tstatus, tbody)
	}

	// The code whose exchange failed during the outage was not used up.
	if s, m, body := biToken(t, g, c.ID, c.Secret, exchange2); s != http.StatusOK || m["id_token"] == nil {
		t.Errorf("exchange after the outage of the code made before it = %d %s, want 200 with an id_token", s, body)
	}

	// The same process did all of this.
	select {
	case err := <-g.exited:
		g.exited <- err
		t.Fatalf("gatehouse exited during the outage: %v", err)
	default:
	}
	if g.cmd.Process.Pid != pid {
		t.Fatalf("gatehouse pid changed")
	}
	out := g.output()
	if n := strings.Count(out, "gatehouse listening"); n != 1 {
		t.Errorf("gatehouse started %d times, want once", n)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("gatehouse logged a panic:\n%s", out)
	}
	if err := g.stop(); err != nil {
		t.Errorf("gatehouse did not exit cleanly on SIGTERM after the outage: %v", err)
	}
}
