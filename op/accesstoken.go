package op

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds the JWT access tokens of RFC 9068. zitadel signs its
// own JWT access tokens with the header typ "JWT" (SignerFromKey takes no
// option) and with the ID token's audience, the client; RFC 9068 asks for
// typ "at+jwt" and for the resource server as the audience. So Gatehouse
// signs them itself: a JWT client is handed to zitadel as one with bearer
// tokens (jwtClient), the storage returns the signed JWT, marked, as the
// token's id (CreateAccessToken), and the provider's Crypto, asked to
// encrypt that id and the subject into the bearer token, hands the JWT
// back as it is (tokenCrypto.Encrypt). zitadel computes the ID token's
// at_hash from the token it returns, so that hash is the JWT's.
//
// Verification is unchanged: zitadel checks a JWT access token's issuer,
// signature and expiry, not its audience or typ (VerifyAccessToken), and
// so does verifiedKeySet's shortcut.

// accessTokenType is the typ header of JWT access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// signedTokenMarker starts the id of an access token that is a signed JWT
// already. Ids are otherwise base64url (recorded) or "cc." and base64url
// (unrecorded), and zitadel's codes are auth request ids: none starts with
// a NUL byte.
const signedTokenMarker = "\x00"

// presignedToken returns the JWT that id, which zitadel joined to the subject
// as id+":"+subject, carries, if it is a signed token's id.
func presignedToken(plain string) (string, bool) {
	rest, ok := strings.CutPrefix(plain, signedTokenMarker)
	if !ok {
		return "", false
	}
	token, _, _ := strings.Cut(rest, ":") // a compact JWT has no colon
	return token, true
}

// jwtClient is a client with JWT access tokens, as zitadel sees it: one
// whose bearer tokens Gatehouse makes, since zitadel's own JWTs are not
// RFC 9068's.
type jwtClient struct{ client }

func (jwtClient) AccessTokenType() zop.AccessTokenType { return zop.AccessTokenTypeBearer }

// zopClient adapts c for zitadel.
func (s *Storage) zopClient(c *storage.Client) zop.Client {
	zc := client{c: c, loginURL: s.cfg.LoginURL, idTokenTTL: s.cfg.IDTokenTTL}
	if c.AccessTokenFormat == AccessTokenJWT {
		return jwtClient{zc}
	}
	return zc
}

// resourceKey carries the resource indicator of a token request.
type resourceKey struct{}

func withResource(ctx context.Context, resource string) context.Context {
	return context.WithValue(ctx, resourceKey{}, resource)
}

// tokenResource returns the resource indicator of a token request form
// (RFC 8707 §2): at most one, an absolute URI without a fragment; anything
// else is invalid_target. "" when the request names none.
func tokenResource(form url.Values) (string, *oidc.Error) {
	values := form["resource"]
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", oidc.ErrInvalidTarget().WithDescription("only one resource may be requested")
	}
	u, err := url.Parse(values[0])
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(values[0], "#") {
		return "", oidc.ErrInvalidTarget().WithDescription("resource must be an absolute URI without a fragment")
	}
	return values[0], nil
}

// audience returns the audience of a JWT access token issued in ctx: the
// requested resource, else the configured default audience, else the
// issuer.
func (s *Storage) audience(ctx context.Context) []string {
	if r, _ := ctx.Value(resourceKey{}).(string); r != "" {
		return []string{r}
	}
	if s.cfg.DefaultAudience != "" {
		return []string{s.cfg.DefaultAudience}
	}
	return []string{s.cfg.Issuer}
}

// tokenAudience returns the audience to record for an access token of
// clientID: a JWT client's is audience's; an opaque token keeps the
// request's.
func (s *Storage) tokenAudience(ctx context.Context, clientID string, req zop.TokenRequest) []string {
	if c, err := s.store.ClientByID(ctx, clientID); err == nil && c.AccessTokenFormat == AccessTokenJWT {
		return s.audience(ctx)
	}
	return req.GetAudience()
}

// accessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2).
type accessTokenClaims struct {
	Issuer   string   `json:"iss"`
	Expiry   int64    `json:"exp"`
	Audience []string `json:"aud"`
	Subject  string   `json:"sub"`
	ClientID string   `json:"client_id"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	Scope    string   `json:"scope,omitempty"`
	// Confirmation names the key a DPoP-bound token is bound to.
	Confirmation *dpopConfirmation `json:"cnf,omitempty"`
}

// signedAccessToken signs the JWT access token t of client c and returns
// it as the id CreateAccessToken hands to zitadel (signedTokenMarker).
func (s *Storage) signedAccessToken(ctx context.Context, c *storage.Client, t *storage.AccessToken) (string, error) {
	k, err := s.keys.signingKeyFor(ctx, clientAlgorithm(c))
	if err != nil {
		return "", fault(ctx, err)
	}
	compact, err := k.sign(accessTokenType, accessTokenClaims{
		Issuer: s.cfg.Issuer, Expiry: t.ExpiresAt.Unix(), Audience: t.Audience, Subject: t.Subject,
		ClientID: t.ClientID, IssuedAt: t.CreatedAt.Unix(), ID: t.ID, Scope: strings.Join(t.Scopes, " "),
		Confirmation: confirmation(t.DPoPJKT),
	}, "access token")
	if err != nil {
		return "", err
	}
	return signedTokenMarker + compact, nil
}

// issuedID returns what CreateAccessToken hands to zitadel for the
// access token t of clientID: the signed JWT for a JWT client, t's id
// otherwise.
func (s *Storage) issuedID(ctx context.Context, clientID string, t *storage.AccessToken) (string, error) {
	c, err := s.store.ClientByID(ctx, clientID) // the request's memo has it
	if err != nil {
		return "", fault(ctx, fmt.Errorf("client: %w", err))
	}
	if c.AccessTokenFormat != AccessTokenJWT {
		return t.ID, nil
	}
	return s.signedAccessToken(ctx, c, t)
}

// unrecordedToken returns the token of a JWT client's client_credentials
// grant, which is not recorded (clientcredentials.go).
func (s *Storage) unrecordedToken(ctx context.Context, c *storage.Client, req zop.TokenRequest) (string, time.Time, error) {
	now := s.now()
	t := &storage.AccessToken{
		ID: unrecordedPrefix + randomID(24), ClientID: c.ID, Subject: req.GetSubject(), Scopes: req.GetScopes(),
		Audience: s.audience(ctx), ExpiresAt: now.Add(s.cfg.AccessTokenTTL), CreatedAt: now,
		DPoPJKT: dpopKeyFrom(ctx),
	}
	id, err := s.signedAccessToken(ctx, c, t)
	if err != nil {
		return "", time.Time{}, err
	}
	return id, t.ExpiresAt, nil
}
