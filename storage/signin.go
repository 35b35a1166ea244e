package storage

import (
	"context"
	"time"
)

// SignInCompletion is the end of a sign-in that CompleteSignIn writes at
// once: the code the last step used, the new session, the auth request
// done and the session grant.
type SignInCompletion struct {
	// Session is the new single sign-on session; its user, auth time and
	// amr are the request's.
	Session *Session
	// RequestID is the auth request done, for ClientID, with the acr ACR.
	RequestID, ClientID, ACR string
	// Use is the code the sign-in's last step used up; nil for none.
	Use *FactorUse
	// Now is when the sign-in ends: the code's use and the grant's time.
	Now time.Time
	// Claim is set when the completion's own step identified the user:
	// a first factor checked by it (a password alone, a passkey). The
	// request is then done for the session's user whichever user, if
	// any, it was pending for, as SetAuthRequestUser would name it.
	// Without it (a later step of a sign-in whose password step
	// SetAuthRequestUser recorded), the request must be pending for the
	// session's user.
	Claim bool
	// Stored is set when Session is stored already (the browser's single
	// sign-on session answers the request): it is not created, Use must
	// be nil, and a session gone meanwhile gives ErrNotFound. The request
	// need not be pending for its user (as with Claim): the live session
	// identified the user.
	Stored bool
}

// FactorUse is the use of one second-factor code by the session's user,
// as UseTOTPStep (a confirmed secret), UseCode or UseRecoveryCode make it:
// exactly one of TOTPSecret, CodeID and RecoveryHash is set.
type FactorUse struct {
	// TOTPSecret is the user's confirmed secret (sealed, as stored) that
	// the step TOTPStep was checked against.
	TOTPSecret []byte
	TOTPStep   int64
	// CodeID is the live emailed code.
	CodeID string
	// RecoveryHash is the hash of one of the user's unused recovery codes.
	RecoveryHash []byte
}

// SignInStore ends sign-ins. Store includes it.
type SignInStore interface {
	// CompleteSignIn ends a sign-in in one transaction: it uses c.Use (when
	// not nil), creates c.Session (unless c.Stored), marks the auth
	// request c.RequestID done for the session's user, with its auth time
	// and amr and c.ACR, and records the session grant. All or nothing: a code already used gives
	// ErrReplayed (a TOTP step, an emailed code) or ErrNotFound (a recovery
	// code; a secret or emailed code that is gone, replaced or expired), a
	// request unknown, done already, expired at c.Now (its ExpiresAt not
	// after c.Now; the caller's clock decides, not the database's), or not
	// pending for the session's user (SetAuthRequestUser named another, or
	// none, or EndPendingSignIns ended it; unless c.Claim or c.Stored)
	// ErrConflict, a stored session that is gone (c.Stored) ErrNotFound,
	// and then nothing changes. Of concurrent completions using one code,
	// or of one request, exactly one succeeds.
	CompleteSignIn(ctx context.Context, c *SignInCompletion) error
}
