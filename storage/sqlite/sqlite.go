// Package sqlite stores Gatehouse's state in an SQLite database file, using
// the pure-Go modernc.org/sqlite driver. It is the zero-setup default for a
// single machine.
//
// A database is named by a URL of the form
//
//	sqlite:PATH
//
// or by the plain PATH, where PATH is a file name, relative to the working
// directory or absolute (for example sqlite:data/gatehouse.db or
// /var/lib/gatehouse/gatehouse.db). The directory holding the file is
// created if it is missing. Every pooled connection runs in WAL mode with
// foreign keys on, a 5 s busy timeout and BEGIN IMMEDIATE transactions, so
// that writers queue instead of failing; the log is checkpointed every
// 8000 pages (32 MB), so the -wal file next to the database grows to that. A process writes through one
// connection and reads through a pool of them, so that its own writers
// queue in Go, in order, rather than sleeping in SQLite's busy handler.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/golang-migrate/migrate/v4/database"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-idp/gatehouse/migrations"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/internal/schema"
	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
)

// pragmas apply to every connection the pool opens.
//
// The write-ahead log is checkpointed into the database file every
// walCheckpointPages pages (32 MB of log) rather than SQLite's 1000: a
// token grant changes the same few index and table pages as the one
// before, and a checkpoint writes each page once however many times the
// log holds it, so a longer log writes and syncs far less. A
// client_credentials grant, one row insert, ran 11 % faster (four
// alternating 5 s rounds against the binary before); reads were unchanged.
//
// Temporary files stay in memory (temp_store MEMORY). The group commit
// runs each write in a savepoint of one transaction, so SQLite keeps a
// statement journal of every page the batch changes; past 64 KiB it spilled
// to a temporary file, a pwrite system call per page. In memory, an
// authorization_code exchange (a code consumed and a token recorded) ran
// 16–36 % faster (three alternating 4 s rounds against the binary before).
// What else SQLite puts in temporary files, the sorts of large results
// without an index (an admin's list of every user, say), now takes memory
// too; no hot path sorts.
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(" + walCheckpointPages + ")&_pragma=temp_store(MEMORY)&_txlock=immediate"

// walCheckpointPages is the log's length, in pages, that starts a checkpoint.
const walCheckpointPages = "8000"

// Store is a storage.Store backed by an SQLite database file.
type Store struct {
	*sqlstore.Store
	wal *walIndex // nil without the -shm file
}

var _ storage.Store = (*Store)(nil)

// Open opens the database named by url (see the package documentation),
// creating the file and its directory if needed, and migrates it to the
// latest schema.
func Open(ctx context.Context, url string) (*Store, error) {
	dsn, err := dataSource(url)
	if err != nil {
		return nil, err
	}
	if err := migrateDSN(ctx, dsn); err != nil {
		return nil, err
	}
	read, err := openPool(ctx, dsn, readers())
	if err != nil {
		return nil, err
	}
	write, err := openPool(ctx, dsn, 1)
	if err != nil {
		read.Close()
		return nil, err
	}
	// The commit mark needs the -shm file, which the pools' first
	// connections created; without it the counts are read each time.
	path, _, _ := strings.Cut(dsn, "?")
	wal, err := openWALIndex(path)
	var mark sqlstore.CommitMark
	if err == nil {
		mark = wal.mark
	}
	return &Store{Store: sqlstore.NewSplit(read, write, sqlstore.Dialect{
		Constraint: constraint,
		// modernc.org/sqlite prepares every query anew; reuse them.
		PrepareStatements: true,
		// Clients are kept in memory, checked against the count of
		// changes to them (migration 0019) at each lookup.
		ClientGeneration: true,
		// The revoked unrecorded tokens too (BINARY collation), and
		// the counts read on a reader of their own.
		RevokedSet: true,
		CountsConn: true,
		// Nor read while nothing has committed since the last read.
		CommitMark: mark,
		// No row locks: BEGIN IMMEDIATE takes the database's write lock.
	}), wal: wal}, nil
}

// readers is the size of the reader pool: reads in WAL mode run in
// parallel, one per CPU and as many again waiting on the network, and one
// more that the Store keeps for its reads of the generation counts.
func readers() int { return max(4, 2*runtime.GOMAXPROCS(0)) + 1 }

// openPool opens a pool of at most n connections to dsn that keeps them
// open: an SQLite connection is dear to open (the file, the pragmas, the
// schema, the statements prepared on it), and database/sql would
// otherwise close all but two idle ones after each burst.
func openPool(ctx context.Context, dsn string, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return db, nil
}

// Migrate applies the migrations the database named by url lacks, creating
// the file and its directory if needed.
func Migrate(ctx context.Context, url string) error {
	dsn, err := dataSource(url)
	if err != nil {
		return err
	}
	return migrateDSN(ctx, dsn)
}

// dataSource turns a database URL into a modernc.org/sqlite data source
// name, creating the directory of the file.
func dataSource(url string) (string, error) {
	path, err := filePath(url)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	if err := restrictFiles(path); err != nil {
		return "", err
	}
	return path + "?" + pragmas, nil
}

// restrictFiles makes the database file at path, creating it if missing,
// and its -wal and -shm files if present readable and writable by their
// owner only, whatever the umask: they hold password hashes, sessions and
// sealed secrets. SQLite would create the database 0644; it gives the -wal
// and -shm files it creates later the mode of the database file.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(name, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("sqlite: restrict the mode of %s: %w", name, err)
		}
	}
	return nil
}

// migrateDSN migrates the database at dsn with golang-migrate, over a
// connection pool of its own that it closes when done.
func migrateDSN(ctx context.Context, dsn string) error {
	return schema.Migrate(ctx, "sqlite", migrations.FS, migrations.SQLite, "sqlite", func() (database.Driver, error) {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, err
		}
		driver, err := migratesqlite.WithInstance(db, &migratesqlite.Config{})
		if err != nil {
			db.Close()
			return nil, err
		}
		return driver, nil
	})
}

// constraint translates SQLite's unique, primary key and foreign key
// violations into storage errors.
func constraint(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return storage.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return storage.ErrNotFound
	}
	return nil
}
