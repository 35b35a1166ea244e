package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestWritersQueueInThePool checks how the store pools its connections:
// concurrent writers wait for the single writer connection in the pool
// (Waits counts them; with one pool for all they would each open a
// connection and retry on SQLITE_BUSY instead), and the connections a
// burst opened stay open for the next one.
func TestWritersQueueInThePool(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	if got, want := s.PoolStats().MaxOpen, readers()+1; got != want {
		t.Fatalf("MaxOpen = %d, want %d readers and one writer", got, want)
	}
	// Whether a burst's writers meet at the pool is up to the scheduler
	// (with one CPU, goroutines may each finish before the next starts):
	// bursts go on until one has waited, ten at the most.
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("with one CPU the writers of a burst take turns and seldom meet")
	}
	const writers, each, bursts = 8, 25, 10
	now := time.Now()
	stored := 0
	for b := 0; b < bursts && s.PoolStats().Waits == 0; b++ {
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					id := fmt.Sprintf("u%d-%d-%d", b, w, i)
					u := &storage.User{ID: id, Email: id + "@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
					if err := s.CreateUser(t.Context(), u); err != nil {
						errs <- err
						return
					}
					if _, err := s.UserByID(t.Context(), id); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		stored += writers * each
	}
	st := s.PoolStats()
	if st.Waits == 0 {
		t.Errorf("PoolStats = %+v: %d bursts of %d concurrent writers never waited for the writer connection", st, bursts, writers)
	}
	if st.InUse != 0 || st.Idle < 2 || st.Idle > st.MaxOpen {
		t.Errorf("PoolStats = %+v after the burst, want every opened connection idle (at least the writer and a reader)", st)
	}
	users, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != stored {
		t.Errorf("%d users stored, want %d", len(users), stored)
	}
}

// TestGroupCommit checks that writes arriving together share commits, and
// that one that fails in a group is rolled back alone: every other write
// of its group is stored.
func TestGroupCommit(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "group.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	const writers, each = 32, 20
	now := time.Now()
	token := func(id string) *storage.AccessToken {
		return &storage.AccessToken{ID: id, ClientID: "c", Subject: "s", ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, conflicts := 0, 0
	var unexpected []error
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("t%d-%d", w, i)
				if i == each/2 {
					id = fmt.Sprintf("t%d-0", w) // taken: must fail alone
				}
				err := s.CreateAccessToken(t.Context(), token(id))
				mu.Lock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, storage.ErrConflict):
					conflicts++
				default:
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(unexpected) > 0 || conflicts != writers || stored != writers*(each-1) {
		t.Fatalf("%d stored, %d conflicts, errors %v; want %d stored and %d conflicts", stored, conflicts, unexpected, writers*(each-1), writers)
	}
	for w := range writers {
		for i := range each {
			if i == each/2 {
				continue
			}
			if _, err := s.AccessTokenByID(t.Context(), fmt.Sprintf("t%d-%d", w, i)); err != nil {
				t.Fatalf("token t%d-%d: %v", w, i, err)
			}
		}
	}
	commits, writes := s.GroupCommits()
	if writes != writers*each || commits >= writes {
		t.Errorf("%d writes in %d commits: %d concurrent writers never shared a commit", writes, commits, writers)
	}
	t.Logf("%d writes in %d commits", writes, commits)
}

// TestConnectionPragmas checks the settings every connection gets from
// its data source name.
func TestConnectionPragmas(t *testing.T) {
	dsn, err := dataSource("sqlite:" + filepath.Join(t.TempDir(), "pragmas.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openPool(t.Context(), dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "5000",
		"wal_autocheckpoint": walCheckpointPages, "temp_store": "2",
	} {
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}
