package postgres

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

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

// openCached opens a Store on dsn, closed when t ends.
func openCached(t *testing.T, dsn string) *Store {
	t.Helper()
	s := newStore(migratedPool(t, dsn))
	t.Cleanup(func() { s.Close() })
	return s
}

// entries returns the clients s holds in memory.
func entries(s *Store) int {
	_, _, n := s.ClientLookupStats()
	return n
}

// hits returns the lookups s answered from memory.
func hits(s *Store) int64 {
	h, _, _ := s.ClientLookupStats()
	return h
}

func newTestClient(id string, secret byte) *storage.Client {
	now := time.Now().Truncate(time.Millisecond)
	return &storage.Client{ID: id, Name: id, SecretHash: bytes.Repeat([]byte{secret}, 32),
		RedirectURIs: []string{"https://rp.example/cb"}, SigningAlgorithm: "RS256", CreatedAt: now, UpdatedAt: now}
}

// TestClientCacheFollowsChanges runs two replicas on one database: what one
// reads it then serves from memory, and every change, made by the other
// replica, by SQL by hand or by itself, is seen by its next lookup.
func TestClientCacheFollowsChanges(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openCached(t, dsn)
	b := openCached(t, dsn)
	ctx := t.Context()
	if err := b.CreateClient(ctx, newTestClient("c1", 1)); err != nil {
		t.Fatal(err)
	}

	c, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if entries(a) != 1 {
		t.Fatal("c1 was read but not cached")
	}
	// What a caller does to its copy stays with it.
	c.RedirectURIs[0], c.SecretHash[0] = "https://evil.example/cb", 9
	h := hits(a)
	again, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if hits(a) != h+1 {
		t.Fatal("the second lookup of c1 was not answered from memory")
	}
	if again.RedirectURIs[0] != "https://rp.example/cb" || again.SecretHash[0] != 1 {
		t.Fatalf("the cache handed out its own copy: %+v", again)
	}
	// Unknown clients are not cached.
	if _, err := a.ClientByID(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ClientByID(nobody) = %v, want ErrNotFound", err)
	}
	if entries(a) != 1 {
		t.Fatal("an unknown client was cached")
	}

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
			if _, err := a.ClientByID(ctx, "c1"); err == nil && entries(a) != 1 {
				t.Fatal("c1 not cached before the change")
			}
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			if c, err := a.ClientByID(ctx, "c1"); !tt.want(c, err) {
				t.Fatalf("the lookup right after the change: %+v, %v", c, err)
			}
		})
	}

	// A replica's own change is seen at once.
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

// TestClientCacheWithoutNotifications changes a client by SQL by hand with
// the trigger that notifies the changes (migration 0008) off, as nobody
// would have received them (a listener cut off, a pooler in transaction
// mode): the next lookup still sees the change, and the cache still
// answers from memory.
func TestClientCacheWithoutNotifications(t *testing.T) {
	a := openCached(t, pgtest.DSN(t))
	ctx := t.Context()
	if _, err := a.pool.Exec(ctx, `ALTER TABLE clients DISABLE TRIGGER clients_changed`); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateClient(ctx, newTestClient("c1", 1)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.ClientByID(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if hits(a) != 1 || entries(a) != 1 {
		t.Fatalf("two lookups: %d from memory, %d held; want 1 and 1", hits(a), entries(a))
	}
	if _, err := a.pool.Exec(ctx, `UPDATE clients SET name = 'unannounced' WHERE id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	c, err := a.ClientByID(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "unannounced" {
		t.Fatalf("after an unannounced change, ClientByID served %q", c.Name)
	}
}
