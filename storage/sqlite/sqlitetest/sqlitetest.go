// Package sqlitetest gives tests migrated, empty SQLite databases cheaply:
// a copy of one database the test process migrated once. Migrating a new
// file costs about 50 ms of CPU, and 0.9 s under the race detector when
// it instruments the SQLite engine, which is Go code (make test leaves it
// out: RACE_C in the Makefile); copying one costs about a millisecond. What the migrations themselves do is tested by the
// sqlite package's migration tests, on files of their own.
package sqlitetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// File writes a migrated, empty database to path, creating its directory,
// and returns path; it fails tb if it cannot. path must not exist yet.
func File(tb testing.TB, path string) string {
	tb.Helper()
	data, err := migrated()
	if err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	return path
}

// migrated returns the bytes of a database the process migrated once.
var migrated = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	s, err := sqlite.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		return nil, fmt.Errorf("migrate the template database: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("close the template database: %w", err)
	}
	// The last connection's close checkpoints the write-ahead log into
	// the file and removes it; a log left behind would hold part of the
	// schema that a copy of the file alone would lack.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the template database kept a write-ahead log of %d bytes after its close", fi.Size())
	}
	return os.ReadFile(path)
})
