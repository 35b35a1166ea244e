package sqlstore

import (
	"context"
	"errors"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// purgeBatch is how many rows one purge transaction deletes at most, so
// that no transaction holds SQLite's write lock (or PostgreSQL's row locks)
// for long while sign-ins go on.
const purgeBatch = 500

// errPurgeLocked means another process holds the purge lock.
var errPurgeLocked = errors.New("purge lock taken")

// A purgeStep deletes one kind of expired row. Its query deletes at most
// $1 rows; the other parameters are args.
type purgeStep struct {
	name  string
	count *int
	query string
	args  []any
}

// expired is the statement that deletes a batch of at most $1 rows of
// table, whose primary key is key, that expired by $2.
func expired(table, key string) string {
	return `DELETE FROM ` + table + ` WHERE ` + key + ` IN (
			SELECT ` + key + ` FROM ` + table + ` WHERE expires_at <= $2 LIMIT $1)`
}

// Purge deletes what expired by r.Now; see storage.PurgeStore. Each kind
// of row goes in batches of purgeBatch, one transaction each, and every
// transaction first takes the dialect's purge lock: a run that finds it
// taken stops with Skipped set.
func (s *Store) Purge(ctx context.Context, r storage.PurgeRequest) (storage.Purged, error) {
	var p storage.Purged
	now := millis(r.Now)
	steps := []purgeStep{
		{"auth requests", &p.AuthRequests, expired("auth_requests", "id"), []any{now}},
		// A code is the grant's tombstone while a token of the grant lives.
		{"auth codes", &p.AuthCodes, `DELETE FROM auth_codes WHERE hash IN (
			SELECT c.hash FROM auth_codes c WHERE c.expires_at <= $2
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
				WHERE t.family_id = c.auth_request_id AND t.expires_at > $2)
			AND NOT EXISTS (SELECT 1 FROM access_tokens t
				WHERE t.grant_id = c.auth_request_id AND t.expires_at > $2)
			LIMIT $1)`, []any{now}},
		{"access tokens", &p.AccessTokens, expired("access_tokens", "id"), []any{now}},
		// A used refresh token detects reuse while its family lives.
		{"refresh tokens", &p.RefreshTokens, `DELETE FROM refresh_tokens WHERE id IN (
			SELECT r.id FROM refresh_tokens r WHERE r.expires_at <= $2
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
				WHERE t.family_id = r.family_id AND t.expires_at > $2)
			LIMIT $1)`, []any{now}},
		{"sessions", &p.Sessions, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at <= $2 OR idle_until <= $2 LIMIT $1)`, []any{now}},
		// IssueCode measures the resend cooldown from the newest code.
		{"one-time codes", &p.OneTimeCodes, `DELETE FROM one_time_codes WHERE id IN (
			SELECT id FROM one_time_codes WHERE expires_at <= $2 AND created_at <= $3 LIMIT $1)`,
			[]any{now, millis(r.Now.Add(-r.ResendCooldown))}},
		{"action tokens", &p.ActionTokens, expired("action_tokens", "hash"), []any{now}},
		{"webauthn sessions", &p.WebAuthnSessions, expired("webauthn_sessions", "id"), []any{now}},
		{"used jtis", &p.UsedJTIs, expired("used_jtis", "key"), []any{now}},
		{"pushed requests", &p.PushedRequests, expired("pushed_requests", "hash"), []any{now}},
		// A counter whose block ended, or whose window passed, starts
		// again from one failure (recordFailure): it is as good as absent.
		{"attempt counters", &p.Counters, `DELETE FROM attempt_counters WHERE key IN (
			SELECT key FROM attempt_counters WHERE blocked_until <= $2
			AND (blocked_until > 0 OR window_start <= $3) LIMIT $1)`,
			[]any{now, millis(r.Now.Add(-r.CounterWindow))}},
		// A key is unpublished once a newer key of its algorithm has
		// signed for the retention period (op.published).
		{"signing keys", &p.SigningKeys, `DELETE FROM signing_keys WHERE id IN (
			SELECT k.id FROM signing_keys k WHERE k.expires_at <= $2
			OR EXISTS (SELECT 1 FROM signing_keys n WHERE n.algorithm = k.algorithm
				AND n.active_at > k.active_at AND n.active_at <= $3)
			LIMIT $1)`, []any{now, millis(r.Now.Add(-r.KeyRetention))}},
	}
	if !r.EventsBefore.IsZero() {
		steps = append(steps, purgeStep{"audit events", &p.Events, `DELETE FROM audit_events WHERE id IN (
			SELECT id FROM audit_events WHERE time < $2 LIMIT $1)`, []any{millis(r.EventsBefore)}})
	}
	for _, st := range steps {
		for {
			n, err := s.purgeOnce(ctx, st)
			if errors.Is(err, errPurgeLocked) {
				p.Skipped = true
				return p, nil
			}
			if err != nil {
				return p, err
			}
			*st.count += n
			if n < purgeBatch {
				break
			}
		}
	}
	return p, nil
}

// purgeOnce runs one batch of st in a transaction under the purge lock and
// returns how many rows it deleted.
func (s *Store) purgeOnce(ctx context.Context, st purgeStep) (int, error) {
	op := "purge " + st.name
	var n int64
	err := s.inTx(ctx, op, func(tx *stmtTx) error {
		if s.d.PurgeLock != "" {
			var ok bool
			if err := tx.QueryRowContext(ctx, s.d.PurgeLock).Scan(&ok); err != nil {
				return s.fail(op, err)
			}
			if !ok {
				return errPurgeLocked
			}
		}
		var err error
		n, err = s.execCount(ctx, tx, op, st.query, append([]any{purgeBatch}, st.args...)...)
		return err
	})
	return int(n), err
}
