package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// newTestGroup returns a group commit over a fresh SQLite file with one
// table, t(v).
func newTestGroup(t *testing.T) (*groupCommit, *stmtDB) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "g.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	open := func(n int) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(n)
		return db
	}
	db := newStmtDB(open(4), open(1), true)
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (v TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := newGroupCommit(db)
	t.Cleanup(func() { db.Close() })
	return g, db
}

func insert(v string) func(context.Context, querier) error {
	return func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, v)
		return err
	}
}

func count(t *testing.T, db *stmtDB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGroupCommitSurvives checks that a write that panics fails alone and
// the group goes on; that a caller gone before its turn writes nothing;
// and that writes after close fail at once instead of waiting forever.
func TestGroupCommitSurvives(t *testing.T) {
	g, db := newTestGroup(t)
	ctx := t.Context()
	err := g.do(ctx, false, func(context.Context, querier) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("a panicking write gave %v", err)
	}
	if err := g.do(ctx, false, insert("a")); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.do(gone, false, insert("b")); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled caller: %v", err)
	}
	if n := count(t, db); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	g.close()
	if err := g.do(ctx, false, insert("c")); !errors.Is(err, errStoreClosed) {
		t.Errorf("a write after close: %v", err)
	}
}
