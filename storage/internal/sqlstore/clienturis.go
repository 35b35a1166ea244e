package sqlstore

import (
	"context"
	"time"
)

// SetClientURIs replaces the redirect and post-logout redirect URIs of the
// client id in one statement; storage.ErrNotFound if there is no such
// client.
func (s *Store) SetClientURIs(ctx context.Context, id string, redirectURIs, postLogoutRedirectURIs []string, now time.Time) error {
	return s.execOne(ctx, "set client uris",
		`UPDATE clients SET redirect_uris = $2, post_logout_redirect_uris = $3, updated_at = $4 WHERE id = $1`,
		id, list(redirectURIs), list(postLogoutRedirectURIs), millis(now))
}
