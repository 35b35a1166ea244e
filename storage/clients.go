package storage

import (
	"context"
	"time"
)

// ClientURIStore changes where a registered client may send browsers.
// Store includes it.
type ClientURIStore interface {
	// SetClientURIs replaces the redirect URIs and the post-logout
	// redirect URIs of client id; ErrNotFound if there is no such client.
	SetClientURIs(ctx context.Context, id string, redirectURIs, postLogoutRedirectURIs []string, now time.Time) error
}
