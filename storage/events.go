package storage

import (
	"context"
	"time"
)

// Event is an audit event.
type Event struct {
	ID       string
	Time     time.Time
	Type     string // e.g. "signin.succeeded", "code.failed", "ip.blocked"
	UserID   string // "" when unknown
	ClientID string
	IP       string
	Detail   string // free text; never a secret
}

// EventFilter selects audit events; zero fields match everything.
type EventFilter struct {
	UserID string
	IP     string
	Type   string
	Since  time.Time
	Limit  int // 0 means 100
}

// AuditStore keeps the audit log. Store includes it.
type AuditStore interface {
	// AddEvent appends an audit event (ID is set if empty).
	AddEvent(ctx context.Context, e *Event) error
	// Events returns matching events, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
}
