package main

import (
	"database/sql"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestMigrateRefusesNewerSchema: a database a newer Gatehouse migrated
// (its schema version past this binary's last migration, as after a
// downgrade) is refused by migrate, by the CLI and by serve, with a
// message that says so and what to do, not golang-migrate's "no
// migration found".
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dsn := databaseURL(t, backend)
			g := newGatehouse(t, dsn)
			g.cli("", "migrate")
			const newer = "UPDATE schema_migrations SET version = 9999"
			if backend == "postgres" {
				conn, err := pgx.Connect(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				_, err = conn.Exec(t.Context(), newer)
				conn.Close(t.Context())
				if err != nil {
					t.Fatal(err)
				}
			} else {
				db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = db.Exec(newer)
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range [][]string{{"migrate"}, {"users", "list"}, {"serve"}} {
				cmd := exec.Command(binary, args...)
				cmd.Env = g.env
				var stderr strings.Builder
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() == 0 {
					t.Errorf("gatehouse %s on a newer schema: %v, want a non-zero exit", strings.Join(args, " "), err)
				}
				if msg := stderr.String(); !strings.Contains(msg, "schema version 9999 is newer than this Gatehouse's") || strings.Contains(msg, "panic") {
					t.Errorf("gatehouse %s on a newer schema said:\n%s", strings.Join(args, " "), msg)
				}
			}
		})
	}
}
