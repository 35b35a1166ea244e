package sqlstore

import (
	"context"
	"fmt"
	"sync"
)

// A groupRead shares the read of the generation counts (generationCounts)
// between the requests that ask for them at once, without answering any
// of them from a read that began before it asked. A request that finds no
// read running reads at once, on its own, as if there were no groupRead.
// A request that finds one running does not take its result (it may have
// begun before the request did): it waits for the next read, which starts
// when the running one ends and serves every request that asked before it
// started. Under load there is then one read per batch of requests that
// arrived while the read before ran; one request at a time costs one read
// each, as without it.
type groupRead struct {
	read func(context.Context) (clients, revocations int64, err error)

	mu      sync.Mutex
	running bool         // a read is running
	next    *countsBatch // the requests waiting for the read after it; nil if none
	// reads and shared count the reads run and the requests served by a
	// read that another request's wait started.
	reads, shared int64
}

// A countsBatch is one read's result, for the requests that wait for it.
type countsBatch struct {
	done                 chan struct{} // closed when the fields below are set
	clients, revocations int64
	err                  error
}

func newGroupRead(read func(context.Context) (int64, int64, error)) *groupRead {
	return &groupRead{read: read}
}

// counts returns counts read after the call began.
func (g *groupRead) counts(ctx context.Context) (clients, revocations int64, err error) {
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.reads++
		g.mu.Unlock()
		defer g.finish()
		return g.readSafely(ctx)
	}
	b := g.next
	if b == nil {
		b = &countsBatch{done: make(chan struct{})}
		g.next = b
	}
	g.shared++
	g.mu.Unlock()
	select {
	case <-b.done:
		return b.clients, b.revocations, b.err
	case <-ctx.Done():
		return 0, 0, context.Cause(ctx)
	}
}

// finish ends a read: it starts the read of the batch that waits, if any,
// else leaves none running. The batch stays open until its read starts:
// requests that arrive meanwhile join it.
func (g *groupRead) finish() {
	g.mu.Lock()
	if g.next == nil {
		g.running = false
		g.mu.Unlock()
		return
	}
	g.reads++
	g.mu.Unlock()
	go g.run()
}

// run reads for the batch that waits, closing it to new requests first,
// and finishes.
func (g *groupRead) run() {
	g.mu.Lock()
	b := g.next
	g.next = nil
	g.mu.Unlock()
	// No request's context: the batch's requests wait with their own.
	b.clients, b.revocations, b.err = g.readSafely(context.Background())
	close(b.done)
	g.finish()
}

// readSafely reads, turning a panic into an error: the requests that wait
// for the read, and the reads after it, must not wait forever.
func (g *groupRead) readSafely(ctx context.Context) (clients, revocations int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("read of the generation counts panicked: %v", r)
		}
	}()
	return g.read(ctx)
}

// stats reports the reads run and the requests served by a read they
// waited for.
func (g *groupRead) stats() (reads, shared int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads, g.shared
}
