package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const actionTokenColumns = `hash, purpose, user_id, data, created_at, expires_at, used_at`

func scanActionToken(row scanner) (*storage.ActionToken, error) {
	return scanDest(row, func(t *storage.ActionToken) []any {
		return []any{&t.Hash, &t.Purpose, &t.UserID, &t.Data,
			timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timePtrCol{&t.UsedAt}}
	})
}

// CreateActionToken stores t; storage.ErrNotFound if its user does not
// exist, storage.ErrConflict if its hash is taken.
func (s *Store) CreateActionToken(ctx context.Context, t *storage.ActionToken) error {
	return s.exec(ctx, "create action token", `INSERT INTO action_tokens (`+actionTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, t.Purpose, t.UserID, t.Data, millis(t.CreatedAt), millis(t.ExpiresAt), ptrMillis(t.UsedAt))
}

// UseActionToken marks the token with the given hash and purpose used at
// now and returns it. Marking it is one conditional UPDATE, so of many
// concurrent callers exactly one succeeds. A token that is unknown, of
// another purpose, used, or expired at now gives storage.ErrNotFound and is
// left as it was.
func (s *Store) UseActionToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*storage.ActionToken, error) {
	return queryOne(ctx, s, "use action token", scanActionToken, `UPDATE action_tokens SET used_at = $3
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING `+actionTokenColumns, hash, purpose, millis(now))
}

// DeleteActionTokens deletes every token of the user userID with the given
// purpose, or every token of the user when purpose is "".
func (s *Store) DeleteActionTokens(ctx context.Context, userID, purpose string) error {
	q := `DELETE FROM action_tokens WHERE user_id = $1`
	args := []any{userID}
	if purpose != "" {
		q += ` AND purpose = $2`
		args = append(args, purpose)
	}
	return s.exec(ctx, "delete action tokens", q, args...)
}

// SupersedeActionTokens deletes the tokens of t's user and purpose created
// no later than t, other than t.
func (s *Store) SupersedeActionTokens(ctx context.Context, t *storage.ActionToken) error {
	return s.exec(ctx, "supersede action tokens",
		`DELETE FROM action_tokens WHERE user_id = $1 AND purpose = $2 AND created_at <= $3 AND hash <> $4`,
		t.UserID, t.Purpose, millis(t.CreatedAt), t.Hash)
}

// ReplaceRecoveryCodes deletes the recovery codes of the user userID, used
// or not, and stores hashes as the new set, unused, created at now; nil or
// empty hashes leave none. storage.ErrNotFound if the user does not exist;
// storage.ErrConflict if a hash appears twice in hashes, and then nothing
// changes.
//
// Everything runs in one transaction that first locks the user's row (on
// SQLite, the transaction holds the database's write lock from its start),
// so concurrent callers replace the set one after the other and it is never
// a mix of two.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error {
	_, err := s.replaceRecoveryCodes(ctx, "replace recovery codes", userID, hashes, now, false)
	return err
}

// IssueFirstRecoveryCodes stores hashes as the recovery codes of the user
// userID, as ReplaceRecoveryCodes does, if the user has no unused code,
// and reports whether it did; a user with codes left keeps them. The
// count and the insert run in the transaction that locks the user's row,
// so of concurrent callers (two factors enabled at once) one issues the
// set and the others find it there.
func (s *Store) IssueFirstRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) (bool, error) {
	return s.replaceRecoveryCodes(ctx, "issue first recovery codes", userID, hashes, now, true)
}

// replaceRecoveryCodes is ReplaceRecoveryCodes, which, when onlyIfNone,
// changes nothing (and reports false) if the user has unused codes.
func (s *Store) replaceRecoveryCodes(ctx context.Context, op, userID string, hashes [][]byte, now time.Time, onlyIfNone bool) (bool, error) {
	issued := false
	err := s.inTx(ctx, op, func(tx *stmtTx) error {
		issued = false // should the transaction run again
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = $1`+s.d.LockRow, userID).Scan(&id)
		if err != nil {
			return s.fail(op, err)
		}
		if onlyIfNone {
			var left int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&left)
			if err != nil {
				return s.fail(op, err)
			}
			if left > 0 {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return s.fail(op, err)
		}
		for _, h := range hashes {
			_, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at, used_at)
				VALUES ($1, $2, $3, NULL)`, userID, h, millis(now))
			if err != nil {
				return s.fail(op, err)
			}
		}
		issued = true
		return nil
	})
	return issued && err == nil, err
}

// UseRecoveryCode marks the user's unused recovery code with the given hash
// used at now. Marking it is one conditional UPDATE, so of many concurrent
// callers exactly one succeeds. storage.ErrNotFound if the user has no
// unused code with that hash.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error {
	return s.useRecoveryCode(ctx, s.db, userID, hash, now)
}

// useRecoveryCode is UseRecoveryCode on q: the pool, or a transaction
// (CompleteSignIn).
func (s *Store) useRecoveryCode(ctx context.Context, q querier, userID string, hash []byte, now time.Time) error {
	var used int64
	err := q.QueryRowContext(ctx, `UPDATE recovery_codes SET used_at = $3
		WHERE user_id = $1 AND hash = $2 AND used_at IS NULL
		RETURNING used_at`, userID, hash, millis(now)).Scan(&used)
	if err != nil {
		return s.fail("use recovery code", err)
	}
	return nil
}

// RecoveryCodesLeft counts the unused recovery codes of the user userID (0
// for an unknown user).
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes
		WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, s.fail("recovery codes left", err)
	}
	return n, nil
}
