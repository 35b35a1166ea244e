package main

// Two replicas on PostgreSQL behind the real HAProxy running
// deploy/haproxy.cfg (issue 19): a sign-in through it, the client address
// it forwards, a replica killed in the middle of a sign-in, and a replica
// drained by SIGTERM under load.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// haproxyRequireEnv, set to 1, makes the HAProxy tests fail instead of
// skip when haproxy is not installed (CI sets it).
const haproxyRequireEnv = "GATEHOUSE_TEST_REQUIRE_HAPROXY"

// haproxyDown is how long deploy/haproxy.cfg's checks may take to mark a
// replica that stopped answering /readyz down: inter 1s, then fall 2 at
// fastinter 500ms, with room for a busy machine.
const haproxyDown = 3 * time.Second

// findHAProxy finds the haproxy binary, or skips the test (fails it when
// GATEHOUSE_TEST_REQUIRE_HAPROXY=1).
func findHAProxy(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	msg := "haproxy not found (install it: apt-get install --no-install-recommends haproxy)"
	if os.Getenv(haproxyRequireEnv) == "1" {
		t.Fatalf("%s, but %s=1", msg, haproxyRequireEnv)
	}
	t.Skip(msg)
	return ""
}

// balancer is a running haproxy with deploy/haproxy.cfg.
type balancer struct {
	t      *testing.T
	base   string // the frontend, http://127.0.0.1:PORT
	stats  string // the statistics page as CSV
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan error
}

// startBalancer runs haproxy in the foreground with deploy/haproxy.cfg,
// listening on listen and balancing over the two replicas, and waits until
// its checks see both up. It is stopped when the test ends.
func startBalancer(t *testing.T, haproxy, listen string, replica1, replica2 *gatehouse) *balancer {
	t.Helper()
	statsAddr := freeAddr(t)
	lb := &balancer{t: t, base: "http://" + listen, stats: "http://" + statsAddr + "/stats;csv"}
	lb.cmd = exec.Command(haproxy, "-db", "-f", filepath.Join(deployDir, "haproxy.cfg"))
	lb.cmd.Env = append(os.Environ(),
		"LB_LISTEN="+listen,
		"LB_REPLICA1="+strings.TrimPrefix(replica1.base, "http://"),
		"LB_REPLICA2="+strings.TrimPrefix(replica2.base, "http://"),
		"LB_STATS="+statsAddr,
	)
	lb.cmd.Stdout = &lockedWriter{mu: &lb.mu, w: &lb.logs}
	lb.cmd.Stderr = lb.cmd.Stdout
	if err := lb.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lb.exited = make(chan error, 1)
	go func() { lb.exited <- lb.cmd.Wait() }()
	t.Cleanup(func() {
		lb.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-lb.exited:
		case <-time.After(5 * time.Second):
			lb.cmd.Process.Kill()
			<-lb.exited
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", lb.output())
		}
	})
	lb.waitStatus("replica1", "UP", 10*time.Second)
	lb.waitStatus("replica2", "UP", 10*time.Second)
	return lb
}

func (lb *balancer) output() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.logs.String()
}

// status returns the state HAProxy gives server in the replicas backend
// (UP, DOWN, "UP 1/2", "DOWN 1/2", "no check", …) after its last check
// ("L7OK", "L7STS", "L4CON", …), or "" when the statistics do not answer.
func (lb *balancer) status(server string) (state, check string) {
	resp, err := http.Get(lb.stats)
	if err != nil {
		return "", ""
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", ""
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	for _, row := range rows[1:] {
		if len(row) > col["check_status"] && row[col["pxname"]] == "replicas" && row[col["svname"]] == server {
			return row[col["status"]], row[col["check_status"]]
		}
	}
	return "", ""
}

// waitStatus waits until HAProxy gives server the state want, for at most
// limit, and returns how long that took.
func (lb *balancer) waitStatus(server, want string, limit time.Duration) time.Duration {
	lb.t.Helper()
	start := time.Now()
	var state, check string
	for time.Since(start) < limit {
		if state, check = lb.status(server); state == want {
			return time.Since(start)
		}
		select {
		case err := <-lb.exited:
			lb.t.Fatalf("haproxy exited: %v\n%s", err, lb.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	lb.t.Fatalf("HAProxy did not mark %s %s within %v (state %q, last check %q)", server, want, limit, state, check)
	return 0
}

// requestIPs returns the client_ip of each request g logged for method and
// path.
func requestIPs(g *gatehouse, method, path string) []string {
	var ips []string
	for line := range strings.Lines(g.output()) {
		var m struct {
			Msg, Method, Path string
			ClientIP          string `json:"client_ip"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "request" && m.Method == method && m.Path == path {
			ips = append(ips, m.ClientIP)
		}
	}
	return ips
}

// cluster is two replicas on one fresh PostgreSQL schema behind HAProxy
// with deploy/haproxy.cfg, as make cluster runs them.
type cluster struct {
	// front is the cluster as clients see it: HAProxy's address (the
	// issuer), and the CLI on the shared database.
	front    *gatehouse
	replicas [2]*gatehouse
	lb       *balancer
}

// startCluster starts a cluster whose replicas have extra in their
// environment and trust HAProxy's X-Forwarded-For.
func startCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	haproxy := findHAProxy(t)
	dsn := pgtest.DSN(t)
	listen := freeAddr(t)
	issuer := "http://" + listen
	extra = append([]string{"GATEHOUSE_ISSUER=" + issuer, "GATEHOUSE_HTTP_TRUSTED_PROXIES=127.0.0.1/32"}, extra...)
	a := newGatehouse(t, dsn, extra...)
	a.start() // creates the key file that B shares
	b := newGatehouse(t, dsn, append(extra,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))...)
	b.start()
	return &cluster{
		front:    &gatehouse{t: t, base: issuer, env: a.env},
		replicas: [2]*gatehouse{a, b},
		lb:       startBalancer(t, haproxy, listen, a, b),
	}
}

// TestHAProxy runs two replicas on one PostgreSQL schema behind HAProxy
// with deploy/haproxy.cfg, the issuer being HAProxy's address, as make
// cluster does.
func TestHAProxy(t *testing.T) {
	t.Parallel()
	const shutdownDelay = 4 * time.Second
	cl := startCluster(t, fmt.Sprintf("GATEHOUSE_HTTP_SHUTDOWN_DELAY=%v", shutdownDelay), "GATEHOUSE_PASSWORD_IP_MAX_ATTEMPTS=3")
	front, lb, issuer := cl.front, cl.lb, cl.front.base
	a, b := cl.replicas[0], cl.replicas[1]
	replicas := map[string]*gatehouse{"replica1": a, "replica2": b}
	front.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, front)

	t.Run("sign-in", func(t *testing.T) {
		br := newBrowser(t).from("127.0.0.5")
		f := rp.newFlow()
		code := rp.signIn(br, f, alice, alicePass)
		_, idt, c := rp.exchange(code, f)
		if idt.Issuer != issuer || c.Email != alice {
			t.Errorf("iss %s email %s, want %s %s", idt.Issuer, c.Email, issuer, alice)
		}
		// Round robin: both replicas served part of the sign-in.
		for name, g := range replicas {
			if n := len(requestIPs(g, http.MethodGet, "/authorize")) + len(requestIPs(g, http.MethodPost, "/login")) +
				len(requestIPs(g, http.MethodGet, "/authorize/callback")) + len(requestIPs(g, http.MethodPost, "/oauth/token")); n == 0 {
				t.Errorf("%s served no step of the sign-in", name)
			}
		}
	})

	t.Run("client address", func(t *testing.T) {
		// Three wrong passwords from 127.0.0.7 block that address, with a
		// forged X-Forwarded-For that HAProxy passes on but that names no
		// trusted proxy's client: Gatehouse believes the hop HAProxy adds.
		br := newBrowser(t).from("127.0.0.7")
		br.header.Set("X-Forwarded-For", "203.0.113.9")
		for i := range 3 {
			tryPassword(t, rp, br, fmt.Sprintf("nobody%d@example.com", i), "not the password")
		}
		if r := tryPassword(t, rp, br, alice, alicePass); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("right password from the blocked 127.0.0.7 = %d, want 429", r.StatusCode)
		}
		blocks := front.cli("", "blocks", "list")
		if !strings.Contains(blocks, "127.0.0.7") || strings.Contains(blocks, "127.0.0.1 ") ||
			strings.Contains(blocks, "203.0.113.9") {
			t.Errorf("blocks list, want 127.0.0.7 alone:\n%s", blocks)
		}
		if out := front.cli("", "audit", "--ip", "127.0.0.7", "--type", "signin.failed"); strings.Count(out, "signin.failed") < 3 {
			t.Errorf("audit --ip 127.0.0.7 lacks the failed sign-ins:\n%s", out)
		}
		for name, g := range replicas {
			for _, ip := range requestIPs(g, http.MethodPost, "/login") {
				if ip == "127.0.0.1" || ip == "203.0.113.9" {
					t.Errorf("%s logged a POST /login from %s, HAProxy's address or a forged one", name, ip)
				}
			}
		}
		// Another client through the same HAProxy is not blocked.
		if r := tryPassword(t, rp, newBrowser(t).from("127.0.0.8"), alice, alicePass); r.StatusCode != http.StatusSeeOther {
			t.Errorf("alice from 127.0.0.8 = %d, want 303", r.StatusCode)
		}
	})

	// killed is the replica SIGKILLed in the middle of a sign-in.
	var killed string
	t.Run("replica killed mid-sign-in", func(t *testing.T) {
		br := newBrowser(t).from("127.0.0.9")
		f := rp.newFlow()
		page, at := br.follow(f.authURL, rpRedirect)
		if page == nil || page.StatusCode != http.StatusOK {
			t.Fatalf("no login page (landed at %s)", at)
		}
		form := formFields(page.body)
		form.Set("email", alice)
		form.Set("password", alicePass)
		resp := br.post(issuer+"/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
		}
		// Kill the replica that checked the password, before the callback:
		// the one that logged a POST /login from this browser's address,
		// used by no other step. The log line follows the answer (and its
		// pipe to this process): under load it can arrive after the 303.
		for deadline := time.Now().Add(10 * time.Second); killed == "" && time.Now().Before(deadline); {
			for name, g := range replicas {
				if slices.Contains(requestIPs(g, http.MethodPost, "/login"), "127.0.0.9") {
					killed = name
				}
			}
			if killed == "" {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if killed == "" {
			t.Fatal("no replica logged the password step")
		}
		g := replicas[killed]
		if err := g.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err := <-g.exited
		g.exited <- err
		start := time.Now()

		// Before HAProxy's checks notice, round robin still picks the
		// dead replica for every other request: each of these must be
		// retried on the live one.
		for i := range 4 {
			r := br.get(issuer + "/.well-known/openid-configuration")
			if r.StatusCode != http.StatusOK {
				t.Errorf("request %d right after the kill = %d", i+1, r.StatusCode)
			}
		}
		_, at = br.follow(redirectTarget(resp), rpRedirect)
		code := rp.codeFrom(at, f)
		_, _, c := rp.exchange(code, f)
		if c.Email != alice {
			t.Errorf("email = %q", c.Email)
		}
		finished := time.Since(start)
		// The dead replica is out of rotation within the checks' interval.
		down := lb.waitStatus(killed, "DOWN", haproxyDown) + finished
		t.Logf("%s killed after the password step; the sign-in finished on the other replica %v later; HAProxy marked it DOWN %v after the kill",
			killed, finished.Round(time.Millisecond), down.Round(time.Millisecond))

		// Back up: HAProxy returns it to rotation after two good checks.
		g.start()
		lb.waitStatus(killed, "UP", 10*time.Second)
	})
	if killed == "" {
		return
	}

	t.Run("drain on SIGTERM", func(t *testing.T) {
		// Drain the replica that was not killed, while clients keep going
		// through HAProxy.
		name := "replica1"
		if killed == name {
			name = "replica2"
		}
		g := replicas[name]
		urls := []string{
			issuer + "/.well-known/openid-configuration",
			issuer + "/keys",
			rp.newFlow().authURL, // writes a sign-in request
		}
		var (
			mu       sync.Mutex
			failures []string
			answered atomic.Int64
			stop     atomic.Bool
			wg       sync.WaitGroup
			down     time.Time // HAProxy first reports g DOWN
			refused  time.Time // g's listener first refuses a connection
		)
		client := &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for w := range 4 {
			wg.Go(func() {
				for i := w; !stop.Load(); i++ {
					u := urls[i%len(urls)]
					resp, err := client.Get(u)
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, err.Error())
					case resp.StatusCode >= 500:
						failures = append(failures, fmt.Sprintf("%s: %d", u, resp.StatusCode))
					default:
						answered.Add(1)
					}
					mu.Unlock()
					if err == nil {
						resp.Body.Close()
					}
				}
			})
		}
		wg.Go(func() {
			for !stop.Load() {
				if state, _ := lb.status(name); strings.HasPrefix(state, "DOWN") || state == "MAINT" || state == "NOLB" {
					mu.Lock()
					if down.IsZero() {
						down = time.Now()
					}
					mu.Unlock()
				}
				resp, err := http.Get(g.base + "/healthz")
				if err != nil {
					mu.Lock()
					if refused.IsZero() {
						refused = time.Now()
					}
					mu.Unlock()
				} else {
					resp.Body.Close()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})

		time.Sleep(500 * time.Millisecond)
		sigterm := time.Now()
		if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var exitErr error
		select {
		case exitErr = <-g.exited:
			g.exited <- exitErr
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not exit within 20s of SIGTERM", name)
		}
		exited := time.Now()
		time.Sleep(300 * time.Millisecond) // requests go on after the exit
		stop.Store(true)
		wg.Wait()

		if exitErr != nil {
			t.Errorf("%s exited with %v, want status 0", name, exitErr)
		}
		if len(failures) > 0 {
			t.Errorf("%d requests through HAProxy failed during the drain, e.g. %s", len(failures), failures[0])
		}
		switch {
		case down.IsZero():
			t.Errorf("HAProxy never marked %s down during its drain", name)
		case refused.IsZero():
			t.Errorf("%s never closed its listener", name)
		case !down.Before(refused):
			t.Errorf("HAProxy marked %s down %v after SIGTERM, after its listener closed (%v after SIGTERM): raise http.shutdown_delay or shorten the checks",
				name, down.Sub(sigterm), refused.Sub(sigterm))
		}
		after := func(at time.Time) string {
			if at.IsZero() {
				return "never"
			}
			return at.Sub(sigterm).Round(time.Millisecond).String() + " after SIGTERM"
		}
		t.Logf("drain of %s: %d requests answered through HAProxy, %d failed; DOWN in HAProxy %s, listener closed %s, exit %s",
			name, answered.Load(), len(failures), after(down), after(refused), after(exited))
	})
}
