package sqlite_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// twoProcesses opens two stores on one new file, as a server and another
// process (the CLI), and creates the client "app" through the second.
func twoProcesses(t *testing.T, secretHash []byte) (server, other *sqlite.Store, now time.Time) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	openStore := func() *sqlite.Store {
		s, err := sqlite.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	server, other = openStore(), openStore()
	now = time.Unix(1_700_000_000, 0)
	if err := other.CreateClient(t.Context(), &storage.Client{ID: "app", Name: "App", SecretHash: secretHash,
		RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return server, other, now
}

// TestClientCacheAnotherProcess has a server's store answer client lookups
// from memory, and another store on the same file, as the CLI in its own
// process, change the client: disabling it, rotating its secret, deleting
// it. The server's next lookup sees each change, with no delay.
func TestClientCacheAnotherProcess(t *testing.T) {
	ctx := t.Context()
	secret := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	server, cli, now := twoProcesses(t, secret("one"))
	lookup := func() (*storage.Client, error) {
		t.Helper()
		return server.ClientByID(ctx, "app")
	}
	for range 3 {
		if _, err := lookup(); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses, entries := server.ClientLookupStats(); hits != 2 || misses != 1 || entries != 1 {
		t.Fatalf("three lookups: %d from memory, %d from the database, %d held; want 2, 1, 1", hits, misses, entries)
	}
	// Nothing committed between them: the last two read no counts either,
	// only the WAL-index header. Each change below must still be seen.
	if marked := server.MarkedCounts(); marked != 2 {
		t.Fatalf("three lookups without a commit between: %d answered from the commit mark, want 2", marked)
	}

	if err := cli.SetClientDisabled(ctx, "app", true, now); err != nil {
		t.Fatal(err)
	}
	if c, err := lookup(); err != nil || !c.Disabled {
		t.Fatalf("after the CLI disabled it: %+v, %v", c, err)
	}
	if err := cli.SetClientSecretHash(ctx, "app", secret("two"), now); err != nil {
		t.Fatal(err)
	}
	if c, err := lookup(); err != nil || !bytes.Equal(c.SecretHash, secret("two")) {
		t.Fatalf("after the CLI rotated its secret: %+v, %v", c, err)
	}
	if err := cli.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the CLI deleted it: %v, want ErrNotFound", err)
	}
	if marked := server.MarkedCounts(); marked != 2 {
		t.Errorf("lookups after commits answered from the commit mark: %d, want none after the first 2", marked-2)
	}
}

// TestClientCacheAnotherProcessConcurrent has another store on the same
// file, as the CLI in its own process, re-key the client many times, then
// disable it, then delete it, while the server's store looks it up from
// many goroutines at once, as concurrent requests: each lookup must see at
// least every change committed before it began (the server's lookups
// share their reads of the count of changes; none may take a read that
// began before it did).
func TestClientCacheAnotherProcessConcurrent(t *testing.T) {
	ctx := t.Context()
	const rekeys = 1000
	secret := func(i int) []byte {
		h := make([]byte, 32)
		binary.BigEndian.PutUint64(h, uint64(i))
		return h
	}
	server, cli, now := twoProcesses(t, secret(0))
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
		return int(binary.BigEndian.Uint64(c.SecretHash)), nil
	}
	var committed atomic.Int64 // the last state committed by the CLI
	var wg sync.WaitGroup
	const lookers = 32
	stop := make(chan struct{})
	errs := make(chan error, lookers+1)
	var lookups atomic.Int64
	for range lookers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				want := int(committed.Load())
				got, err := state(server.ClientByID(storage.WithRequestCounts(ctx), "app"))
				lookups.Add(1)
				if err != nil {
					errs <- err
					return
				}
				if got < want {
					errs <- fmt.Errorf("a lookup that began after change %d was committed saw state %d", want, got)
					return
				}
			}
		})
	}
	change := func(i int) error {
		switch {
		case i <= rekeys:
			return cli.SetClientSecretHash(ctx, "app", secret(i), now)
		case i == rekeys+1:
			return cli.SetClientDisabled(ctx, "app", true, now)
		}
		return cli.DeleteClient(ctx, "app")
	}
	for i := 1; i <= rekeys+2; i++ {
		if err := change(i); err != nil {
			t.Fatal(err)
		}
		committed.Store(int64(i))
		// And a lookup at once, while the others' reads run.
		got, err := state(server.ClientByID(storage.WithRequestCounts(ctx), "app"))
		if err == nil && got < i {
			err = fmt.Errorf("a lookup right after change %d was committed saw state %d", i, got)
		}
		if err != nil {
			errs <- err
			break
		}
		if len(errs) > 0 {
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d lookups during %d changes", lookups.Load(), rekeys+2)
}
