package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func figures(rates map[string]float64) map[string]*result {
	m := map[string]*result{}
	for name, rate := range rates {
		m[name] = &result{name: name, requests: int(rate), elapsed: time.Second, lat: []time.Duration{time.Millisecond}}
	}
	return m
}

// TestBaselineNormalised checks the comparison with an earlier run: raw,
// and each figure over its own run's ceiling, which is what the verdict
// judges; and that the figures a run saves carry its computed ceilings.
func TestBaselineNormalised(t *testing.T) {
	r := &report{tHash: 20 * time.Millisecond, tSign: []time.Duration{2 * time.Millisecond, 40 * time.Microsecond},
		results: figures(map[string]float64{"plain hello": 40000, "userinfo": 10000,
			"plain token ES256": 10000, "authorization_code ES256": 2000, "client_credentials RS256 JWT": 500}),
		baseline: map[string]float64{"plain hello": 20000, "userinfo": 8000,
			"plain token ES256": 5000, "authorization_code ES256": 1000, "client_credentials RS256 JWT": 800}}
	var out bytes.Buffer
	r.print(&out)
	rows := map[string][]string{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) > 13 {
			rows[cells[1]] = cells[1:]
		}
	}
	tests := []struct {
		name, raw, normalised string
	}{
		{"userinfo", "1.25", "0.62 SHORT"},                 // 0.25 of hello against 0.40
		{"authorization_code ES256", "2.00", "1.00 met"},   // 0.20 of plain ES256 against 0.20
		{"client_credentials RS256 JWT", "0.62 SHORT", ""}, // the baseline has no RS256 ceiling
	}
	for _, tt := range tests {
		r, ok := rows[tt.name]
		if !ok {
			t.Fatalf("no row %q in\n%s", tt.name, out.String())
		}
		if r[11] != tt.raw || r[12] != tt.normalised {
			t.Errorf("%s: vs baseline %q, normalised %q; want %q, %q", tt.name, r[11], r[12], tt.raw, tt.normalised)
		}
	}

	// The RS256 phases against the plain RS256 handler: 500/s of 800/s,
	// which did 800 × 2 ms / CPUs of its ceiling.
	cpus := float64(runtime.NumCPU())
	r.results["plain token RS256"] = &result{requests: 800, elapsed: time.Second}
	out.Reset()
	r.print(&out)
	want := fmt.Sprintf("The RS256 phases reached 0.00 (authorization_code) and 0.62 (client_credentials) of the plain handler signing RS256 (800/s), which itself reached %.2f of CPUs / t_sign.", 1.6/cpus)
	if !strings.Contains(out.String(), want) {
		t.Errorf("no line %q in\n%s", want, out.String())
	}

	path := filepath.Join(t.TempDir(), "figures.json")
	if err := r.writeFigures(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m[rsCeilKey] != 1000 || m[hashCeilKey] == 0 || m["userinfo"] != 10000 {
		t.Errorf("saved figures %v: want the RS256 ceiling 1000/s, the hash ceiling and userinfo", m)
	}
}

// TestProcCPU reads utime and stime from a /proc/PID/stat line whose
// command name holds spaces and parentheses.
func TestProcCPU(t *testing.T) {
	line := "4242 (gate house) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0\n"
	got, err := procCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("procCPU = %v, want %v (325 ticks)", got, want)
	}
	if _, err := procCPU("4242 (short) S 1"); err == nil {
		t.Error("procCPU of a short line: no error")
	}
}

// TestSigninCPULine checks the line that splits a sign-in's CPU between
// the server and the load generator.
func TestSigninCPULine(t *testing.T) {
	r := &report{tHash: 20 * time.Millisecond, results: map[string]*result{
		"full sign-ins": {name: "full sign-ins", requests: 100, elapsed: 2 * time.Second, lat: []time.Duration{time.Millisecond}},
	}, hashRate: 90, signinCPU: phaseCPU{2500 * time.Millisecond, 1000 * time.Millisecond, 0.02},
		pacedCPU: phaseCPU{others: 0.31}, pwdPaced: []time.Duration{30 * time.Millisecond}}
	var out bytes.Buffer
	r.print(&out)
	for _, want := range []string{
		fmt.Sprintf("CPU per full sign-in: the server 25.00 ms, the load generator 10.00 ms (t_hash 20.00 ms); the CPUs were %.0f %% busy with both.",
			100*3.5/2/float64(runtime.NumCPU())),
		"Other processes took 2 % of the CPUs during the full sign-ins and 31 % during the paced phase;",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// Unknown (not Linux, or the server gone): no line.
	r.pacedCPU.others = -1
	out.Reset()
	r.print(&out)
	if strings.Contains(out.String(), "Other processes") {
		t.Errorf("report with the others' share unknown has its line:\n%s", out.String())
	}
}

// TestStatCPU reads the machine's busy time from /proc/stat's first line:
// user, nice, system, irq, softirq and steal, not idle or iowait.
func TestStatCPU(t *testing.T) {
	got, err := statCPU("cpu  100 20 30 5000 400 6 7 8 0 0\ncpu0 50 10 15 2500 200 3 3 4 0 0\n")
	if want := 171 * 10 * time.Millisecond; err != nil || got != want {
		t.Errorf("statCPU = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8 9"} {
		if _, err := statCPU(bad); err == nil {
			t.Errorf("statCPU(%q): no error", bad)
		}
	}
	if _, err := machineCPU(); err != nil {
		t.Errorf("machineCPU on this machine: %v", err)
	}
}
