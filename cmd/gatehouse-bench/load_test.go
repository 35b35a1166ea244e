package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, x := range n {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p95 of 10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

// TestClosedLoopBounds checks that a phase stops at its request budget and
// at its deadline, and counts errors apart from latencies.
func TestClosedLoopBounds(t *testing.T) {
	var calls atomic.Int64
	r := closedLoop(context.Background(), "budget", bounds{duration: time.Minute, maxRequests: 50, concurrency: 4},
		func(context.Context, int) error {
			if calls.Add(1)%5 == 0 {
				return errors.New("every fifth fails")
			}
			return nil
		})
	if r.requests != 50 || calls.Load() != 50 || r.errors != 10 || len(r.lat) != 40 {
		t.Errorf("budget of 50: %d requests, %d calls, %d errors, %d latencies; want 50, 50, 10, 40",
			r.requests, calls.Load(), r.errors, len(r.lat))
	}

	start := time.Now()
	r = closedLoop(context.Background(), "deadline", bounds{duration: 200 * time.Millisecond, maxRequests: 1 << 30, concurrency: 2},
		func(ctx context.Context, _ int) error {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			return nil
		})
	if d := time.Since(start); d > 2*time.Second || r.requests == 0 || r.requests > 60 {
		t.Errorf("200ms phase took %v with %d requests", d, r.requests)
	}

	r = closedLoop(context.Background(), "no work", bounds{duration: time.Minute, maxRequests: 100, concurrency: 3},
		func(context.Context, int) error { return errNoWork })
	if r.requests != 0 || r.errors != 0 {
		t.Errorf("a phase without work counted %d requests, %d errors", r.requests, r.errors)
	}
}
