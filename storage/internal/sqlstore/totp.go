package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const totpColumns = `user_id, secret, confirmed, last_step, created_at`

func scanTOTP(row scanner) (*storage.TOTP, error) {
	return scanDest(row, func(t *storage.TOTP) []any {
		return []any{&t.UserID, &t.Secret, &t.Confirmed, &t.LastStep, timeCol{&t.CreatedAt}}
	})
}

// PutTOTP stores t as the user's unconfirmed secret, replacing an
// unconfirmed one, in one statement: storage.ErrConflict if the user has a
// confirmed secret, storage.ErrNotFound if the user does not exist.
//
// The secret is stored unconfirmed whatever t.Confirmed says, and a
// LastStep of 0 (no RFC 6238 step is that old) is stored as -1, "no step
// yet"; t is updated to match what was stored.
func (s *Store) PutTOTP(ctx context.Context, t *storage.TOTP) error {
	const op = "put totp"
	lastStep := t.LastStep
	if lastStep == 0 {
		lastStep = -1
	}
	// The upsert's WHERE leaves a confirmed secret alone, and then no row
	// is affected.
	n, err := s.execCount(ctx, s.db, op, `INSERT INTO totp_secrets (`+totpColumns+`)
		VALUES ($1, $2, FALSE, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET
			secret = excluded.secret,
			confirmed = FALSE,
			last_step = excluded.last_step,
			created_at = excluded.created_at
		WHERE totp_secrets.confirmed = FALSE`,
		t.UserID, t.Secret, lastStep, millis(t.CreatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrConflict
	}
	t.Confirmed, t.LastStep = false, lastStep
	return nil
}

// TOTPByUser returns the user's secret, confirmed or not.
func (s *Store) TOTPByUser(ctx context.Context, userID string) (*storage.TOTP, error) {
	return queryOne(ctx, s, "totp by user", scanTOTP,
		`SELECT `+totpColumns+` FROM totp_secrets WHERE user_id = $1`, userID)
}

// UseTOTPStep records step as the last one used by the user's secret and
// confirms the secret, provided step is greater than the last step and the
// secret's confirmation is as confirmed says. That is one conditional
// UPDATE, so of many concurrent callers with one step exactly one succeeds.
//
// A secret that is not nil must also be the stored one, so that a step
// checked against a secret that a new enrolment replaced meanwhile does
// not confirm the new one.
//
// When nothing is updated, a secret in the state confirmed asks for (and
// the one given, if any) whose last step is step or later gives
// storage.ErrReplayed; anything else (no secret, another secret, or one
// confirmed when an enrolment was expected or the reverse) gives
// storage.ErrNotFound.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, confirmed bool, secret []byte) error {
	return s.useTOTPStep(ctx, s.db, userID, step, confirmed, secret)
}

// useTOTPStep is UseTOTPStep on q: the pool, or a transaction
// (CompleteSignIn).
func (s *Store) useTOTPStep(ctx context.Context, q querier, userID string, step int64, confirmed bool, secret []byte) error {
	const op = "use totp step"
	same, args := "", []any{userID, step, confirmed}
	if secret != nil {
		same, args = " AND secret = $4", append(args, secret)
	}
	n, err := s.execCount(ctx, q, op, `UPDATE totp_secrets SET last_step = $2, confirmed = TRUE
		WHERE user_id = $1 AND last_step < $2 AND confirmed = $3`+same, args...)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}

	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM totp_secrets
		WHERE user_id = $1 AND last_step >= $2 AND confirmed = $3`+same, args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return s.fail(op, err)
	}
	return storage.ErrReplayed
}

// DeleteTOTP removes the user's secret, confirmed or not;
// storage.ErrNotFound if there is none.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	return s.execOne(ctx, "delete totp", `DELETE FROM totp_secrets WHERE user_id = $1`, userID)
}

// RemoveSecondFactors turns the email codes of the user userID off and
// deletes their authenticator-app secret and security keys, and reports
// whether any of them was a factor (email codes on, a confirmed secret, a
// key). It runs in one transaction that first locks the user's row (on
// SQLite, the transaction holds the database's write lock from its
// start), so that concurrent callers remove the factors one after the
// other: the first finds them and the others find none left.
func (s *Store) RemoveSecondFactors(ctx context.Context, userID string, now time.Time) (bool, error) {
	const op = "remove second factors"
	var had bool
	err := s.inTx(ctx, op, func(tx *stmtTx) error {
		had = false // should the transaction run again
		var emailOTP bool
		err := tx.QueryRowContext(ctx, `SELECT email_otp FROM users WHERE id = $1`+s.d.LockRow, userID).Scan(&emailOTP)
		if err != nil {
			return s.fail(op, err)
		}
		if emailOTP {
			if err := s.execOn(ctx, tx, op, `UPDATE users SET email_otp = $2, updated_at = $3 WHERE id = $1`, userID, false, millis(now)); err != nil {
				return err
			}
		}
		app, err := s.execCount(ctx, tx, op, `DELETE FROM totp_secrets WHERE user_id = $1 AND confirmed = $2`, userID, true)
		if err != nil {
			return err
		}
		if err := s.execOn(ctx, tx, op, `DELETE FROM totp_secrets WHERE user_id = $1`, userID); err != nil {
			return err
		}
		keys, err := s.execCount(ctx, tx, op, `DELETE FROM webauthn_credentials WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		had = emailOTP || app > 0 || keys > 0
		return nil
	})
	return had, err
}
