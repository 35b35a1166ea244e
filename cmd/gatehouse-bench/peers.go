package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/password"
)

// peerOptions are the flags of gatehouse-bench peers.
type peerOptions struct {
	binary         string
	work           string
	peers          []string
	rounds         int
	round          time.Duration
	warmup         time.Duration
	maxRequests    int
	concurrency    int
	signins        int
	signinConc     int
	zitadelVersion string
	npmVersion     string
	keep           bool
}

// The peers that gatehouse-bench peers knows.
const (
	peerZitadel      = "zitadel"
	peerOIDCProvider = "oidc-provider"
)

func parsePeerOptions(args []string, stderr io.Writer) (*peerOptions, error) {
	o := &peerOptions{}
	fs := flag.NewFlagSet("gatehouse-bench peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var peers string
	fs.StringVar(&o.binary, "gatehouse", "bin/gatehouse", "the gatehouse binary to measure")
	fs.StringVar(&o.work, "work", "bin/peers", "where the peers are built and installed (kept between runs)")
	fs.StringVar(&peers, "peers", peerZitadel+","+peerOIDCProvider, "the peers to measure beside Gatehouse, comma-separated")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of each phase on each server (the table gives their medians)")
	fs.DurationVar(&o.round, "round", 6*time.Second, "length of one round of one phase on one server")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load of each phase on each server before its first round (Node's JIT compiles the hot paths, Go's allocator and pools grow)")
	fs.IntVar(&o.maxRequests, "max-requests", 200_000, "most requests of one round")
	fs.IntVar(&o.concurrency, "concurrency", 16, "connections of the discovery, JWKS and client_credentials phases")
	fs.IntVar(&o.signins, "signins", 2000, "most sign-ins of one round")
	fs.IntVar(&o.signinConc, "signin-concurrency", 2*runtime.NumCPU(), "browsers signing in at once")
	fs.StringVar(&o.zitadelVersion, "zitadel-version", "", "version of github.com/zitadel/oidc/v3 whose example server to build (default: the one go.mod requires)")
	fs.StringVar(&o.npmVersion, "oidc-provider-version", "9.13.3", "version of the oidc-provider package to install")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (Gatehouse's database, every server's log)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if o.rounds < 1 || o.rounds > 20 || o.round < 100*time.Millisecond || o.round > time.Minute || o.warmup < 0 || o.warmup > time.Minute || o.maxRequests < 1 ||
		o.concurrency < 1 || o.concurrency > 1024 || o.signins < 0 || o.signinConc < 1 || o.signinConc > 256 {
		return nil, errors.New("-rounds [1, 20], -round [100ms, 1m], -warmup [0, 1m], -max-requests ≥ 1, -concurrency [1, 1024], -signins ≥ 0, -signin-concurrency [1, 256]")
	}
	for p := range strings.SplitSeq(peers, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case peerZitadel, peerOIDCProvider:
			if !slices.Contains(o.peers, p) {
				o.peers = append(o.peers, p)
			}
		default:
			return nil, fmt.Errorf("-peers: unknown peer %q (want %s or %s)", p, peerZitadel, peerOIDCProvider)
		}
	}
	if _, err := os.Stat(o.binary); err != nil {
		return nil, fmt.Errorf("-gatehouse: %w (run make build first)", err)
	}
	return o, nil
}

// provider is one OpenID provider of the comparison: its server process
// and how the bench's clients talk to it.
type provider struct {
	name    string
	version string
	// stores says what the provider keeps, and where.
	stores string
	// signs says what its sign-in checks and signs.
	signs string
	// proc is the server process; the gatehouse type serves any child
	// process for stop and for the readings of /proc.
	proc *gatehouse
	site *site  // base URL, and rp: the confidential code-flow client
	cc   client // the client_credentials client
	// login submits the login page p of a fresh sign-in and returns where
	// the answer redirects.
	login func(ctx context.Context, b *browser, p *page) (string, error)

	discovery, jwks, authorize string // endpoint paths, from discovery
	idleRSS                    int64
}

// endpoints reads p's discovery document and keeps the paths of its
// endpoints; the bench's token requests go to /oauth/token, which every
// provider of the comparison serves.
func (p *provider) endpoints(ctx context.Context, hc *http.Client) error {
	p.discovery = "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.site.base+p.discovery, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	var d struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return fmt.Errorf("%s discovery: %w", p.name, err)
	}
	path := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		return u.Path
	}
	p.authorize, p.jwks = path(d.Authorization), path(d.JWKS)
	if t := path(d.Token); t != "/oauth/token" || p.authorize == "" || p.jwks == "" {
		return fmt.Errorf("%s discovery: token endpoint %q (want /oauth/token), authorization %q, JWKS %q", p.name, t, d.Authorization, d.JWKS)
	}
	return nil
}

// signIn runs a whole sign-in in a fresh browser over t: the authorization
// request, the login page and its submission, the redirects back to the
// client, and the code exchange.
func (p *provider) signIn(ctx context.Context, t http.RoundTripper) error {
	b := newBrowser(t)
	f := p.site.newFlow(p.site.rp, "openid email profile")
	u, err := url.Parse(f.authURL)
	if err != nil {
		return err
	}
	u.Path = p.authorize
	f.authURL = u.String()
	pg, at, err := b.follow(ctx, f.authURL)
	if err != nil {
		return err
	}
	if pg == nil || pg.status != http.StatusOK {
		return fmt.Errorf("no login page (landed at %s)", at)
	}
	next, err := p.login(ctx, b, pg)
	if err != nil {
		return err
	}
	pg, at, err = b.follow(ctx, next)
	if err != nil {
		return err
	}
	if pg != nil {
		return fmt.Errorf("after the login, landed on %s (%d)", at, pg.status)
	}
	code, err := f.codeFrom(at)
	if err != nil {
		return err
	}
	_, err = p.site.exchange(ctx, b.c, f, code)
	return err
}

// submit posts a login form and returns where its answer redirects.
func submit(ctx context.Context, b *browser, action string, fields url.Values) (string, error) {
	p, err := b.post(ctx, action, fields)
	if err != nil {
		return "", err
	}
	if p.status == http.StatusServiceUnavailable {
		return "", fmt.Errorf("%w: %q", errBusy, alert(p.body))
	}
	if p.status < 300 || p.status >= 400 || p.location == "" {
		return "", fmt.Errorf("login: %d without a redirect (%.200q)", p.status, p.body)
	}
	return p.location, nil
}

// startPeer starts p's server, argv in dir with env and PORT (a free
// loopback port) added to this process's environment and its output to
// logName in the run's directory, and waits until its discovery document
// answers.
func (r *peerRun) startPeer(p *provider, argv []string, dir string, env []string, logName string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := strings.Cut(addr, ":")
	proc := &gatehouse{binary: argv[0], base: "http://127.0.0.1:" + port, cmd: exec.Command(argv[0], argv[1:]...)}
	proc.cmd.Dir = dir
	proc.cmd.Env = append(append(os.Environ(), env...), "PORT="+port)
	if err := proc.start(filepath.Join(r.dir, logName), "/.well-known/openid-configuration"); err != nil {
		return err
	}
	p.proc, p.site.base = proc, proc.base
	r.logf("started %s on %s", p.name, proc.base)
	return nil
}

// runPrinting runs cmd, a peer's build or install, and returns its error
// followed by what it printed.
func runPrinting(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// peerRun is the state of one run of gatehouse-bench peers.
type peerRun struct {
	o    *peerOptions
	dir  string // the run's temporary directory
	logf func(string, ...any)
}

// runPeers measures Gatehouse and its peers side by side and prints the
// table to w.
func runPeers(args []string, w io.Writer) error {
	o, err := parsePeerOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	r := &peerRun{o: o, logf: func(format string, a ...any) { fmt.Fprintf(os.Stderr, "peers: "+format+"\n", a...) }}
	dir, cleanup, err := workDir(o.keep, w)
	if err != nil {
		return err
	}
	defer cleanup()
	r.dir = dir

	// Gatehouse's sign-ins hash a password each, the peers' do not: the
	// hash's time on this machine says what bounds them.
	tHash := hashTime(password.OWASP, 5)

	// Build and install first, so that no server waits idle meanwhile.
	starters := []func(context.Context) (*provider, error){r.startGatehouse}
	var skipped []string
	for _, name := range o.peers {
		var start func(context.Context) (*provider, error)
		var err error
		switch name {
		case peerZitadel:
			start, err = r.prepareZitadel(ctx)
		case peerOIDCProvider:
			start, err = r.prepareOIDCProvider(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.logf("%s: not measured: %v", name, err)
			skipped = append(skipped, fmt.Sprintf("%s: not measured: %v", name, err))
			continue
		}
		starters = append(starters, start)
	}
	var provs []*provider
	defer func() {
		for _, p := range provs {
			if err := p.proc.stop(); err != nil {
				r.logf("stop %s: %v", p.name, err)
			}
		}
	}()
	hc := &http.Client{Transport: newTransport(o.concurrency, nil), Timeout: 30 * time.Second}
	for i, start := range starters {
		p, err := start(ctx)
		if err == nil {
			provs = append(provs, p)
			err = p.endpoints(ctx, hc)
		}
		switch {
		case err == nil:
		case i == 0 || ctx.Err() != nil:
			return err // Gatehouse, or interrupted
		default:
			// A peer that does not start is left out of the table.
			r.logf("not measured: %v", err)
			skipped = append(skipped, fmt.Sprintf("not measured: %v", err))
			if p != nil {
				provs = provs[:len(provs)-1]
				p.proc.stop()
			}
		}
	}
	time.Sleep(time.Second)
	for _, p := range provs {
		p.idleRSS, _ = p.proc.rss()
	}

	t := r.measure(ctx, hc, provs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.notes = append(t.notes, skipped...)
	if signIn := t.rate(peerCell{signInPhase, provs[0].name}); signIn > 0 {
		most := float64(runtime.NumCPU()) / tHash.Seconds()
		t.notes = append(t.notes, fmt.Sprintf("Gatehouse's sign-ins are bound by argon2id: one hash took %s ms on one core at the start of this run, so %d CPUs sign in at most %.0f times a second; the median above is %.2f of that.",
			ms(tHash), runtime.NumCPU(), most, signIn/most))
	}
	t.print(w)
	return nil
}

// startGatehouse starts Gatehouse on a fresh SQLite database with a
// confidential client (code flow and client_credentials, opaque access
// tokens, RS256 ID tokens) and users who sign in with a password alone.
func (r *peerRun) startGatehouse(ctx context.Context) (*provider, error) {
	r.logf("starting %s on a fresh SQLite database", r.o.binary)
	g, err := startGatehouse(ctx, r.o.binary, r.dir, "sqlite", nil)
	if err != nil {
		return nil, err
	}
	p := &provider{
		name:   "Gatehouse",
		stores: "durable: SQLite (codes, sessions, opaque access tokens are rows)",
		signs:  "argon2id password check (19 MiB, t=2), session, RS256 3072-bit ID token",
		proc:   g,
		site:   &site{base: g.base},
	}
	if p.site.rp, err = g.createClient("--name", "peers bench", "--redirect-uri", redirectURI,
		"--grant-type", "authorization_code,refresh_token,client_credentials"); err != nil {
		g.stop()
		return nil, err
	}
	p.cc = p.site.rp
	if out, err := g.cli("", "version"); err == nil {
		first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		p.version = strings.TrimPrefix(first, "gatehouse ")
	}
	// A few users, signed in again and again: the lockout counts wrong
	// passwords only.
	users := make([]string, 8)
	if err := parallel(ctx, runtime.NumCPU(), len(users), func(i int) error {
		users[i] = fmt.Sprintf("peer%d@bench.example", i)
		return g.createUser(users[i], "bench password of "+users[i])
	}); err != nil {
		g.stop()
		return nil, err
	}
	var next atomic.Int64
	p.login = func(ctx context.Context, b *browser, pg *page) (string, error) {
		fields, err := form(pg.body, "/login")
		if err != nil {
			return "", err
		}
		email := users[int(next.Add(1))%len(users)]
		fields.Set("email", email)
		fields.Set("password", "bench password of "+email)
		return submit(ctx, b, p.site.base+"/login", fields)
	}
	return p, nil
}

// measure runs the phases on every provider in interleaved rounds.
func (r *peerRun) measure(ctx context.Context, hc *http.Client, provs []*provider) *peerTable {
	o := r.o
	bd := bounds{duration: o.round, maxRequests: o.maxRequests, concurrency: o.concurrency}
	cc := url.Values{"grant_type": {"client_credentials"}}
	// Sign-ins spread over 127.0.0.0/8 as the bench's do, one transport
	// (and cookie-less keep-alive connections) per browser slot.
	transports := make([]http.RoundTripper, o.signinConc)
	for i := range transports {
		transports[i] = newTransport(4, net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)))
	}
	phases := []peerPhase{
		{name: "discovery", bounds: bd, op: func(p *provider) op { return get(hc, p.site.base+p.discovery, nil) }},
		{name: "JWKS", bounds: bd, op: func(p *provider) op { return get(hc, p.site.base+p.jwks, nil) }},
		{name: "client_credentials", bounds: bd, op: func(p *provider) op {
			return postForm(hc, p.site.base+"/oauth/token", p.cc, cc, `"access_token"`)
		}},
	}
	if o.signins > 0 {
		phases = append(phases, peerPhase{
			name:   signInPhase,
			bounds: bounds{duration: o.round, maxRequests: o.signins, concurrency: o.signinConc},
			op: func(p *provider) op {
				return func(ctx context.Context, w int) error { return p.signIn(ctx, transports[w%len(transports)]) }
			},
		})
	}
	t := &peerTable{
		machine:  fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version()),
		rounds:   o.rounds,
		round:    o.round,
		warmup:   o.warmup,
		conc:     o.concurrency,
		signConc: o.signinConc,
		results:  map[peerCell][]*result{},
		na:       map[peerCell]string{},
	}
	for _, ph := range phases {
		t.phases = append(t.phases, ph.name)
	}
	for _, p := range provs {
		t.providers = append(t.providers, peerInfo{name: p.name, version: p.version, stores: p.stores, signs: p.signs, idleRSS: p.idleRSS})
	}
	// One request of each phase first: a provider that cannot do one is
	// n/a there, with the reason, rather than a column of errors.
	ok := func(ph peerPhase, p *provider) bool {
		c := peerCell{ph.name, p.name}
		if _, done := t.na[c]; done {
			return false
		}
		if err := ph.op(p)(ctx, 0); err != nil {
			t.na[c] = err.Error()
			r.logf("%s on %s: n/a: %v", ph.name, p.name, err)
			return false
		}
		return true
	}
	interleave(ctx, o.rounds, phases, provs, func(ph peerPhase, p *provider, round int) {
		if round == 0 {
			if !ok(ph, p) {
				return
			}
			if o.warmup > 0 {
				wb := ph.bounds
				wb.duration = o.warmup
				closedLoop(ctx, ph.name, wb, ph.op(p))
			}
		}
		if _, skip := t.na[peerCell{ph.name, p.name}]; skip {
			return
		}
		res := closedLoop(ctx, ph.name, ph.bounds, ph.op(p))
		t.add(ph.name, p.name, res)
		r.logf("round %d, %s on %s: %.0f/s, p99 %s ms, %d errors", round+1, ph.name, p.name, res.rate(), ms(res.percentile(99)), res.errors)
		if res.firstErr != nil {
			r.logf("  the first error: %v", res.firstErr)
		}
	})
	for i, p := range provs {
		t.providers[i].afterRSS, _ = p.proc.rss()
		t.providers[i].peakRSS, _ = p.proc.peakRSS()
	}
	return t
}

// signInPhase is the name of the phase of whole sign-ins.
const signInPhase = "sign-in: authorize, login, code exchange"

// peerPhase is a phase measured on every provider.
type peerPhase struct {
	name   string
	bounds bounds
	op     func(p *provider) op
}

// interleave calls run for each phase, round after round, and within a
// round for each provider in turn: G, Z, O, G, Z, O, … Other work on the
// machine then weighs alike on every provider, and at most on one round of
// each.
func interleave[P any](ctx context.Context, rounds int, phases []peerPhase, provs []P, run func(ph peerPhase, p P, round int)) {
	for _, ph := range phases {
		for round := range rounds {
			for _, p := range provs {
				if ctx.Err() != nil {
					return
				}
				run(ph, p, round)
			}
		}
	}
}
