package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientChannel is the channel on which the clients table's trigger
// (migration 0008) notifies every change, with the table's schema as the
// payload.
const clientChannel = "gatehouse_clients"

// maxCachedClients bounds the cache; past it, clients are read each time.
const maxCachedClients = 4096

// A clientCache keeps the clients a replica has read, so that a token
// request authenticates its client without a round trip to the database:
// on PostgreSQL that round trip cost a client_credentials grant about a
// third of its throughput.
//
// The cache is on only while its listener is known to receive the
// notifications of the clients table's trigger, and is emptied on every
// one: a change made anywhere (another replica, the CLI, SQL by hand)
// reaches every replica when PostgreSQL delivers it, normally within a
// millisecond of its commit. The Store's own changes empty it at once. A
// read that began before a change is not cached after it: each fill
// carries the generation it read under, and every emptying starts a new
// one.
type clientCache struct {
	mu      sync.Mutex
	live    bool   // the listener receives notifications
	gen     uint64 // bumped at every emptying
	clients map[string]*storage.Client
	// listenerPID is the listener's backend process id (0 while it has
	// none), for tests that cut it off.
	listenerPID uint32
	// hits and misses count the lookups answered from memory and from the
	// database.
	hits, misses int64
}

// get returns a copy of the cached client id, or the generation a read
// from the database must carry to be cached.
func (c *clientCache) get(id string) (*storage.Client, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[id]; ok {
		c.hits++
		return cl.Clone(), 0, true
	}
	c.misses++
	return nil, c.gen, false
}

// ClientCacheStats reports the client cache: whether it is on, the
// lookups it answered and those that went to the database, and the
// clients it holds.
func (s *Store) ClientCacheStats() (live bool, hits, misses int64, entries int) {
	c := &s.clients
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live, c.hits, c.misses, len(c.clients)
}

// put caches a copy of cl, read under generation gen, unless the cache is
// off, full, or emptied since.
func (c *clientCache) put(cl *storage.Client, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen || len(c.clients) >= maxCachedClients {
		return
	}
	if c.clients == nil {
		c.clients = map[string]*storage.Client{}
	}
	c.clients[cl.ID] = cl.Clone()
}

// reset empties the cache, starts a new generation and turns the cache on
// or off.
func (c *clientCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.emptyLocked()
}

// forget empties the cache and starts a new generation, leaving it on or
// off: under the same lock, so that it cannot turn back on a cache the
// listener has just turned off.
func (c *clientCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emptyLocked()
}

func (c *clientCache) emptyLocked() {
	c.gen++
	clear(c.clients)
}

func (c *clientCache) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// listenerTiming: how long the listener waits in silence before it checks
// its connection, and how long each check and the hand-shake may take.
type listenerTiming struct {
	quiet, check, handshake time.Duration
	maxBackoff              time.Duration
}

var defaultListenerTiming = listenerTiming{quiet: 5 * time.Second, check: 2 * time.Second,
	handshake: 5 * time.Second, maxBackoff: 30 * time.Second}

// listenClients keeps a connection listening on clientChannel until ctx
// ends, reconnecting after failures; the cache is on only while it
// listens. The wait between attempts doubles while they fail, and starts
// over once one has listened: a database restarted or failed over long
// after the last trouble is listened to again within a fraction of a
// second, not after the longest wait.
func (s *Store) listenClients(ctx context.Context, t listenerTiming) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for {
		// Whatever ended it, the cache is off until the next connection
		// works (gatehouse_client_cache_live reports it).
		s.listenOnce(ctx, t)
		if s.clients.isLive() {
			backoff = firstBackoff
		}
		s.clients.reset(false)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, t.maxBackoff)
	}
}

// listenOnce opens a connection of its own, listens, and proves with a
// notification of its own, sent from another connection, that
// notifications reach it (a pooler in transaction mode would swallow
// them). Then it turns the cache on and empties it on every notification
// of its schema until the connection fails or ctx ends; in silence it
// checks every t.quiet that the connection answers. Notifications that
// arrive before the cache is on are dropped: it starts empty.
func (s *Store) listenOnce(ctx context.Context, t listenerTiming) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: client cache: connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(closeCtx)
		cancel()
		s.clients.mu.Lock()
		s.clients.listenerPID = 0
		s.clients.mu.Unlock()
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: client cache: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+clientChannel); err != nil {
		return fmt.Errorf("postgres: client cache: listen: %w", err)
	}
	nonce := "hello " + rand.Text()
	// Sent from the pool, as the trigger's notifications are sent from
	// other connections.
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, clientChannel, nonce); err != nil {
		return fmt.Errorf("postgres: client cache: notify: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, t.handshake)
	for {
		n, err := conn.WaitForNotification(hctx)
		if err != nil {
			cancel()
			return fmt.Errorf("postgres: client cache: no notification came back: %w", err)
		}
		if n.Payload == nonce {
			break
		}
	}
	cancel()
	s.clients.mu.Lock()
	s.clients.listenerPID = conn.PgConn().PID()
	s.clients.mu.Unlock()
	s.clients.reset(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, t.quiet)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Payload == schema {
				s.clients.forget()
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, t.check)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("postgres: client cache: %w", err)
			}
		default:
			return fmt.Errorf("postgres: client cache: %w", err)
		}
	}
}

// ClientByID returns the client with the given id, from the cache when the
// cache is on and holds it.
func (s *Store) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	cl, gen, ok := s.clients.get(id)
	if ok {
		return cl, nil
	}
	cl, err := s.Store.ClientByID(ctx, id)
	if err == nil {
		s.clients.put(cl, gen)
	}
	return cl, err
}

// CreateClient adds c; the cache forgets what it holds.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	defer s.clients.forget()
	return s.Store.CreateClient(ctx, c)
}

// DeleteClient removes the client id with its requests and tokens; the
// cache forgets what it holds.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.forget()
	return s.Store.DeleteClient(ctx, id)
}

// SetClientSecretHash replaces the secret hash of the client id; the cache
// forgets what it holds.
func (s *Store) SetClientSecretHash(ctx context.Context, id string, hash []byte, now time.Time) error {
	defer s.clients.forget()
	return s.Store.SetClientSecretHash(ctx, id, hash, now)
}

// SetClientURIs replaces the redirect URIs of the client id; the cache
// forgets what it holds.
func (s *Store) SetClientURIs(ctx context.Context, id string, redirectURIs, postLogoutRedirectURIs []string, now time.Time) error {
	defer s.clients.forget()
	return s.Store.SetClientURIs(ctx, id, redirectURIs, postLogoutRedirectURIs, now)
}

// SetClientDisabled disables or enables the client id; the cache forgets
// what it holds.
func (s *Store) SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	defer s.clients.forget()
	return s.Store.SetClientDisabled(ctx, id, disabled, now)
}

// SetClientMetadata stores the metadata of the client c.ID; the cache
// forgets what it holds.
func (s *Store) SetClientMetadata(ctx context.Context, c *storage.Client, now time.Time) error {
	defer s.clients.forget()
	return s.Store.SetClientMetadata(ctx, c, now)
}
