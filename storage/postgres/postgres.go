// Package postgres stores Gatehouse's state in PostgreSQL, through a pgx
// connection pool. Any number of gatehouse processes may share one
// database.
//
// A database is named by a pgx connection string: a URL such as
//
//	postgres://user:password@host:5432/gatehouse?sslmode=verify-full
//
// (postgresql:// works too) or keyword/value pairs such as
// "host=db user=gatehouse dbname=gatehouse". Besides libpq's settings it
// accepts pgxpool's pool_max_conns and friends, and run-time parameters
// such as search_path, which selects the schema the tables live in.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-idp/gatehouse/migrations"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/internal/schema"
	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
)

// Store is a storage.Store backed by PostgreSQL. It keeps the clients it
// reads in memory under the count of changes to them (clientcache.go).
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ storage.Store = (*Store)(nil)

// dialect is what sqlstore needs to know about PostgreSQL. FOR NO KEY
// UPDATE serialises transactions on a row without blocking the foreign-key
// checks of inserts that refer to it.
// Clients are kept in memory under the count of changes to them; the
// revoked unrecorded tokens are not (Dialect.RevokedSet): the columns'
// collation may not compare text byte by byte.
var dialect = sqlstore.Dialect{Constraint: constraint, LockRow: " FOR NO KEY UPDATE", PurgeLock: purgeLock, WritableCTE: true,
	CommitCheck: &commitCheck, ClientGeneration: true}

// commitCheck resolves a COMMIT whose answer was lost with its connection
// (a failover, a server killed) from the transaction's status, which
// PostgreSQL keeps: pg_current_xact_id() before the COMMIT, then
// pg_xact_status() on a fresh connection, which the multi-host URL with
// target_session_attrs=read-write sends to the new primary. It keeps
// asking for commitCheckWait: a promotion takes a few seconds.
var commitCheck = sqlstore.CommitCheck{
	TxID:         `SELECT pg_current_xact_id()::text`,
	Status:       `SELECT pg_xact_status($1::text::xid8)`,
	Lost:         lostCommit,
	NotInHistory: notInHistory,
	Wait:         commitCheckWait,
}

// commitCheckWait is how long a lost COMMIT's outcome is asked for.
const commitCheckWait = 5 * time.Second

// lostCommit reports whether err, from a COMMIT, leaves its outcome
// unknown: the connection failed (or the server ended it, as a fast
// shutdown does with FATAL 57P01) once the COMMIT may have been sent. An
// ERROR answer means the transaction was rolled back. pgconn.SafeToRetry
// cannot tell: when the connection breaks while pgx reads the COMMIT's
// answer, pgx returns "conn closed", which it calls safe to retry.
func lostCommit(err error) bool {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Severity == "FATAL" || e.Severity == "PANIC"
	}
	return true
}

// notInHistory reports whether err is pg_xact_status's refusal of a
// transaction id the server has not reached ("transaction ID … is in the
// future", 22023): the transaction never reached this server.
func notInHistory(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "22023" && strings.Contains(e.Message, "in the future")
}

// purgeLock takes a transaction-level advisory lock particular to the
// schema, so that of the replicas sharing a database one purges at a time.
const purgeLock = `SELECT pg_try_advisory_xact_lock(hashtext('gatehouse housekeeping'), hashtext(current_schema()))`

// Options tune the connection pool.
type Options struct {
	// MaxConns caps the pool's connections; 0 keeps pool_max_conns from
	// the connection string, else DefaultMaxConns.
	MaxConns int32
}

// DefaultMaxConns is the pool's size when neither Options nor the
// connection string set one: twice the CPUs the process may use
// (GOMAXPROCS, which follows a container's CPU limit), and at least 8.
// A connection spends much of each request waiting, for the network and
// for PostgreSQL's flush of its commit; pgx's default (the larger of 4 and
// the CPUs) left both CPUs of a 2-CPU replica partly idle. Side by side on
// 2 CPUs, 8 connections against 4: code exchanges +25 %, opaque
// client_credentials +20-50 %, reads unchanged; an earlier run with 16
// was slower in every phase.
func DefaultMaxConns() int32 { return int32(max(8, 2*runtime.GOMAXPROCS(0))) }

// Open connects to the database named by dsn (see the package
// documentation) and migrates it to the latest schema. Replicas starting
// together take turns: migrations run under an advisory lock.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with pool options.
func OpenWith(ctx context.Context, dsn string, opt Options) (*Store, error) {
	pool, err := connect(ctx, dsn, opt)
	if err != nil {
		return nil, err
	}
	if err := migratePool(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return newStore(pool), nil
}

// newStore wraps a migrated pool.
func newStore(pool *pgxpool.Pool) *Store {
	return &Store{Store: sqlstore.New(openDB(pool), dialect), pool: pool}
}

// Migrate applies the migrations the database named by dsn lacks, under an
// advisory lock.
func Migrate(ctx context.Context, dsn string) error {
	pool, err := connect(ctx, dsn, Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	return migratePool(ctx, pool)
}

// Close closes the database and its connection pool.
func (s *Store) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}

// connect opens a pool on dsn and checks that the database answers.
func connect(ctx context.Context, dsn string, opt Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error may quote the connection string, password included.
		return nil, errors.New("postgres: cannot parse the connection string " +
			"(want postgres://user:password@host:5432/dbname?option=value or key=value pairs)")
	}
	switch {
	case opt.MaxConns > 0:
		cfg.MaxConns = opt.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool, nil
}

// migratePool migrates the database of pool with golang-migrate. Its
// version table lands in the current schema (the first of search_path),
// and the advisory lock it takes is particular to that schema.
func migratePool(ctx context.Context, pool *pgxpool.Pool) error {
	// The version table golang-migrate keeps: the one in the current
	// schema, not any schema_migrations further down search_path.
	if schema.UpToDate(ctx, migrations.FS, migrations.Postgres, func(ctx context.Context) (v int64, dirty bool, err error) {
		var current *string
		if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil || current == nil {
			return 0, false, fmt.Errorf("no current schema: %v", err)
		}
		table := pgx.Identifier{*current, "schema_migrations"}.Sanitize()
		err = pool.QueryRow(ctx, `SELECT version, dirty FROM `+table+` LIMIT 1`).Scan(&v, &dirty)
		return v, dirty, err
	}) {
		return nil
	}
	return schema.Migrate(ctx, "postgres", migrations.FS, migrations.Postgres, "pgx5", func() (database.Driver, error) {
		// The driver closes this *sql.DB when done; the pool stays open.
		return migratepgx.WithInstance(stdlib.OpenDBFromPool(pool), &migratepgx.Config{})
	})
}

// constraint translates PostgreSQL's unique and foreign key violations,
// and its refusal of text it cannot hold, into storage errors.
func constraint(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code {
	case "23505": // unique_violation
		return storage.ErrConflict
	case "23503": // foreign_key_violation
		return storage.ErrNotFound
	case "22021", "22P05": // character_not_in_repertoire (not UTF-8, or NUL), untranslatable_character
		// Text the database cannot hold names no row: a client id or a
		// request id of such bytes is unknown, as on SQLite, not a
		// failure of the database.
		return storage.ErrNotFound
	}
	return nil
}
