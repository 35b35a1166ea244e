package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestBackup copies a database that another connection keeps writing and
// checks that the copy is whole, owner-only and at the schema's version,
// that every row committed before the backup is in it, and that the
// database itself is unchanged.
func TestBackup(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	s, err := sqlite.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for i := range 50 {
		if err := s.CreateUser(ctx, testUser(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A writer keeps going while the backup runs.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 50; !stop.Load(); i++ {
			if err := s.CreateUser(ctx, testUser(i)); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	})
	for written.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	dest := filepath.Join(dir, "backup.db")
	info, err := sqlite.Backup(ctx, url, dest)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != info.Size || info.Version < 1 || info.Dirty {
		t.Errorf("backup: mode %v, size %d; info %+v", fi.Mode().Perm(), fi.Size(), info)
	}
	db, err := sql.Open("sqlite", dest)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 55 {
		t.Errorf("backup holds %d users, want at least the 55 written before it", n)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".backup.db.*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// An existing file is never overwritten.
	if _, err := sqlite.Backup(ctx, url, dest); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
	if fi2, _ := os.Stat(dest); fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the existing backup was changed")
	}
	// A missing database is not created.
	missing := filepath.Join(dir, "missing.db")
	if _, err := sqlite.Backup(ctx, "sqlite:"+missing, filepath.Join(dir, "b2.db")); err == nil {
		t.Error("backup of a missing database succeeded")
	}
	for _, p := range []string{missing, filepath.Join(dir, "b2.db")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it not created", filepath.Base(p), err)
		}
	}
}

func testUser(i int) *storage.User {
	now := time.Now()
	return &storage.User{ID: fmt.Sprintf("user-%d", i), Email: fmt.Sprintf("user%d@example.com", i), Name: "User",
		CreatedAt: now, UpdatedAt: now}
}
