package sqlstore

import (
	"context"
	"time"
)

// SetClientJWTSecret stores, replaces or (sealed nil) removes the sealed
// secret of client id.
func (s *Store) SetClientJWTSecret(ctx context.Context, id string, sealed []byte, now time.Time) error {
	var err error
	if sealed == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM client_jwt_secrets WHERE client_id = $1`, id)
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO client_jwt_secrets (client_id, sealed, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (client_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
			id, sealed, millis(now))
	}
	if err != nil {
		return s.fail("set client jwt secret", err)
	}
	return nil
}

// ClientJWTSecret returns the sealed secret of client id;
// storage.ErrNotFound if it has none.
func (s *Store) ClientJWTSecret(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	if err := s.db.QueryRowContext(ctx, `SELECT sealed FROM client_jwt_secrets WHERE client_id = $1`, id).Scan(&sealed); err != nil {
		return nil, s.fail("client jwt secret", err)
	}
	return sealed, nil
}
