package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// A stmtDB is a *sql.DB whose queries run as statements prepared once and
// reused, keyed by their SQL text. database/sql prepares a statement again
// on each pooled connection that first runs it and forgets it when the
// connection closes, so the cache stays correct as the pool churns.
//
// Drivers that already cache statements per connection (pgx's stdlib
// driver does, by default) get a stmtDB with caching off, so that no
// statement is prepared twice.
type stmtDB struct {
	*sql.DB
	prepare bool

	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// maxStmts bounds the cache. The store's SQL is a fixed set of constant
// texts (plus a few built from constant pieces), far below it; a text past
// the bound runs unprepared.
const maxStmts = 256

func newStmtDB(db *sql.DB, prepare bool) *stmtDB {
	return &stmtDB{DB: db, prepare: prepare, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement for query, preparing it on first use.
// It returns nil when caching is off, the cache is full or the store is
// closed: the caller then runs query unprepared.
func (db *stmtDB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if !db.prepare {
		return nil, nil
	}
	db.mu.RLock()
	st, ok := db.stmts[query]
	db.mu.RUnlock()
	if ok {
		return st, nil
	}

	db.mu.Lock()
	defer db.mu.Unlock()
	if st, ok := db.stmts[query]; ok {
		return st, nil
	}
	if db.closed || len(db.stmts) >= maxStmts {
		return nil, nil
	}
	// The statement outlives this request: prepare it without the
	// request's deadline or cancellation, so that a cancelled request does
	// not leave a broken statement behind.
	st, err := db.DB.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	db.stmts[query] = st
	return st, nil
}

// ExecContext runs query through its prepared statement.
func (db *stmtDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return db.DB.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query through its prepared statement.
func (db *stmtDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return db.DB.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query through its prepared statement. A failure to
// prepare it is reported by the row's Scan, as database/sql does.
func (db *stmtDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.stmt(ctx, query)
	if err != nil || st == nil {
		// Preparing again unprepared reports the same error through Scan.
		return db.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// cached returns the prepared statement for query if there is one.
func (db *stmtDB) cached(query string) *sql.Stmt {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.stmts[query]
}

// tx returns tx with its statements drawn from the cache.
func (db *stmtDB) tx(tx *sql.Tx) *stmtTx {
	return &stmtTx{Tx: tx, db: db}
}

// Close closes the cached statements, then the database.
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
		_, _ = tx.db.stmt(ctx, q) // a failure shows when the statement runs again
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
