package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// TestPurgeTakesTurns holds the housekeeping lock of a schema from another
// connection, as a replica in the middle of a purge does: a purge then
// stops at once, deletes nothing and says so. A purge in another schema
// is not held up, and once the lock is released the purge runs.
func TestPurgeTakesTurns(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := postgres.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	now := time.Date(2026, time.July, 1, 12, 0, 0, 0, time.UTC)
	for _, st := range []storage.Store{s, other} {
		if err := st.AddEvent(ctx, &storage.Event{Time: now.Add(-time.Hour), Type: "signin.failed"}); err != nil {
			t.Fatal(err)
		}
	}
	req := storage.PurgeRequest{Now: now, CounterWindow: time.Hour, KeyRetention: time.Hour, EventsBefore: now}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext('gatehouse housekeeping'), hashtext(current_schema()))`).Scan(&got); err != nil || !got {
		t.Fatalf("take the lock: %v, %v", got, err)
	}

	p, err := s.Purge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Skipped || p.Total() != 0 {
		t.Errorf("purge while another holds the lock: %+v, want skipped with nothing deleted", p)
	}
	p, err = other.Purge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Skipped || p.Events != 1 {
		t.Errorf("purge of another schema: %+v, want 1 event deleted", p)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	p, err = s.Purge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Skipped || p.Events != 1 {
		t.Errorf("purge after the lock was released: %+v, want 1 event deleted", p)
	}
}
