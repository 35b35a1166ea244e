package sqlstore

import (
	"context"
	"sync"
	"time"
)

// A CommitMark is a value that changes whenever a transaction commits to
// the database, from any process, and reads nothing of the database:
// SQLite's WAL-index header (storage/sqlite). ok is false when it cannot
// be read; the counts are then read as without it.
type CommitMark func() (mark [48]byte, ok bool)

// markMaxAge bounds how long counts are answered from a mark: past it they
// are read again whatever the mark says, which bounds what a mark that
// failed to change (a database no longer in WAL mode, say) could keep.
const markMaxAge = time.Second

// markedCounts answers the generation counts with those last read, without
// a read, while the commit mark is the one read before that read began:
// nothing has committed since, so the counts are the database's now. A
// request that finds another mark, or none, reads (read, the groupRead),
// and leaves its mark and counts for the requests after it. Token
// issuance commits, validation does not: introspection and client
// authentication between two commits read nothing but the mark.
type markedCounts struct {
	mark CommitMark
	read func(context.Context) (clients, revocations int64, err error)
	now  func() time.Time

	mu                   sync.Mutex
	last                 [48]byte // the mark read before the counts below
	at                   time.Time
	valid                bool
	clients, revocations int64
	hits                 int64 // lookups answered from the mark
}

func newMarkedCounts(mark CommitMark, read func(context.Context) (int64, int64, error), now func() time.Time) *markedCounts {
	return &markedCounts{mark: mark, read: read, now: now}
}

// counts returns the counts as of a moment after the call began.
func (m *markedCounts) counts(ctx context.Context) (clients, revocations int64, err error) {
	mark, ok := m.mark()
	now := m.now()
	if ok {
		m.mu.Lock()
		if m.valid && mark == m.last && now.Sub(m.at) < markMaxAge {
			m.hits++
			clients, revocations = m.clients, m.revocations
			m.mu.Unlock()
			return clients, revocations, nil
		}
		m.mu.Unlock()
	}
	// Read after the mark: the counts are at least as new as it. Counts
	// newer than it (a commit in between) are kept under a mark that has
	// changed since, which the next request finds changed.
	clients, revocations, err = m.read(ctx)
	if err != nil || !ok {
		return clients, revocations, err
	}
	m.mu.Lock()
	m.last, m.at, m.valid, m.clients, m.revocations = mark, now, true, clients, revocations
	m.mu.Unlock()
	return clients, revocations, nil
}

// stats reports the lookups answered from the mark.
func (m *markedCounts) stats() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}
