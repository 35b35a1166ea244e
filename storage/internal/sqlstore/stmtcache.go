package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
)

// A stmtDB is a *sql.DB, or a pair of them (see NewSplit), whose queries
// run as statements prepared once and reused, keyed by their SQL text.
// database/sql prepares a statement again on each pooled connection that
// first runs it and forgets it when the connection closes, so the cache
// stays correct as the pool churns.
//
// Drivers that already cache statements per connection (pgx's stdlib
// driver does, by default) get a stmtDB with caching off, so that no
// statement is prepared twice.
//
// With a separate writer pool, every statement that is not a SELECT, and
// every transaction, runs on the writer; SELECTs run on the embedded
// reader pool.
type stmtDB struct {
	*sql.DB         // the readers, and the writers unless write is set
	write   *sql.DB // nil: one pool for all
	prepare bool

	mu     sync.RWMutex
	stmts  map[stmtKey]*sql.Stmt
	closed bool
}

// maxStmts bounds the cache. The store's SQL is a fixed set of constant
// texts (plus a few built from constant pieces), far below it; a text past
// the bound runs unprepared.
const maxStmts = 256

// stmtKey names a statement prepared on a pool: a SELECT that runs on
// the readers and inside transactions is prepared on both pools.
type stmtKey struct {
	pool  *sql.DB
	query string
}

func newStmtDB(read, write *sql.DB, prepare bool) *stmtDB {
	return &stmtDB{DB: read, write: write, prepare: prepare, stmts: map[stmtKey]*sql.Stmt{}}
}

// pool returns the pool that runs query.
func (db *stmtDB) pool(query string) *sql.DB {
	if db.write == nil || isRead(query) {
		return db.DB
	}
	return db.write
}

// writer returns the pool of transactions.
func (db *stmtDB) writer() *sql.DB {
	if db.write == nil {
		return db.DB
	}
	return db.write
}

// isRead reports whether query is a plain SELECT, which changes nothing.
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// BeginTx starts a transaction on the writer pool.
func (db *stmtDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return db.writer().BeginTx(ctx, opts)
}

// PingContext pings both pools.
func (db *stmtDB) PingContext(ctx context.Context) error {
	if err := db.DB.PingContext(ctx); err != nil {
		return err
	}
	if db.write != nil {
		return db.write.PingContext(ctx)
	}
	return nil
}

// Stats adds up the pools' statistics.
func (db *stmtDB) Stats() sql.DBStats {
	st := db.DB.Stats()
	if db.write != nil {
		w := db.write.Stats()
		st.MaxOpenConnections += w.MaxOpenConnections
		st.OpenConnections += w.OpenConnections
		st.InUse += w.InUse
		st.Idle += w.Idle
		st.WaitCount += w.WaitCount
		st.WaitDuration += w.WaitDuration
		st.MaxIdleClosed += w.MaxIdleClosed
		st.MaxIdleTimeClosed += w.MaxIdleTimeClosed
		st.MaxLifetimeClosed += w.MaxLifetimeClosed
	}
	return st
}

// stmt returns the prepared statement for query on pool, preparing it on
// first use. It returns nil when caching is off, the cache is full or the
// store is closed: the caller then runs query unprepared.
func (db *stmtDB) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	if !db.prepare {
		return nil, nil
	}
	key := stmtKey{pool, query}
	db.mu.RLock()
	st, ok := db.stmts[key]
	full := db.closed || len(db.stmts) >= maxStmts
	db.mu.RUnlock()
	switch {
	case ok:
		return st, nil
	case full:
		return nil, nil
	}
	// The statement outlives this request: prepare it without the
	// request's deadline or cancellation, so that a cancelled request does
	// not leave a broken statement behind. It is prepared without holding
	// mu: preparing waits for a connection, which a transaction may hold
	// while it looks up its own statements.
	st, err := pool.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if cur, ok := db.stmts[key]; ok { // prepared meanwhile
		st.Close()
		return cur, nil
	}
	if db.closed || len(db.stmts) >= maxStmts {
		st.Close()
		return nil, nil
	}
	db.stmts[key] = st
	return st, nil
}

// ExecContext runs query through its prepared statement.
func (db *stmtDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return runStmt(ctx, db, query, args, (*sql.Stmt).ExecContext, (*sql.DB).ExecContext)
}

// QueryContext runs query through its prepared statement.
func (db *stmtDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return runStmt(ctx, db, query, args, (*sql.Stmt).QueryContext, (*sql.DB).QueryContext)
}

// runStmt runs query with args through its prepared statement (stmt), or
// unprepared on its pool (unprepared) when db keeps no statement for it.
func runStmt[T any](ctx context.Context, db *stmtDB, query string, args []any,
	stmt func(*sql.Stmt, context.Context, ...any) (T, error),
	unprepared func(*sql.DB, context.Context, string, ...any) (T, error)) (T, error) {
	pool := db.pool(query)
	st, err := db.stmt(ctx, pool, query)
	if err != nil {
		var zero T
		return zero, err
	}
	if st == nil {
		return unprepared(pool, ctx, query, args...)
	}
	return stmt(st, ctx, args...)
}

// QueryRowContext runs query through its prepared statement. A failure to
// prepare it is reported by the row's Scan, as database/sql does.
func (db *stmtDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	pool := db.pool(query)
	st, err := db.stmt(ctx, pool, query)
	if err != nil || st == nil {
		// Preparing again unprepared reports the same error through Scan.
		return pool.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// cached returns the statement for query prepared on the writer pool, the
// pool of transactions, if there is one.
func (db *stmtDB) cached(query string) *sql.Stmt {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.stmts[stmtKey{db.writer(), query}]
}

// tx returns tx with its statements drawn from the cache.
func (db *stmtDB) tx(tx *sql.Tx) *stmtTx {
	return &stmtTx{Tx: tx, db: db}
}

// Close closes the cached statements, then the pools.
func (db *stmtDB) Close() error {
	db.mu.Lock()
	db.closed = true
	var errs []error
	for q, st := range db.stmts {
		errs = append(errs, st.Close())
		delete(db.stmts, q)
	}
	db.mu.Unlock()
	errs = append(errs, db.DB.Close())
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// A stmtTx is a *sql.Tx whose queries run as the stmtDB's cached
// statements, bound to the transaction's connection (database/sql reuses
// the statement already prepared on that connection).
//
// A statement not cached yet runs unprepared and is noted in misses:
// preparing it now would take a second connection while the transaction
// holds one, which deadlocks a full pool. The Store prepares the misses
// after the transaction ends (see prepareMisses).
type stmtTx struct {
	*sql.Tx
	db     *stmtDB
	misses []string
}

func (tx *stmtTx) bound(ctx context.Context, query string) *sql.Stmt {
	if !tx.db.prepare {
		return nil
	}
	st := tx.db.cached(query)
	if st == nil {
		tx.misses = append(tx.misses, query)
		return nil
	}
	return tx.Tx.StmtContext(ctx, st)
}

// prepareMisses prepares the statements the transaction ran unprepared,
// once it has ended and released its connection. A failure is left for
// the next run to report.
func (tx *stmtTx) prepareMisses(ctx context.Context) {
	for _, q := range tx.misses {
		_, _ = tx.db.stmt(ctx, tx.db.writer(), q) // a failure shows when the statement runs again
	}
}

// ExecContext runs query through its prepared statement.
func (tx *stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := tx.bound(ctx, query)
	if st == nil {
		return tx.Tx.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query through its prepared statement.
func (tx *stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := tx.bound(ctx, query)
	if st == nil {
		return tx.Tx.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query through its prepared statement.
func (tx *stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st := tx.bound(ctx, query)
	if st == nil {
		return tx.Tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
