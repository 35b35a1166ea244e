package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const signingKeyColumns = `id, algorithm, private_key, public_key, created_at, active_at, expires_at`

func scanSigningKey(row scanner) (*storage.SigningKey, error) {
	return scanDest(row, func(k *storage.SigningKey) []any {
		return []any{&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey,
			timeCol{&k.CreatedAt}, timeCol{&k.ActiveAt}, timeCol{&k.ExpiresAt}}
	})
}

// CreateSigningKey stores k; storage.ErrConflict if its id is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	return s.exec(ctx, "create signing key", `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Algorithm, k.PrivateKey, k.PublicKey,
		millis(k.CreatedAt), millis(k.ActiveAt), millis(k.ExpiresAt))
}

// SigningKeys lists the keys not yet expired at now, newest ActiveAt first.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	return queryAll(ctx, s, "signing keys", scanSigningKey, `SELECT `+signingKeyColumns+` FROM signing_keys
		WHERE expires_at > $1 ORDER BY active_at DESC, id`, millis(now))
}
