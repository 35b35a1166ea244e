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

import "errors"

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
	// ErrFull means the owner already has as many of the objects as it
	// may (an account's security keys).
	ErrFull = errors.New("storage: limit reached")
)

// Store is everything Gatehouse keeps, composed of one role per domain.
// See the package doc for the atomicity every implementation guarantees.
// Consumers declare the roles they use rather than take all of Store.
type Store interface {
	UserStore
	ClientStore
	// Single-use JWT identifiers: see clients.go.
	JTIStore
	AuthRequestStore
	// Pushed authorization requests: see par.go.
	PushedRequestStore
	GrantStore
	// Users' consent to third-party clients: see consent.go.
	ConsentStore
	SessionStore
	// Sign-ins' ends: see signin.go.
	SignInStore
	// Back-channel logout: see backchannel.go.
	BackchannelStore
	FactorStore
	KeyStore
	AttemptStore
	AuditStore
	MaintenanceStore
}
