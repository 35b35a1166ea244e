// Package pgtest gives tests a PostgreSQL schema of their own. Only tests
// import it, so that the testing package stays out of the server binary.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by DSN.
const (
	// testDSNEnv names a PostgreSQL database the tests may create schemas
	// in, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
	testDSNEnv = "GATEHOUSE_TEST_POSTGRES_DSN"
	// requireEnv, set to 1, makes DSN fail instead of skip when
	// testDSNEnv is unset (CI sets it).
	requireEnv = "GATEHOUSE_TEST_REQUIRE_POSTGRES"
)

// DSN returns a connection string for a fresh, empty schema of the test
// database named by $GATEHOUSE_TEST_POSTGRES_DSN, and drops the schema when
// t and its subtests are done. Tables created through the connection string
// (migrations included) land in that schema, so tests may run in parallel.
//
// Without $GATEHOUSE_TEST_POSTGRES_DSN it skips t, or fails it when
// $GATEHOUSE_TEST_REQUIRE_POSTGRES is 1.
func DSN(t testing.TB) string {
	t.Helper()
	return newSchema(t, baseDSN(t), func(schema string) string {
		return "CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize()
	})
}

// baseDSN returns $GATEHOUSE_TEST_POSTGRES_DSN, or skips or fails t
// without it (see DSN).
func baseDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(testDSNEnv)
	if base == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set but %s=1", testDSNEnv, requireEnv)
		}
		t.Skipf("%s not set, skipping PostgreSQL test", testDSNEnv)
	}
	return base
}

// newSchema creates a schema with a fresh name in the database base names,
// running the SQL create returns for that name, drops it when t and its
// subtests are done, and returns base with the schema as search_path.
func newSchema(t testing.TB, base string, create func(schema string) string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "gh_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("postgres: connect to %s: %v", testDSNEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, create(schema)); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("postgres: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("postgres: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("postgres: %s: %v", testDSNEnv, err)
	}
	return dsn
}

// withSearchPath adds search_path=schema to the connection string dsn,
// which is either a URL or keyword/value pairs.
func withSearchPath(dsn, schema string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
