package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// errNoWork ends a worker early: its scenario has nothing left to send
// (its pool of codes or users is empty).
var errNoWork = errors.New("no work left")

// result is what one scenario measured.
type result struct {
	name     string
	requests int // completed operations, errors included
	errors   int
	// otherErrors are the errors of the rounds not kept.
	otherErrors int
	elapsed     time.Duration
	lat         []time.Duration // latencies of the successful operations
	firstErr    error
	// serverCPU is the CPU time the serving process spent during the
	// phase, where it was read.
	serverCPU time.Duration
	// loadCPU is the CPU time the load generator itself spent during the
	// phase, where it was read.
	loadCPU time.Duration
}

// rate is the successful operations per second.
func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests-r.errors) / r.elapsed.Seconds()
}

// percentile returns the p-th percentile (0 < p ≤ 100) of the latencies,
// by the nearest-rank method.
func (r *result) percentile(p float64) time.Duration {
	return percentile(r.lat, p)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// bounds limits a scenario in time and in operations.
type bounds struct {
	duration    time.Duration
	maxRequests int
	concurrency int
}

// op is one operation of a scenario, run by worker w. It returns
// errNoWork when there is nothing left to do.
type op func(ctx context.Context, w int) error

// closedLoop runs op from b.concurrency workers back to back until the
// duration or the request budget is spent.
func closedLoop(ctx context.Context, name string, b bounds, do op) *result {
	ctx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	var issued atomic.Int64
	var mu sync.Mutex
	res := &result{name: name}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range b.concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			var n, errs int
			var first error
			for ctx.Err() == nil && issued.Add(1) <= int64(b.maxRequests) {
				t0 := time.Now()
				err := do(ctx, w)
				if errors.Is(err, errNoWork) {
					break
				}
				if ctx.Err() != nil {
					break // cut off by the deadline: not counted
				}
				n++
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.requests += n
			res.errors += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}

// paced starts op at a fixed rate (open loop: a slow answer does not delay
// the next start) for d, and measures each operation's latency.
func paced(ctx context.Context, name string, perSecond float64, d time.Duration, maxInFlight int, do op) *result {
	res := &result{name: name}
	if perSecond <= 0 {
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second) // let the last ones finish
	defer cancel()
	interval := time.Duration(float64(time.Second) / perSecond)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan int, maxInFlight)
	for i := range maxInFlight {
		sem <- i
	}
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		var w int
		select {
		case w = <-sem:
		default:
			mu.Lock()
			res.requests++
			res.errors++
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("more than %d operations in flight", maxInFlight)
			}
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { sem <- w }()
			t0 := time.Now()
			err := do(ctx, w)
			if errors.Is(err, errNoWork) {
				return
			}
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			res.requests++
			if err != nil {
				res.errors++
				if res.firstErr == nil {
					res.firstErr = err
				}
				return
			}
			res.lat = append(res.lat, lat)
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}

// newTransport returns a keep-alive transport for up to n connections,
// dialling from localIP when it is set (spreads clients over 127.0.0.0/8).
func newTransport(n int, localIP net.IP) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: localIP}
	}
	return &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		MaxConnsPerHost:     n,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

// drain reads and closes a response body so its connection is reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
