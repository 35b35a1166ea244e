package sqlite

import (
	"fmt"
	"path/filepath"
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
	const writers, each = 8, 25
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("u%d-%d", w, i)
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
	st := s.PoolStats()
	if st.Waits == 0 {
		t.Errorf("PoolStats = %+v: %d concurrent writers never waited for the writer connection", st, writers)
	}
	if st.InUse != 0 || st.Idle < 2 || st.Idle > st.MaxOpen {
		t.Errorf("PoolStats = %+v after the burst, want every opened connection idle (at least the writer and a reader)", st)
	}
	users, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != writers*each {
		t.Errorf("%d users stored, want %d", len(users), writers*each)
	}
}
