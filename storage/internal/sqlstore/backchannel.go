package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// AddSessionGrant records g; a grant already recorded is left as it is.
func (s *Store) AddSessionGrant(ctx context.Context, g *storage.SessionGrant) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO session_grants (grant_id, session_id, client_id, user_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO NOTHING`,
		g.GrantID, g.SessionID, g.ClientID, g.UserID, millis(g.CreatedAt))
	if err != nil {
		return s.fail("add session grant", err)
	}
	return nil
}

// GrantSession returns the session the grant grantID was completed in.
func (s *Store) GrantSession(ctx context.Context, grantID string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT session_id FROM session_grants WHERE grant_id = $1`, grantID).Scan(&id)
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
	SELECT DISTINCT g.session_id, g.client_id, se.user_id, CAST($1 AS BIGINT), CAST($1 AS BIGINT)
	FROM sessions se
	JOIN session_grants g ON g.session_id = se.id
	JOIN clients c ON c.id = g.client_id
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
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
		if err != nil {
			return s.fail(op, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: %s: %w", op, err)
		}
		return nil
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
