package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// AddSessionGrant records g; a grant already recorded is left as it is.
func (s *Store) AddSessionGrant(ctx context.Context, g *storage.SessionGrant) error {
	return s.exec(ctx, "add session grant", `INSERT INTO session_grants (grant_id, session_id, client_id, user_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO NOTHING`,
		g.GrantID, g.SessionID, g.ClientID, g.UserID, millis(g.CreatedAt))
}

// GrantSession returns the id the sid of the session the grant grantID was
// completed in derives from.
func (s *Store) GrantSession(ctx context.Context, grantID string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(ss.sid_source, g.session_id) FROM session_grants g
		LEFT JOIN session_sids ss ON ss.session_id = g.session_id
		WHERE g.grant_id = $1`, grantID).Scan(&id)
	if err != nil {
		return "", s.fail("grant session", err)
	}
	return id, nil
}

// queueLogouts queues a delivery for each client with a back-channel
// logout URI that signed in through a session the condition (on the
// sessions table, aliased se) selects. It runs before the sessions are
// deleted, whose grants go with them.
const queueLogouts = `INSERT INTO logout_deliveries (session_id, client_id, user_id, next_attempt_at, created_at)
	SELECT DISTINCT COALESCE(ss.sid_source, se.id), g.client_id, se.user_id, CAST($1 AS BIGINT), CAST($1 AS BIGINT)
	FROM sessions se
	JOIN session_grants g ON g.session_id = se.id
	JOIN clients c ON c.id = g.client_id
	LEFT JOIN session_sids ss ON ss.session_id = se.id
	WHERE c.backchannel_logout_uri <> '' AND `

// EndSession deletes the session id and queues its logout deliveries, in
// one transaction.
func (s *Store) EndSession(ctx context.Context, id string, now time.Time) error {
	const op = "end session"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if _, err := tx.ExecContext(ctx, queueLogouts+`se.id = $2 ON CONFLICT DO NOTHING`, millis(now), id); err != nil {
			return s.fail(op, err)
		}
		return s.execOneOn(ctx, tx, op, `DELETE FROM sessions WHERE id = $1`, id)
	})
}

// ReplaceSession removes the session oldID that newID replaces: newID
// continues it when both are the same user's, else oldID ends.
func (s *Store) ReplaceSession(ctx context.Context, oldID, newID string, now time.Time) error {
	const op = "replace session"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		var same bool
		err := tx.QueryRowContext(ctx, `SELECT o.user_id = n.user_id FROM sessions o, sessions n
			WHERE o.id = $1 AND n.id = $2`+s.d.LockRow, oldID, newID).Scan(&same)
		if err != nil {
			err = s.fail(op, err)
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		}
		if !same {
			if _, err := tx.ExecContext(ctx, queueLogouts+`se.id = $2 ON CONFLICT DO NOTHING`, millis(now), oldID); err != nil {
				return s.fail(op, err)
			}
			return s.execOneOn(ctx, tx, op, `DELETE FROM sessions WHERE id = $1`, oldID)
		}
		if err := s.continueSession(ctx, tx, op, oldID, newID); err != nil {
			return err
		}
		return s.execOneOn(ctx, tx, op, `DELETE FROM sessions WHERE id = $1`, oldID)
	})
}

// RotateSession copies the live session oldID to newID, moves its sid and
// grants to newID and deletes oldID, in one transaction. Of two rotations
// (or a rotation and an ending) of one session, the second finds oldID
// gone, at its copy or at its delete, and changes nothing.
func (s *Store) RotateSession(ctx context.Context, oldID, newID string, now, reauthAt time.Time) error {
	const op = "rotate session"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if err := s.execOneOn(ctx, tx, op, `INSERT INTO sessions (`+sessionColumns+`)
			SELECT CAST($2 AS TEXT), user_id, auth_time, amr, ip, user_agent, created_at, last_seen_at, expires_at, idle_until,
				COALESCE($4, reauth_at)
			FROM sessions WHERE id = $1 AND expires_at > $3 AND idle_until > $3`,
			oldID, newID, millis(now), nullMillis(reauthAt)); err != nil {
			return err
		}
		if err := s.continueSession(ctx, tx, op, oldID, newID); err != nil {
			return err
		}
		return s.execOneOn(ctx, tx, op, `DELETE FROM sessions WHERE id = $1`, oldID)
	})
}

// continueSession makes newID continue the session oldID, of the same
// user: it takes its grants and the id its sid derives from.
func (s *Store) continueSession(ctx context.Context, tx *stmtTx, op, oldID, newID string) error {
	for _, q := range []string{
		`INSERT INTO session_sids (session_id, sid_source)
			SELECT CAST($2 AS TEXT), COALESCE((SELECT sid_source FROM session_sids WHERE session_id = $1), CAST($1 AS TEXT)) WHERE true
			ON CONFLICT (session_id) DO NOTHING`,
		`UPDATE session_grants SET session_id = $2 WHERE session_id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, oldID, newID); err != nil {
			return s.fail(op, err)
		}
	}
	return nil
}

// EndUserSessions deletes every session of the user userID but keepID and
// queues their logout deliveries, in one transaction, and returns how
// many sessions it ended.
func (s *Store) EndUserSessions(ctx context.Context, userID, keepID string, now time.Time) (int, error) {
	const op = "end user sessions"
	var n int64
	err := s.inTx(ctx, op, func(tx *stmtTx) error {
		if _, err := tx.ExecContext(ctx, queueLogouts+`se.user_id = $2 AND se.id <> $3 ON CONFLICT DO NOTHING`,
			millis(now), userID, keepID); err != nil {
			return s.fail(op, err)
		}
		var err error
		n, err = s.execCount(ctx, tx, op, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
		return err
	})
	return int(n), err
}

// ClaimLogoutDelivery leases the delivery due longest at now. On
// PostgreSQL the inner SELECT skips rows another replica is claiming (FOR
// UPDATE SKIP LOCKED), which the outer UPDATE would otherwise claim a
// second time once that replica commits; on SQLite writers serialise.
func (s *Store) ClaimLogoutDelivery(ctx context.Context, now time.Time, lease time.Duration) (*storage.LogoutDelivery, error) {
	lock := ""
	if s.d.LockRow != "" {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var d storage.LogoutDelivery
	err := s.db.QueryRowContext(ctx, `UPDATE logout_deliveries SET attempts = attempts + 1, locked_until = $2
		WHERE (session_id, client_id) = (SELECT session_id, client_id FROM logout_deliveries
			WHERE next_attempt_at <= $1 AND locked_until <= $1
			ORDER BY next_attempt_at LIMIT 1`+lock+`)
		RETURNING session_id, client_id, user_id, attempts, next_attempt_at, created_at`,
		millis(now), millis(now.Add(lease))).Scan(&d.SessionID, &d.ClientID, &d.UserID, &d.Attempts,
		timeCol{&d.NextAttemptAt}, timeCol{&d.CreatedAt})
	if err != nil {
		return nil, s.fail("claim logout delivery", err)
	}
	return &d, nil
}

// DeleteLogoutDelivery removes a delivery.
func (s *Store) DeleteLogoutDelivery(ctx context.Context, sessionID, clientID string) error {
	return s.execOne(ctx, "delete logout delivery",
		`DELETE FROM logout_deliveries WHERE session_id = $1 AND client_id = $2`, sessionID, clientID)
}

// RetryLogoutDelivery releases a delivery's lease and makes it due at next.
func (s *Store) RetryLogoutDelivery(ctx context.Context, sessionID, clientID string, next time.Time) error {
	return s.execOne(ctx, "retry logout delivery",
		`UPDATE logout_deliveries SET next_attempt_at = $3, locked_until = 0 WHERE session_id = $1 AND client_id = $2`,
		sessionID, clientID, millis(next))
}

// CountLogoutDeliveries counts the queued deliveries.
func (s *Store) CountLogoutDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM logout_deliveries`).Scan(&n); err != nil {
		return 0, s.fail("count logout deliveries", err)
	}
	return n, nil
}
