package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// CompleteSignIn ends a sign-in in one transaction: the code's use (the
// conditional UPDATE of UseTOTPStep, UseCode or UseRecoveryCode, which
// of concurrent callers lets one through), the new session (none when
// c.Stored), the auth request done (only if it was not, only if it is the
// session user's unless c.Claim or c.Stored, and only if it has not
// expired at c.Now) and the session grant. A failure at any of them rolls
// all of them back.
func (s *Store) CompleteSignIn(ctx context.Context, c *storage.SignInCompletion) error {
	const op = "complete sign-in"
	sess := c.Session
	if sess == nil || sess.UserID == "" {
		return fmt.Errorf("storage: %s %q: no session user", op, c.RequestID)
	}
	if c.Stored && c.Use != nil {
		return fmt.Errorf("storage: %s %q: a code's use with a stored session", op, c.RequestID)
	}
	done := `UPDATE auth_requests
		SET user_id = $2, auth_time = $3, amr = $4, acr = $5, done = $6
		WHERE id = $1 AND done = $7 AND expires_at > $8`
	if !c.Claim && !c.Stored {
		done += ` AND user_id = $2`
	}
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if u := c.Use; u != nil {
			var err error
			switch {
			case u.TOTPSecret != nil:
				err = s.useTOTPStep(ctx, tx, sess.UserID, u.TOTPStep, true, u.TOTPSecret)
			case u.CodeID != "":
				err = s.useCodeOf(ctx, tx, sess.UserID, u.CodeID, c)
			case u.RecoveryHash != nil:
				err = s.useRecoveryCode(ctx, tx, sess.UserID, u.RecoveryHash, c.Now)
			default:
				err = fmt.Errorf("storage: %s %q: a factor use that names no code", op, c.RequestID)
			}
			if err != nil {
				return err
			}
		}
		if !c.Stored {
			if err := s.execOn(ctx, tx, op, `INSERT INTO sessions (`+sessionColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				sess.ID, sess.UserID, millis(sess.AuthTime), list(sess.AMR), sess.IP, sess.UserAgent,
				millis(sess.CreatedAt), millis(sess.LastSeenAt), millis(sess.ExpiresAt), millis(sess.IdleUntil),
				nullMillis(sess.ReauthAt)); err != nil {
				return err
			}
		}
		// Only the session user's pending sign-in: a request whose user
		// EndPendingSignIns cleared (the password changed, or an
		// administrator signed the user out, since the code was checked)
		// or another user took is not done for this one, nor one expired
		// by the completion's time (the caller's clock, c.Now, as every
		// check of the sign-in reads it), however recently the code step
		// found it live. A completion that identified the user itself
		// (c.Claim, c.Stored) names the request's user as it completes it.
		err := s.execOneOn(ctx, tx, op, done,
			c.RequestID, sess.UserID, nullMillis(sess.AuthTime), list(sess.AMR), c.ACR, true, false, millis(c.Now))
		if errors.Is(err, storage.ErrNotFound) {
			return storage.ErrConflict // unknown, done already, expired, or not the user's
		}
		if err != nil {
			return err
		}
		// A stored session ended meanwhile is not there to refer to:
		// ErrNotFound, and the request stays as it was.
		return s.execOn(ctx, tx, op, `INSERT INTO session_grants (grant_id, session_id, client_id, user_id, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO NOTHING`,
			c.RequestID, sess.ID, c.ClientID, sess.UserID, millis(c.Now))
	})
}

// useCodeOf uses the emailed code id within CompleteSignIn, provided it is
// the session user's: a code of another user is not found.
func (s *Store) useCodeOf(ctx context.Context, q querier, userID, id string, c *storage.SignInCompletion) error {
	var owner string
	err := q.QueryRowContext(ctx, `SELECT user_id FROM one_time_codes WHERE id = $1`, id).Scan(&owner)
	if err != nil {
		return s.fail("complete sign-in", err)
	}
	if owner != userID {
		return storage.ErrNotFound
	}
	return s.useCode(ctx, q, id, c.Now)
}
