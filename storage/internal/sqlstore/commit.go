package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A CommitCheck lets a Store find out whether a transaction whose COMMIT
// lost its connection committed. When the database fails over, the
// answer to a COMMIT in flight is lost with its connection: the
// transaction may have committed or not. Guessing either way is wrong:
// "failed" makes the caller retry work that is done (a code already
// claimed, a session already recorded), "done" acknowledges work that is
// lost. PostgreSQL keeps the status of every transaction: the Store reads
// the transaction's id just before COMMIT and, when the COMMIT's answer
// is lost, asks a fresh connection (to the new primary, after a failover)
// for that status.
type CommitCheck struct {
	// TxID is a query run in the transaction just before COMMIT that
	// returns the transaction's id as text, when the driver did not give
	// it at BEGIN (TxIDFrom).
	TxID string
	// Status is a query of the status of the transaction whose id is $1:
	// "committed", "aborted" or "in progress" (NULL: too old to tell).
	Status string
	// Lost reports whether err, from COMMIT, leaves the outcome unknown:
	// the connection failed after the COMMIT may have been sent.
	Lost func(err error) bool
	// NotInHistory reports whether err, from Status, says the server never
	// reached the transaction's id: it is not in this database's history
	// (a standby promoted before it received the transaction).
	NotInHistory func(err error) bool
	// Wait bounds how long the Store keeps asking while no server answers
	// or the transaction is still in progress.
	Wait time.Duration
}

// A TxID receives the id of a transaction from a driver that reads it as
// the transaction begins: the Store begins its transactions with a
// context that carries one (WithTxID) when it has a CommitCheck.
type TxID struct{ ID string }

type txIDKey struct{}

// WithTxID returns ctx carrying id, for the driver's BeginTx to fill.
func WithTxID(ctx context.Context, id *TxID) context.Context {
	return context.WithValue(ctx, txIDKey{}, id)
}

// TxIDFrom returns the TxID ctx carries, or nil.
func TxIDFrom(ctx context.Context) *TxID {
	id, _ := ctx.Value(txIDKey{}).(*TxID)
	return id
}

// beginTx begins a transaction on the writer, asking the driver for its
// id when the Store resolves lost commits; id is nil otherwise.
func (s *Store) beginTx(ctx context.Context) (*sql.Tx, *TxID, error) {
	if s.d.CommitCheck == nil {
		tx, err := s.db.BeginTx(ctx, nil)
		return tx, nil, err
	}
	id := &TxID{}
	tx, err := s.db.BeginTx(WithTxID(ctx, id), nil)
	return tx, id, err
}

// commitOutcome returns the result of a transaction of op whose COMMIT
// failed with commitErr, which c.Lost says may have committed: nil if the
// transaction committed, an error (which callers answer as retryable) if
// it was rolled back or its outcome stays unknown for c.Wait.
func (s *Store) commitOutcome(ctx context.Context, c *CommitCheck, op, xid string, commitErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Wait)
	defer cancel()
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	var last error
	for {
		var status sql.NullString
		err := s.db.QueryRowContext(ctx, c.Status, xid).Scan(&status)
		switch {
		case err == nil && status.String == "committed":
			return nil
		case err == nil && status.String == "aborted", err != nil && c.NotInHistory(err):
			return fmt.Errorf("storage: %s: the commit lost its connection and was rolled back: %w", op, commitErr)
		case err != nil:
			last = err
		default:
			last = fmt.Errorf("transaction %s is %q", xid, status.String)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage: %s: the commit lost its connection and its outcome is unknown (%w): %w",
				op, last, commitErr)
		case <-retry.C:
		}
	}
}

// commit commits tx, whose statements ran on stx and whose id the driver
// gave in id (nil: none asked). With a CommitCheck, a COMMIT whose answer
// is lost is resolved (commitOutcome): from the id the driver gave at
// BEGIN, or else from the id read just before COMMIT.
func (s *Store) commit(ctx context.Context, op string, tx *sql.Tx, stx *stmtTx, id *TxID) error {
	c := s.d.CommitCheck
	if c == nil {
		if err := tx.Commit(); err != nil {
			return s.fail(op, err)
		}
		return nil
	}
	xid := id.ID
	if xid == "" {
		if err := stx.QueryRowContext(ctx, c.TxID).Scan(&xid); err != nil {
			return s.fail(op, err)
		}
	}
	err := tx.Commit()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrTxDone), !c.Lost(err):
		return s.fail(op, err)
	}
	return s.commitOutcome(ctx, c, op, xid, err)
}

// resolvedWrite runs fn, a write of one statement, so that a commit whose
// answer is lost is resolved: in a transaction of its own where the
// dialect has a CommitCheck (BEGIN, which reads the id in its round trip,
// the statement, COMMIT: two round trips more than the statement alone),
// straight on the pool otherwise. It is for the writes whose retry is
// refused once they committed, such as a refresh token's rotation, whose
// retry would be taken for a replay. fn's error is returned as it is.
func (s *Store) resolvedWrite(ctx context.Context, op string, fn func(querier) error) error {
	if s.d.CommitCheck == nil {
		return fn(s.db)
	}
	return s.inTx(ctx, op, func(tx *stmtTx) error { return fn(tx) })
}
