package storage

import (
	"context"
	"time"
)

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
// newest live code of a (user, purpose, binding) is valid.
type OneTimeCode struct {
	ID        string
	UserID    string
	Purpose   string
	Binding   string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	// Pending marks a code whose email is not sent yet: it counts for the
	// resend cooldown, but it is not live (LatestCode and UseCode do not
	// see it) and the older codes stay as they are until ActivateCode
	// makes it the live one, once its email is out, or DiscardCode drops
	// it, when the email could not be sent.
	Pending bool
}

// FactorStore keeps users' second factors: authenticator-app secrets,
// emailed one-time codes, recovery codes, and security keys and passkeys
// (WebAuthnStore). Store includes it.
type FactorStore interface {
	// Security keys and passkeys: see webauthn.go.
	WebAuthnStore

	// PutTOTP stores a new, unconfirmed secret for t.UserID, replacing any
	// unconfirmed one. ErrConflict if a confirmed secret exists.
	PutTOTP(ctx context.Context, t *TOTP) error
	// TOTPByUser returns the user's secret, confirmed or not.
	TOTPByUser(ctx context.Context, userID string) (*TOTP, error)
	// UseTOTPStep atomically records step as used for the user's secret,
	// confirming it if needed, provided step > LastStep. A step not greater
	// than LastStep gives ErrReplayed; no secret gives ErrNotFound. When
	// confirmed is true the secret must already be confirmed (else
	// ErrNotFound); when false it must not be (an enrolment). A secret that
	// is not nil must be the stored (sealed) one, else ErrNotFound: a
	// secret replaced since the step was checked against it is left alone.
	UseTOTPStep(ctx context.Context, userID string, step int64, confirmed bool, secret []byte) error
	// DeleteTOTP removes the user's secret; ErrNotFound if none.
	DeleteTOTP(ctx context.Context, userID string) error
	// RemoveSecondFactors removes, atomically, the user's
	// authenticator-app secret (confirmed or not) and security keys and
	// passkeys, and turns email codes off, and reports whether the user
	// had a second factor: email codes on, a confirmed secret or a key.
	// Of concurrent calls for one user, at most one reports true.
	// ErrNotFound if the user is unknown.
	RemoveSecondFactors(ctx context.Context, userID string, now time.Time) (bool, error)

	// IssueCode stores c, unless the newest existing code of its (user,
	// purpose, binding), pending or not, used or not, was created less
	// than cooldown before now: then ErrConflict and nothing changes. A
	// live c (not Pending) becomes the only live code at once, voiding
	// older ones; a pending c changes no other code (ActivateCode does).
	// Atomic.
	IssueCode(ctx context.Context, c *OneTimeCode, cooldown time.Duration, now time.Time) error
	// ActivateCode makes the pending code id live and deletes the other
	// live codes of its (user, purpose, binding), used or not, and the
	// pending ones issued before it, atomically: it becomes the only live
	// code. ErrNotFound if no pending code has that id (unknown, voided,
	// discarded, or live already).
	ActivateCode(ctx context.Context, id string) error
	// DiscardCode deletes the pending code id and nothing else;
	// ErrNotFound if no pending code has that id. A live code is left
	// alone.
	DiscardCode(ctx context.Context, id string) error
	// LatestCode returns the newest live (not pending) code of (user,
	// purpose, binding) if it is unused and unexpired at now; ErrNotFound
	// otherwise.
	LatestCode(ctx context.Context, userID, purpose, binding string, now time.Time) (*OneTimeCode, error)
	// UseCode atomically marks the live code id used; ErrReplayed if it
	// already was, ErrNotFound if unknown, pending, voided or expired at
	// now.
	UseCode(ctx context.Context, id string, now time.Time) error
	// VoidCodes deletes every code of (user, purpose, binding), pending
	// ones too; binding "" means every binding, and purpose "" every
	// purpose (with every binding).
	VoidCodes(ctx context.Context, userID, purpose, binding string) error

	// Recovery codes: only their hashes are stored.
	//
	// ReplaceRecoveryCodes atomically deletes the user's recovery codes and
	// stores hashes as the new set (nil/empty = none).
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error
	// IssueFirstRecoveryCodes is ReplaceRecoveryCodes for a user without
	// unused codes (the first factor's set): it reports false and changes
	// nothing if the user has codes left, atomically with the check.
	IssueFirstRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) (bool, error)
	// UseRecoveryCode atomically marks the user's unused code with hash
	// used; ErrNotFound if none matches (unknown or already used).
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}
