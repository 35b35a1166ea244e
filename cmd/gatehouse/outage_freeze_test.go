package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// freezeProxy forwards TCP connections from a loopback port to target
// until it is frozen: then it answers nothing, as a database behind a
// network partition does. Connections stay open, bytes go nowhere, and
// new connections are accepted and never answered. Thawing closes every
// connection made so far and forwards new ones again.
type freezeProxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

func (p *freezeProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *freezeProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *freezeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.frozen.Load() {
			go io.Copy(io.Discard, c) // accepted, never answered
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(up)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies from src to dst, dropping what comes while frozen.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// freeze stops all traffic; thaw closes the connections and lets new ones
// through.
func (p *freezeProxy) freeze() { p.frozen.Store(true) }
func (p *freezeProxy) thaw() {
	p.frozen.Store(false)
	p.closeAll()
}

// TestOutageUnanswered covers a database that stops answering without
// refusing (a network partition): the sign-in, the token endpoint and the
// admin API answer 503 within requestTimeout (and a few seconds), not
// never, and not with a dropped connection; once the database answers
// again, the same sign-in completes. (Before, the requests waited on the
// database without end: POST /login got no answer, its connection cut at
// the server's WriteTimeout, and the token request still had none minutes
// later.) PostgreSQL only: an SQLite file cannot be partitioned away.
func TestOutageUnanswered(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := newFreezeProxy(t, target)
	u.Host = proxy.ln.Addr().String()
	g := newGatehouse(t, u.String())
	g.start()
	c := g.createClient("--name", "Partition App", "--redirect-uri", biLocalCB)
	adm := g.createClient("--name", "Admin", "--admin", "--grant", "client_credentials")
	adminTok := adminToken(t, g, adm)
	g.createUser(biEmail, "Alice", biPassword)
	b := newBrowser(t)
	page, verifier := biLoginPage(t, g, b, c.ID, biLocalCB, "partition-1")
	form := biLoginForm(page, biEmail, biPassword)

	proxy.freeze()
	t.Log("database partitioned away")
	// Each request must be answered within limit; the clients give up
	// then, so that a request never answered fails the test, not hangs it.
	limit := requestTimeout + 10*time.Second
	b.c.Timeout = limit
	client := &http.Client{Timeout: limit}
	call := func(req *http.Request) (int, string, error) {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Origin", g.base)
		for _, ck := range b.c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
		status, body, err := call(req)
		if err != nil {
			t.Errorf("POST /login during the partition: no answer within %v: %v", limit, err)
			return
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(body), "temporarily unavailable") {
			t.Errorf("POST /login during the partition = %d, want the 503 page:\n%s", status, body)
		}
		biNoCrash(t, "login page", body)
	})
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}.Encode()))
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		status, body, err := call(req)
		if err != nil {
			t.Errorf("token endpoint during the partition: no answer within %v: %v", limit, err)
			return
		}
		if status != http.StatusServiceUnavailable || strings.Contains(body, "access_token") {
			t.Errorf("client_credentials during the partition = %d %s, want 503", status, body)
		}
		biNoCrash(t, "token response", body)
	})
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodGet, g.admin+"/api/users", nil)
		req.Header.Set("Authorization", "Bearer "+adminTok)
		status, body, err := call(req)
		if err != nil {
			t.Errorf("admin API during the partition: no answer within %v: %v", limit, err)
			return
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
			t.Errorf("admin GET /api/users during the partition = %d %s, want 503 unavailable", status, body)
		}
	})
	wg.Wait()

	proxy.thaw()
	t.Log("database answers again")
	waitReady(t, g, 30*time.Second)
	code := biCode(t, b, b.post(g.base+"/login", form), biLocalCB, "partition-1")
	status, m, body := biToken(t, g, c.ID, c.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {biLocalCB}, "code_verifier": {verifier},
	})
	if status != http.StatusOK || m["id_token"] == nil {
		t.Fatalf("code exchange after the partition = %d %s, want 200 with an id_token", status, body)
	}
	if out := g.output(); strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("gatehouse logged a panic:\n%s", out)
	}
}
