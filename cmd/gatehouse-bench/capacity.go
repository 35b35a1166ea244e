package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/login/password"
)

// capacityOptions are the capacity subcommand's flags.
type capacityOptions struct {
	binary      string
	database    string
	users       int
	signins     int
	tokens      int
	concurrency int
	signinConc  int
	settle      time.Duration
	tHash       time.Duration
	statements  bool
	keep        bool
	model       assumptions
	scale       []int
}

func parseCapacityOptions(args []string, stderr io.Writer) (*capacityOptions, error) {
	o := &capacityOptions{model: assumptions{kept: map[string]time.Duration{}}}
	fs := flag.NewFlagSet("gatehouse-bench capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binary, "gatehouse", "bin/gatehouse", "the gatehouse binary to measure")
	fs.StringVar(&o.database, "database", "", "a postgres:// URL of a loopback server to use instead of a cluster of the bench's own (its WAL and statistics then count whatever else runs on it)")
	fs.IntVar(&o.users, "users", 200, "users with an authenticator app to create (each signs in at most twice a minute: TOTP steps are single-use)")
	fs.IntVar(&o.signins, "signins", 100, "full sign-ins of the measured batch")
	fs.IntVar(&o.tokens, "tokens", 500, "token requests of each measured batch")
	fs.IntVar(&o.concurrency, "concurrency", 8, "connections of the token batches")
	fs.IntVar(&o.signinConc, "signin-concurrency", runtime.NumCPU(), "browsers signing in at once")
	fs.DurationVar(&o.settle, "settle", 11*time.Second, "wait after a batch for PostgreSQL's backends to report their statistics (an idle backend reports within 10 s)")
	fs.DurationVar(&o.tHash, "t-hash", 0, "one argon2id hash's time to scale with, e.g. measured on a quiet machine (0: the faster of two measurements, at the start and the end of the run)")
	fs.BoolVar(&o.statements, "statements", false, "list each batch's statements with their executions per operation")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server log)")
	m := &o.model
	fs.Float64Var(&m.peakHour, "peak-hour", 0.10, "share of the users signing in within the peak hour")
	fs.Float64Var(&m.peakMinute, "peak-minute", 3, "the peak minute's rate over the peak hour's average")
	fs.Float64Var(&m.daily, "daily", 1, "sign-ins per user per day (the audit events and sessions kept)")
	fs.Float64Var(&m.hashShare, "hash-share", 0.75, "argon2id's share of a sign-in's server CPU (the README's profiles: 72-77 %; 1 counts the hashes alone)")
	fs.Float64Var(&m.headroom, "headroom", 0.5, "spare CPU over the peak's need (0.5: 1.5 × the need)")
	fs.Float64Var(&m.replicaCores, "replica-cores", 2, "CPUs of one replica")
	fs.IntVar(&m.minReplicas, "min-replicas", 2, "fewest replicas, for availability")
	kept := func(name, class string, d time.Duration, usage string) {
		m.kept[class] = d
		fs.Func(name, usage+" (default "+d.String()+")", func(s string) error {
			v, err := time.ParseDuration(s)
			m.kept[class] = v
			return err
		})
	}
	// The defaults of cmd/gatehouse's configuration, each with one
	// housekeeping.interval (10m) for the purge to come round.
	kept("session-kept", classSession, 12*time.Hour+10*time.Minute, "how long a session stays: session.lifetime (a session in use lives that long) and housekeeping.interval")
	kept("token-kept", classToken, 25*time.Minute, "how long a sign-in's auth request, code and access token stay: tokens.access_token_ttl (the code stays while its token lives) and housekeeping.interval")
	kept("counter-kept", classCounter, 70*time.Minute, "how long an attempt counter stays: the longest window of the attempt limits (an hour by default) and housekeeping.interval")
	kept("refresh-kept", classRefresh, 720*time.Hour+10*time.Minute, "how long a refresh token stays: tokens.refresh_token_ttl and housekeeping.interval")
	kept("audit-kept", classAudit, 90*24*time.Hour+10*time.Minute, "how long an audit event stays: audit.retention and housekeeping.interval")
	scale := "10000,100000,1000000,10000000"
	fs.StringVar(&scale, "scale", scale, "the counts of users of the table, comma-separated")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	for f := range strings.SplitSeq(scale, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-scale: %q is not a count of users", f)
		}
		o.scale = append(o.scale, n)
	}
	if o.users < 1 || o.users > 10_000 || o.signins < 1 || o.tokens < 1 || o.concurrency < 1 || o.concurrency > 1024 || o.signinConc < 1 ||
		m.peakHour <= 0 || m.peakHour > 1 || m.peakMinute < 1 || m.hashShare <= 0 || m.hashShare > 1 || m.daily < 0 || m.headroom < 0 || m.replicaCores <= 0 || m.minReplicas < 1 {
		return nil, errors.New("-users [1, 10000], -signins, -tokens, -concurrency [1, 1024], -signin-concurrency ≥ 1; -peak-hour (0, 1], -peak-minute ≥ 1, -hash-share (0, 1], -daily, -headroom ≥ 0, -replica-cores > 0, -min-replicas ≥ 1")
	}
	if o.signins > 2*o.users {
		return nil, errors.New("-signins: at most twice -users (a user signs in once per TOTP step)")
	}
	if _, err := os.Stat(o.binary); err != nil {
		return nil, fmt.Errorf("-gatehouse: %w (run make build first)", err)
	}
	return o, nil
}

// dbSnapshot is what the database and the relay had counted at a moment.
type dbSnapshot struct {
	kinds       map[string]int64 // the relay's tally
	texts       map[string]int64
	xacts       int64  // pg_stat_database.xact_commit
	rows        int64  // tup_inserted + tup_updated + tup_deleted
	lsn         uint64 // pg_current_wal_lsn()
	walRecords  int64
	walFPI      int64 // full-page images
	checkpoints int64
	tables      map[string]tableStat
}

// tableStat is a table's size and rows.
type tableStat struct {
	Size int64 // pg_total_relation_size: table, indexes, TOAST
	Live int64 // count(*)
	Dead int64 // pg_stat_user_tables.n_dead_tup
}

// rowBytes is the table's bytes per row, dead rows (until vacuum) included.
func (t tableStat) rowBytes() float64 {
	if t.Live+t.Dead == 0 {
		return 0
	}
	return float64(t.Size) / float64(t.Live+t.Dead)
}

// meter takes snapshots of Gatehouse's database, through a connection
// of its own that bypasses the relay.
type meter struct {
	conn  *pgx.Conn
	relay *relay
	query string
}

func newMeter(ctx context.Context, dsn string, r *relay) (*meter, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL for its statistics: %w", err)
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	checkpoints := "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
	if version >= 170000 {
		checkpoints = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
	}
	// One statement, so that a snapshot is one transaction of its own.
	q := `SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
		pg_current_wal_lsn()::text, w.wal_records, w.wal_fpi, (` + checkpoints + `),
		(SELECT coalesce(json_object_agg(c.relname, json_build_object(
				'Size', pg_total_relation_size(c.oid),
				'Live', (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::bigint,
				'Dead', coalesce(t.n_dead_tup, 0))), '{}')
			FROM pg_class c LEFT JOIN pg_stat_user_tables t ON t.relid = c.oid
			WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace)
		FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`
	return &meter{conn: conn, relay: r, query: q}, nil
}

func (m *meter) snapshot(ctx context.Context) (*dbSnapshot, error) {
	s := &dbSnapshot{}
	s.kinds, s.texts = m.relay.t.snapshot()
	var lsn, tables string
	if err := m.conn.QueryRow(ctx, m.query).Scan(&s.xacts, &s.rows, &lsn, &s.walRecords, &s.walFPI, &s.checkpoints, &tables); err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	var err error
	if s.lsn, err = parseLSN(lsn); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tables), &s.tables); err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	return s, nil
}

// parseLSN reads a WAL position, "16/B374D848".
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad WAL position %q", s)
	}
	return h<<32 | l, nil
}

// batchFigures are the differences over a measured batch of operations.
type batchFigures struct {
	name    string
	n       int // successful operations
	errors  int
	elapsed time.Duration
	kinds   map[string]int64
	texts   map[string]int64
	xacts   int64
	rows    int64
	wal     int64
	records int64
	fpi     int64
	ckpts   int64
	tables  map[string]float64 // bytes of the rows added (less those deleted), by table
}

func diff(name string, a, b *dbSnapshot) *batchFigures {
	f := &batchFigures{name: name, kinds: map[string]int64{}, texts: map[string]int64{}, tables: map[string]float64{},
		xacts: b.xacts - a.xacts, rows: b.rows - a.rows, wal: int64(b.lsn - a.lsn),
		records: b.walRecords - a.walRecords, fpi: b.walFPI - a.walFPI, ckpts: b.checkpoints - a.checkpoints}
	for k, v := range b.kinds {
		if d := v - a.kinds[k]; d != 0 {
			f.kinds[k] = d
		}
	}
	for k, v := range b.texts {
		if d := v - a.texts[k]; d != 0 {
			f.texts[k] = d
		}
	}
	// Rows are counted exactly and priced at the table's bytes per row
	// after the batch: growth in whole pages would weigh a page on a
	// batch's few rows.
	for k, v := range b.tables {
		if d := v.Live - a.tables[k].Live; d != 0 {
			f.tables[k] = float64(d) * v.rowBytes()
		}
	}
	return f
}

// isStatement reports whether a kind of the tally counts statements of
// the requests.
func isStatement(kind string) bool {
	switch kind {
	case kindPing, kindSync, kindSimple, kindClaim, kindPurge, kindLost:
		return false
	}
	return true
}

// statements returns the statements the operations executed (BEGIN and
// COMMIT included; pgx's pings, the logout sender's polls and purges not).
func (f *batchFigures) statements() int64 {
	var n int64
	for k, v := range f.kinds {
		if isStatement(k) {
			n += v
		}
	}
	return n
}

// roundTrips returns the round trips to PostgreSQL: each Sync and each
// simple Query, pings included, polls not.
func (f *batchFigures) roundTrips() int64 {
	return f.kinds[kindSync] + f.kinds[kindSimple] - f.kinds[kindClaim]
}

// byKind lists the statements by kind, most first.
func (f *batchFigures) byKind() string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range f.kinds {
		if isStatement(k) {
			l = append(l, kv{k, v})
		}
	}
	slices.SortFunc(l, func(a, b kv) int {
		if a.v != b.v {
			return int(b.v - a.v)
		}
		return strings.Compare(a.k, b.k)
	})
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s %s", x.k, per(x.v, f.n)))
	}
	return strings.Join(parts, ", ")
}

// byClass sums the tables' growth by class.
func (f *batchFigures) byClass() map[string]float64 {
	m := map[string]float64{}
	for t, b := range f.tables {
		m[tableClass(t)] += b
	}
	return m
}

// per writes v / n with the digits a per-operation count needs.
func per(v int64, n int) string {
	if n == 0 {
		return "-"
	}
	x := float64(v) / float64(n)
	switch {
	case x == float64(int64(x)):
		return strconv.FormatInt(int64(x), 10)
	case math.Abs(x) < 0.1:
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// The names of the sign-in batches.
const (
	signinBatch = "full sign-in (password + TOTP + code exchange, RS256)"
	coldSignin  = "the same, first batch after a CHECKPOINT"
)

// bytesPer writes v / n bytes, rounded.
func bytesPer[T int64 | float64](v T, n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(v)/float64(n), 'f', 0, 64)
}

// capacityRun holds the capacity run's state.
type capacityRun struct {
	o    *capacityOptions
	b    *bench
	m    *meter
	logf func(string, ...any)
	own  int64 // transactions of one snapshot itself (the calibration batch)
}

// runCapacity is the capacity subcommand: it measures what one sign-in and
// one token request cost PostgreSQL and the CPUs, and scales it up.
func runCapacity(ctx context.Context, args []string, w io.Writer) error {
	o, err := parseCapacityOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "capacity: "+format+"\n", a...) }
	dir, cleanup, err := workDir(o.keep, w)
	if err != nil {
		return err
	}
	defer cleanup()

	// A busy machine slows every hash of a measurement: one at the start
	// and one at the end, and the faster counts.
	measureHash := func() time.Duration {
		logf("measuring argon2id (m=%d KiB, t=%d, p=%d)", password.OWASP.Memory, password.OWASP.Time, password.OWASP.Threads)
		return hashTime(password.OWASP, 10)
	}
	tHash := o.tHash
	if tHash == 0 {
		tHash = measureHash()
	}

	backend, own := "", o.database == ""
	if own {
		logf("starting a PostgreSQL cluster of the bench's own")
		c, err := startPGCluster()
		if err != nil {
			return err
		}
		defer func() {
			if err := c.stop(); err != nil {
				logf("stop PostgreSQL: %v", err)
			}
		}()
		backend = c.addr()
	} else {
		u, err := url.Parse(o.database)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Port() == "" {
			return fmt.Errorf("-database: want a postgres:// URL with host and port, got %q", o.database)
		}
		if !isLoopback(u.Hostname()) && u.Hostname() != "localhost" {
			return fmt.Errorf("-database: the bench talks to loopback only, not %q", u.Hostname())
		}
		backend = u.Host
	}
	r, err := startRelay(backend)
	if err != nil {
		return err
	}
	defer r.close()
	relayURL := (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: r.addr(), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	if !own {
		u, _ := url.Parse(o.database)
		q := u.Query()
		q.Set("sslmode", "disable")
		u.Host, u.RawQuery = r.addr(), q.Encode()
		relayURL = u.String()
	}

	// The first purge runs a minute after start, the next a day later:
	// the run waits for the first, so that none falls in a batch.
	g, err := startGatehouse(ctx, o.binary, dir, relayURL, []string{"GATEHOUSE_HOUSEKEEPING_INTERVAL=24h"})
	if err != nil {
		return err
	}
	started := time.Now()
	defer func() {
		if err := g.stop(); err != nil {
			logf("stop: %v", err)
		}
	}()
	var dbURL string
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "GATEHOUSE_DATABASE_URL="); ok {
			dbURL = v
		}
	}
	du, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	du.Host = backend // the meter goes round the relay
	m, err := newMeter(ctx, du.String(), r)
	if err != nil {
		return err
	}
	defer m.conn.Close(context.Background())

	c := &capacityRun{o: o, m: m, logf: logf}
	empty, err := m.snapshot(ctx)
	if err != nil {
		return err
	}
	bo := &options{users: o.users, concurrency: o.concurrency}
	c.b = &bench{o: bo, site: &site{base: g.base}, g: g, logf: logf}
	if err := c.b.setup(ctx); err != nil {
		return err
	}
	setup, err := m.snapshot(ctx)
	if err != nil {
		return err
	}
	users := diff("users", empty, setup)

	logf("waiting for the first housekeeping purge (a minute after start)")
	if err := c.waitPurge(ctx, started.Add(2*time.Minute)); err != nil {
		return err
	}
	batches, err := c.batches(ctx)
	if err != nil {
		return err
	}
	if o.tHash == 0 {
		tHash = min(tHash, measureHash())
	}
	c.print(w, tHash, users, batches)
	return nil
}

// waitPurge waits until the relay has seen a purge, and no new purge
// statement for a few seconds after it.
func (c *capacityRun) waitPurge(ctx context.Context, deadline time.Time) error {
	last, quiet := int64(0), time.Time{}
	for {
		kinds, _ := c.m.relay.t.snapshot()
		n := kinds[kindPurge]
		switch {
		case n != last:
			last, quiet = n, time.Now()
		case n > 0 && time.Since(quiet) > 3*time.Second:
			return nil
		case n == 0 && time.Now().After(deadline):
			return errors.New("no housekeeping purge two minutes after start")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// measure runs one batch between two snapshots; do returns the operations
// done and failed.
func (c *capacityRun) measure(ctx context.Context, name string, do func() (ok, failed int)) (*batchFigures, error) {
	// What ran before (setup, codes harvested for the batch) reports its
	// statistics first.
	if err := c.sleep(ctx); err != nil {
		return nil, err
	}
	before, err := c.m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, failed := do()
	elapsed := time.Since(start)
	if err := c.sleep(ctx); err != nil {
		return nil, err
	}
	after, err := c.m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	f := diff(name, before, after)
	f.n, f.errors, f.elapsed = n, failed, elapsed
	// A snapshot is a transaction of the meter's, and each poll of the
	// logout sender one of Gatehouse's that is no request's.
	f.xacts -= c.own + f.kinds[kindClaim]
	c.logf("%s: %d in %v (%d errors), %d statements", name, n, elapsed.Round(time.Millisecond), failed, f.statements())
	if f.kinds[kindPurge] > 0 || f.ckpts > 0 || f.kinds[kindLost] > 0 {
		c.logf("  WARNING: %d purge statements, %d checkpoints, %d connections uncounted during the batch", f.kinds[kindPurge], f.ckpts, f.kinds[kindLost])
	}
	return f, nil
}

// sleep waits for PostgreSQL's backends to report their statistics: an
// idle backend does within 10 s (PGSTAT_IDLE_INTERVAL).
func (c *capacityRun) sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.o.settle):
		return nil
	}
}

// loop runs op n times on k workers and counts successes and failures.
func loop(ctx context.Context, name string, n, k int, do op) (ok, failed int) {
	r := closedLoop(ctx, name, bounds{duration: 2 * time.Minute, maxRequests: n, concurrency: k}, do)
	if r.firstErr != nil {
		fmt.Fprintf(os.Stderr, "capacity: %s: %d errors, the first: %v\n", name, r.errors, r.firstErr)
	}
	return r.requests - r.errors, r.errors
}

// batches measures each operation.
func (c *capacityRun) batches(ctx context.Context) ([]*batchFigures, error) {
	o, b, s := c.o, c.b, c.b.site
	hc := &http.Client{Transport: newTransport(o.concurrency, nil), Timeout: 30 * time.Second}
	var out []*batchFigures
	add := func(f *batchFigures, err error) error {
		if err == nil {
			out = append(out, f)
		}
		return err
	}

	// Calibration: a batch of nothing counts the snapshot's own transaction.
	cal, err := c.measure(ctx, "nothing (calibration)", func() (int, int) { return 0, 0 })
	if err != nil {
		return nil, err
	}
	c.own = cal.xacts

	transports := make([]http.RoundTripper, o.signinConc)
	for i := range transports {
		transports[i] = newTransport(4, net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)))
	}
	signIns := func() (int, int) {
		return loop(ctx, "sign-ins", o.signins, o.signinConc, func(ctx context.Context, w int) error {
			_, err := s.fullSignIn(ctx, transports[w%len(transports)], b.pool)
			return err
		})
	}
	if err := add(c.measure(ctx, signinBatch, signIns)); err != nil {
		return nil, err
	}

	// The same after a checkpoint: the first change of each page since
	// then writes a full-page image to the WAL.
	if _, err := c.m.conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := add(c.measure(ctx, coldSignin, signIns)); err != nil {
		return nil, err
	}

	cc := url.Values{"grant_type": {"client_credentials"}}
	if err := add(c.measure(ctx, "client_credentials, JWT access token (ES256)", func() (int, int) {
		return loop(ctx, "client_credentials JWT", o.tokens, o.concurrency, postForm(hc, s.base+"/oauth/token", b.ccES, cc, `"access_token"`))
	})); err != nil {
		return nil, err
	}
	if err := add(c.measure(ctx, "client_credentials, opaque access token", func() (int, int) {
		return loop(ctx, "client_credentials opaque", o.tokens, o.concurrency, postForm(hc, s.base+"/oauth/token", s.rp, cc, `"access_token"`))
	})); err != nil {
		return nil, err
	}

	// refresh_token: one rotating chain per connection.
	refresh, err := b.refreshChains(ctx, hc, o.concurrency)
	if err != nil {
		return nil, err
	}
	if err := add(c.measure(ctx, "refresh_token with rotation (ES256 ID token)", func() (int, int) {
		return loop(ctx, "refresh", o.tokens, o.concurrency, refresh)
	})); err != nil {
		return nil, err
	}

	// authorization_code: codes of a signed-in browser, harvested just
	// before (they live 60 s).
	c.logf("harvesting %d codes", o.tokens)
	codes, err := b.codes(ctx, b.rpES, "openid email profile", o.tokens)
	if err != nil {
		return nil, fmt.Errorf("codes: %w", err)
	}
	if err := add(c.measure(ctx, "authorization_code exchange (ES256 ID token, opaque access token)", func() (int, int) {
		return loop(ctx, "authorization_code", o.tokens, o.concurrency, b.exchanges(hc, codes))
	})); err != nil {
		return nil, err
	}
	return out, nil
}

// print writes the per-operation figures and the capacity table.
func (c *capacityRun) print(w io.Writer, tHash time.Duration, users *batchFigures, batches []*batchFigures) {
	cpus := runtime.NumCPU()
	fmt.Fprintf(w, "\nGatehouse capacity — PostgreSQL, %d CPUs, %s/%s, %s, %s\n\n", cpus, runtime.GOOS, runtime.GOARCH, runtime.Version(),
		time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "Per operation (counts are exact and do not depend on the machine's load; req/s and per CPU do, and the load generator and PostgreSQL share the CPUs with Gatehouse):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| operation | n | req/s | per CPU | statements | of which | round trips | transactions | rows written | WAL bytes | full-page images | bytes kept, by class |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|---|")
	var signin, cold *batchFigures
	for _, f := range batches {
		if f.n == 0 {
			continue
		}
		switch f.name {
		case signinBatch:
			signin = f
		case coldSignin:
			cold = f
		}
		rate := float64(f.n) / f.elapsed.Seconds()
		classes := f.byClass()
		var parts []string
		for _, k := range []string{classUser, classSession, classToken, classCounter, classRefresh, classAudit, classFixed} {
			if v, ok := classes[k]; ok {
				parts = append(parts, fmt.Sprintf("%s %s", k, bytesPer(v, f.n)))
			}
		}
		errs := ""
		if f.errors > 0 {
			errs = fmt.Sprintf(" (%d errors)", f.errors)
		}
		fmt.Fprintf(w, "| %s | %d%s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", f.name, f.n, errs, rate, rate/float64(cpus),
			per(f.statements(), f.n), f.byKind(), per(f.roundTrips(), f.n), per(f.xacts, f.n), per(f.rows, f.n), bytesPer(f.wal, f.n),
			per(f.fpi, f.n), strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if c.o.statements {
		for _, f := range batches {
			printStatements(w, f)
		}
	}
	userBytes := users.byClass()[classUser]
	users.n = c.o.users + 1 // and the SSO user
	fmt.Fprintf(w, "Users: %d created with the CLI and their authenticator apps enrolled: %s bytes of their own rows per user (%s).\n",
		c.o.users, bytesPer(userBytes, users.n), tableBytes(users, func(t string) bool { return tableClass(t) == classUser }))
	fmt.Fprintln(w, "Bytes kept: the rows each table gained over the batch (count(*), less the rows deleted), each at the table's pg_total_relation_size (table, indexes, TOAST) over its rows, dead ones included, after the batch. Transactions are pg_stat_database's commits, read-only ones included, less the meter's own and the logout sender's polls (one a second per replica, no rows). WAL: pg_current_wal_lsn's advance over the batch, with no checkpoint in it (autovacuum off, checkpoint_timeout 1d); after each checkpoint, the first change of each page writes a full-page image of up to 8 kB more.")
	if signin == nil {
		return
	}

	// Both batches of sign-ins add the same rows: together, pages weigh
	// less on the bytes per sign-in.
	both := &batchFigures{n: signin.n, tables: maps.Clone(signin.tables)}
	if cold != nil {
		both.n += cold.n
		for t, v := range cold.tables {
			both.tables[t] += v
		}
	}
	perSignin := map[string]float64{}
	for k, v := range both.byClass() {
		if k != classUser && k != classFixed {
			perSignin[k] = v / float64(both.n)
		}
	}
	in := modelInputs{
		signinsPerCore: 1 / tHash.Seconds(),
		stmtsPerSignin: float64(signin.statements()) / float64(signin.n),
		walPerSignin:   float64(signin.wal) / float64(signin.n),
		bytesPerUser:   userBytes / float64(users.n),
		perSignin:      perSignin,
	}
	if cold != nil {
		in.walColdPerSignin = float64(cold.wal) / float64(cold.n)
	}
	fmt.Fprintf(w, "A sign-in's growth by table, over both batches of sign-ins: %s.\n", tableBytes(both, func(string) bool { return true }))
	fmt.Fprintf(w, "\nargon2id (OWASP: 19 MiB, t=2, p=1): t_hash %s ms on one CPU of this machine → %.1f sign-ins per CPU.", ms(tHash), in.signinsPerCore)
	fmt.Fprintf(w, " The batch of sign-ins did %.1f/s on %d CPUs with %d browsers at once, each waiting on its round trips, and the load generator and PostgreSQL on the same CPUs: a count, not a CPU figure (make bench measures that).\n\n",
		float64(signin.n)/signin.elapsed.Seconds(), cpus, c.o.signinConc)
	printModel(w, c.o.model, in, c.o.scale)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPUs for sign-ins: the peak's hashes at 1 / t_hash each, over argon2id's share of a sign-in's server CPU; t_hash is one CPU's best on this machine, and two hashes at once each take longer, which the headroom covers. Statements and WAL are those of the sign-ins, each with its code exchange; add the token requests' from the table above for traffic of their own. Database size: the users' rows, and each sign-in's sessions, auth requests, codes, access tokens and audit events for as long as they are kept; update churn (dead rows until vacuum) and PostgreSQL's own files not included.")
}

// printStatements lists the statements of a batch, most executed first,
// with their executions per operation.
func printStatements(w io.Writer, f *batchFigures) {
	if f.n == 0 {
		return
	}
	fmt.Fprintf(w, "Statements of %s, per operation:\n\n", f.name)
	texts := slices.Collect(maps.Keys(f.texts))
	slices.SortFunc(texts, func(a, b string) int {
		if d := f.texts[b] - f.texts[a]; d != 0 {
			return int(d)
		}
		return strings.Compare(a, b)
	})
	for _, t := range texts {
		one := strings.Join(strings.Fields(t), " ")
		if len(one) > 200 {
			one = one[:200] + "…"
		}
		fmt.Fprintf(w, "    %6s  %s\n", per(f.texts[t], f.n), one)
	}
	fmt.Fprintln(w)
}

// tableBytes lists the growth per operation of the tables that keep says.
func tableBytes(f *batchFigures, keep func(table string) bool) string {
	var l []string
	for t, v := range f.tables {
		if keep(t) {
			l = append(l, fmt.Sprintf("%s %s", t, bytesPer(v, f.n)))
		}
	}
	slices.Sort(l)
	return strings.Join(l, ", ")
}
