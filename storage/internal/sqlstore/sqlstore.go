// Package sqlstore implements storage.Store over database/sql. The
// PostgreSQL and SQLite backends share it; a Dialect carries the little that
// differs between them.
//
// The SQL is written once for both databases: $N placeholders, times as
// BIGINT Unix milliseconds (UTC), string lists as JSON text and hashes as
// raw bytes. Compare-and-set operations are single statements (or, where
// two statements must agree, one transaction), so concurrent callers on any
// number of processes cannot both win. On SQLite this relies on the
// connection running write transactions with BEGIN IMMEDIATE.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A Dialect describes what differs between the databases sqlstore runs on.
type Dialect struct {
	// Constraint translates a constraint violation in err into
	// storage.ErrConflict (a unique or primary key) or storage.ErrNotFound
	// (a foreign key: the referenced object does not exist). It returns
	// nil for every other error.
	Constraint func(err error) error
	// LockRow is appended to a SELECT of one row inside a transaction to
	// lock that row until the transaction ends, as in " FOR NO KEY
	// UPDATE". It is "" where write transactions serialise anyway (SQLite
	// with BEGIN IMMEDIATE).
	LockRow string
	// PurgeLock is a query run first in each purge transaction that
	// returns whether this process may purge now (a try-lock held until
	// the transaction ends). It is "" where write transactions serialise
	// anyway.
	PurgeLock string
	// WritableCTE says the database runs INSERT and UPDATE inside WITH
	// (PostgreSQL): a refresh rotation is then one statement, one round
	// trip and one commit, instead of a transaction of five round trips.
	WritableCTE bool
	// PrepareStatements makes the Store prepare each statement once and
	// reuse it (see stmtDB). Leave it off where the driver already caches
	// prepared statements per connection, as pgx's stdlib driver does by
	// default (QueryExecModeCacheStatement), so that none is prepared
	// twice.
	PrepareStatements bool
	// CommitCheck, when set, resolves the outcome of transactions whose
	// COMMIT lost its connection (see CommitCheck).
	CommitCheck *CommitCheck
	// ClientGeneration makes the Store keep the clients it reads and
	// answer ClientByID from memory while the count of changes to clients
	// (client_generation, migration 0019) is unchanged: a statement that
	// reads one integer instead of a client's row (see generationCache),
	// shared by the lookups that ask at once (see groupRead). A lookup
	// sees every change committed, by any process, before it began.
	ClientGeneration bool
	// RevokedSet makes a Store of ClientGeneration keep, under the count
	// of revocations of unrecorded tokens read with the clients' count,
	// the ids of those tokens (see revokedSet). Its read of them is a
	// range of the primary key, from the prefix "cc." to "cc/", which
	// holds them only where text is compared byte by byte (SQLite's
	// BINARY collation): leave it off where a column's collation may be a
	// language's (PostgreSQL), and UnrecordedRevoked reads the token's
	// record.
	RevokedSet bool
	// CountsConn makes a Store of ClientGeneration read the counts on a
	// connection of its own, through the driver's statement, without the
	// pool (see countsConn): for SQLite, where a read takes microseconds
	// and the pool's bookkeeping costs more. Without it the counts are
	// read through the pool, within countsTimeout (PostgreSQL).
	CountsConn bool
	// CommitMark, when set, lets a Store of ClientGeneration answer the
	// generation counts without reading them while no transaction has
	// committed since their last read (see markedCounts): SQLite, whose
	// WAL-index header says so.
	CommitMark CommitMark
}

// Store implements storage.Store over a *sql.DB whose schema has been
// migrated with the migrations package.
type Store struct {
	db    *stmtDB
	d     Dialect
	group *groupCommit // nil: no group commit (see write)
	// clients and counts are nil unless Dialect.ClientGeneration is set,
	// revoked unless Dialect.RevokedSet is too, countsConn unless
	// Dialect.CountsConn is too.
	clients    *generationCache
	revoked    *revokedSet
	counts     *groupRead
	countsConn *countsConn
	marked     *markedCounts // nil unless Dialect.CommitMark is set too
}

var _ storage.Store = (*Store)(nil)

// New returns a Store over db. The Store owns db: Close closes it.
func New(db *sql.DB, d Dialect) *Store {
	s := &Store{db: newStmtDB(db, nil, d.PrepareStatements), d: d}
	s.keepCounts()
	return s
}

// NewSplit returns a Store that runs SELECTs on read and everything else,
// transactions included, on write. It is for SQLite, which lets one
// writer in at a time: with write holding a single connection, writers
// queue in the pool, in order, instead of retrying on SQLITE_BUSY with
// the sleeps of the busy handler, while readers (WAL mode) go on in
// parallel. Writes on the hot paths (tokens, codes, auth requests) that
// queue are committed together (see groupCommit). The Store owns both
// pools: Close closes them.
func NewSplit(read, write *sql.DB, d Dialect) *Store {
	db := newStmtDB(read, write, d.PrepareStatements)
	s := &Store{db: db, d: d, group: newGroupCommit(db)}
	s.keepCounts()
	return s
}

// keepCounts sets up what a Store of Dialect.ClientGeneration keeps under
// the generation counts.
func (s *Store) keepCounts() {
	if !s.d.ClientGeneration {
		return
	}
	read := s.readCounts
	if s.d.CountsConn {
		s.countsConn = newCountsConn(s.db.DB)
		read = s.countsConn.read
	}
	s.clients, s.revoked, s.counts = newGenerationCache(s.d), newRevokedSet(s.d), newGroupRead(read)
	if s.d.CommitMark != nil {
		s.marked = newMarkedCounts(s.d.CommitMark, s.counts.counts, time.Now)
	}
}

// currentCounts returns the generation counts as of a moment after the
// call began: from the commit mark when nothing has committed since they
// were last read, else read (groupRead).
func (s *Store) currentCounts(ctx context.Context) (clients, revocations int64, err error) {
	if s.marked != nil {
		return s.marked.counts(ctx)
	}
	return s.counts.counts(ctx)
}

// countsTimeout bounds a read of the generation counts through the pool.
// The lookups that wait for a read give up with their own contexts, but a
// read for a batch of them runs without one, and the next batch's read
// waits for it to end: a connection that hangs (a server gone without a
// word) must not hold up every lookup after it for longer.
const countsTimeout = 5 * time.Second

// readCounts reads the generation counts through the pool.
func (s *Store) readCounts(ctx context.Context) (clients, revocations int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, countsTimeout)
	defer cancel()
	err = s.db.QueryRowContext(ctx, generationCounts).Scan(&clients, &revocations)
	return clients, revocations, err
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// Close closes the database, once the writes in progress are committed.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.close()
	}
	if s.countsConn != nil {
		s.countsConn.close()
	}
	return s.db.Close()
}

// fail translates err from the operation op: no rows becomes
// storage.ErrNotFound, a constraint violation becomes what the dialect says,
// and anything else is wrapped with op.
func (s *Store) fail(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	if e := s.d.Constraint(err); e != nil {
		return e
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// exec runs a statement on the pool.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) error {
	return s.execOn(ctx, s.db, op, query, args...)
}

// execOn runs a statement on q.
func (s *Store) execOn(ctx context.Context, q execer, op, query string, args ...any) error {
	if _, err := q.ExecContext(ctx, query, args...); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// execOne runs a statement that must change exactly one row; when it
// changes none the result is storage.ErrNotFound.
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	return s.execOneOn(ctx, s.db, op, query, args...)
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, op string, fn func(*stmtTx) error) error {
	tx, id, err := s.beginTx(ctx)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	defer tx.Rollback()
	stx := s.db.tx(tx)
	err = fn(stx)
	if err == nil {
		err = s.commit(ctx, op, tx, stx, id)
	} else {
		tx.Rollback()
	}
	stx.prepareMisses(ctx)
	return err
}

// A scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row of rows with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, *v)
	}
	return list, rows.Err()
}

// scanDest scans row into a new T through dest, which returns the scan
// destinations of its fields.
func scanDest[T any](row scanner, dest func(*T) []any) (*T, error) {
	var v T
	if err := row.Scan(dest(&v)...); err != nil {
		return nil, err
	}
	return &v, nil
}

// queryOne runs on the pool a query for one row and scans it with scan;
// op names the operation in errors, and no row is storage.ErrNotFound.
func queryOne[T any](ctx context.Context, s *Store, op string, scan func(scanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(s.db.QueryRowContext(ctx, query, args...))
	if err != nil {
		return nil, s.fail(op, err)
	}
	return v, nil
}

// queryAll runs query on the pool and scans every row it returns with
// scan; op names the operation in errors.
func queryAll[T any](ctx context.Context, s *Store, op string, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	list, err := collect(rows, scan)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return list, nil
}

// millis returns t as Unix milliseconds.
func millis(t time.Time) int64 {
	return t.UnixMilli()
}

// nullMillis returns t as Unix milliseconds, or NULL for the zero time.
func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// ptrMillis returns *t as Unix milliseconds, or NULL for nil.
func ptrMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// nullString returns s, or NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes returns b, or NULL for nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// list encodes a string list as JSON. A nil list becomes null, so that nil
// and empty lists survive the round trip.
func list(v []string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // []string always marshals
	}
	return string(b)
}

// timeCol scans Unix milliseconds into a time in UTC; NULL gives the zero
// time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMilli(v).UTC()
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

// timePtrCol scans Unix milliseconds into a *time.Time; NULL gives nil.
type timePtrCol struct{ t **time.Time }

func (c timePtrCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// listCol scans a JSON string list.
type listCol struct{ v *[]string }

func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("cannot scan %T into a string list", src)
	}
	*c.v = nil
	return json.Unmarshal(b, c.v)
}

// stringCol scans a text column; NULL gives "".
type stringCol struct{ s *string }

func (c stringCol) Scan(src any) error {
	var ns sql.NullString
	if err := ns.Scan(src); err != nil {
		return err
	}
	*c.s = ns.String
	return nil
}
