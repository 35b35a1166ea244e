package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestWALIndexOneDescriptor opens three Stores on one file in one process
// and closes them one by one. The Stores read the -shm file through one
// descriptor, beside SQLite's own: closing a second descriptor of the
// file would drop the POSIX locks SQLite's connections hold on it. The
// descriptor stays open, and the Stores left keep answering lookups from
// the commit mark, until the last one closes.
func TestWALIndexOneDescriptor(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd to count descriptors")
	}
	ctx := t.Context()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "gatehouse.db")
	shmDescriptors := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == db+"-shm" {
				n++
			}
		}
		return n
	}
	var stores []*sqlite.Store
	for range 3 {
		s, err := sqlite.Open(ctx, "sqlite:"+db)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	defer func() {
		for _, s := range stores {
			s.Close()
		}
	}()
	now := time.Now()
	if err := stores[0].CreateClient(ctx, &storage.Client{ID: "app", Name: "App",
		RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if n := shmDescriptors(); n != 2 {
		t.Errorf("three Stores hold %d descriptors of the -shm file, want 2 (SQLite's and theirs)", n)
	}
	for len(stores) > 0 {
		for _, s := range stores {
			before := s.MarkedCounts()
			for range 3 {
				if _, err := s.ClientByID(ctx, "app"); err != nil {
					t.Fatal(err)
				}
			}
			if s.MarkedCounts() == before {
				t.Fatalf("with %d Stores open, three lookups without a commit read no commit mark", len(stores))
			}
		}
		if err := stores[0].Close(); err != nil {
			t.Fatal(err)
		}
		stores = stores[1:]
		want := 2
		if len(stores) == 0 {
			want = 0
		}
		if n := shmDescriptors(); n != want {
			t.Errorf("with %d Stores open, %d descriptors of the -shm file, want %d", len(stores), n, want)
		}
	}
}
