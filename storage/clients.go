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

// ClientMetadataStore changes a registered client's metadata. Store
// includes it.
type ClientMetadataStore interface {
	// SetClientMetadata stores c's TokenEndpointAuthMethod, JWKS, JWKSURI,
	// RequirePAR, BackchannelLogoutURI, Consent and DPoPBoundAccessTokens
	// for the client c.ID, with UpdatedAt now; ErrNotFound if there is no
	// such client. Other fields of c are ignored.
	SetClientMetadata(ctx context.Context, c *Client, now time.Time) error
}

// JTIStore remembers single-use JWT identifiers. Store includes it.
type JTIStore interface {
	// UseJTI records key (the purpose and a hash of the JWT's issuer and
	// jti) as used until expiresAt, in one atomic statement: the first use
	// succeeds, and every later one before expiresAt, on any replica,
	// gives ErrReplayed. A key whose earlier use expired at now may be
	// used again.
	UseJTI(ctx context.Context, key string, expiresAt, now time.Time) error
}

// ClientJWTSecretStore keeps the sealed secrets of client_secret_jwt
// clients, which Gatehouse must be able to read back to verify their
// HMAC-signed assertions. Store includes it.
type ClientJWTSecretStore interface {
	// SetClientJWTSecret stores the sealed secret of client id, replacing
	// any; a nil sealed removes it. The row goes with the client.
	SetClientJWTSecret(ctx context.Context, id string, sealed []byte, now time.Time) error
	// ClientJWTSecret returns the sealed secret of client id; ErrNotFound
	// if it has none.
	ClientJWTSecret(ctx context.Context, id string) ([]byte, error)
}
