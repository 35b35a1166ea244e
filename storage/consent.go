package storage

import (
	"context"
	"time"
)

// ConsentGrant is what a user has allowed a third-party client
// (Client.Consent) to have: the scopes, remembered so that a later sign-in
// asks again only for scopes not among them.
type ConsentGrant struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time // when the user first allowed the client
	UpdatedAt time.Time // when the user last allowed it more
}

// ConsentStore keeps users' consent to third-party clients and the
// consent of auth requests in progress. Store includes it.
type ConsentStore interface {
	// GrantConsent adds scopes to the user's grant to the client, creating
	// the grant at now when there is none, atomically: concurrent grants
	// add up. ErrNotFound if the user or the client does not exist.
	GrantConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error
	// ConsentGrant returns the user's grant to the client; ErrNotFound if
	// there is none.
	ConsentGrant(ctx context.Context, userID, clientID string) (*ConsentGrant, error)
	// ConsentGrants lists the user's grants, the most recently updated
	// first.
	ConsentGrants(ctx context.Context, userID string) ([]ConsentGrant, error)
	// RevokeConsent deletes the user's grant to the client and revokes
	// every refresh and access token the client holds for the user, in one
	// transaction. It reports whether there was a grant; the tokens are
	// revoked either way.
	RevokeConsent(ctx context.Context, userID, clientID string, now time.Time) (bool, error)
	// RevokeUserClientTokens revokes every refresh and access token issued
	// to the client for the user.
	RevokeUserClientTokens(ctx context.Context, userID, clientID string, now time.Time) error
	// ConsentAuthRequest records that the user allowed the scopes of the
	// auth request id, of userID for clientID, and adds them to the user's
	// grant to the client (as GrantConsent), in one transaction:
	// ErrNotFound, and nothing granted, if there is no such request (a
	// Deny ended it, or took it: DenyAuthRequest), or the user or the
	// client does not exist.
	ConsentAuthRequest(ctx context.Context, id, userID, clientID string, scopes []string, now time.Time) error
	// DenyAuthRequest takes the done auth request id of userID, bound to
	// the browser whose flow cookie hashes to bindingHash, for its one
	// answer, a denial, unless ConsentAuthRequest succeeded for it first:
	// in one conditional write the request forgets its user, is no longer
	// done and is claimed (ClaimedBinding(bindingHash)), so that it can
	// be neither consented, nor claimed for a code, nor denied again. It
	// stays for the error response to be read, and is then deleted.
	// ErrNotFound if there is no such request to deny: none, another
	// user's or browser's, not done, consented, claimed or denied already.
	DenyAuthRequest(ctx context.Context, id, userID string, bindingHash []byte) error
	// AuthRequestConsented reports whether ConsentAuthRequest succeeded
	// for the auth request id; ErrNotFound if there is no such request.
	AuthRequestConsented(ctx context.Context, id string) (bool, error)
}
