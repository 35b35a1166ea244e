package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// recordFailure adds one failure to a counter in a single statement, so
// that concurrent failures are neither lost nor double-counted:
//
//   - a counter whose block is running ($now < blocked_until) is unchanged;
//   - a counter whose window has passed (window_start + $window <= $now)
//     starts again at one failure with its window at $now, and forgets the
//     attempts of the old window still pending;
//   - otherwise the failures go up by one, also after a block that ended
//     inside the window (which the next failure renews: an account's count
//     runs through its whole window, as with reserveAttempt);
//
// and a counter whose failures reach $max is blocked until $until. The
// failure of a reserved attempt ($6, its window's start, is the counter's
// window) also takes that attempt off the pending ones; RecordFailure
// passes a $6 no window has.
//
// Parameters: $1 key, $2 now, $3 window, $4 max, $5 until, $6 the window of
// the reservation (all times in Unix milliseconds). A blocked_until of 0
// means not blocked.
const recordFailure = `
INSERT INTO attempt_counters (key, failures, pending, window_start, blocked_until)
VALUES ($1, 1, 0, $2, CASE WHEN 1 >= $4 THEN CAST($5 AS BIGINT) ELSE 0 END)
ON CONFLICT (key) DO UPDATE SET
	failures = CASE
		WHEN attempt_counters.blocked_until > $2 THEN attempt_counters.failures
		WHEN attempt_counters.window_start + $3 <= $2 THEN 1
		ELSE attempt_counters.failures + 1
	END,
	pending = CASE
		WHEN attempt_counters.blocked_until <= $2 AND attempt_counters.window_start + $3 <= $2 THEN 0
		WHEN attempt_counters.window_start = $6 AND attempt_counters.pending > 0 THEN attempt_counters.pending - 1
		ELSE attempt_counters.pending
	END,
	window_start = CASE
		WHEN attempt_counters.blocked_until > $2 THEN attempt_counters.window_start
		WHEN attempt_counters.window_start + $3 <= $2 THEN $2
		ELSE attempt_counters.window_start
	END,
	blocked_until = CASE
		WHEN attempt_counters.blocked_until > $2 THEN attempt_counters.blocked_until
		WHEN attempt_counters.window_start + $3 <= $2 THEN CASE WHEN 1 >= $4 THEN $5 ELSE 0 END
		WHEN attempt_counters.failures + 1 >= $4 THEN $5
		ELSE 0
	END
RETURNING key, failures, blocked_until`

// reserveAttempt counts one attempt as pending in a single statement
// unless the counter is blocked or full: the upsert's WHERE leaves such a
// row alone, and then RETURNING gives no row. A counter is full when its
// failures and the attempts still pending reach $max while some are
// pending: those in flight count against the limit, so that parallel
// attempts get no more checks than it allows, but only their failures
// (recordFailure) block. A counter whose failures alone reach $max after a
// block that ended inside its window grants one attempt at a time, and its
// next failure blocks again: an expired block does not restart the count,
// only the end of the window does. Concurrent reservations on the same key
// are serialised by the row lock (PostgreSQL re-checks the WHERE on the
// newest row version) or by SQLite's single writer, so a limit of N grants
// exactly N attempts however many arrive at once.
//
// Parameters: $1 key, $2 now, $3 window, $4 max (Unix ms).
const reserveAttempt = `
INSERT INTO attempt_counters (key, failures, pending, window_start, blocked_until)
VALUES ($1, 0, 1, $2, 0)
ON CONFLICT (key) DO UPDATE SET
	failures = CASE
		WHEN attempt_counters.window_start + $3 <= $2 THEN 0
		ELSE attempt_counters.failures
	END,
	pending = CASE
		WHEN attempt_counters.window_start + $3 <= $2 THEN 1
		ELSE attempt_counters.pending + 1
	END,
	window_start = CASE
		WHEN attempt_counters.window_start + $3 <= $2 THEN $2
		ELSE attempt_counters.window_start
	END,
	blocked_until = CASE
		WHEN attempt_counters.window_start + $3 <= $2 THEN 0
		ELSE attempt_counters.blocked_until
	END
WHERE attempt_counters.blocked_until <= $2 AND (
	attempt_counters.window_start + $3 <= $2
	OR attempt_counters.failures + attempt_counters.pending < $4
	OR attempt_counters.pending = 0)
RETURNING key, failures + pending, window_start`

// ReserveAttempt counts one pending attempt on key unless it is blocked or
// full at now.
func (s *Store) ReserveAttempt(ctx context.Context, key string, l storage.Limit, now time.Time) (storage.Reservation, error) {
	var (
		c     storage.Counter
		start int64
	)
	err := s.db.QueryRowContext(ctx, reserveAttempt, key, millis(now), l.Window.Milliseconds(), l.Max).
		Scan(&c.Key, &c.Failures, &start)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Reservation{Counter: storage.Counter{Key: key}}, nil
	}
	if err != nil {
		return storage.Reservation{}, s.fail("reserve attempt", err)
	}
	return storage.Reservation{Granted: true, Counter: c, WindowStart: time.UnixMilli(start).UTC()}, nil
}

// ReleaseAttempts takes back the pending attempt reserved in the window
// that began at windowStart, and n-1 failures before it, in that window
// only; it lifts the block when fewer than max failures remain.
func (s *Store) ReleaseAttempts(ctx context.Context, key string, n int, windowStart time.Time, max int) error {
	if n <= 0 {
		return nil
	}
	return s.exec(ctx, "release attempts", `UPDATE attempt_counters SET
		pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END,
		failures = CASE WHEN failures > $2 - 1 THEN failures - ($2 - 1) ELSE 0 END,
		blocked_until = CASE WHEN failures - ($2 - 1) < $4 THEN 0 ELSE blocked_until END
		WHERE key = $1 AND window_start = $3`, key, n, millis(windowStart), max)
}

func scanCounter(row scanner) (*storage.Counter, error) {
	var (
		c       storage.Counter
		blocked int64
	)
	if err := row.Scan(&c.Key, &c.Failures, &blocked); err != nil {
		return nil, err
	}
	if blocked != 0 {
		c.BlockedUntil = time.UnixMilli(blocked).UTC()
	}
	return &c, nil
}

// RecordFailure adds one failure to the counter key under l and returns its
// new state, in one statement. A counter whose block is still running at
// now is left unchanged; one whose window has passed starts again from one
// failure.
func (s *Store) RecordFailure(ctx context.Context, key string, l storage.Limit, now time.Time) (storage.Counter, error) {
	return s.recordFailure(ctx, "record failure", key, l, now, -1)
}

// FailAttempt records the failure of the attempt reserved on key in the
// window that began at windowStart, as RecordFailure does, and takes it
// off the pending attempts of that window.
func (s *Store) FailAttempt(ctx context.Context, key string, l storage.Limit, windowStart, now time.Time) (storage.Counter, error) {
	return s.recordFailure(ctx, "fail attempt", key, l, now, millis(windowStart))
}

func (s *Store) recordFailure(ctx context.Context, op, key string, l storage.Limit, now time.Time, windowStart int64) (storage.Counter, error) {
	c, err := scanCounter(s.db.QueryRowContext(ctx, recordFailure,
		key, millis(now), l.Window.Milliseconds(), l.Max, millis(now.Add(l.Block)), windowStart))
	if err != nil {
		return storage.Counter{}, s.fail(op, err)
	}
	return *c, nil
}

// Blocked returns the block running at now that ends last among the
// counters keys, or storage.ErrNotFound when none of them is blocked.
func (s *Store) Blocked(ctx context.Context, keys []string, now time.Time) (storage.Counter, error) {
	if len(keys) == 0 {
		return storage.Counter{}, storage.ErrNotFound
	}
	var b strings.Builder
	args := []any{millis(now)}
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, k)
		b.WriteString("$" + strconv.Itoa(len(args)))
	}
	c, err := scanCounter(s.db.QueryRowContext(ctx, `SELECT key, failures, blocked_until
		FROM attempt_counters WHERE blocked_until > $1 AND key IN (`+b.String()+`)
		ORDER BY blocked_until DESC, key LIMIT 1`, args...))
	if err != nil {
		return storage.Counter{}, s.fail("blocked", err)
	}
	return *c, nil
}

// ResetFailures forgets the counter key, and with it any block. Resetting
// an unknown key is not an error.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	return s.exec(ctx, "reset failures", `DELETE FROM attempt_counters WHERE key = $1`, key)
}

// Blocks lists the counters blocked at now, by key.
func (s *Store) Blocks(ctx context.Context, now time.Time) ([]storage.Counter, error) {
	return queryAll(ctx, s, "blocks", scanCounter, `SELECT key, failures, blocked_until FROM attempt_counters
		WHERE blocked_until > $1 ORDER BY key`, millis(now))
}

// likeEscaper escapes LIKE's metacharacters, with \ as the escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ClearBlocks forgets every counter whose key ends with suffix, blocked or
// not, and returns how many it removed. The suffix matches literally and
// case-sensitively: LIKE narrows the keys down (SQLite's LIKE ignores ASCII
// case) and a comparison of the key's tail makes the match exact.
func (s *Store) ClearBlocks(ctx context.Context, suffix string) (int, error) {
	const op = "clear blocks"
	n, err := s.execCount(ctx, s.db, op, `DELETE FROM attempt_counters
		WHERE key LIKE '%' || $1 ESCAPE '\'
		AND substr(key, length(key) - length($2) + 1) = $2`,
		likeEscaper.Replace(suffix), suffix)
	return int(n), err
}
