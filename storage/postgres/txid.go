package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
)

// openDB returns a *sql.DB over pool whose transactions learn their id as
// they begin: a transaction begun with a context carrying a
// sqlstore.TxID (the Store's write transactions, see
// sqlstore.CommitCheck) sends BEGIN and pg_current_xact_id() in one
// query, one round trip, where BEGIN alone took one. A COMMIT whose answer
// is lost with its connection can then be resolved without a statement
// more on the normal path.
func openDB(pool *pgxpool.Pool) *sql.DB {
	return sql.OpenDB(txIDConnector{stdlib.GetPoolConnector(pool)})
}

// txIDConnector wraps the pool's connections in txIDConn.
type txIDConnector struct{ driver.Connector }

func (c txIDConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if sc, ok := conn.(*stdlib.Conn); ok {
		return &txIDConn{sc}, nil
	}
	return conn, nil
}

// txIDConn is a pgx connection whose BeginTx reads the transaction's id
// when the context asks for it (sqlstore.TxIDFrom). Every other method is
// stdlib's.
type txIDConn struct{ *stdlib.Conn }

// beginTxID begins a transaction and returns its id, in one round trip:
// a simple-protocol query of two statements, whose BEGIN opens a
// transaction block that outlasts the query.
const beginTxID = `BEGIN; SELECT pg_current_xact_id()::text`

func (c *txIDConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	id := sqlstore.TxIDFrom(ctx)
	if id == nil || opts.Isolation != driver.IsolationLevel(sql.LevelDefault) || opts.ReadOnly {
		return c.Conn.BeginTx(ctx, opts)
	}
	conn := c.Conn.Conn()
	if conn.IsClosed() {
		return nil, driver.ErrBadConn
	}
	results, err := conn.PgConn().Exec(ctx, beginTxID).ReadAll()
	if err == nil && (len(results) != 2 || len(results[1].Rows) != 1 || len(results[1].Rows[0]) != 1) {
		err = fmt.Errorf("postgres: begin: unexpected answer to %q", beginTxID)
	}
	if err != nil {
		if conn.PgConn().TxStatus() != 'I' {
			conn.Close(ctx) // half begun: the pool drops it
		}
		return nil, err
	}
	id.ID = string(results[1].Rows[0][0])
	return &txIDTx{ctx: ctx, conn: conn}, nil
}

// txIDTx ends a transaction that txIDConn began, as pgx's own does.
type txIDTx struct {
	ctx  context.Context
	conn *pgx.Conn
}

func (t *txIDTx) Commit() error {
	tag, err := t.conn.Exec(t.ctx, "commit")
	if err != nil {
		if t.conn.PgConn().TxStatus() != 'I' {
			t.conn.Close(t.ctx) // the error is what matters
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *txIDTx) Rollback() error {
	if _, err := t.conn.Exec(t.ctx, "rollback"); err != nil {
		// A failed rollback leaves the connection in no known state.
		t.conn.Close(t.ctx)
		return fmt.Errorf("rollback failed: %w", err)
	}
	return nil
}
