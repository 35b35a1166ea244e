package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// peerCell names a phase measured on one provider.
type peerCell struct {
	phase, provider string
}

// peerInfo is what the table says of a provider besides its figures.
type peerInfo struct {
	name, version, stores, signs string
	idleRSS, afterRSS, peakRSS   int64
}

// peerTable holds the rounds of every phase on every provider; the first
// provider is the one the others are compared with.
type peerTable struct {
	machine        string
	rounds         int
	round, warmup  time.Duration
	conc, signConc int
	phases         []string
	providers      []peerInfo
	results        map[peerCell][]*result // each round's, in order
	na             map[peerCell]string    // why a phase could not run
	notes          []string
}

// add records a round of phase on provider.
func (t *peerTable) add(phase, provider string, r *result) {
	c := peerCell{phase, provider}
	t.results[c] = append(t.results[c], r)
}

// median returns the median of xs (the mean of the middle two of an even
// count), or 0 for none.
func median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// rate is the median over the rounds of c's req/s.
func (t *peerTable) rate(c peerCell) float64 {
	var xs []float64
	for _, r := range t.results[c] {
		xs = append(xs, r.rate())
	}
	return median(xs)
}

// p99 is the median over the rounds of c's 99th percentile.
func (t *peerTable) p99(c peerCell) time.Duration {
	var xs []time.Duration
	for _, r := range t.results[c] {
		xs = append(xs, r.percentile(99))
	}
	return median(xs)
}

// ratio is the median over the rounds of c's req/s divided by the first
// provider's in the same round: the rounds of one phase follow each other,
// so each ratio is taken on a machine in about the same state.
func (t *peerTable) ratio(c peerCell) (float64, bool) {
	ref := t.results[peerCell{c.phase, t.providers[0].name}]
	rs := t.results[c]
	var xs []float64
	for i := range min(len(ref), len(rs)) {
		if base := ref[i].rate(); base > 0 {
			xs = append(xs, rs[i].rate()/base)
		}
	}
	return median(xs), len(xs) > 0
}

// errorCount counts c's errors and requests over all rounds.
func (t *peerTable) errorCount(c peerCell) (errs, requests int) {
	for _, r := range t.results[c] {
		errs += r.errors
		requests += r.requests
	}
	return errs, requests
}

func perSecond(x float64) string {
	if x < 100 {
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

// print writes the table, in Markdown, and the notes under it.
func (t *peerTable) print(w io.Writer) {
	fmt.Fprintf(w, "\nGatehouse and its peers — %s, %s\n\n", t.machine, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	var names []string
	for _, p := range t.providers {
		names = append(names, p.name+" "+p.version)
	}
	fmt.Fprintf(w, "%s. Each phase ran in %d interleaved rounds of %v on each server in turn, after %v of warm-up; the figures are the medians of the rounds. %d connections (sign-ins: %d browsers, each sign-in in a fresh one).\n\n",
		strings.Join(names, "; "), t.rounds, t.round, t.warmup, t.conc, t.signConc)

	header, sep := "| phase |", "|---|"
	for i, p := range t.providers {
		header += fmt.Sprintf(" %s req/s | p99 ms |", p.name)
		sep += "--:|--:|"
		if i > 0 {
			header += fmt.Sprintf(" × %s |", t.providers[0].name)
			sep += "--:|"
		}
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	var notes []string
	for _, ph := range t.phases {
		line := "| " + ph + " |"
		for i, p := range t.providers {
			c := peerCell{ph, p.name}
			cells := []string{"n/a", ""}
			if why, ok := t.na[c]; ok {
				notes = append(notes, fmt.Sprintf("%s, %s: n/a: %s", p.name, ph, why))
			} else if len(t.results[c]) > 0 {
				cells = []string{perSecond(t.rate(c)), ms(t.p99(c))}
				if errs, n := t.errorCount(c); errs > 0 {
					cells[0] += "*"
					notes = append(notes, fmt.Sprintf("%s, %s: %d errors in %d requests", p.name, ph, errs, n))
				}
			}
			if i > 0 {
				x, ok := t.ratio(c)
				cells = append(cells, "")
				if ok && cells[0] != "n/a" {
					cells[2] = fmt.Sprintf("%.2f", x)
				}
			}
			line += " " + strings.Join(cells, " | ") + " |"
		}
		fmt.Fprintln(w, line)
	}
	rss, stores := "| RSS: idle after start / after the run / peak |", "| stores |"
	for i, p := range t.providers {
		rss += fmt.Sprintf(" %s / %s / %s MiB | |", mibs(p.idleRSS), mibs(p.afterRSS), mibs(p.peakRSS))
		stores += " " + p.stores + " | |"
		if i > 0 {
			rss += " |"
			stores += " |"
		}
	}
	fmt.Fprintln(w, rss)
	fmt.Fprintln(w, stores)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "What each sign-in checks and signs:")
	for _, p := range t.providers {
		fmt.Fprintf(w, "- %s: %s.\n", p.name, p.signs)
	}
	notes = append(notes, t.notes...)
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "× %s: the median of each round's req/s divided by %s's in the same round. The load generator shares the machine with the servers, and all of them with whatever else runs there: the absolute figures move with that load, the ratios of interleaved rounds much less.\n",
		t.providers[0].name, t.providers[0].name)
}

// mibs formats a size in MiB, or "—" when it could not be read.
func mibs(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}
