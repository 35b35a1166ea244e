package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkFloor measures what SQLite itself costs, under the pragmas of
// the store and through the same driver, below anything Gatehouse does:
// a read of one row by its key in a read transaction of its own, and a
// write transaction that updates one row. They are the floor under every
// request that reads a row (introspection, userinfo) and under every one
// that must commit before it answers (a code's single use).
func BenchmarkFloor(b *testing.B) {
	dsn, err := dataSource("sqlite:" + filepath.Join(b.TempDir(), "floor.db"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := openPool(ctx, dsn, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, n) VALUES ($1, 0)`, "row-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	read, err := db.PrepareContext(ctx, `SELECT n FROM t WHERE id = $1`)
	if err != nil {
		b.Fatal(err)
	}
	update, err := db.PrepareContext(ctx, `UPDATE t SET n = n + 1 WHERE id = $1`)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		var n int64
		i := 0
		for b.Loop() {
			if err := read.QueryRowContext(ctx, "row-"+strconv.Itoa(i%1000)).Scan(&n); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("write", func(b *testing.B) {
		i := 0
		for b.Loop() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.StmtContext(ctx, update).ExecContext(ctx, "row-"+strconv.Itoa(i%1000)); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
