package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report holds a run's figures and prints them against their ceilings.
type report struct {
	machine, database string
	tHash             time.Duration   // one argon2id hash, one core
	hashRate          float64         // argon2id hashes/s with one hash per CPU at once
	tSign             []time.Duration // one RS256 and one ES256 signature, one core
	idleRSS           int64
	afterRSS          int64
	peakRSS           int64
	results           map[string]*result
	pwdPaced          []time.Duration // password step latencies at 70% load
	// signinCPU and pacedCPU are the CPU the server, the load generator
	// and other processes used over the full sign-in phase and the paced
	// one.
	signinCPU, pacedCPU phaseCPU
	baseline            map[string]float64 // req/s of an earlier run, by row
}

// row is a line of the table: a measured phase, its ceiling and target.
type row struct {
	name    string
	ceiling string  // what the ratio divides by
	per     float64 // the ceiling's req/s (0: no ratio)
	target  float64 // least ratio wanted (0: none)
	ceilKey string  // the ceiling's name among the figures (writeFigures)
}

// The computed ceilings' names among the figures.
const (
	hashCeilKey = "ceiling: argon2id, CPUs / t_hash"
	rsCeilKey   = "ceiling: RS256, CPUs / t_sign"
)

func (r *report) rate(name string) float64 {
	if res := r.results[name]; res != nil {
		return res.rate()
	}
	return 0
}

func (r *report) rows() []row {
	cpus := float64(runtime.NumCPU())
	hashCeil := cpus / r.tHash.Seconds()
	var rsCeil float64
	if len(r.tSign) == 2 && r.tSign[0] > 0 {
		rsCeil = cpus / r.tSign[0].Seconds()
	}
	hello := r.rate("plain hello")
	esPlain := r.rate("plain token ES256")
	cc := r.rate("client_credentials ES256 JWT")
	const es, hl = "plain token ES256", "plain hello"
	return []row{
		{"full sign-ins", "argon2id: CPUs / t_hash", hashCeil, 0.6, hashCeilKey},
		{"authorization_code ES256", "plain handler signing ES256", esPlain, 0.5, es},
		{"client_credentials ES256 JWT", "plain handler signing ES256", esPlain, 0.5, es},
		{"authorization_code RS256", "RS256: CPUs / t_sign", rsCeil, 0.8, rsCeilKey},
		{"client_credentials RS256 JWT", "RS256: CPUs / t_sign", rsCeil, 0.8, rsCeilKey},
		{"client_credentials opaque", "plain hello handler", hello, 0, hl},
		{"refresh_token (rotation) ES256", "client_credentials ES256 JWT figure", cc, 0.3, "client_credentials ES256 JWT"},
		{"discovery", "plain handler, same bytes", r.rate("plain discovery"), 0.8, "plain discovery"},
		{"JWKS", "plain handler, same bytes", r.rate("plain JWKS"), 0.8, "plain JWKS"},
		{"introspection of a JWT", "plain hello handler", hello, 0.5, hl},
		{"introspection of an opaque token", "plain hello handler", hello, 0, hl},
		{"userinfo", "plain hello handler", hello, 0, hl},
		{"plain hello", "", 0, 0, ""},
		{"plain discovery", "plain hello handler", hello, 0, hl},
		{"plain JWKS", "plain hello handler", hello, 0, hl},
		{"plain token ES256", "plain hello handler", hello, 0, hl},
		{"plain token RS256", "RS256: CPUs / t_sign", rsCeil, 0, rsCeilKey},
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func verdict(ratio, target float64, atMost bool) string {
	switch {
	case target == 0:
		return ""
	case atMost && ratio <= target, !atMost && ratio >= target:
		return "met"
	default:
		return "SHORT"
	}
}

// print writes the table, in Markdown.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nGatehouse bench — %s, %s, %s\n\n", r.database, r.machine, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Ceilings measured in this run: argon2id (OWASP: 19 MiB, t=2, p=1) %s ms per hash → %.0f hashes/s on %d CPUs;",
		ms(r.tHash), float64(runtime.NumCPU())/r.tHash.Seconds(), runtime.NumCPU())
	if r.hashRate > 0 {
		fmt.Fprintf(w, " with %d hashes at once the machine did %.0f/s (%.2f of that);", runtime.NumCPU(), r.hashRate,
			r.hashRate*r.tHash.Seconds()/float64(runtime.NumCPU()))
	}
	if len(r.tSign) == 2 {
		fmt.Fprintf(w, " RS256 (%d-bit) %s ms and ES256 %s ms per signature.", rsaBits, ms(r.tSign[0]), ms(r.tSign[1]))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	header := "| phase | req/s | p50 ms | p95 ms | p99 ms | errors | ceiling | ratio | target | |"
	sep := "|---|--:|--:|--:|--:|--:|---|--:|--:|---|"
	if r.baseline != nil {
		header += " baseline req/s | vs baseline | vs baseline, each over its own run's ceiling (≥ 0.7) |"
		sep += "--:|--:|--:|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	for _, x := range r.rows() {
		res := r.results[x.name]
		if res == nil {
			continue
		}
		rate := res.rate()
		ratio, ceiling, target := "", x.ceiling, ""
		if x.per > 0 {
			ratio = fmt.Sprintf("%.2f", rate/x.per)
			ceiling = fmt.Sprintf("%s (%.0f/s)", x.ceiling, x.per)
		}
		v := ""
		if x.target > 0 {
			target = fmt.Sprintf("≥ %.1f", x.target)
			if x.per > 0 {
				v = verdict(rate/x.per, x.target, false)
			}
		}
		line := fmt.Sprintf("| %s | %.0f | %s | %s | %s | %d | %s | %s | %s | %s |", x.name, rate,
			ms(res.percentile(50)), ms(res.percentile(95)), ms(res.percentile(99)), res.errors+res.otherErrors, ceiling, ratio, target, v)
		if r.baseline != nil {
			base, baseCeil := r.baseline[x.name], r.baseline[x.ceilKey]
			switch {
			case base > 0 && x.per > 0 && baseCeil > 0:
				n := (rate / x.per) / (base / baseCeil)
				line += fmt.Sprintf(" %.0f | %.2f | %.2f %s |", base, rate/base, n, verdict(n, 0.7, false))
			case base > 0:
				line += fmt.Sprintf(" %.0f | %.2f %s | |", base, rate/base, verdict(rate/base, 0.7, false))
			default:
				line += " | | |"
			}
		}
		fmt.Fprintln(w, line)
	}
	if p := r.results["sign-ins at 70% load"]; p != nil {
		slices.Sort(r.pwdPaced)
		p99 := percentile(r.pwdPaced, 99)
		ratio := p99.Seconds() / r.tHash.Seconds()
		fmt.Fprintf(w, "| password step at 70%% load (%.1f sign-ins/s) | %.1f | %s | %s | %s | %d | t_hash (%s ms) | %.2f (p99) | ≤ 4.0 | %s |\n",
			p.rate(), p.rate(), ms(percentile(r.pwdPaced, 50)), ms(percentile(r.pwdPaced, 95)), ms(p99), p.errors, ms(r.tHash),
			ratio, verdict(ratio, 4, true))
	}
	fmt.Fprintln(w)
	r.printServerCPU(w)
	if s := r.results["full sign-ins"]; s != nil && r.hashRate > 0 {
		fmt.Fprintf(w, "Full sign-ins reached %.2f of the argon2id hashes/s measured with %d hashes at once (%.0f/s).\n",
			s.rate()/r.hashRate, runtime.NumCPU(), r.hashRate)
	}
	if s := r.results["full sign-ins"]; s != nil && s.requests > 0 && r.signinCPU.server > 0 {
		n := time.Duration(s.requests)
		fmt.Fprintf(w, "CPU per full sign-in: the server %s ms, the load generator %s ms (t_hash %s ms); the CPUs were %.0f %% busy with both.\n",
			ms(r.signinCPU.server/n), ms(r.signinCPU.bench/n), ms(r.tHash),
			100*(r.signinCPU.server+r.signinCPU.bench).Seconds()/s.elapsed.Seconds()/float64(runtime.NumCPU()))
	}
	if r.signinCPU.others >= 0 && r.pacedCPU.others >= 0 && len(r.pwdPaced) > 0 {
		// The paced rate is 70 % of the rate the full sign-ins reached:
		// other work that comes or goes between the two phases changes
		// the load the paced phase really puts on the server.
		fmt.Fprintf(w, "Other processes took %.0f %% of the CPUs during the full sign-ins and %.0f %% during the paced phase; the password step's p99 compares across runs only where both are near 0.\n",
			100*r.signinCPU.others, 100*r.pacedCPU.others)
	}
	if rs := r.rate("plain token RS256"); rs > 0 && len(r.tSign) == 2 && r.tSign[0] > 0 {
		// t_sign is one core's best, and the plain handler shares the
		// CPUs with its load generator: what it reaches is what an RS256
		// phase can.
		fmt.Fprintf(w, "The RS256 phases reached %.2f (authorization_code) and %.2f (client_credentials) of the plain handler signing RS256 (%.0f/s), which itself reached %.2f of CPUs / t_sign.\n",
			r.rate("authorization_code RS256")/rs, r.rate("client_credentials RS256 JWT")/rs, rs,
			rs*r.tSign[0].Seconds()/float64(runtime.NumCPU()))
	}
	tokens := 0
	for name, res := range r.results {
		if !strings.HasPrefix(name, "plain") && (strings.Contains(name, "_") || strings.Contains(name, "sign-ins")) {
			tokens += res.requests - res.errors
		}
	}
	fmt.Fprintf(w, "Server RSS: %s idle after start (target ≤ 50 MiB: %s); %s after the run (%d token responses), %s at its peak.\n",
		mib(r.idleRSS), verdict(float64(r.idleRSS)/(1<<20), 50, true), mib(r.afterRSS), tokens, mib(r.peakRSS))
	fmt.Fprintln(w, "Ratios divide by ceilings measured in the same run on the same machine: phases and their plain handlers run in interleaved rounds, each keeping its best round (errors: all rounds), and t_hash and t_sign are the fastest of several. The load generator shares the CPUs with the server, as it does with the plain handlers.")
	if r.baseline != nil {
		fmt.Fprintln(w, "Against the baseline, a run made at another time on a machine that may have been busier or quieter: \"vs baseline\" divides the req/s; the last column divides each figure's ratio to its ceiling in this run by the same ratio in the baseline's run, which leaves out what the machine's load did to both.")
	}
}

// writeFigures saves each phase's req/s as JSON, for -baseline.
func (r *report) writeFigures(path string) error {
	m := map[string]float64{}
	for name, res := range r.results {
		m[name] = res.rate()
	}
	// The computed ceilings, so that a later run (-baseline) can set each
	// figure against its own run's ceiling.
	for _, x := range r.rows() {
		if strings.HasPrefix(x.ceilKey, "ceiling: ") && x.per > 0 {
			m[x.ceilKey] = x.per
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readFigures(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-baseline: %w", err)
	}
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("-baseline %s: %w", path, err)
	}
	return m, nil
}

// printServerCPU prints the CPU time the serving process spent per
// request of each throughput phase (its best round), and its ratio to
// plain hello's: unlike req/s, it counts neither the load generator nor
// other work on the machine, so that two binaries compare on it even on a
// busy machine.
func (r *report) printServerCPU(w io.Writer) {
	perRequest := func(name string) (time.Duration, bool) {
		res := r.results[name]
		if res == nil || res.serverCPU <= 0 || res.requests == 0 {
			return 0, false
		}
		return res.serverCPU / time.Duration(res.requests), true
	}
	hello, ok := perRequest("plain hello")
	if !ok {
		return
	}
	var parts []string
	for _, x := range r.rows() {
		if c, ok := perRequest(x.name); ok && x.name != "full sign-ins" {
			parts = append(parts, fmt.Sprintf("%s %.0f (%.1f×)", x.name, float64(c.Microseconds()), c.Seconds()/hello.Seconds()))
		}
	}
	fmt.Fprintf(w, "Server CPU per request, µs (× plain hello's %.0f): %s.\n", float64(hello.Microseconds()), strings.Join(parts, "; "))
	parts = parts[:0]
	for _, x := range r.rows() {
		if res := r.results[x.name]; res != nil && res.loadCPU > 0 && res.requests > 0 && x.name != "full sign-ins" {
			parts = append(parts, fmt.Sprintf("%s %.0f", x.name, float64((res.loadCPU/time.Duration(res.requests)).Microseconds())))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "Load generator CPU per request, µs (it shares the CPUs: a ratio of req/s counts it too): %s.\n", strings.Join(parts, "; "))
	}
}
