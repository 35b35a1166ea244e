package sqlite_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"path/filepath"
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
}
