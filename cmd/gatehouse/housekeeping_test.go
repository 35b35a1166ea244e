package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestHousekeeping runs two replicas on one PostgreSQL schema, each
// purging every second. State of a sign-in (auth request, code, tokens,
// session), of wrong passwords (counters) and the audit log are stored;
// then the clock moves 100 days on, and both replicas purge it all
// concurrently without error, while users, clients and signing keys stay.
// A sign-in made after the move survives further purges.
func TestHousekeeping(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	clockFile := filepath.Join(t.TempDir(), "clock")
	setClock(t, clockFile, 0)
	common := []string{
		"GATEHOUSE_TEST_CLOCK_FILE=" + clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
		"GATEHOUSE_HOUSEKEEPING_INTERVAL=1s",
	}
	a := newGatehouse(t, dsn, common...)
	a.start()
	b := newGatehouse(t, dsn, append([]string{
		"GATEHOUSE_ISSUER=" + a.base,
		"GATEHOUSE_SECRETS_KEY_FILE=" + tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"),
	}, common...)...)
	b.start()

	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a)

	// A sign-in with its tokens and session, then a wrong password
	// (counters, audit events) in a sign-in left unfinished.
	br := newBrowser(t)
	f := rp.newFlow()
	tok, _, _ := rp.exchange(rp.signIn(br, f, alice, alicePass), f)
	other := newBrowser(t)
	page, _ := other.follow(rp.newFlow().authURL, rpRedirect)
	if page == nil {
		t.Fatal("no login page")
	}
	form := formFields(page.body)
	form.Set("email", alice)
	form.Set("password", "not the password")
	if resp := other.post(a.base+"/login", form); resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("a wrong password signed in")
	}

	db := housekeepingDB(t, dsn)
	expiring := []string{"auth_requests", "auth_codes", "access_tokens", "refresh_tokens", "sessions",
		"attempt_counters", "audit_events"}
	kept := []string{"users", "clients", "signing_keys"}
	before := db.counts(append(expiring, kept...))
	for _, table := range expiring {
		if before[table] == 0 {
			t.Fatalf("no rows in %s before the clock moves: %v", table, before)
		}
	}

	// Nothing has expired yet: purges so far left everything.
	time.Sleep(2500 * time.Millisecond)
	for table, n := range db.counts(expiring) {
		if n != before[table] {
			t.Fatalf("%s: %d rows before anything expired, then %d", table, before[table], n)
		}
	}
	if status, body := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status != http.StatusOK {
		t.Fatalf("refresh before the clock moves = %d %v", status, body)
	}

	// 100 days on: past every token, session and block, and past the
	// 90-day audit retention.
	setClock(t, clockFile, 100*24*time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	var after map[string]int
	for {
		after = db.counts(append(expiring, kept...))
		empty := true
		for _, table := range expiring {
			empty = empty && after[table] == 0
		}
		if empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired rows left 20 s after the clock moved: %v", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, table := range kept {
		if after[table] != before[table] {
			t.Errorf("%s: %d rows after the purge, want %d", table, after[table], before[table])
		}
	}

	// A sign-in at the new time is left alone by the next purges.
	br2 := newBrowser(t)
	f2 := rp.newFlow()
	tok2, _, _ := rp.exchange(rp.signIn(br2, f2, alice, alicePass), f2)
	fresh := db.counts(expiring)
	time.Sleep(3 * time.Second) // three more rounds on each replica
	if now := db.counts(expiring); now["sessions"] != 1 || now["refresh_tokens"] != fresh["refresh_tokens"] ||
		now["access_tokens"] != fresh["access_tokens"] || fresh["audit_events"] == 0 || now["audit_events"] < fresh["audit_events"] {
		t.Errorf("live rows (or events within the retention) were purged: %v, then %v", fresh, now)
	}
	status, body := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}})
	if status != http.StatusOK {
		t.Errorf("refresh of a live token after purges = %d %v", status, body)
	}
	if _, err := rp.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Errorf("the expired refresh token still works")
	}

	// Both replicas purged, in turns, without an error.
	var purged int
	for name, g := range map[string]*gatehouse{"A": a, "B": b} {
		out := g.output()
		if !strings.Contains(out, "housekeeping: ") {
			t.Errorf("replica %s logged no housekeeping", name)
		}
		if strings.Contains(out, "purge failed") {
			t.Errorf("replica %s: a purge failed:\n%s", name, out)
		}
		n := strings.Count(out, "housekeeping: purged expired state")
		purged += n
		t.Logf("replica %s: %d purges that deleted rows, %d skipped (the other was purging), %d with nothing to do",
			name, n, strings.Count(out, "another replica is purging"), strings.Count(out, "nothing to purge"))
	}
	if purged == 0 {
		t.Errorf("no replica logged a purge")
	}
	t.Logf("rows before %v, after %v", before, after)
}

// setClock sets the servers' clock (GATEHOUSE_TEST_CLOCK_FILE) to run d
// ahead of the real time.
func setClock(t *testing.T, file string, d time.Duration) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// housekeepingDB reads a test schema directly, to see what was purged.
type hkDB struct {
	t    *testing.T
	conn *pgx.Conn
}

func housekeepingDB(t *testing.T, dsn string) *hkDB {
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &hkDB{t: t, conn: conn}
}

// counts returns the number of rows of each table.
func (d *hkDB) counts(tables []string) map[string]int {
	d.t.Helper()
	out := make(map[string]int, len(tables))
	for _, table := range tables {
		var n int
		if err := d.conn.QueryRow(d.t.Context(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			d.t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// TestHousekeepingConfig checks the housekeeping and audit keys and the
// purge request they give.
func TestHousekeepingConfig(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.July, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		env          map[string]string
		wantErr      string // "" for a valid config
		interval     time.Duration
		eventsBefore time.Time
	}{
		{"defaults", nil, "", 10 * time.Minute, now.Add(-90 * 24 * time.Hour)},
		{"retention zero keeps events", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "0s"}, "", 10 * time.Minute, time.Time{}},
		{"retention", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "720h", "GATEHOUSE_HOUSEKEEPING_INTERVAL": "1h"},
			"", time.Hour, now.Add(-30 * 24 * time.Hour)},
		{"negative retention", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "-1h"}, "audit.retention: must be positive", 0, time.Time{}},
		{"interval too short", map[string]string{"GATEHOUSE_HOUSEKEEPING_INTERVAL": "100ms"}, "housekeeping.interval: must be at least 1s", 0, time.Time{}},
		{"interval zero", map[string]string{"GATEHOUSE_HOUSEKEEPING_INTERVAL": "0s"}, "housekeeping.interval: must be positive", 0, time.Time{}},
		{"interval not a duration", map[string]string{"GATEHOUSE_HOUSEKEEPING_INTERVAL": "often"}, "housekeeping.interval: invalid duration", 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load("", func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Housekeeping.Interval.Duration; got != tt.interval {
				t.Errorf("interval %v, want %v", got, tt.interval)
			}
			r := purgeRequest(cfg, now)
			if !r.EventsBefore.Equal(tt.eventsBefore) || !r.Now.Equal(now) {
				t.Errorf("events before %v, want %v", r.EventsBefore, tt.eventsBefore)
			}
			// Counters outlive every limit's window; keys stay published
			// as long as op's key manager publishes them.
			if r.CounterWindow < cfg.Lockout.AccountWindow.Duration || r.CounterWindow < time.Hour ||
				r.KeyRetention != keyRetention(cfg) || r.ResendCooldown != cfg.SecondFactor.EmailResendCooldown.Duration {
				t.Errorf("purge request %+v", r)
			}
		})
	}
}

// TestHousekeeperLogs runs single purges on a real SQLite store and checks
// what the housekeeper logs: the counts of a purge that deleted rows, and
// a warning (not a crash) when the database fails.
func TestHousekeeperLogs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "hk.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, time.July, 1, 12, 0, 0, 0, time.UTC)
	if err := store.AddEvent(ctx, &storage.Event{Time: now.Add(-100 * 24 * time.Hour), Type: "signin.failed", IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordFailure(ctx, "pwd:ip:192.0.2.7", storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour}, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	h := newHousekeeper(config.Default(), store, func() time.Time { return now },
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	p, err := h.purge(ctx)
	if err != nil || p.Events != 1 || p.Counters != 1 {
		t.Fatalf("purge: %+v, %v; want 1 event and 1 counter", p, err)
	}
	if line := logs.String(); !strings.Contains(line, "level=INFO") || !strings.Contains(line, "housekeeping: purged expired state") ||
		!strings.Contains(line, "deleted=2") || !strings.Contains(line, "audit_events=1") || !strings.Contains(line, "attempt_counters=1") ||
		strings.Contains(line, "192.0.2.7") {
		t.Errorf("log of a purge: %s", line)
	}

	logs.Reset()
	if _, err := h.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if line := logs.String(); !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, "nothing to purge") {
		t.Errorf("log of an empty purge: %s", line)
	}

	logs.Reset()
	store.Close()
	if _, err := h.purge(ctx); err == nil {
		t.Fatal("purge on a closed database succeeded")
	}
	if line := logs.String(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "purge failed") {
		t.Errorf("log of a failed purge: %s", line)
	}
}

// TestHousekeepingKeepsLiveCounters checks that a purge under a config
// whose limit windows are long keeps a counter whose window is still
// running: purging it would reset the limit (another round of code emails
// to bomb a mailbox with, or of guesses at one emailed code).
func TestHousekeepingKeepsLiveCounters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		limit func(cfg *config.Config) storage.Limit // as newServer sets it up
		age   time.Duration                          // of the counter when purged
	}{
		{"code emails per account, 24h window", map[string]string{"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_WINDOW": "24h"},
			func(cfg *config.Config) storage.Limit {
				w := cfg.SecondFactor.EmailMaxWindow.Duration
				return storage.Limit{Max: cfg.SecondFactor.EmailMaxPerAccount, Window: w, Block: w}
			}, 2 * time.Hour},
		// The longest validity the configuration allows (10 minutes).
		{"wrong entries of one emailed code, 10m validity", map[string]string{"GATEHOUSE_SECOND_FACTOR_EMAIL_CODE_TTL": "10m"},
			func(cfg *config.Config) storage.Limit {
				return storage.Limit{Max: cfg.Lockout.MaxAttempts, Window: cfg.SecondFactor.EmailCodeTTL.Duration}
			}, 9 * time.Minute},
		{"wrong codes per account, 48h window", map[string]string{"GATEHOUSE_LOCKOUT_ACCOUNT_WINDOW": "48h"},
			func(cfg *config.Config) storage.Limit {
				return storage.Limit{Max: cfg.Lockout.AccountMaxAttempts, Window: cfg.Lockout.AccountWindow.Duration, Block: cfg.Lockout.BlockDuration.Duration}
			}, 3 * time.Hour},
		{"wrong passwords, 3h block", map[string]string{"GATEHOUSE_PASSWORD_BLOCK_DURATION": "3h"},
			func(cfg *config.Config) storage.Limit {
				b := cfg.Password.BlockDuration.Duration
				return storage.Limit{Max: cfg.Password.MaxAttempts, Window: b, Block: b}
			}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			cfg, err := config.Load("", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			store, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "hk.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			const key = "test:acct:counter"
			now := time.Date(2026, time.July, 1, 12, 0, 0, 0, time.UTC)
			l := tt.limit(cfg)
			if _, err := store.RecordFailure(ctx, key, l, now); err != nil {
				t.Fatal(err)
			}
			later := now.Add(tt.age)
			if p, err := store.Purge(ctx, purgeRequest(cfg, later)); err != nil {
				t.Fatal(err)
			} else if p.Counters != 0 {
				t.Errorf("the purge %v after the first failure deleted %d counters of a %v window", tt.age, p.Counters, l.Window)
			}
			c, err := store.RecordFailure(ctx, key, l, later)
			if err != nil {
				t.Fatal(err)
			}
			if c.Failures != 2 {
				t.Errorf("after a purge, the second failure within the %v window counts %d failures, want 2", l.Window, c.Failures)
			}
		})
	}
}
