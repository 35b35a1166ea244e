package storage

import (
	"context"
	"time"
)

// PurgeRequest says what a housekeeping run may delete. Everything is
// judged at Now; a row goes only once nothing can use it any more.
type PurgeRequest struct {
	Now time.Time
	// ResendCooldown is the email-code resend cooldown: a code stays,
	// even expired, until it is older than this, because IssueCode
	// measures the cooldown from the newest stored code.
	ResendCooldown time.Duration
	// CounterWindow is the longest window of any attempt limit: a counter
	// that is not blocked goes once its window started this long ago.
	CounterWindow time.Duration
	// KeyRetention is how long a replaced signing key stays published
	// after its successor starts signing; then it goes.
	KeyRetention time.Duration
	// EventsBefore deletes audit events older than it; the zero time keeps
	// every event.
	EventsBefore time.Time
}

// Purged counts the rows a purge deleted, by kind.
type Purged struct {
	AuthRequests     int
	AuthCodes        int
	AccessTokens     int
	RefreshTokens    int
	Sessions         int
	OneTimeCodes     int
	ActionTokens     int
	WebAuthnSessions int
	UsedJTIs         int
	PushedRequests   int
	Counters         int
	SigningKeys      int
	Events           int
	// Skipped is set when another process was purging the same database:
	// this run stopped without waiting (replicas take turns).
	Skipped bool
}

// Total returns how many rows were deleted.
func (p Purged) Total() int {
	return p.AuthRequests + p.AuthCodes + p.AccessTokens + p.RefreshTokens + p.Sessions +
		p.OneTimeCodes + p.ActionTokens + p.WebAuthnSessions + p.UsedJTIs + p.PushedRequests + p.Counters + p.SigningKeys + p.Events
}

// PurgeStore deletes expired state. MaintenanceStore includes it.
type PurgeStore interface {
	// Purge deletes, in small batches, what expired by r.Now:
	//   - auth requests past their expiry;
	//   - authorization codes past their expiry whose grant has no live
	//     token (a used code is a tombstone that revokes the grant when
	//     replayed, so it stays while the grant lives);
	//   - access tokens past their expiry;
	//   - refresh tokens of families none of whose tokens is still
	//     unexpired (a used token stays while its family lives, for reuse
	//     detection);
	//   - sessions expired or idle;
	//   - one-time codes past their expiry and older than r.ResendCooldown;
	//   - action tokens and WebAuthn ceremonies past their expiry;
	//   - pushed authorization requests past their expiry;
	//   - attempt counters not blocked whose block ended, or whose window
	//     started r.CounterWindow ago or more;
	//   - signing keys past their stored expiry, or whose successor of the
	//     same algorithm has signed for r.KeyRetention or more;
	//   - audit events older than r.EventsBefore, unless it is zero.
	// Only one process purges a database at a time: on PostgreSQL each
	// batch runs under an advisory lock, and a run that finds the lock
	// taken stops and reports Skipped. Users, clients, factors and
	// everything live are never touched.
	Purge(ctx context.Context, r PurgeRequest) (Purged, error)
}

// MaintenanceStore is the housekeeping of the database itself: purging
// what expired, checking that it answers and closing it. Store includes it.
type MaintenanceStore interface {
	// Housekeeping: see purge.go.
	PurgeStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
