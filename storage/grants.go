package storage

import (
	"context"
	"time"
)

// AccessToken is an issued access token. The token a client holds is an
// encryption of ID, so ID alone cannot be replayed.
type AccessToken struct {
	ID        string
	ClientID  string
	Subject   string // user id, or the client id for client_credentials
	Scopes    []string
	Audience  []string
	GrantID   string // the auth request or refresh family it came from; "" for client_credentials
	ExpiresAt time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	// DPoPJKT is the RFC 7638 SHA-256 thumbprint of the key the token is
	// bound to (RFC 9449); "" for a bearer token.
	DPoPJKT string
}

// RefreshToken is one link of a refresh-token family. Rotation marks the
// presented token as used and adds its successor to the family; presenting
// a used token revokes the whole family.
type RefreshToken struct {
	ID        string
	Hash      []byte // SHA-256 of the token value
	FamilyID  string // the grant: the auth request id of the original code
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  []string
	AMR       []string
	AuthTime  time.Time
	ExpiresAt time.Time // this token's expiry (≤ the family's absolute lifetime)
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	// DPoPJKT is the thumbprint of the key a public client's refresh
	// token is bound to (RFC 9449 §5): refreshing needs a proof of it.
	DPoPJKT string
}

// GrantStore keeps the access and refresh tokens of grants. Store includes
// it.
type GrantStore interface {
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// AccessTokenByID returns the token even when expired or revoked.
	AccessTokenByID(ctx context.Context, id string) (*AccessToken, error)
	// AccessTokenAndUser returns, in one read, the token (even expired or
	// revoked) issued to a user from a grant, and that user. ErrNotFound
	// when there is no such token (a client_credentials token has no
	// user: read it with AccessTokenByID) or the user is gone.
	AccessTokenAndUser(ctx context.Context, id string) (*AccessToken, *User, error)
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error
	// UnrecordedRevoked reports whether the unrecorded access token id
	// (UnrecordedPrefix) has a record, which is its revocation. Where the
	// Store counts those records (SQLite), a count read during the same
	// request (RequestCounts) lets it answer from memory.
	UnrecordedRevoked(ctx context.Context, id string) (bool, error)

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RefreshTokenByHash returns the token even when used, expired or revoked.
	RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// RefreshTokenAndUser returns, in one read, the token (even used,
	// expired or revoked) and its user. ErrNotFound when there is no such
	// token or its user is gone.
	RefreshTokenAndUser(ctx context.Context, hash []byte) (*RefreshToken, *User, error)
	// RotateRefreshToken atomically marks the token with oldHash used and
	// stores next in the same family and, unless nil, access, the access
	// token issued with it, in that grant: all or nothing. A token that is
	// unknown or expired gives ErrNotFound; one already used or revoked
	// gives ErrReplayed after revoking the family (refresh and access
	// tokens).
	RotateRefreshToken(ctx context.Context, oldHash []byte, next *RefreshToken, access *AccessToken, now time.Time) error
	// RevokeGrant revokes every refresh and access token whose family or
	// grant id is grantID.
	RevokeGrant(ctx context.Context, grantID string, now time.Time) error
	// RevokeUserTokens revokes every refresh and access token issued to
	// the user (sign-out everywhere, password reset); client-credentials
	// tokens, whose subject is a client id, are not the user's.
	RevokeUserTokens(ctx context.Context, userID string, now time.Time) error
}
