package storage

import (
	"context"
	"slices"
	"time"
)

// Client is a relying party registered by an administrator.
type Client struct {
	ID                     string
	Name                   string
	SecretHash             []byte // SHA-256 of the secret; nil for public clients
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	RequireMFA             bool
	SigningAlgorithm       string // "RS256" (default), "ES256" or "EdDSA"
	Admin                  bool   // may get the gatehouse:admin scope (client_credentials): the admin API
	AccessTokenFormat      string // "opaque" (default; "" reads as opaque) or "jwt"
	// TokenEndpointAuthMethod is how the client authenticates (RFC 7591
	// §2): client_secret_basic, client_secret_post, client_secret_jwt,
	// private_key_jwt or none; "" for a client registered before it could
	// be chosen.
	TokenEndpointAuthMethod string
	JWKS                    string // inline JWK Set (JSON) for private_key_jwt, or ""
	JWKSURI                 string // URL of the client's JWK Set, or ""
	RequirePAR              bool   // authorization requests must be pushed (RFC 9126)
	BackchannelLogoutURI    string // where logout tokens are posted, or ""
	Consent                 bool   // a third-party client: users consent to its scopes
	DPoPBoundAccessTokens   bool   // access tokens must be DPoP-bound (RFC 9449 §5.2)
	Disabled                bool   // refused at every protocol endpoint (SetClientDisabled)
	// GrantTypes are the OAuth grants the client may use (RFC 7591 §2
	// grant_types): GrantAuthorizationCode, GrantRefreshToken,
	// GrantClientCredentials. CreateClient and SetClientMetadata store an
	// empty list as DefaultGrantTypes.
	GrantTypes []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Clone returns a copy of c that shares no slice with it, for the caches
// that hand out clients.
func (c *Client) Clone() *Client {
	cp := *c
	cp.SecretHash = slices.Clone(c.SecretHash)
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	return &cp
}

// The grant types a client may be allowed (Client.GrantTypes), as RFC 7591
// §2 names them.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// DefaultGrantTypes returns the grants of a client registered without
// naming any: the authorization code flow and refresh tokens.
func DefaultGrantTypes() []string {
	return []string{GrantAuthorizationCode, GrantRefreshToken}
}

// AllowsGrant reports whether the client may use the grant g.
func (c *Client) AllowsGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// ClientStore keeps the relying parties registered by an administrator.
// Store includes it.
type ClientStore interface {
	// Changing a client's redirect URIs and metadata, and its JWT secret.
	ClientURIStore
	ClientMetadataStore
	ClientJWTSecretStore

	CreateClient(ctx context.Context, c *Client) error
	ClientByID(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	DeleteClient(ctx context.Context, id string) error
	SetClientSecretHash(ctx context.Context, id string, hash []byte, now time.Time) error
	// SetClientDisabled disables or enables the client id; disabling it
	// revokes its access and refresh tokens in the same transaction.
	// ErrNotFound if there is no such client.
	SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
}

// ClientURIStore changes where a registered client may send browsers.
// ClientStore includes it.
type ClientURIStore interface {
	// SetClientURIs replaces the redirect URIs and the post-logout
	// redirect URIs of client id; ErrNotFound if there is no such client.
	SetClientURIs(ctx context.Context, id string, redirectURIs, postLogoutRedirectURIs []string, now time.Time) error
}

// ClientMetadataStore changes a registered client's metadata. Store
// ClientStore includes it.
type ClientMetadataStore interface {
	// SetClientMetadata stores c's TokenEndpointAuthMethod, JWKS, JWKSURI,
	// RequirePAR, BackchannelLogoutURI, Consent, DPoPBoundAccessTokens,
	// RequireMFA, SigningAlgorithm, AccessTokenFormat and GrantTypes (an
	// empty list as DefaultGrantTypes) for the client c.ID, with UpdatedAt
	// now; ErrNotFound if there is no such client. Other fields of c are
	// ignored.
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
// HMAC-signed assertions. ClientStore includes it.
type ClientJWTSecretStore interface {
	// SetClientJWTSecret stores the sealed secret of client id, replacing
	// any; a nil sealed removes it. The row goes with the client.
	SetClientJWTSecret(ctx context.Context, id string, sealed []byte, now time.Time) error
	// ClientJWTSecret returns the sealed secret of client id; ErrNotFound
	// if it has none.
	ClientJWTSecret(ctx context.Context, id string) ([]byte, error)
}
