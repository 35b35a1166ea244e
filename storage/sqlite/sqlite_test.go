package sqlite_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite/sqlitetest"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func open(t *testing.T) storage.Store {
	t.Helper()
	// A copy of a database migrated once: the migrations are tested on
	// files of their own (TestMigrateTwice, migrate_internal_test.go).
	s, err := sqlite.Open(t.Context(), "sqlite:"+sqlitetest.File(t, filepath.Join(t.TempDir(), "data", "gatehouse.db")))
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
	storagetest.Run(t, open)
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	for range 2 {
		if err := sqlite.Migrate(t.Context(), path); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"", "sqlite:", "sqlite::memory:", "sqlite:file:x.db", "sqlite:x.db?mode=ro"} {
		if s, err := sqlite.Open(t.Context(), url); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	tests := []struct {
		name   string
		before os.FileMode // mode of a database file made before Open; 0: none
	}{
		{name: "new database"},
		{name: "database created 0644", before: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			if tt.before != 0 {
				if err := sqlite.Migrate(t.Context(), path); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			s, err := sqlite.Open(t.Context(), "sqlite:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A write, so that the -wal and -shm files exist.
			if err := s.CreateUser(t.Context(), &storage.User{ID: "u1", Email: "alice@example.com"}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("%s has mode %v, want -rw-------", filepath.Base(name), perm)
				}
			}
		})
	}
}

// TestClientChangesAcrossStores runs two stores on one file, as a server
// and another process (the CLI): a client changed through one is seen at
// once through the other.
func TestClientChangesAcrossStores(t *testing.T) {
	storagetest.ClientChangesAcrossStores(t, func(t *testing.T) (storage.Store, storage.Store) {
		url := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
		openOne := func() storage.Store {
			s, err := sqlite.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return openOne(), openOne()
	})
}
