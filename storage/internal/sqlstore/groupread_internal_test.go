package sqlstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupReadFresh has many goroutines each make a change (bump a
// count) and then ask for the counts, while reads take a while: each must
// get a count read after its own change, never the result of a read that
// was already running when it asked. The reads must also be shared: fewer
// reads than questions.
func TestGroupReadFresh(t *testing.T) {
	var changes atomic.Int64
	g := newGroupRead(func(context.Context) (int64, int64, error) {
		n := changes.Load() // the read's snapshot, taken as it begins
		time.Sleep(200 * time.Microsecond)
		return n, -n, nil
	})
	const workers, each = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				mine := changes.Add(1)
				got, rev, err := g.counts(t.Context())
				if err != nil {
					errs <- err
					return
				}
				if got < mine || rev != -got {
					errs <- errors.New("a question got counts read before it asked")
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
	reads, shared := g.stats()
	t.Logf("%d questions, %d reads, %d questions served by a read they waited for", workers*each, reads, shared)
	if reads >= workers*each || shared == 0 {
		t.Errorf("%d reads for %d questions (%d shared): the reads were not shared", reads, workers*each, shared)
	}
	// The last batch's read closes the batch before it finishes (its
	// goroutine then marks the group idle): wait for that, under the lock.
	idle := func() (running, waiting bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running, g.next != nil
	}
	deadline := time.Now().Add(5 * time.Second)
	running, waiting := idle()
	for (running || waiting) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		running, waiting = idle()
	}
	if running || waiting {
		t.Errorf("5 s after the last question: running %v, a batch waiting %v", running, waiting)
	}
}

// TestGroupReadAlone checks that a question asked while no read runs reads
// at once, with its own context, and that errors, panics and a waiter's
// cancellation end the questions they concern without stopping the next.
func TestGroupReadAlone(t *testing.T) {
	type key struct{}
	boom := errors.New("boom")
	var fail atomic.Int32 // 0: read, 1: fail with boom, 2: panic
	g := newGroupRead(func(ctx context.Context) (int64, int64, error) {
		switch fail.Load() {
		case 1:
			return 0, 0, boom
		case 2:
			panic("oops")
		}
		if ctx.Value(key{}) != "mine" {
			return 0, 0, errors.New("read without the asker's context")
		}
		return 1, 2, nil
	})
	ctx := context.WithValue(t.Context(), key{}, "mine")
	if c, r, err := g.counts(ctx); c != 1 || r != 2 || err != nil {
		t.Fatalf("alone: %d %d %v", c, r, err)
	}
	fail.Store(1)
	if _, _, err := g.counts(ctx); !errors.Is(err, boom) {
		t.Fatalf("a failed read gave %v", err)
	}
	fail.Store(2)
	if _, _, err := g.counts(ctx); err == nil {
		t.Fatal("a panicking read gave no error")
	}
	fail.Store(0)
	if c, _, err := g.counts(ctx); c != 1 || err != nil {
		t.Fatalf("after a panic: %d %v", c, err)
	}
	if reads, shared := g.stats(); reads != 4 || shared != 0 {
		t.Fatalf("four questions one at a time: %d reads, %d shared; want 4, 0", reads, shared)
	}

	// A waiter whose request ends stops waiting.
	release := make(chan struct{})
	// Buffered: the read says it started without waiting for the test to
	// listen (a read that ran before the test reached <-started skipped
	// an unbuffered send, and the test waited forever).
	started := make(chan struct{}, 1)
	slow := newGroupRead(func(context.Context) (int64, int64, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return 5, 6, nil
	})
	go slow.counts(t.Context())
	<-started
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := slow.counts(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiter gave %v", err)
	}
	close(release)
}
