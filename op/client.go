package op

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Access token formats of a client (storage.Client.AccessTokenFormat).
const (
	AccessTokenOpaque = "opaque" // a random handle that only Gatehouse understands (the default)
	AccessTokenJWT    = "jwt"    // an RFC 9068 JWT that resource servers verify with the JWKS
)

// IsAccessTokenFormat reports whether f is an access token format.
func IsAccessTokenFormat(f string) bool { return f == AccessTokenOpaque || f == AccessTokenJWT }

// client adapts storage.Client to zop.Client.
type client struct {
	c          *storage.Client
	loginURL   func(authRequestID string) string
	idTokenTTL time.Duration
}

var _ zop.Client = client{}

func (c client) GetID() string                    { return c.c.ID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c client) LoginURL(id string) string        { return c.loginURL(id) }

// AccessTokenType is the client's access token format: a JWT signed like
// its ID tokens (SigningKey) for "jwt" clients, an opaque token otherwise.
// Either kind is recorded in access_tokens under its id (the JWT's jti), so
// revocation, introspection and userinfo treat both alike.
func (c client) AccessTokenType() zop.AccessTokenType {
	if c.c.AccessTokenFormat == AccessTokenJWT {
		return zop.AccessTokenTypeJWT
	}
	return zop.AccessTokenTypeBearer
}
func (c client) IDTokenLifetime() time.Duration { return c.idTokenTTL }
func (c client) DevMode() bool                  { return false }
func (c client) ClockSkew() time.Duration       { return 0 }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims in the
// ID token as well, so relying parties need not call userinfo.
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c client) ApplicationType() zop.ApplicationType {
	if c.c.Public {
		return zop.ApplicationTypeNative
	}
	return zop.ApplicationTypeWeb
}

// AuthMethod is none for a public client and client_secret_basic for any
// confidential one, whatever method it registered: clientAuth
// (clientauth.go) has authenticated it with that method before zitadel
// sees the request, and hands it over as Basic.
func (c client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes is code for a client allowed the authorization code grant,
// none otherwise: zitadel then refuses its authorization requests as
// unauthorized_client (Gatehouse refuses them before, par.go in cmd).
func (c client) ResponseTypes() []oidc.ResponseType {
	if !c.c.AllowsGrant(storage.GrantAuthorizationCode) {
		return nil
	}
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes are the grants registered for the client
// (storage.Client.GrantTypes): zitadel answers unauthorized_client at the
// token endpoint to a grant not among them, and issues no refresh token
// to a client without refresh_token. client_credentials is never a
// public client's, whatever its row says: it has no secret to present.
func (c client) GrantTypes() []oidc.GrantType {
	g := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, t := range c.c.GrantTypes {
		if t == storage.GrantClientCredentials && c.c.Public {
			continue
		}
		g = append(g, oidc.GrantType(t))
	}
	return g
}

// IsGrantType reports whether g names a grant type a client may be
// allowed: authorization_code, refresh_token or client_credentials.
func IsGrantType(g string) bool { return slices.Contains(GrantTypes, g) }

func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed drops scopes beyond the standard OIDC ones.
func (c client) IsScopeAllowed(string) bool { return false }

// RedirectURIAllowed reports whether uri is a redirect_uri that /authorize
// may send c's browser back to, with a code or an error: registered for c
// (for a public, native client a loopback URI on any port, RFC 8252 §7.3).
// It is the check the provider applies to a code request, so that an error
// answered before the provider goes back only where a code could.
func RedirectURIAllowed(c *storage.Client, uri string) bool {
	return zop.ValidateAuthReqRedirectURI(client{c: c}, uri, oidc.ResponseTypeCode) == nil
}
