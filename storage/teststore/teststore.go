// Package teststore opens a fresh store on each backend for tests and
// benchmarks outside the storage packages: SQLite in the test's temporary
// directory (a copy of a database migrated once, sqlitetest.File), and
// PostgreSQL in a schema of its own (a copy of a schema migrated once,
// pgtest.MigratedDSN, which skips without $GATEHOUSE_TEST_POSTGRES_DSN).
package teststore

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite/sqlitetest"
)

// Backends are the names Open accepts.
var Backends = []string{"sqlite", "postgres"}

// Open returns a migrated, empty store on backend ("sqlite" or
// "postgres"), closed when tb ends. It fails tb if the store cannot be
// opened.
func Open(tb testing.TB, backend string) storage.Store {
	tb.Helper()
	var (
		store storage.Store
		err   error
	)
	switch backend {
	case "sqlite":
		store, err = sqlite.Open(tb.Context(), "sqlite:"+sqlitetest.File(tb, filepath.Join(tb.TempDir(), "test.db")))
	case "postgres":
		store, err = postgres.Open(tb.Context(), pgtest.MigratedDSN(tb, postgres.Migrate))
	default:
		tb.Fatalf("teststore: unknown backend %q", backend)
	}
	if err != nil {
		tb.Fatalf("teststore: open %s: %v", backend, err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}
