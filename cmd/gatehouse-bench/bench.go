package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/login/password"
)

// options are the bench's flags.
type options struct {
	binary      string
	database    string
	duration    time.Duration
	rounds      int
	maxRequests int
	concurrency int
	users       int
	signins     int
	signinConc  int
	pacedFor    time.Duration
	pacedRate   float64
	out         string
	baseline    string
	keep        bool
	pprof       bool
	cpuProfile  string
	serverProfs string
	// phases selects the throughput phases to run (nil: all).
	phases *regexp.Regexp
}

// runs reports whether the throughput phase name is to run.
func (o *options) runs(name string) bool {
	return o.phases == nil || o.phases.MatchString(name)
}

// parseFlags parses args with fs and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("gatehouse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binary, "gatehouse", "bin/gatehouse", "the gatehouse binary to measure")
	fs.StringVar(&o.database, "database", "sqlite", "sqlite (a fresh file) or a postgres:// URL of a loopback server, on which a fresh database is created and dropped")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each throughput phase, all rounds together")
	var phases string
	fs.StringVar(&phases, "phases", "", "run only the throughput phases whose names match this regular expression, e.g. 'introspection of a JWT|plain hello' to compare two binaries on one row (the table shows the others empty)")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of each group of phases (a phase keeps its best)")
	fs.IntVar(&o.maxRequests, "max-requests", 100_000, "most requests of each throughput phase")
	fs.IntVar(&o.concurrency, "concurrency", 16, "connections of the throughput phases")
	fs.IntVar(&o.users, "users", 400, "users with an authenticator app to create (each signs in about twice a minute: TOTP steps are single-use; the default covers both sign-in phases)")
	fs.IntVar(&o.signins, "signins", 150, "most full sign-ins of the sign-in phase")
	fs.IntVar(&o.signinConc, "signin-concurrency", 2*runtime.NumCPU(), "browsers signing in at once")
	fs.Float64Var(&o.pacedRate, "paced-rate", 0, "sign-ins a second of the paced phase instead of 70% of the measured rate: the same load for two binaries compared side by side")
	fs.DurationVar(&o.pacedFor, "paced", 10*time.Second, "length of the phase at 70% of the measured sign-in rate (its p99 rests on about 20 sign-ins a second of it)")
	fs.StringVar(&o.out, "out", "", "write the figures as JSON to this file")
	fs.StringVar(&o.baseline, "baseline", "", "JSON figures of an earlier run (-out) to compare with, e.g. SQLite's for PostgreSQL")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, server log)")
	fs.BoolVar(&o.pprof, "pprof", false, "enable the server's /debug/pprof/ on its admin listener and print its address")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile of the full sign-in phase to this file")
	fs.StringVar(&o.serverProfs, "server-profiles", "", "write the server's CPU profile of each of its throughput phases' first round to this directory, one PHASE.pprof each (turns on -pprof)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if phases != "" {
		re, err := regexp.Compile(phases)
		if err != nil {
			return nil, fmt.Errorf("-phases: %w", err)
		}
		o.phases = re
	}
	if o.serverProfs != "" {
		if err := os.MkdirAll(o.serverProfs, 0o755); err != nil {
			return nil, fmt.Errorf("-server-profiles: %w", err)
		}
		o.pprof = true
	}
	if o.duration <= 0 || o.duration > 5*time.Minute || o.maxRequests < 1 || o.concurrency < 1 || o.concurrency > 1024 ||
		o.rounds < 1 || o.rounds > 100 || o.users < 1 || o.users > 10_000 || o.signins < 0 || o.signinConc < 1 || o.pacedFor < 0 || o.pacedFor > 5*time.Minute || o.pacedRate < 0 || o.pacedRate > 1000 {
		return nil, errors.New("-duration (0, 5m], -rounds [1, 100], -max-requests ≥ 1, -concurrency [1, 1024], -users [1, 10000], -signins ≥ 0, -signin-concurrency ≥ 1, -paced [0, 5m], -paced-rate [0, 1000]")
	}
	if _, err := os.Stat(o.binary); err != nil {
		return nil, fmt.Errorf("-gatehouse: %w (run make build first)", err)
	}
	return o, nil
}

// runBench runs the whole benchmark and prints its table to w.
func runBench(ctx context.Context, args []string, w io.Writer) error {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	dir, cleanup, err := workDir(o.keep, w)
	if err != nil {
		return err
	}
	defer cleanup()
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

	// The ceilings that need no server.
	logf("measuring argon2id (m=%d KiB, t=%d, p=%d)", password.OWASP.Memory, password.OWASP.Time, password.OWASP.Threads)
	tHash := hashTime(password.OWASP, 10)
	hashRate := parallelHashRate(password.OWASP, runtime.NumCPU(), 4, 2)

	var extra []string
	if o.pprof {
		extra = append(extra, "GATEHOUSE_ADMIN_PPROF=true")
	}
	logf("starting %s on %s", o.binary, o.database)
	g, err := startGatehouse(ctx, o.binary, dir, o.database, extra)
	if err != nil {
		return err
	}
	defer func() {
		if err := g.stop(); err != nil {
			logf("stop: %v", err)
		}
	}()
	if o.pprof {
		fmt.Fprintf(w, "profiles: go tool pprof http://%s/debug/pprof/profile?seconds=10\n", g.admin)
	}
	time.Sleep(time.Second)
	idleRSS, err := g.rss()
	if err != nil {
		return err
	}

	s := &site{base: g.base}
	b := &bench{o: o, site: s, g: g, logf: logf}
	if err := b.setup(ctx); err != nil {
		return err
	}
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	rep.machine = fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	rep.database = "SQLite"
	if o.database != "sqlite" {
		rep.database = "PostgreSQL"
	}
	rep.tHash = tHash
	rep.hashRate = hashRate
	rep.idleRSS = idleRSS
	if rep.afterRSS, err = g.rss(); err != nil {
		return err
	}
	rep.peakRSS, _ = g.peakRSS()
	if o.baseline != "" {
		if rep.baseline, err = readFigures(o.baseline); err != nil {
			return err
		}
	}
	rep.print(w)
	if o.out != "" {
		if err := rep.writeFigures(o.out); err != nil {
			return err
		}
	}
	return nil
}

// startCPUProfile starts the bench's own CPU profile into file, if one is
// named; the function it returns stops it and closes the file.
func startCPUProfile(file string) (stop func() error, err error) {
	if file == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// workDir makes the run's temporary directory (database, server log);
// cleanup removes it unless keep is set, in which case w is told where it
// is.
func workDir(keep bool, w io.Writer) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintf(w, "keeping %s\n", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// bench holds the run's state: the server, its clients and users.
type bench struct {
	o    *options
	site *site
	g    *gatehouse
	logf func(string, ...any)

	rpES   client // code flow, ES256 ID tokens, opaque access tokens
	ccRS   client // client_credentials, RS256 JWT access tokens
	ccES   client // client_credentials, ES256 JWT access tokens
	pool   *userPool
	sso    []*browser // signed-in browsers of the SSO user, one per connection
	claims []byte     // the payload of a real ID token
}

const ssoEmail, ssoPassword = "sso@bench.example", "bench password for the SSO user"

// setup creates the clients and users and enrols the users' apps.
func (b *bench) setup(ctx context.Context) error {
	var err error
	// The RS256 client signs users in and uses client_credentials too (the
	// opaque phase).
	if b.site.rp, err = b.g.createClient("--name", "bench RS256", "--redirect-uri", redirectURI,
		"--grant-type", "authorization_code,refresh_token,client_credentials"); err != nil {
		return err
	}
	if b.rpES, err = b.g.createClient("--name", "bench ES256", "--redirect-uri", redirectURI, "--signing-alg", "ES256"); err != nil {
		return err
	}
	// The code-flow clients sign one JWT per exchange, the ID token (their
	// access tokens are opaque); the client_credentials clients sign
	// theirs, a JWT access token.
	if b.ccES, err = b.g.createClient("--name", "bench ES256 JWT", "--redirect-uri", redirectURI, "--signing-alg", "ES256",
		"--access-token-format", "jwt", "--grant-type", "client_credentials"); err != nil {
		return err
	}
	if b.ccRS, err = b.g.createClient("--name", "bench RS256 JWT", "--redirect-uri", redirectURI,
		"--access-token-format", "jwt", "--grant-type", "client_credentials"); err != nil {
		return err
	}
	if err := b.g.createUser(ssoEmail, ssoPassword); err != nil {
		return err
	}
	b.logf("creating %d users with the CLI and enrolling their authenticator apps over HTTP", b.o.users)
	users := make([]*totpUser, b.o.users)
	for i := range users {
		users[i] = &totpUser{email: fmt.Sprintf("user%d@bench.example", i), pass: fmt.Sprintf("bench password number %d", i)}
	}
	if err := parallel(ctx, runtime.NumCPU(), len(users), func(i int) error {
		return b.g.createUser(users[i].email, users[i].pass)
	}); err != nil {
		return err
	}
	// Each user enrols from an address of its own (127.1.0.0/16), as people
	// do from their own machines. From one address for all, the codes
	// checked at once share the address's lockout counters, which count an
	// attempt while it is being checked: three in flight reach the one-time
	// code's limit of 3 and the fourth is refused as blocked.
	if err := parallel(ctx, 2*runtime.NumCPU(), len(users), func(i int) error {
		t := newTransport(1, net.IPv4(127, 1, byte(i/250), byte(1+i%250)))
		defer t.CloseIdleConnections()
		return b.site.enrol(ctx, newBrowser(t), users[i])
	}); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	b.pool = &userPool{users: users}

	// Browsers holding a session of the SSO user hand out codes without a
	// password; one per connection.
	b.sso = make([]*browser, b.o.concurrency)
	for i := range b.sso {
		b.sso[i] = newBrowser(newTransport(1, nil))
		if err := b.site.signInRetrying(ctx, b.sso[i], ssoEmail, ssoPassword); err != nil {
			return fmt.Errorf("SSO sign-in: %w", err)
		}
	}
	return nil
}

// parallel runs do(0…n-1) on k workers and returns the first error.
func parallel(ctx context.Context, k, n int, do func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// codes harvests n codes of c through the SSO browsers.
func (b *bench) codes(ctx context.Context, c client, scope string, n int) ([]grant, error) {
	out := make([]grant, n)
	err := parallel(ctx, len(b.sso), n, func(i int) error {
		f, code, err := b.site.ssoCode(ctx, b.sso[i%len(b.sso)], c, scope)
		out[i] = grant{f, code}
		return err
	})
	return out, err
}

// exchanges returns an op that redeems the next of grants, until none is
// left.
func (b *bench) exchanges(hc *http.Client, grants []grant) op {
	var next atomic.Int64
	return func(ctx context.Context, _ int) error {
		i := int(next.Add(1)) - 1
		if i >= len(grants) {
			return errNoWork
		}
		_, err := b.site.exchange(ctx, hc, grants[i].f, grants[i].code)
		return err
	}
}

// refreshChains starts n refresh token chains of rpES, one per worker,
// and returns an op by which worker w rotates its chain.
func (b *bench) refreshChains(ctx context.Context, hc *http.Client, n int) (op, error) {
	s := b.site
	grants, err := b.codes(ctx, b.rpES, "openid offline_access", n)
	if err != nil {
		return nil, err
	}
	chains := make([]string, n)
	for i, g := range grants {
		t, err := s.exchange(ctx, hc, g.f, g.code)
		if err != nil {
			return nil, err
		}
		if t.RefreshToken == "" {
			return nil, errors.New("no refresh token with offline_access")
		}
		chains[i] = t.RefreshToken
	}
	return func(ctx context.Context, w int) error {
		// The end of a round must not cut a rotation off halfway: the
		// server would have rotated a token the chain never learns.
		t, err := s.token(context.WithoutCancel(ctx), hc, b.rpES, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {chains[w]}})
		if err != nil {
			return err
		}
		if t.RefreshToken == "" {
			return errors.New("refresh without a new refresh token")
		}
		chains[w] = t.RefreshToken
		return nil
	}, nil
}

// grant is a code waiting to be redeemed.
type grant struct {
	f    *flow
	code string
}

// phase is a named operation to measure.
type phase struct {
	name string
	do   op
}

// get returns an op that GETs u and expects 200.
func get(hc *http.Client, u string, header http.Header) op {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", req.URL.Path, resp.StatusCode)
		}
		return nil
	}
}

// postForm returns an op that POSTs form to u (with c's credentials when
// c.ID is set) and expects 200 and a body containing want.
func postForm(hc *http.Client, u string, c client, form url.Values, want string) op {
	body := form.Encode()
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.ID != "" {
			req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(want)) {
			return fmt.Errorf("POST %s: %d %.200s", req.URL.Path, resp.StatusCode, got)
		}
		return nil
	}
}

// run measures everything and returns the report.
func (b *bench) run(ctx context.Context) (*report, error) {
	o, s := b.o, b.site
	bd := bounds{duration: o.duration, maxRequests: o.maxRequests, concurrency: o.concurrency}
	hc := &http.Client{Transport: newTransport(o.concurrency, nil), Timeout: 30 * time.Second}
	rep := &report{results: map[string]*result{}}
	// Each group of phases runs in interleaved rounds, and each phase keeps
	// its best round: other work on the machine then weighs alike on a
	// figure and its ceiling, and at most on one round of each.
	rounds := o.rounds
	bd.duration = max(o.duration/time.Duration(rounds), 100*time.Millisecond)
	var plainSrv *plainServer // the plain phases' server, once started
	measure := func(phases ...phase) {
		phases = slices.DeleteFunc(phases, func(ph phase) bool { return !o.runs(ph.name) })
		for round := range rounds {
			for _, ph := range phases {
				if ctx.Err() != nil {
					return
				}
				plain := strings.HasPrefix(ph.name, "plain ")
				var profiled <-chan error
				if round == 0 && o.serverProfs != "" && !plain {
					profiled = b.g.profile(ctx, filepath.Join(o.serverProfs, profileName(ph.name)), bd.duration)
				}
				// The CPU the serving process spent: unlike req/s, little
				// moved by other work on the machine.
				serverCPU := b.g.cpu
				if plain && plainSrv != nil {
					serverCPU = plainSrv.cpu
				}
				cpu0, err0 := serverCPU()
				own0, errOwn0 := ownCPU()
				r := closedLoop(ctx, ph.name, bd, ph.do)
				if cpu1, err1 := serverCPU(); err0 == nil && err1 == nil {
					r.serverCPU = cpu1 - cpu0
				}
				if own1, errOwn1 := ownCPU(); errOwn0 == nil && errOwn1 == nil {
					r.loadCPU = own1 - own0
				}
				if profiled != nil {
					if err := <-profiled; err != nil {
						b.logf("  %s: server profile: %v", ph.name, err)
					}
				}
				best := rep.results[ph.name]
				switch {
				case best == nil:
					rep.results[ph.name] = r
				case r.rate() > best.rate():
					r.otherErrors = best.errors + best.otherErrors
					rep.results[ph.name] = r
				default:
					best.otherErrors += r.errors
				}
				if r.firstErr != nil {
					b.logf("  %s: %d errors, the first: %v", ph.name, r.errors, r.firstErr)
				}
			}
		}
		for _, ph := range phases {
			if r := rep.results[ph.name]; r != nil {
				b.logf("%s: %.0f/s", ph.name, r.rate())
			}
		}
	}

	// A real token response gives the claims the plain server signs, and
	// an access token for userinfo and introspection.
	g, err := b.codes(ctx, b.rpES, "openid email profile", 1)
	if err != nil {
		return nil, fmt.Errorf("code: %w", err)
	}
	tok, err := s.exchange(ctx, hc, g[0].f, g[0].code)
	if err != nil {
		return nil, err
	}
	if b.claims, err = jwtPayload(tok.IDToken); err != nil {
		return nil, err
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		t, err := signTime(alg, b.claims, 10)
		if err != nil {
			return nil, err
		}
		rep.tSign = append(rep.tSign, t)
	}

	// The plain server, with the bytes Gatehouse serves.
	for name, path := range map[string]string{"discovery.json": "/.well-known/openid-configuration", "jwks.json": "/keys"} {
		resp, err := hc.Get(s.base + path)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(filepath.Join(filepath.Dir(b.g.log.Name()), name), body, 0o600); err != nil {
			return nil, err
		}
	}
	dir := filepath.Dir(b.g.log.Name())
	if err := os.WriteFile(filepath.Join(dir, "claims.json"), b.claims, 0o600); err != nil {
		return nil, err
	}
	plain, err := startPlain(dir)
	if err != nil {
		return nil, err
	}
	defer plain.stop()
	plainSrv = plain
	tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {redirectURI}}
	cc := url.Values{"grant_type": {"client_credentials"}}
	measure(phase{"plain discovery", get(hc, plain.base+"/discovery", nil)},
		phase{"discovery", get(hc, s.base+"/.well-known/openid-configuration", nil)})
	measure(phase{"plain JWKS", get(hc, plain.base+"/jwks", nil)},
		phase{"JWKS", get(hc, s.base+"/keys", nil)})
	// A JWT access token of client_credentials, to introspect.
	jwtTok, err := s.token(ctx, hc, b.ccES, cc)
	if err != nil {
		return nil, err
	}
	if strings.Count(jwtTok.AccessToken, ".") != 2 {
		return nil, fmt.Errorf("client_credentials of a jwt client gave %q, not a JWT", jwtTok.AccessToken)
	}
	measure(phase{"plain token ES256", postForm(hc, plain.base+"/token/ES256", client{}, tokenForm, `"id_token"`)},
		phase{"client_credentials ES256 JWT", postForm(hc, s.base+"/oauth/token", b.ccES, cc, `"access_token"`)},
		phase{"client_credentials opaque", postForm(hc, s.base+"/oauth/token", s.rp, cc, `"access_token"`)})
	measure(phase{"plain token RS256", postForm(hc, plain.base+"/token/RS256", client{}, tokenForm, `"id_token"`)},
		phase{"client_credentials RS256 JWT", postForm(hc, s.base+"/oauth/token", b.ccRS, cc, `"access_token"`)})
	measure(phase{"plain hello", get(hc, plain.base+"/hello", nil)},
		phase{"userinfo", get(hc, s.base+"/userinfo", http.Header{"Authorization": {"Bearer " + tok.AccessToken}})},
		phase{"introspection of a JWT", postForm(hc, s.base+"/oauth/introspect", b.ccES, url.Values{"token": {jwtTok.AccessToken}}, `"active":true`)},
		phase{"introspection of an opaque token", postForm(hc, s.base+"/oauth/introspect", b.rpES, url.Values{"token": {tok.AccessToken}}, `"active":true`)})

	// authorization_code: codes harvested just before (they live 60s).
	for _, c := range []struct {
		name string
		rp   client
		n    int
	}{{"authorization_code ES256", b.rpES, 3000}, {"authorization_code RS256", s.rp, 1500}} {
		if !o.runs(c.name) {
			continue
		}
		// As many codes as the phase may use at client_credentials' pace,
		// within the request budget.
		// (All of them when -phases left client_credentials out.)
		pace := rep.rate("client_credentials opaque")
		if pace == 0 {
			pace = math.Inf(1)
		}
		n := int(min(float64(c.n), float64(o.maxRequests), 1.5*pace*o.duration.Seconds()+float64(o.concurrency)))
		b.logf("harvesting %d codes", n)
		grants, err := b.codes(ctx, c.rp, "openid email profile", n)
		if err != nil {
			return nil, fmt.Errorf("codes: %w", err)
		}
		measure(phase{c.name, b.exchanges(hc, grants)})
	}

	// refresh_token: one rotating chain per connection.
	if o.runs("refresh_token (rotation) ES256") {
		refresh, err := b.refreshChains(ctx, hc, o.concurrency)
		if err != nil {
			return nil, err
		}
		measure(phase{"refresh_token (rotation) ES256", refresh})
	}

	// Full sign-ins, each in a fresh browser, spread over 127.0.0.0/8.
	transports := make([]http.RoundTripper, max(o.signinConc, 1))
	for i := range transports {
		transports[i] = newTransport(4, net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)))
	}
	var pwdMu sync.Mutex
	var pwdLat []time.Duration
	signIn := func(record bool) op {
		return func(ctx context.Context, w int) error {
			d, err := s.fullSignIn(ctx, transports[w%len(transports)], b.pool)
			if record && err == nil {
				pwdMu.Lock()
				pwdLat = append(pwdLat, d)
				pwdMu.Unlock()
			}
			return err
		}
	}
	if o.signins > 0 {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		var profiled <-chan error
		if o.serverProfs != "" {
			// Its length is not known before: the first 3 s of it.
			profiled = b.g.profile(ctx, filepath.Join(o.serverProfs, profileName("full sign-ins")), 3*time.Second)
		}
		cpu := b.g.cpuWindow()
		r := closedLoop(ctx, "full sign-ins", bounds{duration: 30 * time.Second, maxRequests: o.signins, concurrency: o.signinConc}, signIn(false))
		if profiled != nil {
			if err := <-profiled; err != nil {
				b.logf("  full sign-ins: server profile: %v", err)
			}
		}
		rep.signinCPU = cpu.end()
		if err := stopProfile(); err != nil {
			return nil, err
		}
		b.logf("full sign-ins: %d in %v", r.requests, r.elapsed.Round(time.Millisecond))
		if r.firstErr != nil {
			b.logf("  %d errors, the first: %v", r.errors, r.firstErr)
		}
		rep.results[r.name] = r
		if o.pacedFor > 0 && r.rate() > 0 {
			rate := 0.7 * r.rate()
			if o.pacedRate > 0 {
				rate = o.pacedRate
				b.logf("sign-ins at the rate asked (%.1f/s) for %v", rate, o.pacedFor)
			} else {
				b.logf("sign-ins at 70%% of that rate (%.1f/s) for %v", rate, o.pacedFor)
			}
			cpu := b.g.cpuWindow()
			p := paced(ctx, "sign-ins at 70% load", rate, o.pacedFor, 4*len(transports), signIn(true))
			rep.pacedCPU = cpu.end()
			if p.firstErr != nil {
				b.logf("  %d errors, the first: %v", p.errors, p.firstErr)
			}
			rep.results[p.name] = p
			rep.pwdPaced = pwdLat
		}
	}
	return rep, nil
}
