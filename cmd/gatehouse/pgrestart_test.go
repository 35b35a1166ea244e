package main

// A real database restart (REL-01): the test runs a PostgreSQL cluster of
// its own, starts gatehouse on it, stops the cluster in the middle of a
// sign-in and starts it again, then restarts it with pg_ctl restart -m fast
// under a loop of requests. gatehouse must answer 503 (or
// temporarily_unavailable) meanwhile, never a 500, a stack trace or a
// fail-open, and carry on afterwards without a restart of its own, with
// attempt counters and blocks intact.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// pgRequireEnv, set to 1, makes the test fail instead of skip when the
// PostgreSQL server binaries are missing (CI sets it).
const pgRequireEnv = "GATEHOUSE_TEST_REQUIRE_POSTGRES"

// pgCluster is a throwaway PostgreSQL cluster: its data directory and unix
// socket live in a temporary directory, it listens on one loopback port,
// and it runs as the postgres user when the test runs as root.
type pgCluster struct {
	*pgtest.Cluster
	t   *testing.T
	log string
}

// newPGCluster initialises and starts a cluster, or skips t when the
// server binaries are missing (fails it under GATEHOUSE_TEST_REQUIRE_POSTGRES=1).
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	if pgtest.BinDir() == "" {
		if os.Getenv(pgRequireEnv) == "1" {
			t.Fatalf("PostgreSQL's initdb and pg_ctl not found but %s=1", pgRequireEnv)
		}
		t.Skip("PostgreSQL's initdb and pg_ctl not found, skipping the database restart test")
	}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	p, _ := strconv.Atoi(port)
	pc, err := pgtest.InitCluster("gatehouse-pg-", p)
	if err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{Cluster: pc, t: t, log: filepath.Join(pc.Dir, "postgres.log")}
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(pc.Dir)
	})
	if out, err := c.pgctl("start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.serverLog())
	}
	return c
}

// dsn is the connection string of the cluster's postgres database.
func (c *pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// pgctl runs pg_ctl on the cluster: start, stop, restart. Start and restart
// wait until the server accepts connections; the server listens on the
// loopback port only, with its socket in the cluster's directory.
func (c *pgCluster) pgctl(action string, args ...string) (string, error) {
	argv := []string{action, "-D", c.Data(), "-w", "-t", "60", "-l", c.log,
		"-o", fmt.Sprintf("-F -p %d -k %s -c listen_addresses=127.0.0.1", c.Port, c.Dir)}
	return c.Run("pg_ctl", append(argv, args...)...)
}

func (c *pgCluster) serverLog() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// pgTally counts the answers of a request loop by status.
type pgTally struct {
	mu       sync.Mutex
	statuses map[string]int
	bad      []string // answers that must never happen
	n        int
	maxDur   time.Duration
}

func (p *pgTally) add(what string, status int, body string, err error, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.statuses == nil {
		p.statuses = map[string]int{}
	}
	p.n++
	p.maxDur = max(p.maxDur, d)
	key := what + " " + strconv.Itoa(status)
	if err != nil {
		key = what + " error"
	}
	p.statuses[key]++
	ok := err == nil && (status == http.StatusOK || status == http.StatusServiceUnavailable)
	for _, crash := range []string{"goroutine ", "panic:", "runtime error:"} {
		if strings.Contains(body, crash) {
			ok = false
		}
	}
	if !ok && len(p.bad) < 10 {
		p.bad = append(p.bad, fmt.Sprintf("%s: %d %v %.200q", what, status, err, body))
	}
}

func (p *pgTally) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.statuses))
	for k := range p.statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s×%d ", k, p.statuses[k])
	}
	return fmt.Sprintf("%d requests (%sslowest %v)", p.n, b.String(), p.maxDur.Round(time.Millisecond))
}

// loop GETs each of urls in turn with client until stop is closed,
// tallying the answers.
func (p *pgTally) loop(stop <-chan struct{}, client *http.Client, urls map[string]string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for what, u := range urls {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				status, body, err := pgGet(client, u)
				p.add(what, status, body, err, time.Since(start))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return &wg
}

func pgGet(client *http.Client, u string) (int, string, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReady polls g's /readyz until it answers 200 and returns how long
// that took.
func waitReady(t *testing.T, g *gatehouse, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		status, body, err := outageGet(g.base + "/readyz")
		if err == nil && status == http.StatusOK {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("GET /readyz still %d %q (%v) %v after the database came back", status, body, err, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pgUnavailable checks that resp is the 503 page of an unavailable
// database: no redirect, Retry-After, no internals.
func pgUnavailable(t *testing.T, what string, resp *response) {
	t.Helper()
	biErrorPage(t, resp, http.StatusServiceUnavailable, "temporarily unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
	for _, leak := range []string{"postgres", "dial tcp", "SQLSTATE", "connection refused", "pgx"} {
		if strings.Contains(resp.body, leak) {
			t.Errorf("%s: the 503 page reveals %q:\n%s", what, leak, resp.body)
		}
	}
}

func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := newPGCluster(t)
	e := tfStart(t, pg.dsn())
	g, rp := e.g, e.rp
	pid := g.cmd.Process.Pid

	// Alice signs in with a password and an emailed code.
	u := e.newUser(t, "restart@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.7.1"), u)
	plain := e.newUser(t, "restart-plain@example.com")

	// 127.0.7.9 is blocked: three wrong codes.
	bBlocked := newBrowser(t).from("127.0.7.9")
	n := e.mail.count(u.email, tfCodeSubject)
	_, page := e.codePage(t, rp, bBlocked, u)
	wrong := wrongCodeFor(e.mail.code(t, u.email, n))
	blockedForm := tfForm(t, page.body, "/login/otp")
	for _, want := range []string{tfWrong1, tfWrong2} {
		tfExpect(t, tfPostCode(bBlocked, g.base+"/login/otp", blockedForm, wrong), http.StatusUnauthorized, want)
	}
	tfExpect(t, tfPostCode(bBlocked, g.base+"/login/otp", blockedForm, wrong), http.StatusTooManyRequests, blockedText)

	// A sign-in from 127.0.7.2 reaches the code page and spends one of its
	// three attempts.
	b := newBrowser(t).from("127.0.7.2")
	n = e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, rp, b, u)
	code := e.mail.code(t, u.email, n)
	codeForm := tfForm(t, page.body, "/login/otp")
	resendForm := tfForm(t, page.body, "/login/otp/resend")
	tfExpect(t, tfPostCode(b, g.base+"/login/otp", codeForm, wrongCodeFor(code)), http.StatusUnauthorized, tfWrong1)

	// Another sign-in got its authorization code; the application
	// redeems it during the outage.
	fPlain := rp.newFlow()
	authCode := rp.signIn(newBrowser(t).from("127.0.7.3"), fPlain, plain.email, plain.pass)

	// A third browser holds the password page.
	b3 := newBrowser(t).from("127.0.7.4")
	f3 := rp.newFlow()
	loginPage, _ := b3.follow(f3.authURL, rpRedirect)
	if loginPage == nil || loginPage.StatusCode != http.StatusOK {
		t.Fatal("no login page before the outage")
	}
	passwordForm := tfForm(t, loginPage.body, "/login")
	passwordForm.Set("email", plain.email)
	passwordForm.Set("password", plain.pass)

	// Requests keep coming all along, from a browser of their own:
	// readiness and a login page, which reads the database.
	bLoop := newBrowser(t).from("127.0.7.6")
	loopPage, _ := bLoop.follow(rp.newFlow().authURL, rpRedirect)
	if loopPage == nil || loopPage.StatusCode != http.StatusOK {
		t.Fatal("no login page for the request loop")
	}
	bLoop.c.Timeout = 5 * time.Second
	var tally pgTally
	stopLoop := make(chan struct{})
	loop := tally.loop(stopLoop, bLoop.c, map[string]string{
		"/readyz": g.base + "/readyz",
		"/login":  loopPage.Request.URL.String(),
	})
	defer func() {
		select {
		case <-stopLoop:
		default:
			close(stopLoop)
		}
		loop.Wait()
	}()
	time.Sleep(200 * time.Millisecond)

	// The database stops.
	stopStart := time.Now()
	if out, err := pg.pgctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	stopped := time.Now()
	t.Logf("database stopped (pg_ctl stop -m fast took %v)", stopped.Sub(stopStart).Round(time.Millisecond))

	// The right code: a clear 503 page, nothing consumed, no redirect.
	pgUnavailable(t, "code during the outage", tfPostCode(b, g.base+"/login/otp", codeForm, code))
	// Resend: 503, and no code is sent (nor the one sent voided: it
	// works below).
	sent := e.mail.count(u.email, tfCodeSubject)
	pgUnavailable(t, "resend during the outage", b.post(g.base+"/login/otp/resend", resendForm))
	// The right password: 503, not a way in.
	resp := b3.post(g.base+"/login", passwordForm)
	pgUnavailable(t, "password during the outage", resp)
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Name, "session") && ck.MaxAge >= 0 {
			t.Errorf("a session cookie %s was set during the outage", ck.Name)
		}
	}
	// A new authorization request: 503 or temporarily_unavailable.
	fresh := newBrowser(t).get(rp.newFlow().authURL)
	if fresh.StatusCode >= 300 && fresh.StatusCode < 400 {
		loc, err := url.Parse(fresh.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), rpRedirect+"?") || loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Has("code") {
			t.Errorf("GET /authorize during the outage redirected to %q, want error=temporarily_unavailable", fresh.Header.Get("Location"))
		}
	} else {
		pgUnavailable(t, "authorize during the outage", fresh)
	}
	// The code exchange: the server's fault (5xx), never invalid_grant.
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {authCode},
		"redirect_uri": {rpRedirect}, "code_verifier": {fPlain.verifier}}
	if s, m, body := biToken(t, g, rp.client.ID, rp.client.Secret, exchange); s < 500 || m["error"] == "invalid_grant" || m["id_token"] != nil {
		t.Errorf("code exchange during the outage = %d %s, want a 5xx server error", s, body)
	} else {
		biNoCrash(t, "token response during the outage", body)
	}
	if s, _, _ := outageGet(g.base + "/healthz"); s != http.StatusOK {
		t.Errorf("GET /healthz during the outage = %d, want 200 (alive)", s)
	}
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))

	// The database starts again: the pool reconnects by itself.
	if out, err := pg.pgctl("start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, pg.serverLog())
	}
	dbBack := time.Now()
	outage := dbBack.Sub(stopStart)
	recovery := waitReady(t, g, 15*time.Second)

	if n := e.mail.count(u.email, tfCodeSubject); n != sent {
		t.Errorf("%d codes sent during the outage, want none", n-sent)
	}
	// The sign-in resumes where it was: the outage spent no attempt (one
	// left after one more wrong code), and the emailed code still works.
	tfExpect(t, tfPostCode(b, g.base+"/login/otp", codeForm, wrongCodeFor(code)), http.StatusUnauthorized, tfWrong2)
	claims := tfFinish(t, rp, b, f, tfPostCode(b, g.base+"/login/otp", codeForm, code))
	tfClaims(t, claims, tfAMREmail, tfACREmail)
	resumed := time.Since(dbBack)
	if resumed > 5*time.Second+recovery {
		t.Errorf("the sign-in finished %v after the database came back, want within 5s of ready", resumed)
	}

	// The code whose exchange failed during the outage was not used up.
	if _, _, c := rp.exchange(authCode, fPlain); c.Email != plain.email {
		t.Errorf("ID token for %q, want %q", c.Email, plain.email)
	}
	// The password page loaded before the outage still signs in.
	resp = b3.post(g.base+"/login", passwordForm)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the password form after the outage = %d %q, want 303", resp.StatusCode, tfAlert(resp.body))
	}
	// The block holds.
	_, resp = tfPassword(t, rp, newBrowser(t).from("127.0.7.9"), plain.email, plain.pass)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(tfAlert(resp.body), "You have reached the limit of attempts") {
		t.Errorf("127.0.7.9 after the outage: %d %q, want still blocked", resp.StatusCode, tfAlert(resp.body))
	}
	if out := tfCLI(t, g, "", "blocks", "list"); !strings.Contains(out, "127.0.7.9") {
		t.Errorf("blocks list after the outage does not show 127.0.7.9:\n%s", out)
	}

	// pg_ctl restart -m fast in the middle of another sign-in, under the
	// same loop of requests.
	b4 := newBrowser(t).from("127.0.7.5")
	n = e.mail.count(u.email, tfCodeSubject)
	f4, page := e.codePage(t, rp, b4, u)
	code4 := e.mail.code(t, u.email, n)
	form4 := tfForm(t, page.body, "/login/otp")
	restartStart := time.Now()
	if out, err := pg.pgctl("restart", "-m", "fast"); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s\n%s", err, out, pg.serverLog())
	}
	restarted := time.Now()
	restartRecovery := waitReady(t, g, 15*time.Second)
	// The first request after the restart may meet a connection the
	// server closed (SQLSTATE 57P01): it must not reach the user.
	tfClaims(t, tfFinish(t, rp, b4, f4, tfPostCode(b4, g.base+"/login/otp", form4, code4)), tfAMREmail, tfACREmail)
	restartResumed := time.Since(restarted)

	close(stopLoop)
	loop.Wait()
	for _, bad := range tally.bad {
		t.Errorf("request during the restarts: %s", bad)
	}

	// The same process did all of this, without a panic.
	select {
	case err := <-g.exited:
		g.exited <- err
		t.Fatalf("gatehouse exited: %v", err)
	default:
	}
	if g.cmd.Process.Pid != pid || strings.Count(g.output(), "gatehouse listening") != 1 {
		t.Errorf("gatehouse restarted")
	}
	biNoCrash(t, "gatehouse's log", g.output())

	t.Logf("database restart (PostgreSQL in %s): stop → start outage %v, ready %v after start, sign-in finished %v after start; "+
		"pg_ctl restart -m fast took %v, ready %v after it, sign-in finished %v after it; request loop: %s",
		pg.Bin, outage.Round(time.Millisecond), recovery.Round(time.Millisecond), resumed.Round(time.Millisecond),
		restarted.Sub(restartStart).Round(time.Millisecond), restartRecovery.Round(time.Millisecond),
		restartResumed.Round(time.Millisecond), tally.String())
	if err := g.stop(); err != nil {
		t.Errorf("gatehouse did not exit cleanly on SIGTERM: %v", err)
	}
}
