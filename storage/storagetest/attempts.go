package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// limit allows 3 failures within 10 minutes, then blocks for 10 minutes.
func limit() storage.Limit {
	return storage.Limit{Max: 3, Window: 10 * time.Minute, Block: 10 * time.Minute}
}

// record calls RecordFailure and checks the counter it returns.
func record(t *testing.T, s storage.Store, key string, l storage.Limit, now time.Time, failures int, blockedUntil time.Time) {
	t.Helper()
	c, err := s.RecordFailure(t.Context(), key, l, now)
	check(t, err)
	want := storage.Counter{Key: key, Failures: failures, BlockedUntil: blockedUntil}
	wantEqual(t, fmt.Sprintf("RecordFailure(%s) at %v", key, now.Format(time.TimeOnly)), c, want)
	if blockedUntil.IsZero() && !c.BlockedUntil.IsZero() {
		t.Errorf("BlockedUntil = %v, want the zero time", c.BlockedUntil)
	}
}

func testRecordFailure(t *testing.T, s storage.Store) {
	l, minute := limit(), time.Minute
	record(t, s, "ip:192.0.2.1", l, epoch(), 1, time.Time{})
	record(t, s, "ip:192.0.2.1", l, epoch().Add(1*minute), 2, time.Time{})
	record(t, s, "ip:192.0.2.1", l, epoch().Add(2*minute), 3, epoch().Add(12*minute))
	// While blocked, failures change nothing: no count, no longer block.
	record(t, s, "ip:192.0.2.1", l, epoch().Add(3*minute), 3, epoch().Add(12*minute))
	record(t, s, "ip:192.0.2.1", l, epoch().Add(12*minute-time.Millisecond), 3, epoch().Add(12*minute))
	// Other keys count on their own.
	record(t, s, "user:u1", l, epoch().Add(3*minute), 1, time.Time{})
}

func testRecordFailureWindow(t *testing.T, s storage.Store) {
	l, minute := limit(), time.Minute
	record(t, s, "k", l, epoch(), 1, time.Time{})
	record(t, s, "k", l, epoch().Add(9*minute), 2, time.Time{})
	// The window opened by the first failure has passed: start again.
	record(t, s, "k", l, epoch().Add(10*minute), 1, time.Time{})
	record(t, s, "k", l, epoch().Add(11*minute), 2, time.Time{})
	record(t, s, "k", l, epoch().Add(12*minute), 3, epoch().Add(22*minute))
}

func testRecordFailureAfterBlock(t *testing.T, s storage.Store) {
	l, minute := limit(), time.Minute
	record(t, s, "k", l, epoch(), 1, time.Time{})
	record(t, s, "k", l, epoch(), 2, time.Time{})
	record(t, s, "k", l, epoch(), 3, epoch().Add(10*minute))
	// The block has passed: start again from one failure.
	record(t, s, "k", l, epoch().Add(10*minute), 1, time.Time{})
	record(t, s, "k", l, epoch().Add(11*minute), 2, time.Time{})
	record(t, s, "k", l, epoch().Add(12*minute), 3, epoch().Add(22*minute))
}

func testRecordFailureMaxOne(t *testing.T, s storage.Store) {
	l := storage.Limit{Max: 1, Window: time.Minute, Block: time.Hour}
	record(t, s, "k", l, epoch(), 1, epoch().Add(time.Hour))
	record(t, s, "k", l, epoch().Add(time.Minute), 1, epoch().Add(time.Hour))
	record(t, s, "k", l, epoch().Add(time.Hour), 1, epoch().Add(2*time.Hour))
}

func testRecordFailureConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	counters := make(chan storage.Counter, 10)
	errs := concurrently(10, func() error {
		c, err := s.RecordFailure(ctx, "k", limit(), epoch())
		counters <- c
		return err
	})
	for _, err := range errs {
		check(t, err)
	}
	close(counters)
	// Every failure was counted once: the counter went 1, 2, 3 and then
	// stayed at 3 while blocked.
	var failures []int
	for c := range counters {
		failures = append(failures, c.Failures)
	}
	slices.Sort(failures)
	if want := []int{1, 2, 3, 3, 3, 3, 3, 3, 3, 3}; !slices.Equal(failures, want) {
		t.Errorf("10 concurrent RecordFailure returned failures %v, want %v", failures, want)
	}
	c, err := s.Blocked(ctx, []string{"k"}, epoch())
	check(t, err)
	wantEqual(t, "counter", c, storage.Counter{Key: "k", Failures: 3, BlockedUntil: epoch().Add(10 * time.Minute)})
}

func testBlocked(t *testing.T, s storage.Store) {
	ctx := t.Context()
	l, minute := limit(), time.Minute
	for range 3 {
		_, err := s.RecordFailure(ctx, "a", l, epoch()) // blocked until +10m
		check(t, err)
		_, err = s.RecordFailure(ctx, "b", l, epoch().Add(5*minute)) // blocked until +15m
		check(t, err)
	}
	_, err := s.RecordFailure(ctx, "c", l, epoch()) // counting, not blocked
	check(t, err)

	for _, tt := range []struct {
		keys []string
		at   time.Duration
		want string // "" for none
	}{
		{[]string{"a", "b", "c", "unknown"}, 6 * minute, "b"},
		{[]string{"c", "a"}, 6 * minute, "a"},
		{[]string{"c", "unknown"}, 6 * minute, ""},
		{nil, 6 * minute, ""},
		{[]string{"a", "b"}, 10 * minute, "b"},
		{[]string{"a", "b"}, 15 * minute, ""},
	} {
		c, err := s.Blocked(ctx, tt.keys, epoch().Add(tt.at))
		what := fmt.Sprintf("Blocked(%q) at +%v", tt.keys, tt.at)
		if tt.want == "" {
			wantErr(t, what, err, storage.ErrNotFound)
			continue
		}
		check(t, err)
		until := map[string]time.Duration{"a": 10 * minute, "b": 15 * minute}[tt.want]
		wantEqual(t, what, c, storage.Counter{Key: tt.want, Failures: 3, BlockedUntil: epoch().Add(until)})
	}
}

func testResetFailures(t *testing.T, s storage.Store) {
	ctx := t.Context()
	l := limit()
	for range 3 {
		_, err := s.RecordFailure(ctx, "a", l, epoch())
		check(t, err)
		_, err = s.RecordFailure(ctx, "b", l, epoch())
		check(t, err)
	}
	check(t, s.ResetFailures(ctx, "a"))
	_, err := s.Blocked(ctx, []string{"a"}, epoch())
	wantErr(t, "Blocked after ResetFailures", err, storage.ErrNotFound)
	record(t, s, "a", l, epoch(), 1, time.Time{})
	_, err = s.Blocked(ctx, []string{"b"}, epoch())
	check(t, err)
	check(t, s.ResetFailures(ctx, "unknown"))
}

func testBlocks(t *testing.T, s storage.Store) {
	ctx := t.Context()
	blocks, err := s.Blocks(ctx, epoch())
	check(t, err)
	if len(blocks) != 0 {
		t.Fatalf("Blocks of an empty store: %v", blocks)
	}
	l, minute := limit(), time.Minute
	for range 3 {
		for _, k := range []string{"ip:192.0.2.9", "ip:192.0.2.1", "user:u1"} {
			_, err := s.RecordFailure(ctx, k, l, epoch())
			check(t, err)
		}
		_, err := s.RecordFailure(ctx, "old", l, epoch().Add(-time.Hour)) // block over
		check(t, err)
	}
	_, err = s.RecordFailure(ctx, "counting", l, epoch())
	check(t, err)

	blocks, err = s.Blocks(ctx, epoch().Add(minute))
	check(t, err)
	var keys []string
	for _, c := range blocks {
		keys = append(keys, c.Key)
		wantEqual(t, "Blocks["+c.Key+"]", c, storage.Counter{Key: c.Key, Failures: 3, BlockedUntil: epoch().Add(10 * minute)})
	}
	slices.Sort(keys)
	if want := []string{"ip:192.0.2.1", "ip:192.0.2.9", "user:u1"}; !slices.Equal(keys, want) {
		t.Errorf("Blocks = %v, want %v", keys, want)
	}
	blocks, err = s.Blocks(ctx, epoch().Add(10*minute))
	check(t, err)
	if len(blocks) != 0 {
		t.Errorf("Blocks after the blocks ended: %v", blocks)
	}
}

// block records failures on key until it is blocked at epoch.
func block(t *testing.T, s storage.Store, key string) {
	t.Helper()
	for range limit().Max {
		_, err := s.RecordFailure(t.Context(), key, limit(), epoch())
		check(t, err)
	}
}

// wantBlocks checks the keys of the counters blocked at epoch.
func wantBlocks(t *testing.T, s storage.Store, what string, want ...string) {
	t.Helper()
	blocks, err := s.Blocks(t.Context(), epoch())
	check(t, err)
	var keys []string
	for _, c := range blocks {
		keys = append(keys, c.Key)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("%s: Blocks = %q, want %q", what, keys, want)
	}
}

func clearBlocks(t *testing.T, s storage.Store, suffix string, want int) {
	t.Helper()
	n, err := s.ClearBlocks(t.Context(), suffix)
	check(t, err)
	if n != want {
		t.Errorf("ClearBlocks(%q) removed %d counters, want %d", suffix, n, want)
	}
}

func testClearBlocks(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, k := range []string{"pwd:ip:1.2.3.4", "otp:ip:1.2.3.4", "otp:ip:11.2.3.4", "otp:ip:1.2.3.45",
		"pwd:user:u1", "otp:IP:1.2.3.4", "ip:1.2.3.4"} {
		block(t, s, k)
	}
	// A counter that is counting, not blocked, is forgotten too.
	_, err := s.RecordFailure(ctx, "code:ip:1.2.3.4", limit(), epoch())
	check(t, err)

	clearBlocks(t, s, ":ip:1.2.3.4", 3)
	wantBlocks(t, s, "after ClearBlocks", "otp:ip:11.2.3.4", "otp:ip:1.2.3.45", "pwd:user:u1", "otp:IP:1.2.3.4", "ip:1.2.3.4")
	record(t, s, "code:ip:1.2.3.4", limit(), epoch(), 1, time.Time{})
	record(t, s, "pwd:ip:1.2.3.4", limit(), epoch(), 1, time.Time{})

	clearBlocks(t, s, ":ip:1.2.3.4", 2)
	clearBlocks(t, s, ":ip:1.2.3.4", 0)
	clearBlocks(t, s, "no such suffix", 0)
	clearBlocks(t, s, "pwd:user:u1", 1)
	wantBlocks(t, s, "at the end", "otp:ip:11.2.3.4", "otp:ip:1.2.3.45", "otp:IP:1.2.3.4", "ip:1.2.3.4")
}

// testClearBlocksLiteral checks that LIKE's metacharacters in the suffix
// match only themselves.
func testClearBlocksLiteral(t *testing.T, s storage.Store) {
	keys := []string{"a:%", "a:b", "k_1", "kx1", `k\`, `k\\`, "kx", "Kx", "ä", "Ä"}
	for _, k := range keys {
		block(t, s, k)
	}
	clearBlocks(t, s, ":%", 1)
	clearBlocks(t, s, "_1", 1)
	clearBlocks(t, s, `\\`, 1)
	clearBlocks(t, s, `\`, 1)
	clearBlocks(t, s, "%", 0)
	clearBlocks(t, s, "_", 0)
	clearBlocks(t, s, "kx", 1) // not Kx
	clearBlocks(t, s, "ä", 1)
	wantBlocks(t, s, "after ClearBlocks", "a:b", "kx1", "Kx", "Ä")
}

// reserve calls ReserveAttempt and checks what it granted.
func reserve(t *testing.T, s storage.Store, key string, l storage.Limit, now time.Time, granted bool, failures int, blockedUntil time.Time) storage.Reservation {
	t.Helper()
	r, err := s.ReserveAttempt(t.Context(), key, l, now)
	check(t, err)
	what := fmt.Sprintf("ReserveAttempt(%s) at %v", key, now.Format(time.TimeOnly))
	if r.Granted != granted {
		t.Fatalf("%s: granted %t, want %t", what, r.Granted, granted)
	}
	if granted {
		wantEqual(t, what, r.Counter, storage.Counter{Key: key, Failures: failures, BlockedUntil: blockedUntil})
	}
	return r
}

// fail calls FailAttempt for r and checks the counter it returns.
func fail(t *testing.T, s storage.Store, r storage.Reservation, l storage.Limit, now time.Time, failures int, blockedUntil time.Time) {
	t.Helper()
	c, err := s.FailAttempt(t.Context(), r.Counter.Key, l, r.WindowStart, now)
	check(t, err)
	want := storage.Counter{Key: r.Counter.Key, Failures: failures, BlockedUntil: blockedUntil}
	wantEqual(t, fmt.Sprintf("FailAttempt(%s) at %v", r.Counter.Key, now.Format(time.TimeOnly)), c, want)
}

// notBlocked checks that key shows no block at now.
func notBlocked(t *testing.T, s storage.Store, what, key string, now time.Time) {
	t.Helper()
	_, err := s.Blocked(t.Context(), []string{key}, now)
	wantErr(t, what, err, storage.ErrNotFound)
}

func testReserveAttempt(t *testing.T, s storage.Store) {
	l, minute := limit(), time.Minute
	fail(t, s, reserve(t, s, "k", l, epoch(), true, 1, time.Time{}), l, epoch(), 1, time.Time{})
	fail(t, s, reserve(t, s, "k", l, epoch().Add(minute), true, 2, time.Time{}), l, epoch().Add(minute), 2, time.Time{})
	// The attempt that reaches the limit is granted, but blocks only once
	// it has failed; meanwhile the counter is full: nothing more is
	// granted, and nothing shows as blocked.
	last := reserve(t, s, "k", l, epoch().Add(2*minute), true, 3, time.Time{})
	notBlocked(t, s, "Blocked while the last attempt is checked", "k", epoch().Add(2*minute))
	reserve(t, s, "k", l, epoch().Add(2*minute), false, 0, time.Time{})
	fail(t, s, last, l, epoch().Add(2*minute), 3, epoch().Add(12*minute))
	// While blocked nothing is granted or counted.
	reserve(t, s, "k", l, epoch().Add(3*minute), false, 0, time.Time{})
	c, err := s.Blocked(t.Context(), []string{"k"}, epoch().Add(3*minute))
	check(t, err)
	wantEqual(t, "counter after a refused reservation", c, storage.Counter{Key: "k", Failures: 3, BlockedUntil: epoch().Add(12 * minute)})
	// The window (10 minutes from the first) has passed by the block's end.
	reserve(t, s, "k", l, epoch().Add(12*minute), true, 1, time.Time{})
}

// testReserveInFlight: attempts being checked fill the limit but show no
// block, to Blocked or Blocks; the failure that reaches the limit blocks,
// and a failure while blocked changes nothing.
func testReserveInFlight(t *testing.T, s storage.Store) {
	l := limit()
	var rs []storage.Reservation
	for i := range l.Max {
		rs = append(rs, reserve(t, s, "k", l, epoch(), true, i+1, time.Time{}))
	}
	reserve(t, s, "k", l, epoch(), false, 0, time.Time{})
	notBlocked(t, s, "Blocked with the limit full of attempts in flight", "k", epoch())
	wantBlocks(t, s, "with the limit full of attempts in flight")
	fail(t, s, rs[0], l, epoch(), 1, time.Time{})
	// Still full: one failure and two attempts in flight.
	reserve(t, s, "k", l, epoch(), false, 0, time.Time{})
	fail(t, s, rs[1], l, epoch(), 2, time.Time{})
	notBlocked(t, s, "Blocked after two failures", "k", epoch())
	fail(t, s, rs[2], l, epoch(), 3, epoch().Add(10*time.Minute))
	wantBlocks(t, s, "after the third failure", "k")
	// The failure of an attempt of a window that has passed counts in the
	// new one, and leaves its attempts in flight alone.
	later := epoch().Add(20 * time.Minute)
	r := reserve(t, s, "k", l, later, true, 1, time.Time{})
	fail(t, s, rs[0], l, later, 1, time.Time{})
	fail(t, s, r, l, later, 2, time.Time{})
	reserve(t, s, "k", l, later, true, 3, time.Time{})
}

// testReserveThroughWindow: a block that ends inside the counter's window
// does not restart the count: one attempt at a time is granted, and its
// failure blocks again.
func testReserveThroughWindow(t *testing.T, s storage.Store) {
	l, minute := storage.Limit{Max: 3, Window: time.Hour, Block: 10 * time.Minute}, time.Minute
	var rs []storage.Reservation
	for i := range 3 {
		rs = append(rs, reserve(t, s, "acct", l, epoch(), true, i+1, time.Time{}))
	}
	for i, r := range rs {
		fail(t, s, r, l, epoch(), i+1, map[bool]time.Time{true: epoch().Add(10 * minute)}[i == 2])
	}
	r := reserve(t, s, "acct", l, epoch().Add(11*minute), true, 4, time.Time{})
	reserve(t, s, "acct", l, epoch().Add(11*minute), false, 0, time.Time{})
	notBlocked(t, s, "Blocked while the attempt after the block is checked", "acct", epoch().Add(11*minute))
	fail(t, s, r, l, epoch().Add(11*minute), 4, epoch().Add(21*minute))
	reserve(t, s, "acct", l, epoch().Add(15*minute), false, 0, time.Time{})
	// RecordFailure counts through the window the same way.
	for range 3 {
		_, err := s.RecordFailure(t.Context(), "acct2", l, epoch())
		check(t, err)
	}
	record(t, s, "acct2", l, epoch().Add(11*minute), 4, epoch().Add(21*minute))
	// After the window, a fresh count.
	reserve(t, s, "acct", l, epoch().Add(61*minute), true, 1, time.Time{})
}

// testReleaseAttempts: an attempt that was not checked gives back itself;
// a success gives back its attempt and the failures before it, lifting
// the block; a release for a window that has passed gives back nothing.
func testReleaseAttempts(t *testing.T, s storage.Store) {
	ctx := t.Context()
	l := limit()
	a := reserve(t, s, "k", l, epoch(), true, 1, time.Time{})
	b := reserve(t, s, "k", l, epoch(), true, 2, time.Time{})
	c := reserve(t, s, "k", l, epoch(), true, 3, time.Time{})
	reserve(t, s, "k", l, epoch(), false, 0, time.Time{})
	// c was not checked: its place is free again.
	check(t, s.ReleaseAttempts(ctx, "k", 1, c.WindowStart, l.Max))
	d := reserve(t, s, "k", l, epoch(), true, 3, time.Time{})
	fail(t, s, a, l, epoch(), 1, time.Time{})
	// b succeeds: its attempt and the failure before it are forgotten.
	check(t, s.ReleaseAttempts(ctx, "k", b.Counter.Failures, b.WindowStart, l.Max))
	reserve(t, s, "k", l, epoch(), true, 2, time.Time{}) // after d, in flight
	// Failures block while d is checked; its success lifts the block.
	for range 3 {
		_, err := s.RecordFailure(ctx, "k", l, epoch())
		check(t, err)
	}
	// A release for another window changes nothing.
	check(t, s.ReleaseAttempts(ctx, "k", d.Counter.Failures, epoch().Add(-time.Hour), l.Max))
	_, err := s.Blocked(ctx, []string{"k"}, epoch())
	check(t, err)
	check(t, s.ReleaseAttempts(ctx, "k", d.Counter.Failures, d.WindowStart, l.Max))
	notBlocked(t, s, "Blocked after the success of an attempt reserved before the block", "k", epoch())
	check(t, s.ReleaseAttempts(ctx, "unknown", 1, epoch(), l.Max))
}

// testReserveConcurrent: 30 parallel reservations under a limit of 3 grant
// exactly 3.
func testReserveConcurrent(t *testing.T, s storage.Store) {
	var granted, refused atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			r, err := s.ReserveAttempt(t.Context(), "k", limit(), epoch())
			switch {
			case err != nil:
				t.Errorf("ReserveAttempt: %v", err)
			case r.Granted:
				granted.Add(1)
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 3 || refused.Load() != 27 {
		t.Errorf("30 parallel reservations under a limit of 3: %d granted, %d refused", granted.Load(), refused.Load())
	}
}

// testReserveConcurrentFailures: 30 clients guess at once under a limit of
// 3, each trying again while the counter is full of attempts in flight,
// until it is granted a check or blocked: exactly 3 guesses are checked,
// one of their failures begins the block, and every other client ends
// refused by it.
func testReserveConcurrentFailures(t *testing.T, s storage.Store) {
	ctx := t.Context()
	var checked, blocked atomic.Int32
	errs := concurrently(30, func() error {
		for {
			r, err := s.ReserveAttempt(ctx, "k", limit(), epoch())
			if err != nil {
				return err
			}
			if r.Granted {
				checked.Add(1)
				_, err := s.FailAttempt(ctx, "k", limit(), r.WindowStart, epoch())
				return err
			}
			_, err = s.Blocked(ctx, []string{"k"}, epoch())
			if err == nil {
				blocked.Add(1)
				return nil
			}
			if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	})
	for _, err := range errs {
		check(t, err)
	}
	if checked.Load() != 3 || blocked.Load() != 27 {
		t.Errorf("30 clients guessing at once under a limit of 3: %d checked, %d blocked; want 3 and 27", checked.Load(), blocked.Load())
	}
	c, err := s.Blocked(ctx, []string{"k"}, epoch())
	check(t, err)
	wantEqual(t, "counter", c, storage.Counter{Key: "k", Failures: 3, BlockedUntil: epoch().Add(10 * time.Minute)})
}
