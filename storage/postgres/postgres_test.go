package postgres_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func open(t *testing.T) storage.Store {
	t.Helper()
	// A copy of a schema migrated once: the migrations are tested on
	// schemas of their own (TestMigrate…).
	s, err := postgres.Open(t.Context(), pgtest.MigratedDSN(t, postgres.Migrate))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	pgtest.DSN(t) // skip (or fail) once rather than in every subtest
	storagetest.Run(t, open)
}

// TestMigrateConcurrently starts several replicas on one empty schema at
// once: the advisory lock lets one migrate while the others wait.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = postgres.Migrate(t.Context(), dsn)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaIsolation checks that pgtest.DSN's schema holds every table,
// golang-migrate's version table included, so that tests do not collide.
func TestSchemaIsolation(t *testing.T) {
	dsn := pgtest.DSN(t)
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var schema string
	var version int64
	err = conn.QueryRow(t.Context(), `SELECT current_schema(), (SELECT version FROM schema_migrations)`).Scan(&schema, &version)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "gh_test_") || version < 1 {
		t.Errorf("current schema %q at version %d, want a gh_test_ schema at version ≥ 1", schema, version)
	}
	for _, table := range []string{"schema_migrations", "users", "attempt_counters"} {
		var where string
		err := conn.QueryRow(t.Context(), `SELECT table_schema FROM information_schema.tables
			WHERE table_name = $1 AND table_schema = current_schema()`, table).Scan(&where)
		if err != nil {
			t.Errorf("table %s in schema %s: %v", table, schema, err)
		}
	}
}

// TestClientChangesAcrossStores runs two replicas on one database: a
// client changed through one is seen at once through the other.
func TestClientChangesAcrossStores(t *testing.T) {
	pgtest.DSN(t)
	storagetest.ClientChangesAcrossStores(t, func(t *testing.T) (storage.Store, storage.Store) {
		dsn := pgtest.DSN(t)
		openOne := func() storage.Store {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return openOne(), openOne()
	})
}

// TestOpenMigratedSkipsMigrationLock opens a schema already at the last
// migration while another session holds golang-migrate's advisory lock
// on it (a replica migrating, or one stuck): the open does not wait for
// the lock, since it has nothing to apply. A schema short of the last
// migration still waits, as TestMigrateConcurrently needs.
func TestOpenMigratedSkipsMigrationLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(t.Context())
	var db, schema string
	if err := holder.QueryRow(t.Context(), `SELECT current_database(), current_schema()`).Scan(&db, &schema); err != nil {
		t.Fatal(err)
	}
	lock, err := database.GenerateAdvisoryLockId(db, schema, "schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, lock); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		s, err := postgres.Open(t.Context(), dsn)
		if err == nil {
			err = s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open of a migrated schema while the migration lock is held: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("open of a migrated schema waited 5 s for the migration lock another session holds")
		if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, lock); err != nil {
			t.Fatal(err)
		}
		<-opened
	}
}
