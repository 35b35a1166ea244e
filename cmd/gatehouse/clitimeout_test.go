package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIDatabaseTimeout: a CLI command against a database that accepts
// connections but never answers, or a SQLite database another process
// keeps locked, fails with a clear error and a non-zero exit instead of
// hanging (dbTimeout, shortened here by GATEHOUSE_TEST_DB_TIMEOUT).
func TestCLIDatabaseTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// run runs the CLI with the database url and returns its stderr and
	// exit error, or fails t if it has not ended within a minute.
	run := func(t *testing.T, url string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = []string{"GATEHOUSE_DATABASE_URL=" + url, "GATEHOUSE_SECRETS_KEY_FILE=" + filepath.Join(dir, "secrets.key"),
			"GATEHOUSE_TEST_DB_TIMEOUT=2s"}
		cmd.Stdin = strings.NewReader("a long enough password\n")
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("gatehouse %s did not end within a minute", strings.Join(args, " "))
		}
		return errOut.String(), err
	}
	wantFailed := func(t *testing.T, what string, start time.Time, errOut string, err error, want string) {
		t.Helper()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit code 1; stderr %q", what, err, errOut)
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: stderr %q, want it to say %q", what, errOut, want)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%s took %s", what, d)
		}
	}

	t.Run("postgres that never answers", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c) // accepted, never answered
			}
		}()
		url := "postgres://gatehouse@" + ln.Addr().String() + "/gatehouse?sslmode=disable"
		for _, args := range [][]string{{"users", "list"}, {"users", "disable", "a@example.com"}, {"clients", "list"}} {
			start := time.Now()
			errOut, err := run(t, url, args...)
			wantFailed(t, strings.Join(args, " "), start, errOut, err, "did not answer within 2s")
		}
	})

	t.Run("sqlite locked by another process", func(t *testing.T) {
		path := filepath.Join(dir, "gatehouse.db")
		url := "sqlite:" + path
		if errOut, err := run(t, url, "users", "create", "--email", "a@example.com", "--password-stdin"); err != nil {
			t.Fatalf("users create: %v %s", err, errOut)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`UPDATE users SET name = name`); err != nil { // the write lock, held
			t.Fatal(err)
		}
		for _, args := range [][]string{{"users", "disable", "a@example.com"}, {"keys", "rotate"}} {
			start := time.Now()
			errOut, err := run(t, url, args...)
			wantFailed(t, strings.Join(args, " "), start, errOut, err, "locked")
		}
	})
}
