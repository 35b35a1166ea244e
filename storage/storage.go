// Package storage defines Gatehouse's domain types and the Store interface
// that every backend implements.
//
// All state lives behind Store so that any number of gatehouse processes
// sharing one database behave as one. Implementations must perform the
// compare-and-set operations (code consumption, refresh rotation, attempt
// counters) atomically in the database, never as a read-modify-write in Go.
// Backends translate driver errors into ErrNotFound, ErrConflict and
// ErrReplayed; no driver error type crosses this boundary.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store implementation. Callers test them with
// errors.Is.
var (
	// ErrNotFound means the object does not exist, has expired or has
	// already been used up.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a unique value (an email, an id) is already taken.
	ErrConflict = errors.New("storage: already exists")
	// ErrReplayed means a single-use secret (an authorization code, a
	// rotated refresh token) was presented again. The store has already
	// revoked every token of the grant it belongs to.
	ErrReplayed = errors.New("storage: single-use value replayed")
)

// User is an account that can sign in.
type User struct {
	ID            string // stable, opaque; the OIDC "sub"
	Email         string // lower-cased; unique
	Name          string
	PasswordHash  string // argon2id PHC string
	EmailVerified bool
	Disabled      bool
	// EmailOTP is set when the user receives sign-in codes by email.
	EmailOTP  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

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
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// AuthRequest is an authorization request between /authorize and the code
// exchange. The login flow records its progress on it; it is Done once every
// required factor has been verified.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *time.Duration // nil when the client sent none
	LoginHint           string
	UILocales           []string
	ACRValues           []string
	HintSubject         string // "sub" of a verified id_token_hint, or ""
	BindingHash         []byte // SHA-256 of the browser's flow cookie; nil until bound

	UserID   string // set after the password step (or SSO); "" before
	AuthTime time.Time
	AMR      []string
	ACR      string
	Done     bool

	CreatedAt time.Time
	ExpiresAt time.Time

	// DPoPJKT is the thumbprint of the DPoP key the request's code is
	// bound to (RFC 9449 §10); "" when it is not bound.
	DPoPJKT string
}

// AuthCode is an issued authorization code. Only its hash is stored.
type AuthCode struct {
	Hash          []byte // SHA-256 of the code
	AuthRequestID string
	ExpiresAt     time.Time
}

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

// Session is a browser's single sign-on session. ID is the SHA-256 of the
// cookie value, hex-encoded; the cookie value itself is never stored.
type Session struct {
	ID         string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute
	IdleUntil  time.Time // slides with LastSeenAt
	// ReauthAt is when the user last confirmed it was them again in this
	// session (password, and second factor if on) before a sensitive
	// account change; zero when never. AuthTime counts as one too.
	ReauthAt time.Time
}

// SigningKey is a token-signing key pair. PrivateKey is encrypted with the
// secrets key before it reaches the store.
type SigningKey struct {
	ID         string // the JWK "kid"
	Algorithm  string // "RS256", "ES256", "EdDSA"
	PrivateKey []byte // encrypted PKCS#8 DER
	PublicKey  []byte // PKIX DER
	CreatedAt  time.Time
	ActiveAt   time.Time // first moment it may sign
	ExpiresAt  time.Time // removed from the JWKS after this
}

// Counter is the state of one attempt counter after an update.
type Counter struct {
	Key          string
	Failures     int
	BlockedUntil time.Time // zero when not blocked
}

// Reservation is an attempt counted on a counter before its secret is
// checked (Store.ReserveAttempt).
type Reservation struct {
	// Granted is false when the counter was blocked: nothing was counted,
	// and the attempt must not be evaluated.
	Granted bool
	// Counter is the counter once the attempt was counted: Failures is the
	// attempt's place in its window, BlockedUntil is set when it was the
	// last the limit allows.
	Counter     Counter
	WindowStart time.Time
}

// Limit describes how failures on one counter turn into a block.
type Limit struct {
	Max    int           // failures that trigger a block
	Window time.Duration // failures older than this are forgotten
	Block  time.Duration // how long the block lasts
}

// TOTP is a user's authenticator-app secret. Secret is sealed before it
// reaches the store. An unconfirmed secret is an enrolment in progress.
type TOTP struct {
	UserID    string
	Secret    []byte // sealed base32 secret
	Confirmed bool
	// LastStep is the last RFC 6238 time step accepted; a step is never
	// accepted twice. -1 before any.
	LastStep  int64
	CreatedAt time.Time
}

// OneTimeCode is an emailed code. Only an HMAC of the code is stored. A
// code belongs to a purpose ("signin", "enable-email", "disable-email")
// and a binding (the auth request or session it was sent for); only the
// newest code of a (user, purpose, binding) is valid.
type OneTimeCode struct {
	ID        string
	UserID    string
	Purpose   string
	Binding   string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// ActionToken is a single-use emailed link token (email confirmation,
// password reset, email change). Only its SHA-256 is stored.
type ActionToken struct {
	Hash      []byte
	Purpose   string // "confirm-email", "reset-password", "change-email"
	UserID    string
	Data      string // purpose-specific, e.g. the new email address
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Event is an audit event.
type Event struct {
	ID       string
	Time     time.Time
	Type     string // e.g. "signin.succeeded", "code.failed", "ip.blocked"
	UserID   string // "" when unknown
	ClientID string
	IP       string
	Detail   string // free text; never a secret
}

// EventFilter selects audit events; zero fields match everything.
type EventFilter struct {
	UserID string
	IP     string
	Type   string
	Since  time.Time
	Limit  int // 0 means 100
}

// Store is everything Gatehouse keeps. See the package doc for the atomicity
// every implementation guarantees.
type Store interface {
	// Security keys and passkeys: see webauthn.go.
	WebAuthnStore
	// Counting running blocks for metrics: see blockcount.go.
	BlockCounter
	// Housekeeping: see purge.go.
	PurgeStore
	// Changing a client's redirect URIs and metadata: see clients.go.
	ClientURIStore
	ClientMetadataStore
	ClientJWTSecretStore
	// Single-use JWT identifiers: see clients.go.
	JTIStore
	// Pushed authorization requests: see par.go.
	PushedRequestStore
	// Back-channel logout: see backchannel.go.
	BackchannelStore
	// Users' consent to third-party clients: see consent.go.
	ConsentStore

	// CreateUser adds u; ErrConflict if the id or email is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	SetPasswordHash(ctx context.Context, id, hash string, now time.Time) error
	// SetEmailOTP turns email sign-in codes on or off for user id.
	SetEmailOTP(ctx context.Context, id string, enabled bool, now time.Time) error
	// SetEmailVerified marks the user's email verified; ErrNotFound if
	// unknown.
	SetEmailVerified(ctx context.Context, id string, now time.Time) error
	// SetEmail changes the user's (lower-cased) email and marks it
	// verified; ErrConflict if taken.
	SetEmail(ctx context.Context, id, email string, now time.Time) error
	SetName(ctx context.Context, id, name string, now time.Time) error

	// PutTOTP stores a new, unconfirmed secret for t.UserID, replacing any
	// unconfirmed one. ErrConflict if a confirmed secret exists.
	PutTOTP(ctx context.Context, t *TOTP) error
	// TOTPByUser returns the user's secret, confirmed or not.
	TOTPByUser(ctx context.Context, userID string) (*TOTP, error)
	// UseTOTPStep atomically records step as used for the user's secret,
	// confirming it if needed, provided step > LastStep. A step not greater
	// than LastStep gives ErrReplayed; no secret gives ErrNotFound. When
	// confirmed is true the secret must already be confirmed (else
	// ErrNotFound); when false it must not be (an enrolment).
	UseTOTPStep(ctx context.Context, userID string, step int64, confirmed bool) error
	// DeleteTOTP removes the user's secret; ErrNotFound if none.
	DeleteTOTP(ctx context.Context, userID string) error

	// IssueCode stores c as the only live code of its (user, purpose,
	// binding), voiding older ones, unless the newest existing one was
	// created less than cooldown before now: then ErrConflict and nothing
	// changes. Atomic.
	IssueCode(ctx context.Context, c *OneTimeCode, cooldown time.Duration, now time.Time) error
	// LatestCode returns the newest code of (user, purpose, binding) that
	// is unused and unexpired at now; ErrNotFound otherwise.
	LatestCode(ctx context.Context, userID, purpose, binding string, now time.Time) (*OneTimeCode, error)
	// UseCode atomically marks code id used; ErrReplayed if it already
	// was, ErrNotFound if unknown, voided or expired at now.
	UseCode(ctx context.Context, id string, now time.Time) error
	// VoidCodes deletes every code of (user, purpose, binding); binding ""
	// means every binding.
	VoidCodes(ctx context.Context, userID, purpose, binding string) error

	// CreateActionToken stores t; ErrNotFound if the user does not exist.
	CreateActionToken(ctx context.Context, t *ActionToken) error
	// UseActionToken atomically marks the token used and returns it;
	// ErrNotFound when unknown, of another purpose, used or expired at now.
	UseActionToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*ActionToken, error)
	// DeleteActionTokens deletes all of the user's tokens of purpose ("" =
	// all).
	DeleteActionTokens(ctx context.Context, userID, purpose string) error

	// Recovery codes: only their hashes are stored.
	//
	// ReplaceRecoveryCodes atomically deletes the user's recovery codes and
	// stores hashes as the new set (nil/empty = none).
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error
	// UseRecoveryCode atomically marks the user's unused code with hash
	// used; ErrNotFound if none matches (unknown or already used).
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)

	// AddEvent appends an audit event (ID is set if empty).
	AddEvent(ctx context.Context, e *Event) error
	// Events returns matching events, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// CreateClient adds c; ErrConflict if the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	ClientByID(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	DeleteClient(ctx context.Context, id string) error
	SetClientSecretHash(ctx context.Context, id string, hash []byte, now time.Time) error

	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// AuthRequestByID returns the request even when expired; callers
	// compare ExpiresAt with their clock.
	AuthRequestByID(ctx context.Context, id string) (*AuthRequest, error)
	// ClaimAuthRequest lets a done request, bound to the browser whose flow
	// cookie hashes to bindingHash, yield its one authorization response:
	// the first claim succeeds, and every later one, like a claim with
	// another binding or of a request not done yet, gives ErrConflict.
	// Requests are bound when created (AuthRequest.BindingHash).
	ClaimAuthRequest(ctx context.Context, id string, bindingHash []byte) error
	// SetAuthRequestUser records the user identified so far (not yet done).
	SetAuthRequestUser(ctx context.Context, id, userID string) error
	// CompleteAuthRequest marks the request done for userID.
	CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, acr string) error
	DeleteAuthRequest(ctx context.Context, id string) error

	SaveAuthCode(ctx context.Context, c *AuthCode) error
	// ConsumeAuthCode atomically marks the code used, and deletes and
	// returns its auth request: the code exchange is its last use (the
	// code stays behind, for replay detection). When issue is not nil, the
	// access token and refresh token it returns for the request (either
	// may be nil) are created in the same commit. An unknown or expired
	// code, or one whose auth request is gone, gives ErrNotFound (and no
	// token); a code already used gives ErrReplayed after revoking every
	// token issued from it.
	ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, issue func(*AuthRequest) (*AccessToken, *RefreshToken)) (*AuthRequest, error)

	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// AccessTokenByID returns the token even when expired or revoked.
	AccessTokenByID(ctx context.Context, id string) (*AccessToken, error)
	// AccessTokenAndUser returns, in one read, the token (even expired or
	// revoked) issued to a user from a grant, and that user. ErrNotFound
	// when there is no such token (a client_credentials token has no
	// user: read it with AccessTokenByID) or the user is gone.
	AccessTokenAndUser(ctx context.Context, id string) (*AccessToken, *User, error)
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error

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

	CreateSession(ctx context.Context, s *Session) error
	// SessionByID returns a session that is neither expired nor idle at now.
	SessionByID(ctx context.Context, id string, now time.Time) (*Session, error)
	TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error
	// Sessions end with EndSession and EndUserSessions (backchannel.go),
	// which tell the clients that signed in through them.
	//
	// UserSessions lists the user's live sessions at now, most recently
	// seen first.
	UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// MarkReauthenticated records at as the session's ReauthAt (a passed
	// re-authentication); ErrNotFound when the session is unknown, expired
	// or idle at at.
	MarkReauthenticated(ctx context.Context, id string, at time.Time) error

	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys lists keys not yet expired at now, newest ActiveAt first.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)

	// RecordFailure adds one failure to the counter key under l and returns
	// its new state, in one atomic statement. A counter whose block is
	// still running at now is left unchanged; one whose window has passed
	// starts again from one failure, and a block that ended inside the
	// window is renewed by the next failure.
	RecordFailure(ctx context.Context, key string, l Limit, now time.Time) (Counter, error)
	// ReserveAttempt counts one attempt on the counter key under l before
	// its secret is checked, in one atomic statement, unless the counter is
	// blocked at now (Granted false, nothing counted). Failures count on
	// through the window: a block that ends inside it is followed by a new
	// one at the next attempt. The attempt that reaches l.Max is granted
	// and blocks the counter until now+l.Block.
	ReserveAttempt(ctx context.Context, key string, l Limit, now time.Time) (Reservation, error)
	// ReleaseAttempts takes n attempts back from the counter key if its
	// window still begins at windowStart (a success gives back its own and
	// the earlier ones; an attempt that was not evaluated gives back
	// itself), and lifts the block when fewer than max remain.
	ReleaseAttempts(ctx context.Context, key string, n int, windowStart time.Time, max int) error
	// Blocked returns the latest block among keys still running at now,
	// or ErrNotFound when none is.
	Blocked(ctx context.Context, keys []string, now time.Time) (Counter, error)
	// ResetFailures forgets the counter key (after a success).
	ResetFailures(ctx context.Context, key string) error
	// Blocks lists the counters blocked at now.
	Blocks(ctx context.Context, now time.Time) ([]Counter, error)
	// ClearBlocks forgets every counter whose key ends with suffix (for
	// example ":ip:127.0.0.2" across scopes) and returns how many it removed.
	ClearBlocks(ctx context.Context, suffix string) (int, error)

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
