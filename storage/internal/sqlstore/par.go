package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const pushedRequestColumns = `hash, client_id, params, created_at, expires_at, used_at`

func scanPushedRequest(row scanner) (*storage.PushedRequest, error) {
	return scanDest(row, func(r *storage.PushedRequest) []any {
		return []any{&r.Hash, &r.ClientID, &r.Params, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, timePtrCol{&r.UsedAt}}
	})
}

// CreatePushedRequest stores r; storage.ErrConflict if its hash is taken,
// storage.ErrNotFound if its client does not exist.
func (s *Store) CreatePushedRequest(ctx context.Context, r *storage.PushedRequest) error {
	return s.exec(ctx, "create pushed request", `INSERT INTO pushed_requests (`+pushedRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		r.Hash, r.ClientID, r.Params, millis(r.CreatedAt), millis(r.ExpiresAt), ptrMillis(r.UsedAt))
}

// UsePushedRequest marks the unused request with hash, pushed by clientID,
// used at now and returns it: one conditional UPDATE, so of concurrent
// callers exactly one succeeds. A request used before gives
// storage.ErrReplayed with the request; an unknown one, or another
// client's, storage.ErrNotFound.
func (s *Store) UsePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (*storage.PushedRequest, error) {
	r, err := scanPushedRequest(s.db.QueryRowContext(ctx, `UPDATE pushed_requests SET used_at = $3
		WHERE hash = $1 AND client_id = $2 AND used_at IS NULL
		RETURNING `+pushedRequestColumns, hash, clientID, millis(now)))
	if err == nil {
		return r, nil
	}
	if err = s.fail("use pushed request", err); err != storage.ErrNotFound {
		return nil, err
	}
	r, err = scanPushedRequest(s.db.QueryRowContext(ctx, `SELECT `+pushedRequestColumns+`
		FROM pushed_requests WHERE hash = $1 AND client_id = $2`, hash, clientID))
	if err != nil {
		return nil, s.fail("use pushed request", err)
	}
	return r, storage.ErrReplayed
}
