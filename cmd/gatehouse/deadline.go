package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds how long a request may wait for its work, the
// database's above all: a database that stops answering without refusing
// (a network partition, a host gone) would otherwise hold every request
// until the client gave up, past http.Server's WriteTimeout, with no
// answer at all. At the deadline the request's database calls fail, and the
// request is answered 503 like any other database failure. It leaves room
// for an email (login/mail: 10 s) beside the database work of a step.
const requestTimeout = 20 * time.Second

// withDeadline gives each request's context a deadline d from its start,
// except the requests skip reports (nil: none). The context is done when
// the handler returns, as context.WithTimeout's would be with its cancel
// deferred.
func withDeadline(d time.Duration, skip func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip != nil && skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := &lazyDeadline{parent: r.Context(), deadline: time.Now().Add(d)}
		defer ctx.release()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// lazyDeadline is a request's context with a deadline, whose timer starts
// only when something waits for the context to be done: Done, which the
// database drivers and any context derived with a cancel of its own call.
// Most requests on the busiest paths (the documents, a known JWT's
// introspection) never do, and the timer that context.WithDeadline starts
// at once and stops at the end was about 6 % of what the whole handler
// cost a JWT's introspection (BenchmarkServeJSONEndpoints' profile). Until
// then, Err compares the clock with the deadline itself; from then on, the
// context.WithDeadline made then answers everything.
//
// One difference: context.Cause of a context that no one waited for is
// nil after its deadline, where Err is DeadlineExceeded.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	armed    atomic.Pointer[context.Context] // WithDeadline(parent, deadline), once waited for
	cancel   context.CancelFunc
	released atomic.Bool // the handler returned: done, as by a cancel
}

// arm returns the context that answers for c from the first wait on.
func (c *lazyDeadline) arm() context.Context {
	if ctx := c.armed.Load(); ctx != nil {
		return *ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx := c.armed.Load(); ctx != nil {
		return *ctx
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.released.Load() {
		cancel()
	}
	c.cancel = cancel
	c.armed.Store(&ctx)
	return ctx
}

// release is the handler's return: c is done, and its timer, if any,
// stopped.
func (c *lazyDeadline) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released.Store(true)
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().Done() }

func (c *lazyDeadline) Err() error {
	if ctx := c.armed.Load(); ctx != nil {
		return (*ctx).Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	switch {
	case c.released.Load():
		return context.Canceled
	case !time.Now().Before(c.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from the armed context once there is one, so that a
// context derived from c with a cancel of its own finds the cancel that
// Done closes, and is cancelled with it without a goroutine of its own.
func (c *lazyDeadline) Value(key any) any {
	if ctx := c.armed.Load(); ctx != nil {
		return (*ctx).Value(key)
	}
	return c.parent.Value(key)
}
