package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// MigratedDSN is DSN for a schema migrate (postgres.Migrate) has already
// brought to the latest version: a copy of a schema the process migrated
// once, made by running pg_dump's script of it (tables, indexes,
// functions, triggers and the rows the migrations insert, the version
// table's included) under the new schema's name. Migrating a new schema
// costs PostgreSQL about three times the CPU of that script, and a test
// process under the race detector more; the suites make hundreds of
// schemas. Without pg_dump, or if the copy cannot be made, it migrates
// the new schema itself.
//
// Tests of the migrations themselves use DSN.
func MigratedDSN(t testing.TB, migrate func(ctx context.Context, dsn string) error) string {
	t.Helper()
	base := baseDSN(t)
	tmpl.once.Do(func() { tmpl.name, tmpl.script, tmpl.err = dumpMigrated(base, migrate) })
	if tmpl.err == nil {
		return newSchema(t, base, func(schema string) string {
			return strings.ReplaceAll(tmpl.script, tmpl.name, schema)
		})
	}
	t.Logf("pgtest: migrating each schema: no copy of a migrated one: %v", tmpl.err)
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrate(ctx, dsn); err != nil {
		t.Fatalf("postgres: migrate: %v", err)
	}
	return dsn
}

// tmpl is the script that makes a migrated schema named name.
var tmpl struct {
	once         sync.Once
	name, script string
	err          error
}

// dumpMigrated migrates a schema of its own in the database base names,
// returns its name and pg_dump's script of it, and drops it.
func dumpMigrated(base string, migrate func(context.Context, string) error) (name, script string, err error) {
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var b [8]byte
	rand.Read(b[:])
	name = "gh_template_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", "", err
	}
	defer conn.Exec(context.Background(), "DROP SCHEMA "+ident+" CASCADE")
	dsn, err := withSearchPath(base, name)
	if err != nil {
		return "", "", err
	}
	if err := migrate(ctx, dsn); err != nil {
		return "", "", fmt.Errorf("migrate the template schema: %w", err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pgDump, "--schema="+name, "--inserts", "--no-owner", "--no-privileges", "--dbname="+base)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("pg_dump: %w: %s", err, stderr.Bytes())
	}
	// The script is run as one simple query: leave out psql's
	// meta-commands (\restrict and \unrestrict).
	var sql strings.Builder
	for line := range strings.SplitSeq(out.String(), "\n") {
		if !strings.HasPrefix(line, `\`) {
			sql.WriteString(line)
			sql.WriteByte('\n')
		}
	}
	script = sql.String()
	if !strings.Contains(script, "CREATE SCHEMA "+name+";") || !strings.Contains(script, "schema_migrations") {
		return "", "", errors.New("pg_dump's script creates no schema with a version table")
	}
	return name, script, nil
}
