package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const codeColumns = `id, user_id, purpose, binding, hash, created_at, expires_at, used_at, pending`

func scanCode(row scanner) (*storage.OneTimeCode, error) {
	return scanDest(row, func(c *storage.OneTimeCode) []any {
		return []any{&c.ID, &c.UserID, &c.Purpose, &c.Binding, &c.Hash,
			timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, timePtrCol{&c.UsedAt}, &c.Pending}
	})
}

// IssueCode stores c unless the newest existing code of its (user,
// purpose, binding), pending or live, used or not, was created after
// now-cooldown: then storage.ErrConflict and nothing changes. A live c
// replaces every other code of its (user, purpose, binding), which are
// deleted; a pending c leaves them as they are, for ActivateCode or
// DiscardCode to settle. A user that does not exist gives
// storage.ErrNotFound, an id that is taken storage.ErrConflict. An empty
// c.ID is set to a random one, a zero c.CreatedAt to now.
//
// The check and the writes run in one transaction that first locks the
// user's row (on SQLite, the transaction holds the database's write lock
// from its start), so of concurrent callers within one cooldown exactly one
// succeeds.
func (s *Store) IssueCode(ctx context.Context, c *storage.OneTimeCode, cooldown time.Duration, now time.Time) error {
	const op = "issue code"
	if c.ID == "" {
		c.ID = rand.Text()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = $1`+s.d.LockRow, c.UserID).Scan(&id)
		if err != nil {
			return s.fail(op, err)
		}

		var newest sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT MAX(created_at) FROM one_time_codes
			WHERE user_id = $1 AND purpose = $2 AND binding = $3`,
			c.UserID, c.Purpose, c.Binding).Scan(&newest)
		if err != nil {
			return s.fail(op, err)
		}
		if newest.Valid && newest.Int64 > millis(now.Add(-cooldown)) {
			return storage.ErrConflict
		}

		if !c.Pending {
			if _, err := tx.ExecContext(ctx, `DELETE FROM one_time_codes
				WHERE user_id = $1 AND purpose = $2 AND binding = $3`,
				c.UserID, c.Purpose, c.Binding); err != nil {
				return s.fail(op, err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO one_time_codes (`+codeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.UserID, c.Purpose, c.Binding, c.Hash,
			millis(c.CreatedAt), millis(c.ExpiresAt), ptrMillis(c.UsedAt), c.Pending)
		if err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// ActivateCode makes the pending code id live and deletes the other codes
// of its (user, purpose, binding): every live one, used or not, and the
// pending ones issued before it (by created_at, then id, the order of
// LatestCode). A live code goes whatever its created_at says: no code
// stays live beside it, whichever clocks stamped them. Both
// writes run in one transaction that first locks the pending code's row
// (on SQLite, the transaction holds the database's write lock from its
// start): a code discarded or voided meanwhile stays gone
// (storage.ErrNotFound), a code used meanwhile is deleted, never revived,
// and of two pending codes activated at once the newer one ends up the
// only live one.
func (s *Store) ActivateCode(ctx context.Context, id string) error {
	const op = "activate code"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		var userID, purpose, binding string
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT user_id, purpose, binding, created_at FROM one_time_codes
			WHERE id = $1 AND pending`+s.d.LockRow, id).Scan(&userID, &purpose, &binding, &created)
		if err != nil {
			return s.fail(op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM one_time_codes
			WHERE user_id = $1 AND purpose = $2 AND binding = $3 AND id <> $5
			AND (NOT pending OR created_at < $4 OR (created_at = $4 AND id < $5))`,
			userID, purpose, binding, created, id); err != nil {
			return s.fail(op, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE one_time_codes SET pending = FALSE WHERE id = $1`, id); err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// DiscardCode deletes the code id if it is pending, in one statement;
// storage.ErrNotFound if no pending code has that id. No other code
// changes: the live code before it stays as it is, used or not.
func (s *Store) DiscardCode(ctx context.Context, id string) error {
	const op = "discard code"
	n, err := s.execCount(ctx, s.db, op, `DELETE FROM one_time_codes WHERE id = $1 AND pending`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// LatestCode returns the newest live (not pending) code of (user, purpose,
// binding) if it is unused and unexpired at now; storage.ErrNotFound
// otherwise.
func (s *Store) LatestCode(ctx context.Context, userID, purpose, binding string, now time.Time) (*storage.OneTimeCode, error) {
	c, err := scanCode(s.db.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM one_time_codes
		WHERE user_id = $1 AND purpose = $2 AND binding = $3 AND NOT pending
		ORDER BY created_at DESC, id DESC LIMIT 1`, userID, purpose, binding))
	if err != nil {
		return nil, s.fail("latest code", err)
	}
	if c.UsedAt != nil || !c.ExpiresAt.After(now) {
		return nil, storage.ErrNotFound
	}
	return c, nil
}

// UseCode marks the live code id used at now. Marking it is one
// conditional UPDATE, so of many concurrent callers exactly one succeeds.
// A code used before gives storage.ErrReplayed; one that is unknown,
// pending, voided or expired at now gives storage.ErrNotFound.
func (s *Store) UseCode(ctx context.Context, id string, now time.Time) error {
	return s.useCode(ctx, s.db, id, now)
}

// useCode is UseCode on q: the pool, or a transaction (CompleteSignIn).
func (s *Store) useCode(ctx context.Context, q querier, id string, now time.Time) error {
	const op = "use code"
	n, err := s.execCount(ctx, q, op, `UPDATE one_time_codes SET used_at = $2
		WHERE id = $1 AND NOT pending AND used_at IS NULL AND expires_at > $2`, id, millis(now))
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}

	var used sql.NullInt64
	err = q.QueryRowContext(ctx, `SELECT used_at FROM one_time_codes WHERE id = $1 AND NOT pending`, id).Scan(&used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return s.fail(op, err)
	case used.Valid:
		return storage.ErrReplayed
	}
	return storage.ErrNotFound // expired
}

// VoidCodes deletes every code of (user, purpose, binding), pending ones
// too, or of (user, purpose) when binding is "", or of user when purpose
// is "".
func (s *Store) VoidCodes(ctx context.Context, userID, purpose, binding string) error {
	q := `DELETE FROM one_time_codes WHERE user_id = $1`
	args := []any{userID}
	if purpose != "" {
		q += ` AND purpose = $2`
		args = append(args, purpose)
		if binding != "" {
			q += ` AND binding = $3`
			args = append(args, binding)
		}
	}
	return s.exec(ctx, "void codes", q, args...)
}
