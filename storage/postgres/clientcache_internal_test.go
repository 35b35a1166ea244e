package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// fastListener checks its connection every 50ms of silence, so that tests
// go through that path many times.
var fastListener = listenerTiming{quiet: 50 * time.Millisecond, check: time.Second, handshake: 5 * time.Second,
	maxBackoff: 200 * time.Millisecond}

// migratedPool connects to dsn and migrates the database.
func migratedPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := connect(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := migratePool(t.Context(), pool); err != nil {
		pool.Close()
		t.Fatal(err)
	}
	return pool
}

// openCached opens a Store on dsn with timing t and waits until its client
// cache is on.
func openCached(t *testing.T, dsn string, timing listenerTiming) *Store {
	t.Helper()
	s := newStore(migratedPool(t, dsn), timing)
	t.Cleanup(func() { s.Close() })
	waitFor(t, "the client cache to be on", s.clients.isLive)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *clientCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func cached(s *Store, id string) bool {
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	_, ok := s.clients.clients[id]
	return ok
}

func newTestClient(id string, secret byte) *storage.Client {
	now := time.Now().Truncate(time.Millisecond)
	return &storage.Client{ID: id, Name: id, SecretHash: bytes.Repeat([]byte{secret}, 32),
		RedirectURIs: []string{"https://rp.example/cb"}, SigningAlgorithm: "RS256", CreatedAt: now, UpdatedAt: now}
}

// TestClientCacheFollowsChanges runs two replicas on one database: what one
// reads it then serves from memory, and every change, made by the other
// replica, by SQL by hand or by itself, reaches it.
func TestClientCacheFollowsChanges(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openCached(t, dsn, fastListener)
	b := openCached(t, dsn, defaultListenerTiming)
	ctx := t.Context()
	gen := a.clients.generation()
	if err := b.CreateClient(ctx, newTestClient("c1", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the creation to reach the other replica", func() bool { return a.clients.generation() != gen })

	c, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !cached(a, "c1") {
		t.Fatal("c1 was read but not cached")
	}
	// What a caller does to its copy stays with it.
	c.RedirectURIs[0], c.SecretHash[0] = "https://evil.example/cb", 9
	again, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if again.RedirectURIs[0] != "https://rp.example/cb" || again.SecretHash[0] != 1 {
		t.Fatalf("the cache handed out its own copy: %+v", again)
	}
	// Unknown clients are not cached.
	if _, err := a.ClientByID(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ClientByID(nobody) = %v, want ErrNotFound", err)
	}
	if cached(a, "nobody") {
		t.Fatal("an unknown client was cached")
	}

	// Quiet for several of a's connection checks: it still listens.
	time.Sleep(300 * time.Millisecond)

	tests := []struct {
		name   string
		change func() error
		want   func(*storage.Client, error) bool
	}{
		{"secret rotated by the other replica",
			func() error { return b.SetClientSecretHash(ctx, "c1", bytes.Repeat([]byte{2}, 32), time.Now()) },
			func(c *storage.Client, err error) bool { return err == nil && c.SecretHash[0] == 2 }},
		{"renamed by SQL by hand",
			func() error {
				_, err := b.pool.Exec(ctx, `UPDATE clients SET name = 'renamed' WHERE id = 'c1'`)
				return err
			},
			func(c *storage.Client, err error) bool { return err == nil && c.Name == "renamed" }},
		{"deleted by the other replica",
			func() error { return b.DeleteClient(ctx, "c1") },
			func(_ *storage.Client, err error) bool { return errors.Is(err, storage.ErrNotFound) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.ClientByID(ctx, "c1"); err == nil && !cached(a, "c1") {
				t.Fatal("c1 not cached before the change")
			}
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the change to reach the other replica", func() bool { return tt.want(a.ClientByID(ctx, "c1")) })
		})
	}

	// A replica's own change is seen at once, with no notification awaited.
	if err := a.CreateClient(ctx, newTestClient("c2", 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ClientByID(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	uris := []string{"https://rp.example/new"}
	if err := a.SetClientURIs(ctx, "c2", uris, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := a.ClientByID(ctx, "c2"); err != nil || !slices.Equal(c.RedirectURIs, uris) {
		t.Fatalf("after its own SetClientURIs: %+v, %v", c, err)
	}
}

// TestClientCacheListenerLost cuts the listener's connection: the cache is
// emptied and off until a new connection listens, so a change made
// meanwhile, whose notification nobody received, is still seen.
func TestClientCacheListenerLost(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openCached(t, dsn, fastListener)
	ctx := t.Context()
	gen := a.clients.generation()
	if err := a.CreateClient(ctx, newTestClient("c1", 1)); err != nil {
		t.Fatal(err)
	}
	// Its own emptying, then the trigger's notification.
	waitFor(t, "the creation's notification", func() bool { return a.clients.generation() >= gen+2 })
	if _, err := a.ClientByID(ctx, "c1"); err != nil || !cached(a, "c1") {
		t.Fatalf("c1 not cached: %v", err)
	}
	a.clients.mu.Lock()
	pid := a.clients.listenerPID
	a.clients.mu.Unlock()
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
		t.Fatal(err)
	}
	// Changed behind the Store's back while nobody may be listening.
	if _, err := a.pool.Exec(ctx, `ALTER TABLE clients DISABLE TRIGGER clients_changed`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, `UPDATE clients SET name = 'unannounced' WHERE id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, `ALTER TABLE clients ENABLE TRIGGER clients_changed`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new listener", func() bool {
		a.clients.mu.Lock()
		defer a.clients.mu.Unlock()
		return a.clients.live && a.clients.listenerPID != 0 && a.clients.listenerPID != pid
	})
	c, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "unannounced" {
		t.Fatalf("after the listener was lost, ClientByID served %q", c.Name)
	}
}

// TestClientCacheListenerBackoff cuts the listener's connection again and
// again: each time a new listener is on within a second, as the wait
// between attempts starts over after one that listened. Had it kept
// doubling, the fifth would wait 1.6s.
func TestClientCacheListenerBackoff(t *testing.T) {
	timing := fastListener
	timing.maxBackoff = 30 * time.Second
	a := openCached(t, pgtest.DSN(t), timing)
	pid := func() uint32 {
		a.clients.mu.Lock()
		defer a.clients.mu.Unlock()
		if !a.clients.live {
			return 0
		}
		return a.clients.listenerPID
	}
	for i := range 6 {
		old := pid()
		if _, err := a.pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, int64(old)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, "a new listener", func() bool { p := pid(); return p != 0 && p != old })
		if d := time.Since(start); d > time.Second {
			t.Fatalf("cut %d: a new listener after %v, want within 1s", i+1, d)
		}
	}
}

// TestClientCacheGenerations checks that a read which began before the
// cache was emptied is not cached after it, and that nothing is cached
// while the cache is off.
func TestClientCacheGenerations(t *testing.T) {
	var c clientCache
	c.reset(true)
	_, gen, ok := c.get("c1")
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.forget() // a change lands while c1 is being read
	c.put(newTestClient("c1", 1), gen)
	if _, _, ok := c.get("c1"); ok {
		t.Fatal("a read from before the change was cached")
	}
	_, gen, _ = c.get("c1")
	c.put(newTestClient("c1", 1), gen)
	if _, _, ok := c.get("c1"); !ok {
		t.Fatal("a current read was not cached")
	}

	c.reset(false)
	c.forget() // a change of its own while the listener is down
	_, gen, _ = c.get("c1")
	c.put(newTestClient("c1", 1), gen)
	if _, _, ok := c.get("c1"); ok || c.isLive() {
		t.Fatal("cached while off")
	}
}

// TestClientCacheOffWithoutNotifications: a connection on which
// notifications never arrive (as behind a pooler in transaction mode)
// never turns the cache on.
func TestClientCacheOffWithoutNotifications(t *testing.T) {
	pool := migratedPool(t, pgtest.DSN(t))
	s := &Store{pool: pool}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The hand-shake waits no time at all: its notification cannot come
	// back in time, as it would never come back through such a pooler.
	err := s.listenOnce(ctx, listenerTiming{quiet: time.Second, check: time.Second, handshake: time.Nanosecond, maxBackoff: time.Second})
	pool.Close()
	if err == nil || s.clients.isLive() {
		t.Fatalf("listenOnce = %v, live %v: want an error and the cache off", err, s.clients.isLive())
	}
}
