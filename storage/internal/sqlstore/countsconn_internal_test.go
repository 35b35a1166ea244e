package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// TestCountsConn reads the counts on a connection of its own: it keeps the
// connection between reads, gives it back when a read fails (here: the
// table is gone) and takes one again for the next, and fails once closed.
func TestCountsConn(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	create := func(n, revocations int) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `CREATE TABLE client_generation (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, revocations INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO client_generation VALUES (1, $1, $2)`, n, revocations); err != nil {
			t.Fatal(err)
		}
	}
	inUse := func() int { return db.Stats().InUse }
	create(3, 4)
	c := newCountsConn(db)
	for range 2 {
		if n, r, err := c.read(ctx); n != 3 || r != 4 || err != nil {
			t.Fatalf("read: %d %d %v; want 3 4", n, r, err)
		}
	}
	if inUse() != 1 || db.Stats().OpenConnections != 1 {
		t.Fatalf("after two reads: %d connections in use of %d open, want 1 of 1", inUse(), db.Stats().OpenConnections)
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE client_generation`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.read(ctx); err == nil {
		t.Fatal("a read of a dropped table gave no error")
	}
	if inUse() != 0 {
		t.Fatalf("after a failed read: %d connections in use, want 0", inUse())
	}
	create(5, 6)
	if n, r, err := c.read(ctx); n != 5 || r != 6 || err != nil {
		t.Fatalf("read after a failure: %d %d %v; want 5 6", n, r, err)
	}
	c.close()
	if inUse() != 0 {
		t.Fatalf("after close: %d connections in use, want 0", inUse())
	}
	if _, _, err := c.read(ctx); err == nil {
		t.Fatal("a read after close gave no error")
	}
}
