package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func open(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "data", "gatehouse.db"))
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
