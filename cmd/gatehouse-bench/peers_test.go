package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInterleave checks the order of the rounds: every phase in turn, and
// within it round after round, each provider in turn.
func TestInterleave(t *testing.T) {
	phases := []peerPhase{{name: "discovery"}, {name: "JWKS"}}
	var got []string
	interleave(context.Background(), 2, phases, []string{"G", "Z", "O"}, func(ph peerPhase, p string, round int) {
		got = append(got, fmt.Sprintf("%s %s%d", ph.name, p, round))
	})
	want := []string{
		"discovery G0", "discovery Z0", "discovery O0", "discovery G1", "discovery Z1", "discovery O1",
		"JWKS G0", "JWKS Z0", "JWKS O0", "JWKS G1", "JWKS Z1", "JWKS O1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}

	// A cancelled run stops before the next round.
	ctx, cancel := context.WithCancel(context.Background())
	got = nil
	interleave(ctx, 3, phases, []string{"G", "Z"}, func(ph peerPhase, p string, round int) {
		got = append(got, p)
		if len(got) == 3 {
			cancel()
		}
	})
	if len(got) != 3 {
		t.Errorf("after cancel: %d rounds ran, want 3", len(got))
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	in := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	if got := median(in); got != 2*time.Millisecond {
		t.Errorf("median of durations = %v, want 2ms", got)
	}
	if in[0] != 3*time.Millisecond {
		t.Error("median sorted its argument")
	}
}

// fakeResult is a round of n successful requests in one second, errs
// more failed, each of the successful ones taking lat.
func fakeResult(n, errs int, lat time.Duration) *result {
	r := &result{requests: n + errs, errors: errs, elapsed: time.Second}
	for range n {
		r.lat = append(r.lat, lat)
	}
	return r
}

func fakeTable() *peerTable {
	t := &peerTable{
		machine: "2 CPUs", rounds: 3, round: 6 * time.Second, warmup: 2 * time.Second, conc: 16, signConc: 4,
		phases: []string{"discovery", "sign-in"},
		providers: []peerInfo{
			{name: "Gatehouse", version: "v1", stores: "durable: SQLite", signs: "argon2id", idleRSS: 40 << 20, afterRSS: 42 << 20, peakRSS: 100 << 20},
			{name: "zitadel example", version: "v3", stores: "in memory", signs: "plain text", idleRSS: 12 << 20, afterRSS: 242 << 20, peakRSS: 250 << 20},
			{name: "oidc-provider", version: "9", stores: "in memory (LRU)", signs: "no password"},
		},
		results: map[peerCell][]*result{},
		na:      map[peerCell]string{{"sign-in", "oidc-provider"}: "no login form"},
	}
	// Rounds where the machine slowed everyone down in round 2: the
	// ratios of each round are 0.5, 0.5, 0.5 for the zitadel example.
	for i, g := range []int{1000, 400, 900} {
		t.add("discovery", "Gatehouse", fakeResult(g, 0, time.Duration(i+1)*time.Millisecond))
		t.add("discovery", "zitadel example", fakeResult(g/2, 0, 2*time.Millisecond))
		t.add("discovery", "oidc-provider", fakeResult(g/4, 0, 4*time.Millisecond))
		t.add("sign-in", "Gatehouse", fakeResult(50, 1, 80*time.Millisecond))
		t.add("sign-in", "zitadel example", fakeResult(500, 0, 9*time.Millisecond))
	}
	return t
}

func TestPeerTableFigures(t *testing.T) {
	tb := fakeTable()
	g, z := peerCell{"discovery", "Gatehouse"}, peerCell{"discovery", "zitadel example"}
	if got := tb.rate(g); got != 900 {
		t.Errorf("median req/s = %v, want 900", got)
	}
	if got := tb.p99(g); got != 2*time.Millisecond {
		t.Errorf("median p99 = %v, want 2ms", got)
	}
	// The median of the rounds' ratios, not the ratio of the medians
	// (450 / 900 happens to agree here; 200/400 in round 2 counts as 0.5).
	if got, ok := tb.ratio(z); !ok || got != 0.5 {
		t.Errorf("ratio = %v, %v; want 0.5", got, ok)
	}
	if _, ok := tb.ratio(peerCell{"sign-in", "oidc-provider"}); ok {
		t.Error("a ratio for a phase without rounds")
	}
	if errs, n := tb.errorCount(peerCell{"sign-in", "Gatehouse"}); errs != 3 || n != 153 {
		t.Errorf("errors %d of %d, want 3 of 153", errs, n)
	}
}

func TestPeerTablePrint(t *testing.T) {
	var buf bytes.Buffer
	fakeTable().print(&buf)
	out := buf.String()
	for _, want := range []string{
		"Gatehouse v1; zitadel example v3; oidc-provider 9. Each phase ran in 3 interleaved rounds of 6s on each server in turn, after 2s of warm-up",
		"| phase | Gatehouse req/s | p99 ms | zitadel example req/s | p99 ms | × Gatehouse | oidc-provider req/s | p99 ms | × Gatehouse |\n",
		"|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
		"| discovery | 900 | 2.00 | 450 | 2.00 | 0.50 | 225 | 4.00 | 0.25 |\n",
		"| sign-in | 50.0* | 80.00 | 500 | 9.00 | 10.00 | n/a |  |  |\n",
		"| RSS: idle after start / after the run / peak | 40 / 42 / 100 MiB | | 12 / 242 / 250 MiB | | | — / — / — MiB | | |\n",
		"| stores | durable: SQLite | | in memory | | | in memory (LRU) | | |\n",
		"- zitadel example: plain text.\n",
		"- oidc-provider, sign-in: n/a: no login form\n",
		"- Gatehouse, sign-in: 3 errors in 153 requests\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	// Every row of the table has as many cells as its header.
	var cols int
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		n := strings.Count(line, "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("%d cells, the header has %d: %s", n-1, cols-1, line)
		}
	}
}

func TestParsePeerOptions(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err := parsePeerOptions([]string{"-gatehouse", bin, "-peers", "oidc-provider, zitadel,oidc-provider"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{peerOIDCProvider, peerZitadel}; !slices.Equal(o.peers, want) {
		t.Errorf("peers %q, want %q", o.peers, want)
	}
	for _, args := range [][]string{
		{"-gatehouse", bin, "-peers", "keycloak"},
		{"-gatehouse", bin, "-rounds", "0"},
		{"-gatehouse", bin, "-round", "2h"},
		{"-gatehouse", filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := parsePeerOptions(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
