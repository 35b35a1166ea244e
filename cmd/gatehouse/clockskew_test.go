package main

// Clock skew (REL-03): a replica whose clock is more than 2 s off the
// database's reports not-ready and logs the offset.

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// startUnready starts g without waiting for it to become ready.
func (g *gatehouse) startUnready() {
	t := g.t
	t.Helper()
	g.cmd = exec.Command(binary, "serve")
	g.cmd.Env = g.env
	g.cmd.Stdout = &lockedWriter{mu: &g.mu, w: &g.logs}
	g.cmd.Stderr = g.cmd.Stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.exited = make(chan error, 1)
	go func() { g.exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gatehouse output:\n%s", g.output())
		}
	})
}

// skewClock returns a GATEHOUSE_TEST_CLOCK_FILE setting whose clock runs
// offset ahead.
func skewClock(t *testing.T, offset string) string {
	path := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(path, []byte(offset+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "GATEHOUSE_TEST_CLOCK_FILE=" + path
}

var offsetLogRE = regexp.MustCompile(`"msg":"(clock[^"]*)"[^\n]*"offset":"([^"]+)"`)

func TestClockSkew(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)

	// A replica 45 s ahead of the database: alive, never ready, and it
	// says why.
	a := newGatehouse(t, dsn, skewClock(t, "45s"))
	a.startUnready()
	started := time.Now()
	var status int
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		s, b, err := outageGet(a.base + "/readyz")
		if err == nil {
			status, body = s, b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the skewed replica never answered: %v\n%s", err, a.output())
		}
		select {
		case err := <-a.exited:
			t.Fatalf("the skewed replica exited: %v\n%s", err, a.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	answered := time.Since(started)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "clock skew") {
		t.Errorf("/readyz of a replica 45s ahead = %d %q, want 503 clock skew", status, body)
	}
	if s, _, err := outageGet(a.base + "/healthz"); err != nil || s != http.StatusOK {
		t.Errorf("/healthz = %d %v, want 200 (alive, only not ready)", s, err)
	}
	// Still not ready a moment later.
	time.Sleep(300 * time.Millisecond)
	if s, _, _ := outageGet(a.base + "/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz later = %d, want 503", s)
	}
	var warn string
	for _, line := range strings.Split(a.output(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "clock skew") {
			warn = line
			break
		}
	}
	if warn == "" || !regexp.MustCompile(`"offset":"4[45](\.\d+)?s"`).MatchString(warn) {
		t.Errorf("no WARN line naming the 45s offset; got %q", warn)
	}

	// A replica 1 s ahead, on the same database and key file: ready.
	b := newGatehouse(t, dsn, skewClock(t, "1s"),
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))
	b.start()
	if s, body, _ := outageGet(b.base + "/readyz"); s != http.StatusOK {
		t.Errorf("/readyz of a replica 1s ahead = %d %q, want 200", s, body)
	}
	bLine := offsetLogRE.FindStringSubmatch(b.output())
	if bLine == nil || strings.Contains(b.output(), "clock skew") {
		t.Errorf("replica 1s ahead: want an offset line and no clock-skew warning")
	}

	// SQLite has no clock of its own: nothing to compare, ready.
	startGatehouse(t, "sqlite", skewClock(t, "45s"))

	aLine := offsetLogRE.FindStringSubmatch(warn)
	t.Logf("clock skew: replica +45s → /readyz %d %q within %v of start, WARN offset %s; replica +1s → ready, logged %q offset %s (limit %v); SQLite +45s → ready (no database clock)",
		status, strings.TrimSpace(body), answered.Round(time.Millisecond), at(aLine, 2), at(bLine, 1), at(bLine, 2), maxClockSkew)
}

func at(m []string, i int) string {
	if i < len(m) {
		return m[i]
	}
	return ""
}

// TestClockFollowsDatabase runs two replicas on one database, A on the
// machine's clock and B 45 s ahead of it (and so not ready). B's clock
// follows the database's all the same: a 30 s password block earned on A
// still holds on B, where B's own clock would see it over already, and
// the auth_time B writes into an ID token is the database's time.
func TestClockFollowsDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	limits := []string{"GATEHOUSE_PASSWORD_IP_MAX_ATTEMPTS=3", "GATEHOUSE_PASSWORD_BLOCK_DURATION=30s"}
	a := newGatehouse(t, dsn, limits...)
	a.start()
	b := newGatehouse(t, dsn, append(limits, skewClock(t, "45s"),
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))...)
	b.startUnready()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if s, _, err := outageGet(b.base + "/readyz"); err == nil {
			if s != http.StatusServiceUnavailable {
				t.Fatalf("B, 45s ahead: /readyz = %d, want 503", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never answered\n%s", b.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rpA, rpB := newRelyingParty(t, a), newRelyingParty(t, b)
	a.createUser(alice, "Alice", alicePass)

	// Three wrong passwords from 127.0.9.1 on A: blocked for 30 s.
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if resp := tryPassword(t, rpA, newBrowser(t).from("127.0.9.1"), alice, "wrong password"); resp.StatusCode != want {
			t.Fatalf("wrong password %d on A = %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	blocked := time.Now()

	// On B, the right password from the same address: still blocked.
	resp := tryPassword(t, rpB, newBrowser(t).from("127.0.9.1"), alice, alicePass)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(tfAlert(resp.body), "You have reached the limit of attempts") {
		t.Errorf("right password on B (45s ahead) %v after a 30s block on A = %d %q, want 429 (over by B's own clock only)",
			time.Since(blocked).Round(time.Millisecond), resp.StatusCode, tfAlert(resp.body))
	}

	// Another address signs in on B: auth_time is the database's time,
	// not 45 s ahead.
	f := rpB.newFlow()
	_, _, claims := rpB.exchange(rpB.signIn(newBrowser(t).from("127.0.9.2"), f, alice, alicePass), f)
	authTime := time.Unix(claims.AuthTime, 0)
	if d := time.Until(authTime); d > 3*time.Second || d < -5*time.Second {
		t.Errorf("auth_time from B is %v off the real time, want within 3s", d.Round(time.Second))
	}

	m := offsetLogRE.FindStringSubmatch(b.output())
	t.Logf("clock follows the database: B runs 45s ahead (logged offset %s, not ready); B answered the right password from the address A blocked for 30s with %d, %v after the block; auth_time from B %v off the real time",
		at(m, 2), resp.StatusCode, time.Since(blocked).Round(time.Millisecond), time.Until(authTime).Round(time.Second))
}

// dbClockReads is a database whose clock reads each of its times in turn.
type dbClockReads []time.Time

func (c *dbClockReads) DBNow(context.Context) (time.Time, error) {
	t := (*c)[0]
	*c = (*c)[1:]
	return t, nil
}

// TestClockOffset checks the offset measured against the database's clock:
// from the shortest of the round trips, and none within half of it, where
// the measure cannot tell it from none.
func TestClockOffset(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	// sample is a round trip of rtt starting at start, during which the
	// database read its clock at start+at by the server's clock.
	type sample struct{ start, rtt, at time.Duration }
	same := func(s sample) []sample { return []sample{s, s, s} }
	for _, tt := range []struct {
		name    string
		samples []sample
		want    time.Duration
	}{
		{"same clock, read at the start of slow round trips", same(sample{0, 62 * ms, 0}), 0},
		{"same clock, read within slow round trips", same(sample{0, 62 * ms, 10 * ms}), 0},
		{"same clock, read at the middle", same(sample{0, 2 * ms, ms}), 0},
		{"database 3 s behind", same(sample{0, 2 * ms, -3*time.Second + ms}), 3 * time.Second},
		{"database 40 ms ahead, fast round trips", same(sample{0, 2 * ms, 41 * ms}), -40 * ms},
		{"database 40 ms ahead, within slow round trips", same(sample{0, 100 * ms, 90 * ms}), 0},
		{"a slow round trip among fast ones, same clock",
			[]sample{{0, 80 * ms, 0}, {100 * ms, 2 * ms, ms}, {200 * ms, 2 * ms, ms}}, 0},
		{"database 40 ms ahead, seen in the fast round trip",
			[]sample{{0, 100 * ms, 90 * ms}, {200 * ms, 2 * ms, 41 * ms}, {300 * ms, 50 * ms, 0}}, -40 * ms},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var reads []time.Time
			var db dbClockReads
			for _, s := range tt.samples {
				reads = append(reads, t0.Add(s.start), t0.Add(s.start+s.rtt))
				db = append(db, t0.Add(s.start+s.at))
			}
			now := func() time.Time {
				r := reads[0]
				reads = reads[1:]
				return r
			}
			got, err := clockOffset(t.Context(), &db, now)
			if err != nil || got != tt.want {
				t.Errorf("clockOffset = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
