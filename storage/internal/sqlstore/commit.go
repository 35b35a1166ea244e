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
	// returns the transaction's id as text.
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

// commit commits tx, whose statements ran on stx. With a CommitCheck it
// reads the transaction's id first, so that a COMMIT whose answer is lost
// can be resolved (commitOutcome).
func (s *Store) commit(ctx context.Context, op string, tx *sql.Tx, stx *stmtTx) error {
	c := s.d.CommitCheck
	if c == nil {
		if err := tx.Commit(); err != nil {
			return s.fail(op, err)
		}
		return nil
	}
	var xid string
	if err := stx.QueryRowContext(ctx, c.TxID).Scan(&xid); err != nil {
		return s.fail(op, err)
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
