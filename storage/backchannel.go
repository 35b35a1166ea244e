package storage

import (
	"context"
	"time"
)

// SessionGrant is a sign-in completed in a browser session: the auth
// request GrantID of client ClientID. Its tokens belong to the session, and
// when the session ends the client is told (OpenID Connect Back-Channel
// Logout 1.0).
type SessionGrant struct {
	GrantID   string // the auth request id, which is also its refresh family id
	SessionID string
	ClientID  string
	UserID    string
	CreatedAt time.Time
}

// LogoutDelivery is a logout token waiting to be sent to a client's
// back-channel logout URI: a session of user UserID ended.
type LogoutDelivery struct {
	// SessionID is the session the ended session's sid derives from: its
	// own id, or the first of the sessions it continued (ReplaceSession).
	SessionID     string
	ClientID      string
	UserID        string
	Attempts      int // sending attempts so far, the one claimed included
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// BackchannelStore keeps which clients signed in through which session,
// ends sessions, and queues the logout tokens their ending sends. Store
// includes it.
type BackchannelStore interface {
	// AddSessionGrant records g; a grant already recorded is left as it
	// is. ErrNotFound if the session or the client does not exist.
	AddSessionGrant(ctx context.Context, g *SessionGrant) error
	// GrantSession returns the id the sid of the session grantID was
	// completed in derives from (see ReplaceSession); ErrNotFound when
	// there is no such session (any more).
	GrantSession(ctx context.Context, grantID string) (string, error)
	// ReplaceSession removes the session oldID, which the browser's new
	// session newID replaces, in one transaction. When both belong to the
	// same user the new session continues the old one: it takes its
	// grants and the id its sid derives from, and nobody is told;
	// otherwise the old session ends as with EndSession. An unknown
	// oldID changes nothing.
	ReplaceSession(ctx context.Context, oldID, newID string, now time.Time) error
	// RotateSession gives the session oldID, live at now, the new id
	// newID in one transaction, after a step that raised what it proves
	// (a re-authentication, a password change): the session keeps its
	// user, factors, times, grants and the id its sid derives from, and
	// oldID no longer exists. A reauthAt that is not zero becomes its
	// ReauthAt. ErrNotFound if oldID is unknown, expired or idle at now,
	// or was rotated or ended meanwhile: then nothing changes.
	RotateSession(ctx context.Context, oldID, newID string, now, reauthAt time.Time) error

	// EndSession deletes the session id and, in the same transaction,
	// queues a logout delivery, due at now, for every client that signed
	// in through it and has a back-channel logout URI. ErrNotFound if there
	// is no such session.
	EndSession(ctx context.Context, id string, now time.Time) error
	// EndUserSessions does what EndSession does for every session of the
	// user but keepID ("" keeps none) and returns how many it ended.
	EndUserSessions(ctx context.Context, userID, keepID string, now time.Time) (int, error)

	// ClaimLogoutDelivery takes the delivery due at now that is due
	// longest, counting an attempt and leasing it until now+lease, in one
	// atomic statement: no other caller, on any replica, gets it until
	// the lease runs out. ErrNotFound when none is due.
	ClaimLogoutDelivery(ctx context.Context, now time.Time, lease time.Duration) (*LogoutDelivery, error)
	// DeleteLogoutDelivery removes the delivery (sent, or given up).
	DeleteLogoutDelivery(ctx context.Context, sessionID, clientID string) error
	// RetryLogoutDelivery releases the delivery's lease and makes it due
	// again at next.
	RetryLogoutDelivery(ctx context.Context, sessionID, clientID string, next time.Time) error
	// CountLogoutDeliveries counts the deliveries queued.
	CountLogoutDeliveries(ctx context.Context) (int, error)
}
