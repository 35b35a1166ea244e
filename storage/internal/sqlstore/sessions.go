package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, ip, user_agent, created_at, last_seen_at,
	expires_at, idle_until`

// CreateSession stores sess; storage.ErrConflict if its id is taken and
// storage.ErrNotFound if its user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		sess.ID, sess.UserID, millis(sess.AuthTime), list(sess.AMR), sess.IP, sess.UserAgent,
		millis(sess.CreatedAt), millis(sess.LastSeenAt), millis(sess.ExpiresAt), millis(sess.IdleUntil))
	if err != nil {
		return s.fail("create session", err)
	}
	return nil
}

// SessionByID returns the session id if it is neither expired nor idle at
// now.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	var sess storage.Session
	err := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = $1 AND expires_at > $2 AND idle_until > $2`, id, millis(now)).Scan(
		&sess.ID, &sess.UserID, timeCol{&sess.AuthTime}, listCol{&sess.AMR}, &sess.IP, &sess.UserAgent,
		timeCol{&sess.CreatedAt}, timeCol{&sess.LastSeenAt}, timeCol{&sess.ExpiresAt}, timeCol{&sess.IdleUntil})
	if err != nil {
		return nil, s.fail("session by id", err)
	}
	return &sess, nil
}

// TouchSession records activity at now on the session id and moves its idle
// deadline to idleUntil. A session already expired or idle at now gives
// storage.ErrNotFound.
func (s *Store) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	return s.execOne(ctx, "touch session", `UPDATE sessions SET last_seen_at = $2, idle_until = $3
		WHERE id = $1 AND expires_at > $2 AND idle_until > $2`, id, millis(now), millis(idleUntil))
}

// DeleteSession removes the session id.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete session", `DELETE FROM sessions WHERE id = $1`, id)
}

// DeleteUserSessions removes every session of the user userID.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return s.fail("delete user sessions", err)
	}
	return nil
}
