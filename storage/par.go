package storage

import (
	"context"
	"time"
)

// PushedRequest is an authorization request pushed to the pushed
// authorization request endpoint (RFC 9126), kept until the request_uri
// that names it is used at /authorize, or expires.
type PushedRequest struct {
	// Hash is the SHA-256 of the random part of the request_uri: the
	// request_uri itself is never stored.
	Hash     []byte
	ClientID string
	// Params are the request's parameters, form-encoded, without the
	// client's credentials.
	Params    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time // when /authorize used it; nil while unused
}

// PushedRequestStore keeps pushed authorization requests. Store includes
// it.
type PushedRequestStore interface {
	// CreatePushedRequest stores r; ErrConflict if its hash is taken,
	// ErrNotFound if its client does not exist.
	CreatePushedRequest(ctx context.Context, r *PushedRequest) error
	// UsePushedRequest marks the request with the given hash, pushed by
	// clientID, used at now and returns it, in one conditional UPDATE: of
	// concurrent callers on any replica exactly one succeeds. Expiry is
	// the caller's to judge (ExpiresAt). A request used before gives
	// ErrReplayed together with the request; an unknown hash, or one
	// pushed by another client, gives ErrNotFound and a nil request.
	UsePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (*PushedRequest, error)
}
