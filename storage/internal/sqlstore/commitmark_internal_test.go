package sqlstore

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMarkedCountsFresh has goroutines commit (bump a count, which moves
// the mark) and then ask for the counts, while others only ask: a
// goroutine must get counts as of after its own commit, never those of an
// earlier read, and the askers between commits must be answered from the
// mark, without a read.
func TestMarkedCountsFresh(t *testing.T) {
	var commits, reads atomic.Int64
	mark := func() (m [48]byte, ok bool) {
		binary.LittleEndian.PutUint64(m[8:], uint64(commits.Load()))
		return m, true
	}
	m := newMarkedCounts(mark, func(context.Context) (int64, int64, error) {
		reads.Add(1)
		n := commits.Load() // the read's snapshot, taken as it begins
		time.Sleep(50 * time.Microsecond)
		return n, -n, nil
	}, time.Now)
	const workers, each = 16, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var mine int64
				if w%4 == 0 && i%10 == 0 {
					mine = commits.Add(1)
				} else {
					mine = commits.Load()
				}
				got, rev, err := m.counts(t.Context())
				if err != nil {
					errs <- err
					return
				}
				if got < mine || rev != -got {
					errs <- errors.New("counts older than the question")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d questions, %d commits, %d reads, %d answered from the mark", workers*each, commits.Load(), reads.Load(), m.stats())
	if m.stats() == 0 || reads.Load() >= workers*each {
		t.Errorf("%d reads, %d from the mark: the mark answered nothing", reads.Load(), m.stats())
	}
}

// TestMarkedCountsReads checks when a question reads the counts: when
// the mark moved, could not be read, or is older than markMaxAge; and
// that a failed read leaves nothing to answer from.
func TestMarkedCountsReads(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		mark2     byte          // the mark's byte at the second question
		ok2       bool          // whether the mark reads at the second question
		later     time.Duration // the second question's time after the first
		failFirst bool          // the first read fails
		wantReads int
	}{
		{"same mark", 1, true, time.Millisecond, false, 1},
		{"moved mark", 2, true, time.Millisecond, false, 2},
		{"no mark", 1, false, time.Millisecond, false, 2},
		{"same mark, too old", 1, true, markMaxAge, false, 2},
		{"same mark after a failed read", 1, true, time.Millisecond, true, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var (
				markByte byte = 1
				markOK        = true
				now           = t0
				reads    int
			)
			m := newMarkedCounts(func() (mk [48]byte, ok bool) {
				mk[8] = markByte
				return mk, markOK
			}, func(context.Context) (int64, int64, error) {
				reads++
				if reads == 1 && tt.failFirst {
					return 0, 0, errors.New("database away")
				}
				return int64(reads), 0, nil
			}, func() time.Time { return now })
			m.counts(t.Context())
			markByte, markOK, now = tt.mark2, tt.ok2, t0.Add(tt.later)
			got, _, err := m.counts(t.Context())
			if err != nil || reads != tt.wantReads || got != int64(reads) {
				t.Errorf("second question: %d (%v) after %d reads; want %d reads, the last one's count", got, err, reads, tt.wantReads)
			}
		})
	}
}
