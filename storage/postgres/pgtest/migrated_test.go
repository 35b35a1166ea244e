package pgtest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage/postgres"
)

// TestMigratedCopy checks that a schema MigratedDSN copies holds what the
// migrations make: the same tables and columns, indexes, constraints,
// triggers, functions and rows as a schema migrated by postgres.Migrate.
func TestMigratedCopy(t *testing.T) {
	migrated := DSN(t)
	if err := postgres.Migrate(t.Context(), migrated); err != nil {
		t.Fatal(err)
	}
	copied := MigratedDSN(t, postgres.Migrate)
	if _, err := exec.LookPath("pg_dump"); err == nil && tmpl.err != nil {
		t.Fatalf("pg_dump is installed but the copy could not be made: %v", tmpl.err)
	}
	want, got := describe(t, migrated), describe(t, copied)
	if len(want) < 20 {
		t.Fatalf("the migrated schema describes as %d lines: %q", len(want), want)
	}
	for _, line := range want {
		if !slices.Contains(got, line) {
			t.Errorf("the copy lacks %s", line)
		}
	}
	for _, line := range got {
		if !slices.Contains(want, line) {
			t.Errorf("the copy has %s, which migrating does not make", line)
		}
	}
}

// describe lists the objects of the schema dsn's search_path names, and
// the rows of its tables, with the schema's name left out.
func describe(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	queries := []string{
		`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable || ' default=' || coalesce(column_default, '')
		   FROM information_schema.columns WHERE table_schema = $1`,
		`SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1`,
		`SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		   FROM pg_constraint WHERE connamespace = $1::regnamespace`,
		`SELECT 'trigger ' || tgrelid::regclass::text || ' ' || pg_get_triggerdef(t.oid)
		   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal`,
		`SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) FROM pg_proc p WHERE p.pronamespace = $1::regnamespace`,
		`SELECT 'sequence ' || sequencename FROM pg_sequences WHERE schemaname = $1`,
	}
	// column reads the first column of q's rows as text.
	column := func(q string, args ...any) []string {
		t.Helper()
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		values, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return values
	}
	var lines []string
	for _, q := range queries {
		lines = append(lines, column(q, schema)...)
	}
	// Every table's rows, as text, in order.
	for _, name := range column(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, schema) {
		for _, v := range column(fmt.Sprintf("SELECT t::text FROM %s t ORDER BY 1", pgx.Identifier{name}.Sanitize())) {
			lines = append(lines, "row "+name+" "+v)
		}
	}
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, schema, "SCHEMA")
	}
	slices.Sort(lines)
	return lines
}
