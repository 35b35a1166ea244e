package sqlstore

import (
	"context"
	"sync"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// maxCachedClients bounds a generationCache; past it, clients are read
// each time.
const maxCachedClients = 4096

// A generationCache keeps the clients a Store has read, each under the
// count of changes to clients (the client_generation row, which the
// clients table's triggers bump: migration 0019) read before it. A lookup
// reads the count, one integer, and answers from memory only while it is
// the one the cache holds: any committed change to a client, by this
// process or another (the CLI), is seen by the next lookup, as without
// the cache. A client read after a change but cached under the count
// before it is merely read again.
type generationCache struct {
	mu      sync.Mutex
	gen     int64
	clients map[string]*storage.Client
	// hits and misses count the lookups answered from memory and from the
	// database.
	hits, misses int64
}

// newGenerationCache returns the cache a Store of dialect d keeps, or nil.
func newGenerationCache(d Dialect) *generationCache {
	if !d.ClientGeneration {
		return nil
	}
	return &generationCache{gen: -1}
}

// get returns a copy of the client id if the cache holds it under gen, the
// count just read. A new count empties the cache.
func (c *generationCache) get(id string, gen int64) (*storage.Client, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		c.gen = gen
		clear(c.clients)
	}
	cl, ok := c.clients[id]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	return cl.Clone(), true
}

// put keeps a copy of cl, read after the count gen, unless the cache has
// moved on to another count or is full.
func (c *generationCache) put(cl *storage.Client, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || len(c.clients) >= maxCachedClients {
		return
	}
	if c.clients == nil {
		c.clients = map[string]*storage.Client{}
	}
	c.clients[cl.ID] = cl.Clone()
}

// stats reports the lookups answered from memory and from the database,
// and the clients held.
func (c *generationCache) stats() (hits, misses int64, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, len(c.clients)
}

// generationCounts reads the count of changes to clients with the count
// of revocations of unrecorded tokens (revocations.go). A statement that
// reads a row the request needs anyway appends them to its columns
// (withCounts): the request then reads no more of them.
const generationCounts = `SELECT n, revocations FROM client_generation WHERE id = 1`

// cachedClientByID answers ClientByID from the generation cache: the
// count of changes first, then the client's row only when the cache does
// not hold it under that count. The count is the one the request read
// already (storage.RequestCounts), if it read one: read during the
// request, it reflects every change committed before the request began,
// as a read now would. Else it reads it, with the count of revocations,
// for the request's later lookups, in a read that begins after this call
// did, shared with the lookups that ask at the same time (groupRead).
func (s *Store) cachedClientByID(ctx context.Context, id string) (*storage.Client, error) {
	counts := storage.RequestCountsFrom(ctx)
	gen, _, ok := counts.Get()
	if !ok {
		var revocations int64
		var err error
		if gen, revocations, err = s.currentCounts(ctx); err != nil {
			return nil, s.fail("client generation", err)
		}
		counts.Set(gen, revocations)
	}
	if cl, ok := s.clients.get(id, gen); ok {
		return cl, nil
	}
	cl, err := s.readClient(ctx, id)
	if err == nil {
		s.clients.put(cl, gen)
	}
	return cl, err
}

// ClientLookupStats reports the client lookups answered from memory and
// from the database, and the clients held in memory; all zero where the
// Store keeps no clients (Dialect.ClientGeneration off).
func (s *Store) ClientLookupStats() (hits, misses int64, entries int) {
	if s.clients == nil {
		return 0, 0, 0
	}
	return s.clients.stats()
}

// CountReads reports the reads of the generation counts run and the
// lookups served by a read they waited for, shared with others (see
// groupRead); zero where the Store keeps no clients.
func (s *Store) CountReads() (reads, shared int64) {
	if s.counts == nil {
		return 0, 0
	}
	return s.counts.stats()
}

// MarkedCounts reports the lookups that read no generation counts, the
// commit mark unchanged since their last read (see markedCounts); zero
// where the Store has no commit mark.
func (s *Store) MarkedCounts() int64 {
	if s.marked == nil {
		return 0
	}
	return s.marked.stats()
}
