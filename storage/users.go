package storage

import (
	"context"
	"time"
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
	EmailOTP bool
	// Admin is the administrator role: the user may use the admin console.
	Admin     bool
	CreatedAt time.Time
	UpdatedAt time.Time
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

// UserStore keeps user accounts and the single-use tokens of the links
// emailed to them. Store includes it.
type UserStore interface {
	// CreateUser adds u; ErrConflict if the id or email is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// SearchUsers returns at most limit users whose email holds substr
	// (compared in lower case, as emails are stored), by email.
	SearchUsers(ctx context.Context, substr string, limit int) ([]User, error)
	// SetUserDisabled disables or enables user id and reports whether it
	// changed the user: one already disabled (or enabled) as asked is
	// left as it was and gives false, and of concurrent calls that find
	// the user otherwise exactly one gives true. ErrNotFound if unknown.
	SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) (changed bool, err error)
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
	// SetUserAdmin grants (admin true) or revokes the administrator role
	// of user id; ErrNotFound if unknown.
	SetUserAdmin(ctx context.Context, id string, admin bool, now time.Time) error

	// CreateActionToken stores t; ErrNotFound if the user does not exist.
	CreateActionToken(ctx context.Context, t *ActionToken) error
	// UseActionToken atomically marks the token used and returns it;
	// ErrNotFound when unknown, of another purpose, used or expired at now.
	UseActionToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*ActionToken, error)
	// DeleteActionTokens deletes all of the user's tokens of purpose ("" =
	// all).
	DeleteActionTokens(ctx context.Context, userID, purpose string) error
	// SupersedeActionTokens deletes the tokens of t's user and purpose,
	// used or not, created no later than t, t itself excepted: one created
	// after t stays.
	SupersedeActionTokens(ctx context.Context, t *ActionToken) error
}
