package storage

import (
	"context"
	"time"
)

// Counter is the state of one attempt counter after an update.
type Counter struct {
	Key          string
	Failures     int
	BlockedUntil time.Time // zero when not blocked
}

// Reservation is an attempt counted on a counter before its secret is
// checked (Store.ReserveAttempt), as pending until its outcome is known.
type Reservation struct {
	// Granted is false when the counter was blocked, or full of attempts
	// still being checked: nothing was counted, and the attempt must not be
	// evaluated.
	Granted bool
	// Counter is the counter once the attempt was counted: Failures is the
	// attempt's place in its window (the failures and the pending attempts,
	// its own included); BlockedUntil is zero, for only failures block.
	Counter     Counter
	WindowStart time.Time
}

// Limit describes how failures on one counter turn into a block.
type Limit struct {
	Max    int           // failures that trigger a block
	Window time.Duration // failures older than this are forgotten
	Block  time.Duration // how long the block lasts
}

// AttemptStore keeps the attempt counters that limit failures and the
// blocks they impose. Store includes it.
type AttemptStore interface {
	// Counting running blocks for metrics: see blockcount.go.
	BlockCounter

	// RecordFailure adds one failure to the counter key under l and returns
	// its new state, in one atomic statement. A counter whose block is
	// still running at now is left unchanged; one whose window has passed
	// starts again from one failure, and a block that ended inside the
	// window is renewed by the next failure.
	RecordFailure(ctx context.Context, key string, l Limit, now time.Time) (Counter, error)
	// ReserveAttempt counts one attempt on the counter key under l before
	// its secret is checked, as pending, in one atomic statement, unless
	// the counter is blocked at now or full (Granted false, nothing
	// counted). Pending attempts count against l.Max for granting: while
	// some are pending, the failures and the pending attempts together
	// reach at most l.Max. They do not block: only FailAttempt, when the
	// failures reach l.Max, does, so no block shows before a failure
	// confirms it. Failures count on through the window: after a block that
	// ends inside it, one attempt at a time is granted, and its failure
	// blocks again.
	ReserveAttempt(ctx context.Context, key string, l Limit, now time.Time) (Reservation, error)
	// FailAttempt reports that the attempt reserved on key in the window
	// that began at windowStart failed: it is no longer pending, and counts
	// as a failure as with RecordFailure (which also blocks), in one atomic
	// statement.
	FailAttempt(ctx context.Context, key string, l Limit, windowStart, now time.Time) (Counter, error)
	// ReleaseAttempts takes back the pending attempt reserved on key and
	// the n-1 failures before it, if the counter's window still begins at
	// windowStart (a success gives back its own attempt and the earlier
	// ones; an attempt that was not evaluated, n 1, gives back itself), and
	// lifts the block when fewer than max failures remain.
	ReleaseAttempts(ctx context.Context, key string, n int, windowStart time.Time, max int) error
	// Blocked returns the latest block among keys still running at now,
	// or ErrNotFound when none is.
	Blocked(ctx context.Context, keys []string, now time.Time) (Counter, error)
	// ResetFailures forgets the counter key (after a success).
	ResetFailures(ctx context.Context, key string) error
	// Blocks lists the counters blocked at now.
	Blocks(ctx context.Context, now time.Time) ([]Counter, error)
	// ClearBlocks forgets every counter whose key ends with suffix (for
	// example ":ip:127.0.0.2" across scopes) and returns how many it removed.
	ClearBlocks(ctx context.Context, suffix string) (int, error)
}
