package postgres

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-idp/gatehouse/migrations"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// newMigrate returns a golang-migrate instance on the database at dsn,
// closed when t ends.
func newMigrate(t *testing.T, dsn string) *migrate.Migrate {
	t.Helper()
	pool, err := connect(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	driver, err := migratepgx.WithInstance(stdlib.OpenDBFromPool(pool), &migratepgx.Config{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := iofs.New(migrations.FS, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// columns returns the column names of table in the current schema.
func columns(t *testing.T, dsn, table string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestMigrateDown reverts every migration, one at a time, keeping the
// users, and applies them again.
func TestMigrateDown(t *testing.T) {
	dsn := pgtest.DSN(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_780_000_000_000).UTC()
	u := &storage.User{ID: "u1", Email: "alice@example.com", EmailOTP: true, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTOTP(t.Context(), &storage.TOTP{UserID: "u1", Secret: []byte("x"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	err = s.CreateActionToken(t.Context(), &storage.ActionToken{Hash: []byte("h"), Purpose: "confirm-email",
		UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(t.Context(), "u1", [][]byte{[]byte("r1"), []byte("r2")}, now); err != nil {
		t.Fatal(err)
	}
	s.Close()

	m := newMigrate(t, dsn)
	list, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for v := len(list); v > 1; v-- {
		if err := m.Steps(-1); err != nil {
			t.Fatalf("down from version %d: %v", v, err)
		}
	}
	for _, table := range []string{"totp_secrets", "one_time_codes", "audit_events", "action_tokens", "recovery_codes"} {
		if cols := columns(t, dsn, table); len(cols) != 0 {
			t.Errorf("table %s left at version 1: %v", table, cols)
		}
	}
	want := []string{"id", "email", "name", "password_hash", "email_verified", "disabled", "created_at", "updated_at"}
	if cols := columns(t, dsn, "users"); !slices.Equal(cols, want) {
		t.Errorf("users at version 1: %v, want %v", cols, want)
	}

	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != u.Email || got.EmailOTP {
		t.Errorf("user after down and up: %+v, want %s without EmailOTP", got, u.Email)
	}
	if _, err := s.TOTPByUser(t.Context(), "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("TOTPByUser after down and up: %v, want %v", err, storage.ErrNotFound)
	}
	if n, err := s.RecoveryCodesLeft(t.Context(), "u1"); err != nil || n != 0 {
		t.Errorf("RecoveryCodesLeft after down and up: %d, %v; want 0", n, err)
	}
	if _, err := s.UseActionToken(t.Context(), []byte("h"), "confirm-email", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UseActionToken after down and up: %v, want %v", err, storage.ErrNotFound)
	}
	s.Close()

	if err := m.Down(); err != nil {
		t.Fatalf("down to nothing: %v", err)
	}
	if cols := columns(t, dsn, "users"); len(cols) != 0 {
		t.Errorf("users left after down: %v", cols)
	}
}

// TestMigrateDownDropsPendingCodes reverts the migration that added
// one_time_codes.pending: a code whose email was never sent goes with the
// column, and does not become the live code; the live one stays.
func TestMigrateDownDropsPendingCodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() storage.Store {
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	ctx := t.Context()
	now := time.UnixMilli(1_780_000_000_000).UTC()
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Email: "alice@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	code := func(id string, created time.Time, pending bool) *storage.OneTimeCode {
		return &storage.OneTimeCode{ID: id, UserID: "u1", Purpose: "signin", Binding: "ar1", Hash: []byte(id),
			CreatedAt: created, ExpiresAt: created.Add(time.Hour), Pending: pending}
	}
	if err := s.IssueCode(ctx, code("live", now, false), 0, now); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueCode(ctx, code("unsent", now.Add(time.Minute), true), 0, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	m := newMigrate(t, dsn)
	if err := m.Migrate(21); err != nil { // down to before 0022_code_pending
		t.Fatal(err)
	}
	if cols := columns(t, dsn, "one_time_codes"); slices.Contains(cols, "pending") {
		t.Fatalf("one_time_codes after down: %v, want no pending column", cols)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	got, err := s.LatestCode(ctx, "u1", "signin", "ar1", now.Add(time.Minute))
	if err != nil || got.ID != "live" {
		t.Fatalf("LatestCode after down and up: %v, %v; want the live code", got, err)
	}
	if err := s.ActivateCode(ctx, "unsent"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ActivateCode of the unsent code after down and up: %v, want %v", err, storage.ErrNotFound)
	}
}

// TestMigrateClientGrantTypes applies migration 0023_client_grant_types to
// clients registered before it: each keeps the grants it could use before
// (every client the code flow and refresh tokens, a confidential one
// client_credentials as well), and reverting it drops the column.
func TestMigrateClientGrantTypes(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() storage.Store {
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testMigrateClientGrantTypes(t, open, newMigrate(t, dsn), func() []string { return columns(t, dsn, "clients") })
}

// testMigrateClientGrantTypes is TestMigrateClientGrantTypes on the store
// that open opens, m migrating its database and clientColumns listing the
// columns of its clients table.
func testMigrateClientGrantTypes(t *testing.T, open func() storage.Store, m *migrate.Migrate, clientColumns func() []string) {
	ctx := t.Context()
	now := time.UnixMilli(1_780_000_000_000).UTC()
	s := open()
	for _, c := range []*storage.Client{
		{ID: "web", Name: "Web", SecretHash: []byte("h"), RedirectURIs: []string{"https://web.example/cb"}},
		{ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.example/cb"}},
		{ID: "admin", Name: "Admin", SecretHash: []byte("h"), Admin: true},
	} {
		c.GrantTypes = []string{storage.GrantAuthorizationCode} // replaced by the migration
		c.CreatedAt, c.UpdatedAt = now, now
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	if err := m.Migrate(22); err != nil { // before 0023_client_grant_types
		t.Fatal(err)
	}
	if cols := clientColumns(); slices.Contains(cols, "grant_types") {
		t.Fatalf("clients after down: %v, want no grant_types column", cols)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	all := []string{"authorization_code", "refresh_token", "client_credentials"}
	for id, want := range map[string][]string{
		"web":   all,
		"admin": all,
		"spa":   {"authorization_code", "refresh_token"},
	} {
		c, err := s.ClientByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.GrantTypes, want) {
			t.Errorf("client %s after the migration: grant types %q, want %q", id, c.GrantTypes, want)
		}
	}
}
