package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestLazyDeadline requires a request's context to behave as
// context.WithTimeout's with its cancel deferred to the handler's return,
// whether or not anything waited for it.
func TestLazyDeadline(t *testing.T) {
	t.Parallel()
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "parent's")
	done := func(t *testing.T, ctx context.Context) {
		t.Helper()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("not done")
		}
	}

	t.Run("nothing waits", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		c := &lazyDeadline{parent: base, deadline: start.Add(time.Hour)}
		if d, ok := c.Deadline(); !ok || !d.Equal(start.Add(time.Hour)) {
			t.Errorf("Deadline() = %v, %v", d, ok)
		}
		if err := c.Err(); err != nil {
			t.Errorf("Err() = %v", err)
		}
		if v := c.Value(key{}); v != "parent's" {
			t.Errorf("Value = %v", v)
		}
		if c.armed.Load() != nil {
			t.Error("armed without a wait")
		}
		c.release()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() after the handler = %v, want Canceled", err)
		}
		done(t, c)
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() after Done = %v, want Canceled", err)
		}
	})

	t.Run("the deadline, waited for", func(t *testing.T) {
		t.Parallel()
		c := &lazyDeadline{parent: base, deadline: time.Now().Add(20 * time.Millisecond)}
		defer c.release()
		if c.Err() != nil {
			t.Fatal("done early")
		}
		done(t, c)
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want DeadlineExceeded", err)
		}
		if err := context.Cause(c); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause = %v", err)
		}
	})

	t.Run("the deadline, not waited for", func(t *testing.T) {
		t.Parallel()
		c := &lazyDeadline{parent: base, deadline: time.Now().Add(-time.Millisecond)}
		defer c.release()
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want DeadlineExceeded", err)
		}
		done(t, c)
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() after Done = %v, want DeadlineExceeded", err)
		}
	})

	t.Run("the parent cancelled", func(t *testing.T) {
		t.Parallel()
		parent, cancel := context.WithCancel(base)
		c := &lazyDeadline{parent: parent, deadline: time.Now().Add(time.Hour)}
		defer c.release()
		cancel()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() = %v, want Canceled", err)
		}
		done(t, c)
	})

	t.Run("the parent's deadline first", func(t *testing.T) {
		t.Parallel()
		first := time.Now().Add(time.Minute)
		parent, cancel := context.WithDeadline(base, first)
		defer cancel()
		c := &lazyDeadline{parent: parent, deadline: time.Now().Add(time.Hour)}
		defer c.release()
		if d, _ := c.Deadline(); !d.Equal(first) {
			t.Errorf("Deadline() = %v, want the parent's %v", d, first)
		}
	})

	t.Run("children cancel with it, without goroutines", func(t *testing.T) {
		// Not parallel: it counts goroutines.
		c := &lazyDeadline{parent: base, deadline: time.Now().Add(200 * time.Millisecond)}
		defer c.release()
		before := runtime.NumGoroutine()
		var children []context.Context
		for range 50 {
			child, cancel := context.WithCancel(c)
			defer cancel()
			children = append(children, child)
		}
		if n := runtime.NumGoroutine(); n > before+2 {
			t.Errorf("%d goroutines for 50 children, were %d", n, before)
		}
		for _, child := range children {
			done(t, child)
			if err := child.Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("child Err() = %v, want DeadlineExceeded", err)
			}
		}
	})

	t.Run("at once from many goroutines", func(t *testing.T) {
		t.Parallel()
		c := &lazyDeadline{parent: base, deadline: time.Now().Add(time.Hour)}
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				switch i % 4 {
				case 0:
					<-c.Done()
				case 1:
					for c.Err() == nil {
						runtime.Gosched()
					}
				case 2:
					c.Value(key{})
				case 3:
					c.release()
				}
			})
		}
		wg.Wait()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() = %v, want Canceled", err)
		}
	})

	t.Run("withDeadline", func(t *testing.T) {
		t.Parallel()
		var seen context.Context
		h := withDeadline(time.Minute, nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			seen = r.Context()
			if d, ok := seen.Deadline(); !ok || time.Until(d) > time.Minute || time.Until(d) < 50*time.Second {
				t.Errorf("Deadline() = %v, %v, want a minute from now", d, ok)
			}
			if seen.Err() != nil {
				t.Errorf("Err() = %v while serving", seen.Err())
			}
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		// As with context.WithTimeout and its cancel deferred: what the
		// handler left running learns that the request is over.
		if err := seen.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() after the handler = %v, want Canceled", err)
		}
		done(t, seen)
	})
}
