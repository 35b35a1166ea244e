package storage

import (
	"context"
	"time"
)

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

// AuthRequestStore keeps authorization requests in progress and the
// authorization codes issued for them. Store includes it.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// AuthRequestByID returns the request even when expired; callers
	// compare ExpiresAt with their clock.
	AuthRequestByID(ctx context.Context, id string) (*AuthRequest, error)
	// ClaimAuthRequest lets a done request, bound to the browser whose flow
	// cookie hashes to bindingHash, yield its one authorization response:
	// the first claim succeeds, and every later one, like a claim with
	// another binding or of a request not done yet, gives ErrConflict.
	// Requests are bound when created (AuthRequest.BindingHash). A claimed
	// request's BindingHash becomes ClaimedBinding(bindingHash).
	ClaimAuthRequest(ctx context.Context, id string, bindingHash []byte) error
	// SetAuthRequestUser records the user identified so far (not yet done).
	SetAuthRequestUser(ctx context.Context, id, userID string) error
	// EndPendingSignIns ends the user userID's sign-ins in progress (after
	// the password changed): requests not done forget the user, so that
	// sign-ins that passed the password step start again from it; requests
	// done but not exchanged yet are deleted, so that neither the callback
	// nor a code issued for them gives tokens any more.
	EndPendingSignIns(ctx context.Context, userID string) error
	// CompleteAuthRequest marks the request done for userID, provided it
	// has not expired at now (the caller's clock, as CompleteSignIn reads
	// c.Now): a request whose ExpiresAt is at or before now gives
	// ErrConflict and is left as it was, an unknown one ErrNotFound.
	CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, acr string, now time.Time) error
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
	// UseAuthCode is ConsumeAuthCode for a code whose request the caller
	// has read (CodeGrant): it atomically marks the code used, deletes the
	// request requestID and creates access and refresh (either may be
	// nil), and returns nothing. A code that is unknown, expired or not
	// requestID's, or whose request is gone, gives ErrNotFound (and no
	// token); a code already used gives ErrReplayed after revoking every
	// token issued from it.
	UseAuthCode(ctx context.Context, hash []byte, requestID string, now time.Time, access *AccessToken, refresh *RefreshToken) error
	// RedeemAuthCode is the code exchange's one call, by the authenticated
	// client clientID: it reads the code's grant as CodeGrant does, and
	// uses the code as UseAuthCode does, with the tokens issue returns for
	// the request (either may be nil), in one commit. It returns the
	// request, its user and the id its session's sid derives from (""
	// for none), all read before the commit. Errors are UseAuthCode's: a
	// code that is unknown or expired, or whose request is gone or has no
	// user, gives ErrNotFound (and no token); a code already used gives
	// ErrReplayed after revoking every token issued from it to clientID
	// (another client's replay revokes nothing). An unused code issued to
	// another client than clientID gives ErrNotFound too,
	// and stays as it was for its own client (RFC 6749 §4.1.3). issue is
	// called before the code's use and may refuse it by returning an
	// error (a wrong code_verifier): the code then stays as it was, nothing
	// is written, and RedeemAuthCode returns that error.
	RedeemAuthCode(ctx context.Context, hash []byte, clientID string, now time.Time, issue func(*AuthRequest) (*AccessToken, *RefreshToken, error)) (*AuthRequest, *User, string, error)
	// CodeGrant returns, in one read, the auth request of the code with
	// the given hash, its user, and the id the sid of the session its
	// grant was completed in derives from ("" for none): what the code's
	// exchange reads, so that it reads it before ConsumeAuthCode commits.
	// It changes nothing and tells nothing of the code's state: a used
	// code's request is gone (ErrNotFound), as is an unknown code's or one
	// whose request has no user yet.
	CodeGrant(ctx context.Context, hash []byte) (*AuthRequest, *User, string, error)
}

// ClaimedBinding is the BindingHash of a request claimed by the browser
// whose binding is bindingHash: a zero byte and the binding. No SHA-256
// binding (32 bytes) equals it, so no browser's flow cookie matches a
// claimed request, while the browser that claimed it can still be told
// (the retry of a callback whose claim lost its answer).
func ClaimedBinding(bindingHash []byte) []byte {
	return append([]byte{0}, bindingHash...)
}
