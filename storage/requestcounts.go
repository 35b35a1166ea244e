package storage

import (
	"context"
	"sync"
)

// UnrecordedPrefix starts the id of an access token that is not recorded
// when issued (a client_credentials JWT that carries all it grants): such
// a token gets a record only when it is revoked, so that a record under
// such an id is its revocation. Recorded ids never contain a dot.
const UnrecordedPrefix = "cc."

// RequestCounts carries, through the context of one request, counts of
// changes that a Store read during the request, so that the request's
// later reads can be answered from what the Store keeps in memory under
// the same counts. A count read during a request reflects every change
// committed before the request began, as a read later in it would: the
// answer is as fresh as a read's. A Store that keeps no such counts
// (PostgreSQL's) reads instead.
type RequestCounts struct {
	mu                   sync.Mutex
	clients, revocations int64
	known                bool
}

type requestCountsKey struct{}

// WithRequestCounts returns ctx with empty RequestCounts: give each request
// its own.
func WithRequestCounts(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestCountsKey{}, &RequestCounts{})
}

// RequestCountsFrom returns the RequestCounts of ctx, nil when it has none.
func RequestCountsFrom(ctx context.Context) *RequestCounts {
	c, _ := ctx.Value(requestCountsKey{}).(*RequestCounts)
	return c
}

// Set records the counts of changes to clients and of revocations of
// unrecorded tokens, just read together. A nil RequestCounts records
// nothing.
func (c *RequestCounts) Set(clients, revocations int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.clients, c.revocations, c.known = clients, revocations, true
	c.mu.Unlock()
}

// Get returns the counts read during the request, and whether any were.
func (c *RequestCounts) Get() (clients, revocations int64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients, c.revocations, c.known
}
