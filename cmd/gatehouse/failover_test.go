package main

// PostgreSQL failover: the test runs a primary and a synchronous
// streaming standby of its own and two gatehouse replicas on one
// multi-host URL with target_session_attrs=read-write, the standby listed
// first. Parallel clients sign in (password, password + TOTP), redeem
// their codes and refresh their tokens on both replicas while the primary
// stops (pg_ctl stop -m fast) and the standby is promoted. Every answer
// must be a success or a 503 with Retry-After, and the retry of a request
// answered 503 must not be refused (its first try's work, committed or
// not, is not held against it); both replicas must be ready
// again within seconds of the promotion, without a restart; and what was
// acknowledged before the switch (an IP block, a failure counter, an
// emailed code, a refresh token rotation, audit events) must be found on
// the new primary.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/login/totp"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// foStandbyName is the standby's application_name, which the primary's
// synchronous_standby_names waits for.
const foStandbyName = "gatehouse_failover_standby"

// newPGStandby makes a streaming standby of primary with pg_basebackup -R,
// in a directory inside the primary's, and starts it. Its primary_conninfo
// names it foStandbyName.
func newPGStandby(t *testing.T, primary *pgCluster) *pgCluster {
	t.Helper()
	if !pgtest.Executable(filepath.Join(primary.Bin, "pg_basebackup")) {
		if os.Getenv(pgRequireEnv) == "1" {
			t.Fatalf("no pg_basebackup beside initdb in %s but %s=1", primary.Bin, pgRequireEnv)
		}
		t.Skipf("no pg_basebackup beside initdb in %s, skipping the failover test", primary.Bin)
	}
	s := &pgCluster{Cluster: &pgtest.Cluster{Bin: primary.Bin, Dir: filepath.Join(primary.Dir, "standby"), As: primary.As}, t: t}
	s.log = filepath.Join(s.Dir, "postgres.log")
	if err := os.Mkdir(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The cluster's owner (postgres, when the test runs as root) owns the
	// primary's directory: the standby's is its too.
	if fi, err := os.Stat(primary.Dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			if err := os.Chown(s.Dir, int(st.Uid), int(st.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	s.Port, _ = strconv.Atoi(port)
	t.Cleanup(func() { s.pgctl("stop", "-m", "immediate") }) // before the primary's, which removes the directory
	if out, err := s.Run("pg_basebackup", "-D", s.Data(), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port),
		"-U", "postgres", "-X", "stream", "-c", "fast", "-R", "--no-sync"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	// The last setting in postgresql.auto.conf wins: the one -R wrote,
	// with the application_name the primary waits for.
	conninfo := fmt.Sprintf("\nprimary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n", primary.Port, foStandbyName)
	f, err := os.OpenFile(filepath.Join(s.Data(), "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conninfo)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.pgctl("start"); err != nil {
		t.Fatalf("pg_ctl start (standby): %v\n%s\n%s", err, out, s.serverLog())
	}
	return s
}

// foConnect opens a connection of the test's own to dsn, closed when t
// ends.
func foConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// foMakeSynchronous makes primary wait for foStandbyName at every commit
// and waits until the standby streams as the synchronous one. It is set
// after pg_basebackup, so that the standby, once promoted, does not wait
// for a standby of its own.
func foMakeSynchronous(t *testing.T, primary *pgCluster) {
	t.Helper()
	conn := foConnect(t, primary.dsn())
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '"+foStandbyName+"'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		err := conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", foStandbyName).Scan(&state)
		if err == nil && state == "sync" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby is not a synchronous standby after 30s (sync_state %q, %v)", state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// foAuditIDs returns the ids of the audit events in the database at dsn.
func foAuditIDs(t *testing.T, dsn string) []string {
	t.Helper()
	rows, err := foConnect(t, dsn).Query(t.Context(), "SELECT id FROM audit_events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// foTally counts the answers of the load: successes, retryable 503s (with
// Retry-After), answers refused on the retry of a request whose first try
// got a 503 but had committed (wrong too: the test fails on them), and
// anything else (wrong).
type foTally struct {
	mu                                      sync.Mutex
	ok, unavailable, refusedAfter503, other int
	byWhat                                  map[string]int
	wrong, ambiguous                        []string
	signIns, totpSignIns, refreshes         int
}

type foVerdict int

const (
	foOK foVerdict = iota
	foRetry
	foWrong
)

// add tallies one answer; want are its success statuses; retried says
// that an earlier try of the same request got a 503.
func (l *foTally) add(what string, resp *response, err error, retried bool, want []int) foVerdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byWhat == nil {
		l.byWhat = map[string]int{}
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	key := what + " " + strconv.Itoa(status)
	if err != nil {
		key = what + " error"
	}
	l.byWhat[key]++
	// A stack trace anywhere, or internals on an error page (a success
	// carries random tokens, which may hold any three letters).
	crashed := false
	if resp != nil {
		leaks := []string{"goroutine ", "panic:", "runtime error:"}
		if status >= 400 {
			leaks = append(leaks, "SQLSTATE", "pgx", "dial tcp", "postgres")
		}
		for _, leak := range leaks {
			crashed = crashed || strings.Contains(resp.body, leak)
		}
	}
	switch {
	case err == nil && !crashed && slices.Contains(want, status):
		l.ok++
		return foOK
	case err == nil && !crashed && status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		l.unavailable++
		return foRetry
	case err == nil && !crashed && retried && status >= 400 && status < 500:
		l.refusedAfter503++
		if len(l.ambiguous) < 10 {
			l.ambiguous = append(l.ambiguous, fmt.Sprintf("%s: %d %q", what, status, foSummary(resp)))
		}
		return foWrong
	}
	l.other++
	if len(l.wrong) < 20 {
		if err != nil {
			l.wrong = append(l.wrong, fmt.Sprintf("%s: %v", what, err))
		} else {
			l.wrong = append(l.wrong, fmt.Sprintf("%s: %d (Retry-After %q) %q", what, status, resp.Header.Get("Retry-After"), foSummary(resp)))
		}
	}
	return foWrong
}

// wrongAnswer records a success that said the wrong thing.
func (l *foTally) wrongAnswer(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.other++
	if len(l.wrong) < 20 {
		l.wrong = append(l.wrong, fmt.Sprintf(format, args...))
	}
}

func (l *foTally) count(n *int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*n++
}

func (l *foTally) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l.byWhat)) {
		fmt.Fprintf(&b, "%s×%d, ", k, l.byWhat[k])
	}
	return fmt.Sprintf("%d requests: %d succeeded, %d answered 503 (retried), %d refused on the retry after a 503 (the first try had committed), %d other; "+
		"%d sign-ins finished (%d with TOTP), %d refresh rotations [%s]",
		l.ok+l.unavailable+l.refusedAfter503+l.other, l.ok, l.unavailable, l.refusedAfter503, l.other,
		l.signIns, l.totpSignIns, l.refreshes, strings.TrimSuffix(b.String(), ", "))
}

// foSummary is what an answer says: its alert, its JSON error or the
// start of its body.
func foSummary(resp *response) string {
	if a := tfAlert(resp.body); a != "" {
		return a
	}
	var m map[string]any
	if json.Unmarshal([]byte(resp.body), &m) == nil && m["error"] != nil {
		return fmt.Sprint(m["error"], ": ", m["error_description"])
	}
	return resp.body[:min(len(resp.body), 200)]
}

// foForm returns the hidden fields of the form of page posting to action.
func foForm(page, action string) (url.Values, bool) {
	for _, m := range tfFormRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == action {
			return formFields(m[2]), true
		}
	}
	return nil, false
}

// foCodePage starts a sign-in of u with e's relying party from ip up to
// its code page, and returns the browser, the flow, the emailed code and
// the page's form.
func foCodePage(t *testing.T, e *tfEnv, u *tfUser, ip string) (*browser, *flow, string, url.Values) {
	t.Helper()
	b := newBrowser(t).from(ip)
	n := e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, e.rp, b, u)
	return b, f, e.mail.code(t, u.email, n), tfForm(t, page.body, "/login/otp")
}

// foLoad is the parallel clients' shared state.
type foLoad struct {
	e      *tfEnv
	rp     *relyingParty
	issuer string // replica A's base, which the issuer's URLs name
	tally  *foTally
	stop   chan struct{}
	// switched is set when the primary stops.
	switched atomic.Bool
}

func (l *foLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// foClient is one client of the load: a browser of its own, from a
// loopback address of its own, talking to one replica.
type foClient struct {
	l     *foLoad
	base  string // the replica it talks to
	c     *http.Client
	rt    string // the refresh token it holds
	tally *foTally
}

func (l *foLoad) newClient(t *testing.T, base, ip string, tally *foTally) *foClient {
	b := newBrowser(t).from(ip)
	b.c.Timeout = 20 * time.Second
	return &foClient{l: l, base: base, c: b.c, tally: tally}
}

// request sends one request to the client's replica: u on the issuer's
// address is sent to it instead, as a load balancer would.
func (fc *foClient) request(method, u string, form url.Values, basic bool) (*response, error) {
	if rest, ok := strings.CutPrefix(u, fc.l.issuer); ok {
		u = fc.base + rest
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basic {
		req.SetBasicAuth(url.QueryEscape(fc.l.rp.client.ID), url.QueryEscape(fc.l.rp.client.Secret))
	}
	resp, err := fc.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(data)}, err
}

// try sends a request until it gets an answer other than a retryable 503,
// tallying every answer, and returns it if its status is one of want. It
// gives up (nil, not tallied) once the load stops, and after 30s of 503s
// (a wrong answer).
func (fc *foClient) try(what, method, u string, form url.Values, basic bool, want ...int) *response {
	retried, start := false, time.Now()
	for {
		resp, err := fc.request(method, u, form, basic)
		switch fc.tally.add(what, resp, err, retried, want) {
		case foOK:
			return resp
		case foWrong:
			return nil
		}
		retried = true
		if fc.l.stopped() {
			return nil
		}
		if time.Since(start) > 30*time.Second {
			fc.tally.wrongAnswer("%s: still 503 after %v", what, time.Since(start).Round(time.Second))
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unavailable reports whether u, a redirect to the client, is the error
// that stands for a 503 where the answer must go back to the client
// through the browser (temporarily_unavailable, RFC 6749 §4.1.2.1: the
// client starts its sign-in again), and tallies it as a 503. Its
// description must be the fixed one, never the database's words.
func (fc *foClient) unavailable(what, u string) bool {
	cb, err := url.Parse(u)
	if err != nil || cb.Query().Get("error") != "temporarily_unavailable" {
		return false
	}
	if d := cb.Query().Get("error_description"); d != op.UnavailableDescription {
		fc.tally.wrongAnswer("%s: temporarily_unavailable with the description %q", what, d)
		return true
	}
	fc.tally.mu.Lock()
	defer fc.tally.mu.Unlock()
	fc.tally.unavailable++
	if fc.tally.byWhat == nil {
		fc.tally.byWhat = map[string]int{}
	}
	fc.tally.byWhat[what+" temporarily_unavailable"]++
	return true
}

// follow GETs u and its redirects, retrying 503s, until a page answers
// (returned) or a redirect leaves for the client (its URL returned); false
// after a wrong answer or once the load stops.
func (fc *foClient) follow(what, u string) (*response, string, bool) {
	for range 10 {
		if strings.HasPrefix(u, rpRedirect) {
			return nil, u, true
		}
		resp := fc.try(what, http.MethodGet, u, nil, false, http.StatusOK, http.StatusFound, http.StatusSeeOther)
		switch {
		case resp == nil:
			return nil, "", false
		case resp.StatusCode == http.StatusOK:
			return resp, u, true
		}
		u = redirectTarget(resp)
	}
	fc.tally.wrongAnswer("too many redirects (%s)", what)
	return nil, "", false
}

// totpCode returns u's code for a time step not used yet that the server
// accepts now, without moving the server's clock; false if none is left.
func (fc *foClient) totpCode(u *tfUser) (string, bool) {
	cur := fc.l.e.now().Unix() / 30
	s := max(cur, u.last+1)
	if s > cur+1 {
		return "", false
	}
	u.last = s
	c, err := totp.Code(u.secret, time.Unix(s*30, 0))
	return c, err == nil
}

// signIn signs u in through the relying party, with a TOTP code if code
// is not empty, redeems the code and keeps the refresh token. It reports
// whether all of it succeeded.
func (fc *foClient) signIn(u *tfUser, code string) bool {
	// A browser without cookies: a sign-in, not a session's.
	fc.c.Jar, _ = cookiejar.New(nil)
	f := fc.l.rp.newFlow()
	page, back, ok := fc.follow("GET /authorize…", f.authURL)
	switch {
	case !ok:
		return false
	case page == nil && fc.unavailable("GET /authorize…", back):
		return false
	case page == nil:
		fc.tally.wrongAnswer("a new browser was sent back to the client without signing in: %s", back)
		return false
	}
	form, ok := foForm(page.body, "/login")
	if !ok {
		fc.tally.wrongAnswer("no login form at %s: %q", page.Request.URL, foSummary(page))
		return false
	}
	form.Set("email", u.email)
	form.Set("password", u.pass)
	resp := fc.try("POST /login", http.MethodPost, fc.base+"/login", form, false, http.StatusSeeOther)
	if resp == nil {
		return false
	}
	next := redirectTarget(resp)
	if code != "" {
		if !strings.Contains(next, "/login/otp?") {
			fc.tally.wrongAnswer("the password of a TOTP user led to %s", next)
			return false
		}
		page := fc.try("GET /login/otp", http.MethodGet, next, nil, false, http.StatusOK)
		if page == nil {
			return false
		}
		form, ok := foForm(page.body, "/login/otp")
		if !ok {
			fc.tally.wrongAnswer("no code form at %s: %q", next, foSummary(page))
			return false
		}
		form.Set("code", code)
		resp := fc.try("POST /login/otp", http.MethodPost, fc.base+"/login/otp", form, false, http.StatusSeeOther)
		if resp == nil {
			return false
		}
		next = redirectTarget(resp)
	}
	if page, next, ok = fc.follow("GET /authorize/callback…", next); !ok {
		return false
	} else if page != nil {
		fc.tally.wrongAnswer("after the sign-in of %s, a page instead of the client: %q", u.email, foSummary(page))
		return false
	}
	if fc.unavailable("GET /authorize/callback…", next) {
		return false
	}
	cb, err := url.Parse(next)
	if err != nil || cb.Query().Get("state") != f.state || cb.Query().Get("code") == "" {
		fc.tally.wrongAnswer("redirect to the client %s, want a code and state %s", next, f.state)
		return false
	}
	resp = fc.try("POST /oauth/token (code)", http.MethodPost, fc.base+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier},
	}, true, http.StatusOK)
	if resp == nil {
		return false
	}
	var tok struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(resp.body), &tok)
	idt, err := fc.l.rp.verifier.Verify(context.Background(), tok.IDToken)
	var claims idClaims
	if err == nil {
		err = idt.Claims(&claims)
	}
	wantAMR := "pwd"
	if code != "" {
		wantAMR = "otp"
	}
	if err != nil || claims.Email != u.email || claims.Nonce != f.nonce || !slices.Contains(claims.AMR, wantAMR) || tok.RefreshToken == "" {
		fc.tally.wrongAnswer("code exchange for %s: claims %+v (%v), refresh token %t", u.email, claims, err, tok.RefreshToken != "")
		return false
	}
	fc.rt = tok.RefreshToken
	fc.tally.count(&fc.tally.signIns)
	if code != "" {
		fc.tally.count(&fc.tally.totpSignIns)
	}
	return true
}

// refresh rotates the client's refresh token.
func (fc *foClient) refresh() {
	resp := fc.try("POST /oauth/token (refresh)", http.MethodPost, fc.base+"/oauth/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {fc.rt}}, true, http.StatusOK)
	fc.rt = ""
	if resp == nil {
		return
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
		AccessToken  string `json:"access_token"`
	}
	json.Unmarshal([]byte(resp.body), &tok)
	if tok.RefreshToken == "" || tok.AccessToken == "" {
		fc.tally.wrongAnswer("refresh answered 200 without tokens: %q", foSummary(resp))
		return
	}
	fc.rt = tok.RefreshToken
	fc.tally.count(&fc.tally.refreshes)
}

// run signs in until the load stops: with TOTP every other time while
// the TOTP user has a time step left (the first of totpUsers before the
// switch, the second after it), with a password alone otherwise, and
// refreshes the tokens twice after each sign-in.
func (fc *foClient) run(totpUsers []*tfUser, plain *tfUser) {
	for i := 0; !fc.l.stopped(); i++ {
		u, code := plain, ""
		tu := totpUsers[0]
		if fc.l.switched.Load() {
			tu = totpUsers[1]
		}
		if i%2 == 0 {
			if c, ok := fc.totpCode(tu); ok {
				u, code = tu, c
			}
		}
		fc.signIn(u, code)
		for range 2 {
			if fc.rt != "" && !fc.l.stopped() {
				fc.refresh()
			}
		}
	}
}

// foWaitReadyz polls g's /readyz until it answers want and returns when it
// did, or the zero time after limit.
func foWaitReadyz(g *gatehouse, want int, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if status, _, err := outageGet(g.base + "/readyz"); err == nil && status == want {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}
}

func TestPostgresFailover(t *testing.T) {
	t.Parallel()
	testStart := time.Now()
	primary := newPGCluster(t)
	standby := newPGStandby(t, primary)
	foMakeSynchronous(t, primary)
	// The standby first: target_session_attrs=read-write must pass it by
	// while it is one.
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write",
		standby.Port, primary.Port)

	e := tfStart(t, dsn)
	a := e.g
	b := newGatehouse(t, dsn, append(slices.Clone(e.extra),
		"GATEHOUSE_ISSUER="+a.base,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))...)
	b.start()
	pids := []int{a.cmd.Process.Pid, b.cmd.Process.Pid}
	rp := e.rp

	// The users: one with emailed codes, one for a refresh token, and for
	// each client of the load two with TOTP and one with a password alone.
	mailUser := e.newUser(t, "failover-mail@example.com")
	e.enableEmail(t, e.session(t, mailUser, "127.0.8.1"), mailUser)
	rtUser := e.newUser(t, "failover-refresh@example.com")
	probeUser := e.newUser(t, "failover-probe@example.com")
	const clients = 4
	totpUsers := make([][]*tfUser, clients)
	plainUsers := make([]*tfUser, clients)
	for i := range clients {
		for j := range 2 {
			u := e.newUser(t, fmt.Sprintf("failover-totp-%d-%d@example.com", i, j))
			e.enableTOTP(t, e.session(t, u, fmt.Sprintf("127.0.8.%d", 20+2*i+j)), u)
			totpUsers[i] = append(totpUsers[i], u)
		}
		plainUsers[i] = e.newUser(t, fmt.Sprintf("failover-plain-%d@example.com", i))
	}
	// Two time steps for each TOTP user from here on; the server's clock
	// does not move again.
	e.advance(time.Minute)

	// A refresh token, rotated once: both acknowledged before the switch.
	fRT := rp.newFlow()
	tok0, _, _ := rp.exchange(rp.signIn(newBrowser(t).from("127.0.8.3"), fRT, rtUser.email, rtUser.pass), fRT)
	rt0 := tok0.RefreshToken
	status, m := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}})
	rt1, _ := m["refresh_token"].(string)
	if status != http.StatusOK || rt1 == "" {
		t.Fatalf("refresh before the switch = %d %v", status, m)
	}
	t.Logf("set-up (two clusters, two replicas, %d users) took %v", 3+3*clients, time.Since(testStart).Round(time.Millisecond))

	// 127.0.8.9 is blocked (three wrong emailed codes, on A and B), and a
	// sign-in from 127.0.8.2 reaches the code page, gets its emailed code
	// and spends one attempt (on B).
	const blockedIP = "127.0.8.9"
	bBlocked, _, blockedCode, blockedForm := foCodePage(t, e, mailUser, blockedIP)
	for i, g := range []*gatehouse{a, b, a} {
		status, want := http.StatusUnauthorized, []string{tfWrong1, tfWrong2, blockedText}[i]
		if i == 2 {
			status = http.StatusTooManyRequests
		}
		tfExpect(t, tfPostCode(bBlocked, g.base+"/login/otp", blockedForm, wrongCodeFor(blockedCode)), status, want)
	}
	bCode, fCode, code, codeForm := foCodePage(t, e, mailUser, "127.0.8.2")
	tfExpect(t, tfPostCode(bCode, b.base+"/login/otp", codeForm, wrongCodeFor(code)), http.StatusUnauthorized, tfWrong1)

	// The load starts: half the clients on each replica.
	tally := &foTally{}
	load := &foLoad{e: e, rp: rp, issuer: a.base, tally: tally, stop: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range clients {
		g := []*gatehouse{a, b}[i%2]
		fc := load.newClient(t, g.base, fmt.Sprintf("127.0.8.%d", 40+i), tally)
		wg.Go(func() { fc.run(totpUsers[i], plainUsers[i]) })
	}
	stopLoad := sync.OnceFunc(func() {
		close(load.stop)
		wg.Wait()
	})
	defer stopLoad()
	time.Sleep(1500 * time.Millisecond)

	// The audit events so far, read from the primary.
	auditBefore := foAuditIDs(t, primary.dsn())

	// The switch: the primary stops; the standby, up and read-only, must
	// not be taken for it; it is promoted a second later.
	load.switched.Store(true)
	stopStart := time.Now()
	if out, err := primary.pgctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	stopped := time.Now()
	for _, g := range []*gatehouse{a, b} {
		if foWaitReadyz(g, http.StatusServiceUnavailable, 5*time.Second).IsZero() {
			t.Errorf("%s /readyz did not answer 503 with the primary stopped and the standby read-only", g.base)
		}
	}
	var inRecovery bool
	if err := foConnect(t, standby.dsn()).QueryRow(t.Context(), "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("the standby is not in recovery (%t, %v) before its promotion", inRecovery, err)
	}
	time.Sleep(time.Until(stopped.Add(time.Second)))
	promoteStart := time.Now()
	if out, err := standby.Run("pg_ctl", "promote", "-D", standby.Data(), "-w", "-t", "60"); err != nil {
		t.Fatalf("pg_ctl promote: %v\n%s\n%s", err, out, standby.serverLog())
	}
	promoted := time.Now()

	// Ready again: /readyz 200 on both replicas, and a sign-in (password,
	// code exchange, refresh) that succeeds, retried while it gets 503.
	var readyAt [2]time.Time
	var rw sync.WaitGroup
	for i, g := range []*gatehouse{a, b} {
		rw.Go(func() { readyAt[i] = foWaitReadyz(g, http.StatusOK, 30*time.Second) })
	}
	rw.Wait()
	for i, at := range readyAt {
		if at.IsZero() {
			t.Fatalf("replica %c: /readyz not 200 within 30s of the promotion\n%s", 'A'+i, standby.serverLog())
		}
	}
	probeTally := &foTally{}
	probe := load.newClient(t, a.base, "127.0.8.4", probeTally)
	if !probe.signIn(probeUser, "") {
		t.Fatalf("no sign-in after the promotion: %s %v", probeTally, probeTally.wrong)
	}
	probe.refresh()
	signedIn := time.Now()
	if probe.rt == "" {
		t.Fatalf("no refresh after the promotion: %s %v", probeTally, probeTally.wrong)
	}
	ready := max(readyAt[0].Sub(promoted), readyAt[1].Sub(promoted))
	if limit := 10 * time.Second; ready > limit || signedIn.Sub(promoted) > limit {
		t.Errorf("ready %v and signed in %v after the promotion, want within %v", ready, signedIn.Sub(promoted), limit)
	}

	// The client cache listens again on the new primary: on after a
	// short wait, not off for good.
	var cacheLive time.Duration
	for _, g := range []*gatehouse{a, b} {
		for {
			if s, _ := scrapeMetrics(t, g); s["gatehouse_client_cache_live"] == 1 {
				break
			}
			if time.Since(promoted) > 15*time.Second {
				t.Fatalf("%s: the client cache still off 15s after the promotion", g.base)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cacheLive = time.Since(promoted)
	}

	// The load carries on a little on the new primary, then stops.
	time.Sleep(2 * time.Second)
	stopLoad()
	loadRan := time.Since(stopStart)

	// Nothing acknowledged before the switch is lost.
	// The block: refused on both replicas, and listed.
	for _, g := range []*gatehouse{a, b} {
		br := newBrowser(t).from(blockedIP)
		_, loginPage := blockedLoginPage(t, rp, br)
		form := tfForm(t, loginPage.body, "/login")
		form.Set("email", mailUser.email)
		form.Set("password", mailUser.pass)
		resp := br.post(g.base+"/login", form)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(tfAlert(resp.body), "You have reached the limit of attempts") {
			t.Errorf("%s after the switch on %s: %d %q, want still blocked", blockedIP, g.base, resp.StatusCode, tfAlert(resp.body))
		}
	}
	if out := tfCLI(t, a, "", "blocks", "list"); !strings.Contains(out, blockedIP) {
		t.Errorf("blocks list after the switch does not show %s:\n%s", blockedIP, out)
	}
	// The failure counter (one attempt spent: one left after one more
	// wrong code) and the emailed code, which still signs in.
	tfExpect(t, tfPostCode(bCode, a.base+"/login/otp", codeForm, wrongCodeFor(code)), http.StatusUnauthorized, tfWrong2)
	tfClaims(t, tfFinish(t, rp, bCode, fCode, tfPostCode(bCode, b.base+"/login/otp", codeForm, code)), tfAMREmail, tfACREmail)
	// The refresh token: the rotated one works, the one rotated away
	// before the switch is refused.
	status, m = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != http.StatusOK || m["refresh_token"] == nil {
		t.Errorf("refresh with the token rotated before the switch = %d %v, want 200", status, m)
	}
	status, m = rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}})
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh with the token used before the switch = %d %v, want 400 invalid_grant (its rotation lost?)", status, m)
	}
	// The audit events, all of them, on the new primary.
	auditAfter := foAuditIDs(t, standby.dsn())
	var lost []string
	for _, id := range auditBefore {
		if _, found := slices.BinarySearch(auditAfter, id); !found {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of the %d audit events stored before the switch are not on the new primary: %v", len(lost), len(auditBefore), lost)
	}
	if out := tfCLI(t, b, "", "audit", "--ip", blockedIP, "--type", "code.blocked"); !strings.Contains(out, "code.blocked") {
		t.Errorf("audit after the switch lacks the block of %s:\n%s", blockedIP, out)
	}

	// The answers of the load.
	if tally.ok == 0 || tally.signIns == 0 {
		t.Errorf("the load did nothing: %s", tally)
	}
	for _, w := range tally.wrong {
		t.Errorf("answer during the failover: %s", w)
	}
	// A 503 promises that a retry works: a retry refused means the first
	// try's work had committed (a lost commit not resolved, or a step
	// not idempotent for its own browser).
	for _, w := range tally.ambiguous {
		t.Errorf("refused on the retry after a 503 (the first try had committed): %s", w)
	}
	if len(tally.ambiguous) > 0 {
		// What failed after the commit, from the replicas' logs: errors
		// on a connection that was open, not those of a connection
		// refused before anything was done.
		for _, g := range []*gatehouse{a, b} {
			for line := range strings.Lines(g.output()) {
				if strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, "failed to connect") {
					t.Logf("%s: %s", g.base, strings.TrimSpace(line))
				}
			}
		}
	}
	for _, w := range slices.Concat(probeTally.wrong, probeTally.ambiguous) {
		t.Errorf("answer to the sign-in after the promotion: %s", w)
	}

	// The same processes did all of this, without a panic.
	notStored := 0
	for i, g := range []*gatehouse{a, b} {
		select {
		case err := <-g.exited:
			g.exited <- err
			t.Fatalf("replica %c exited: %v", 'A'+i, err)
		default:
		}
		if g.cmd.Process.Pid != pids[i] || strings.Count(g.output(), "gatehouse listening") != 1 {
			t.Errorf("replica %c restarted", 'A'+i)
		}
		biNoCrash(t, "the log of replica "+string(rune('A'+i)), g.output())
		notStored += strings.Count(g.output(), "audit event not stored")
	}

	t.Logf("failover (PostgreSQL in %s, synchronous standby, URL with both hosts and target_session_attrs=read-write): "+
		"pg_ctl stop -m fast took %v; promotion %v after the stop, pg_ctl promote -w took %v; "+
		"/readyz 200 on A %v and on B %v after the promotion (both ready %v after the stop), a sign-in (password, code exchange, refresh) done %v after it (%s), client cache on both within %v of it; "+
		"load over %v from the stop: %s; audit events stored before the switch: %d, all on the new primary (%d now); "+
		"audit events not stored during the switch (logged): %d",
		primary.Bin, stopped.Sub(stopStart).Round(time.Millisecond), promoteStart.Sub(stopped).Round(time.Millisecond),
		promoted.Sub(promoteStart).Round(time.Millisecond),
		readyAt[0].Sub(promoted).Round(time.Millisecond), readyAt[1].Sub(promoted).Round(time.Millisecond),
		(ready + promoted.Sub(stopped)).Round(time.Millisecond),
		signedIn.Sub(promoted).Round(time.Millisecond), probeTally, cacheLive.Round(time.Millisecond), loadRan.Round(time.Millisecond), tally,
		len(auditBefore), len(auditAfter), notStored)
	for _, g := range []*gatehouse{a, b} {
		if err := g.stop(); err != nil {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v", g.base, err)
		}
	}
}
