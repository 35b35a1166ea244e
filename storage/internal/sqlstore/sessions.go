package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, ip, user_agent, created_at, last_seen_at,
	expires_at, idle_until, reauth_at`

// CreateSession stores sess; storage.ErrConflict if its id is taken and
// storage.ErrNotFound if its user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	return s.exec(ctx, "create session", `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sess.ID, sess.UserID, millis(sess.AuthTime), list(sess.AMR), sess.IP, sess.UserAgent,
		millis(sess.CreatedAt), millis(sess.LastSeenAt), millis(sess.ExpiresAt), millis(sess.IdleUntil),
		nullMillis(sess.ReauthAt))
}

func scanSession(row scanner) (*storage.Session, error) {
	return scanDest(row, func(sess *storage.Session) []any {
		return []any{&sess.ID, &sess.UserID, timeCol{&sess.AuthTime}, listCol{&sess.AMR}, &sess.IP, &sess.UserAgent,
			timeCol{&sess.CreatedAt}, timeCol{&sess.LastSeenAt}, timeCol{&sess.ExpiresAt}, timeCol{&sess.IdleUntil},
			timeCol{&sess.ReauthAt}}
	})
}

// SessionByID returns the session id if it is neither expired nor idle at
// now.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	return queryOne(ctx, s, "session by id", scanSession, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = $1 AND expires_at > $2 AND idle_until > $2`, id, millis(now))
}

// UserSessions returns the sessions of the user userID that are neither
// expired nor idle at now, most recently seen first (then newest first, then
// by id).
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	const op = "user sessions"
	return queryAll(ctx, s, op, scanSession, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND expires_at > $2 AND idle_until > $2
		ORDER BY last_seen_at DESC, created_at DESC, id`, userID, millis(now))
}

// TouchSession records activity at now on the session id and moves its idle
// deadline to idleUntil. A session already expired or idle at now gives
// storage.ErrNotFound.
func (s *Store) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	return s.execOne(ctx, "touch session", `UPDATE sessions SET last_seen_at = $2, idle_until = $3
		WHERE id = $1 AND expires_at > $2 AND idle_until > $2`, id, millis(now), millis(idleUntil))
}

// MarkReauthenticated sets the ReauthAt of the session id to at; a session
// unknown, expired or idle at at gives storage.ErrNotFound.
func (s *Store) MarkReauthenticated(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "mark session reauthenticated", `UPDATE sessions SET reauth_at = $2
		WHERE id = $1 AND expires_at > $2 AND idle_until > $2`, id, millis(at))
}
