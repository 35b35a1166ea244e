package storagetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ClientChangesAcrossStores checks that a client changed through one store
// is seen by every lookup through another store on the same database (two
// replicas, or a server and the CLI) that begins after the change has
// committed: read-your-writes across processes, whatever the second store
// keeps in memory. A disabled client, or a secret rotated away, must not
// be honoured a moment longer at the other replica. open returns two new
// stores on one new, empty database, closed when t ends.
func ClientChangesAcrossStores(t *testing.T, open func(t *testing.T) (a, b storage.Store)) {
	t.Run("Sequential", func(t *testing.T) {
		t.Parallel()
		a, b := open(t)
		testClientChangesAcrossStores(t, a, b)
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		a, b := open(t)
		testClientChangesAcrossStoresConcurrent(t, a, b)
	})
}

// testClientChangesAcrossStores warms a's memory of the client, changes it
// through b, and looks it up 200 times through a at once after the change,
// each lookup as a request of its own (storage.WithRequestCounts) and as a
// call outside any request: none may return the client as it was.
func testClientChangesAcrossStores(t *testing.T, a, b storage.Store) {
	ctx := t.Context()
	const lookups = 200
	c := &storage.Client{ID: "app", Name: "App", SecretHash: hash("one"), RedirectURIs: []string{"https://app.example/cb"},
		SigningAlgorithm: "RS256", AccessTokenFormat: "opaque", CreatedAt: epoch(), UpdatedAt: epoch()}
	check(t, b.CreateClient(ctx, c))
	at := epoch().Add(time.Minute)
	steps := []struct {
		name   string
		change func() error
		fresh  func(*storage.Client, error) bool
	}{
		{"secret rotated",
			func() error { return b.SetClientSecretHash(ctx, c.ID, hash("two"), at) },
			func(c *storage.Client, err error) bool { return err == nil && bytes.Equal(c.SecretHash, hash("two")) }},
		{"redirect URIs changed",
			func() error { return b.SetClientURIs(ctx, c.ID, []string{"https://moved.example/cb"}, nil, at) },
			func(c *storage.Client, err error) bool {
				return err == nil && slices.Equal(c.RedirectURIs, []string{"https://moved.example/cb"})
			}},
		{"disabled",
			func() error { return b.SetClientDisabled(ctx, c.ID, true, at) },
			func(c *storage.Client, err error) bool { return err == nil && c.Disabled }},
		{"enabled again",
			func() error { return b.SetClientDisabled(ctx, c.ID, false, at) },
			func(c *storage.Client, err error) bool { return err == nil && !c.Disabled }},
		{"deleted",
			func() error { return b.DeleteClient(ctx, c.ID) },
			func(_ *storage.Client, err error) bool { return errors.Is(err, storage.ErrNotFound) }},
	}
	for _, step := range steps {
		// Warm: the client as it is now, read and read again.
		for range 3 {
			if _, err := a.ClientByID(storage.WithRequestCounts(ctx), c.ID); err != nil {
				t.Fatalf("before %s: %v", step.name, err)
			}
		}
		check(t, step.change())
		stale := 0
		var first error
		for i := range lookups {
			lctx := ctx
			if i%2 == 0 {
				lctx = storage.WithRequestCounts(ctx)
			}
			if got, err := a.ClientByID(lctx, c.ID); !step.fresh(got, err) {
				if stale++; first == nil {
					first = fmt.Errorf("%+v, %v", got, err)
				}
			}
		}
		if stale > 0 {
			t.Errorf("%s through the other store: %d of %d lookups right after it returned the client as it was (first: %v)",
				step.name, stale, lookups, first)
		}
	}
}

// testClientChangesAcrossStoresConcurrent has b re-key the client many
// times, then disable it, then delete it, while a looks it up from many
// goroutines at once, as concurrent requests: each lookup must see at
// least every change committed before it began.
func testClientChangesAcrossStoresConcurrent(t *testing.T, a, b storage.Store) {
	ctx := t.Context()
	const rekeys = 300
	secret := func(i int) []byte {
		h := make([]byte, 32)
		binary.BigEndian.PutUint64(h, uint64(i))
		return h
	}
	check(t, b.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", SecretHash: secret(0),
		RedirectURIs: []string{"https://app.example/cb"}, SigningAlgorithm: "RS256", AccessTokenFormat: "opaque",
		CreatedAt: epoch(), UpdatedAt: epoch()}))
	// The state a lookup saw: the secret's number, then rekeys+1 for
	// disabled and rekeys+2 for deleted.
	state := func(c *storage.Client, err error) (int, error) {
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return rekeys + 2, nil
		case err != nil:
			return 0, err
		case c.Disabled:
			return rekeys + 1, nil
		}
		return int(binary.BigEndian.Uint64(c.SecretHash[:8])), nil
	}
	var committed atomic.Int64 // the last state committed through b
	const lookers = 16
	stop := make(chan struct{})
	errs := make(chan error, lookers+1)
	var lookups atomic.Int64
	var wg sync.WaitGroup
	for range lookers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				want := int(committed.Load())
				got, err := state(a.ClientByID(storage.WithRequestCounts(ctx), "app"))
				lookups.Add(1)
				if err == nil && got < want {
					err = fmt.Errorf("a lookup that began after change %d was committed saw state %d", want, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	change := func(i int) error {
		switch {
		case i <= rekeys:
			return b.SetClientSecretHash(ctx, "app", secret(i), epoch())
		case i == rekeys+1:
			return b.SetClientDisabled(ctx, "app", true, epoch())
		}
		return b.DeleteClient(ctx, "app")
	}
	for i := 1; i <= rekeys+2 && len(errs) == 0; i++ {
		if err := change(i); err != nil {
			errs <- err
			break
		}
		committed.Store(int64(i))
		// And a lookup at once, while the others' reads run.
		got, err := state(a.ClientByID(storage.WithRequestCounts(ctx), "app"))
		if err == nil && got < i {
			err = fmt.Errorf("a lookup right after change %d was committed saw state %d", i, got)
		}
		if err != nil {
			errs <- err
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d lookups during %d changes", lookups.Load(), rekeys+2)
}
