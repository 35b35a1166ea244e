package storage

import (
	"context"
	"time"
)

// WebAuthnCredential is a registered security key or passkey.
type WebAuthnCredential struct {
	ID        []byte // the credential id, chosen by the authenticator; unique
	UserID    string
	Name      string // given by the user
	PublicKey []byte // COSE-encoded
	// SignCount is the authenticator's signature counter as last seen; 0
	// for authenticators that keep none (most passkeys).
	SignCount       uint32
	BackupEligible  bool // the credential may be synced (a passkey)
	BackupState     bool // it is synced now
	Transports      []string
	AAGUID          []byte
	AttestationType string
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero before the first sign-in with it
	// CloneWarning is set once the counter went backwards: the key may
	// have been cloned, and it no longer signs in.
	CloneWarning bool
}

// WebAuthnStore keeps security keys, passkeys, their users' handles and
// the ceremonies in progress. FactorStore includes it.
type WebAuthnStore interface {
	// EnsureWebAuthnHandle returns the user's WebAuthn user handle,
	// storing handle as it first if the user has none yet (atomic: of
	// concurrent callers all get the same handle). ErrNotFound if the user
	// does not exist.
	EnsureWebAuthnHandle(ctx context.Context, userID string, handle []byte, now time.Time) ([]byte, error)
	// UserByWebAuthnHandle returns the user whose handle it is.
	UserByWebAuthnHandle(ctx context.Context, handle []byte) (*User, error)

	// AddWebAuthnCredential stores c; ErrConflict if its id is taken,
	// ErrNotFound if the user does not exist, ErrFull if the user has max
	// credentials already (max > 0), counted atomically with the insert:
	// parallel additions never exceed max. With first, c is stored only as
	// the user's first second factor: ErrFull, and nothing stored, if the
	// user has a credential, a confirmed authenticator-app secret or
	// emailed codes turned on, checked atomically with the insert, so that
	// of parallel first additions one is stored.
	AddWebAuthnCredential(ctx context.Context, c *WebAuthnCredential, max int, first bool) error
	// WebAuthnCredentials lists the user's credentials, oldest first.
	WebAuthnCredentials(ctx context.Context, userID string) ([]WebAuthnCredential, error)
	WebAuthnCredentialByID(ctx context.Context, id []byte) (*WebAuthnCredential, error)
	// UpdateWebAuthnCredentialUse records a sign-in with credential id at
	// now. With cloneWarning false it stores signCount and backupState in
	// one conditional statement that refuses a counter going backwards:
	// signCount must exceed the stored count unless both are 0, else
	// ErrReplayed and nothing changes. With cloneWarning true it only
	// flags the credential. ErrNotFound if it does not exist.
	UpdateWebAuthnCredentialUse(ctx context.Context, id []byte, signCount uint32, backupState, cloneWarning bool, now time.Time) error
	// DeleteWebAuthnCredential removes the user's credential id;
	// ErrNotFound if the user has no such credential.
	DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte) error

	// PutWebAuthnSession stores a ceremony's data under key until expires;
	// ErrConflict if key is taken.
	PutWebAuthnSession(ctx context.Context, key string, data []byte, expires time.Time) error
	// TakeWebAuthnSession atomically deletes the data under key and
	// returns it, so that of concurrent callers one gets it. ErrNotFound
	// when unknown, taken or expired at now.
	TakeWebAuthnSession(ctx context.Context, key string, now time.Time) ([]byte, error)
}
