package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Each replica compares its clock with the database's at start and every
// clockCheckInterval; further off than maxClockSkew, it reports not-ready
// (REL-03). Whatever the offset, the clock the server reads (clockCheck.follow)
// is its own less the last offset measured: every time it writes or
// compares — expiry of codes, blocks, sessions and tokens, TOTP windows —
// is by the database's clock, so replicas agree even when their clocks
// do not.
const (
	maxClockSkew       = 2 * time.Second
	clockCheckInterval = 30 * time.Second
)

// dbClock is implemented by stores whose database has a clock of its own
// (storage/postgres).
type dbClock interface {
	DBNow(ctx context.Context) (time.Time, error)
}

// clockSamples is how many round trips clockOffset measures: the shortest
// says the most.
const clockSamples = 3

// clockOffset returns how far now is ahead of the database's clock (negative
// when behind), measured at the middle of the shortest of clockSamples
// round trips. The database read its clock somewhere within the round
// trip, so the measure is uncertain by half of it: an offset within that
// is none. A round trip slowed by load (tens of milliseconds, a wait for
// a pooled connection included) would otherwise move the clock of a
// server whose database runs on the same clock by as much.
func clockOffset(ctx context.Context, db dbClock, now func() time.Time) (time.Duration, error) {
	var off, rtt time.Duration = 0, -1
	for range clockSamples {
		t0 := now()
		dbt, err := db.DBNow(ctx)
		t1 := now()
		if err != nil {
			return 0, err
		}
		if d := t1.Sub(t0); rtt < 0 || d < rtt {
			off, rtt = t0.Add(d/2).Sub(dbt), d
		}
	}
	if off.Abs() <= rtt/2 {
		return 0, nil
	}
	return off, nil
}

// clockCheck keeps the result of the last clock comparison.
type clockCheck struct {
	db     dbClock
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	offset time.Duration
	skewed bool

	// applied is the offset follow subtracts, in nanoseconds.
	applied atomic.Int64
}

// follow returns a clock that runs as base less the offset last measured,
// that is, by the database's clock. Without a database clock (c nil) it
// returns base.
func (c *clockCheck) follow(base func() time.Time) func() time.Time {
	if c == nil {
		return base
	}
	return func() time.Time { return base().Add(-time.Duration(c.applied.Load())) }
}

// startClockCheck compares the clocks (now is the replica's) at once and
// then every clockCheckInterval until ctx ends. It returns nil when the
// store has no clock of its own, or when a test build turns the check off
// to move the server's clock away from the database's on purpose.
func startClockCheck(ctx context.Context, store any, now func() time.Time, logger *slog.Logger) *clockCheck {
	db, ok := store.(dbClock)
	if !ok || skewCheckOff(os.Getenv) {
		return nil
	}
	c := &clockCheck{db: db, now: now, logger: logger}
	c.check(ctx, true)
	go every(ctx, clockCheckInterval, clockCheckInterval, func() { c.check(ctx, false) })
	return c
}

func (c *clockCheck) check(ctx context.Context, first bool) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	off, err := clockOffset(cctx, c.db, c.now)
	if err != nil {
		// The database is away: /readyz says so through its ping; keep the
		// last offset.
		c.logger.DebugContext(ctx, "clock check: database unreachable", "err", err)
		return
	}
	skewed := off > maxClockSkew || off < -maxClockSkew
	c.applied.Store(int64(off))
	c.mu.Lock()
	was := c.skewed
	c.offset, c.skewed = off, skewed
	c.mu.Unlock()
	switch {
	case skewed:
		c.logger.WarnContext(ctx, "clock skew: this replica's clock is off the database's; not ready until it is within the limit",
			"offset", off.Round(time.Millisecond).String(), "limit", maxClockSkew.String())
	case was:
		c.logger.InfoContext(ctx, "clock back in sync with the database", "offset", off.Round(time.Millisecond).String())
	case first:
		c.logger.InfoContext(ctx, "clock offset from the database", "offset", off.Round(time.Millisecond).String())
	}
}

// problem returns why the clock makes the replica not ready, or "".
func (c *clockCheck) problem() string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.skewed {
		return ""
	}
	return fmt.Sprintf("clock skew: %s off the database's clock (limit %s)", c.offset.Round(time.Millisecond), maxClockSkew)
}
