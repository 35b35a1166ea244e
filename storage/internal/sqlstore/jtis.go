package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// useJTI inserts the key, or takes over a row whose use has expired; a row
// still running is left alone and no row is affected.
const useJTI = `INSERT INTO used_jtis (key, expires_at) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
WHERE used_jtis.expires_at <= $3`

// UseJTI records key as used until expiresAt; storage.ErrReplayed if it is
// in use at now.
func (s *Store) UseJTI(ctx context.Context, key string, expiresAt, now time.Time) error {
	n, err := s.execCount(ctx, s.db, "use jti", useJTI, key, millis(expiresAt), millis(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrReplayed
	}
	return nil
}
