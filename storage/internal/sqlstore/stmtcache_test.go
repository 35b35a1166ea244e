package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// countingConnector opens connections of a real driver and counts the
// statements they prepare. Its connections expose only Prepare and BeginTx,
// so every statement the store runs goes through a counted prepare.
type countingConnector struct {
	drv      driver.Driver
	dsn      string
	prepares atomic.Int64
}

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn: conn, n: &c.prepares}, nil
}

func (c *countingConnector) Driver() driver.Driver { return c.drv }

type countingConn struct {
	conn driver.Conn
	n    *atomic.Int64
}

func (c *countingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.n.Add(1)
	return c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *countingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *countingConn) Close() error { return c.conn.Close() }

// openCounting returns a store over a migrated SQLite file whose
// connections count their prepares.
func openCounting(t *testing.T, prepare bool, conns int) (*sqlstore.Store, *countingConnector) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stmt.db")
	if err := sqlite.Migrate(t.Context(), "sqlite:"+path); err != nil {
		t.Fatal(err)
	}
	probe, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingConnector{drv: probe.Driver(),
		dsn: path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"}
	probe.Close()
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	s := sqlstore.New(db, sqlstore.Dialect{Constraint: func(error) error { return nil }, PrepareStatements: prepare})
	t.Cleanup(func() { s.Close() })
	return s, c
}

// round runs a few reads, writes and a transaction of the hot paths.
func round(ctx context.Context, s *sqlstore.Store) error {
	now := time.Now()
	if _, err := s.UserByEmail(ctx, "stmt@example.com"); err != nil {
		return err
	}
	if _, err := s.UserByID(ctx, "u1"); err != nil {
		return err
	}
	if _, err := s.AccessTokenByID(ctx, "no-such-token"); !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	return s.RevokeGrant(ctx, "grant", now) // two statements in a transaction
}

// TestStatementsPreparedOnce checks that with PrepareStatements each
// statement is prepared once per connection, however often it runs, and
// that without it every run prepares anew (so the count does see them).
func TestStatementsPreparedOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare bool
		grows   bool
	}{
		{"cached", true, false},
		{"uncached", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := openCounting(t, tc.prepare, 1)
			now := time.Now()
			if err := s.CreateUser(t.Context(), &storage.User{ID: "u1", Email: "stmt@example.com", PasswordHash: "x",
				CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := round(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			first := c.prepares.Load()
			for range 50 {
				if err := round(t.Context(), s); err != nil {
					t.Fatal(err)
				}
			}
			after := c.prepares.Load()
			if grew := after > first; grew != tc.grows {
				t.Errorf("prepares: %d after the first round, %d after 50 more; want growth %v", first, after, tc.grows)
			}
		})
	}
}

// TestStatementCacheConcurrent runs the store's statements from many
// goroutines over a pool of connections: each connection prepares each
// statement at most once, and closing the store while nothing runs closes
// them all.
func TestStatementCacheConcurrent(t *testing.T) {
	const conns = 4
	s, c := openCounting(t, true, conns)
	now := time.Now()
	if err := s.CreateUser(t.Context(), &storage.User{ID: "u1", Email: "stmt@example.com", PasswordHash: "x",
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// The first round caches the statements (a transaction's run
	// unprepared the first time).
	if err := round(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	before := c.prepares.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if err := round(t.Context(), s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// round's five distinct statements, prepared again at most on each
	// other connection.
	if n := c.prepares.Load() - before; n > 5*(conns-1) {
		t.Errorf("%d more prepares for 5 statements on %d connections", n, conns)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := s.UserByID(context.Background(), "u1"); err == nil {
		t.Error("a closed store still answers")
	}
}
