package storage

import (
	"context"
	"time"
)

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

// SessionStore keeps browsers' single sign-on sessions. Store includes it.
type SessionStore interface {
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
}
