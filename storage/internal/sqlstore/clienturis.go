package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// SetClientURIs replaces the redirect and post-logout redirect URIs of the
// client id in one statement; storage.ErrNotFound if there is no such
// client.
func (s *Store) SetClientURIs(ctx context.Context, id string, redirectURIs, postLogoutRedirectURIs []string, now time.Time) error {
	return s.execOne(ctx, "set client uris",
		`UPDATE clients SET redirect_uris = $2, post_logout_redirect_uris = $3, updated_at = $4 WHERE id = $1`,
		id, list(redirectURIs), list(postLogoutRedirectURIs), millis(now))
}

// SetClientMetadata stores c's metadata columns for the client c.ID in one
// statement; storage.ErrNotFound if there is no such client.
func (s *Store) SetClientMetadata(ctx context.Context, c *storage.Client, now time.Time) error {
	return s.execOne(ctx, "set client metadata",
		`UPDATE clients SET token_endpoint_auth_method = $2, jwks = $3, jwks_uri = $4, require_par = $5,
			backchannel_logout_uri = $6, consent = $7, dpop_bound_access_tokens = $8, updated_at = $9,
			require_mfa = $10, signing_algorithm = $11, access_token_format = $12, grant_types = $13
		WHERE id = $1`,
		c.ID, c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.RequirePAR,
		c.BackchannelLogoutURI, c.Consent, c.DPoPBoundAccessTokens, millis(now),
		c.RequireMFA, c.SigningAlgorithm, c.AccessTokenFormat, grantTypes(c.GrantTypes))
}
