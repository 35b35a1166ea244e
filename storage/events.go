package storage

import (
	"context"
	"time"
)

// EventType says what an audit event records. The constants below are
// every type Gatehouse writes; the audit log shows them as they are.
type EventType string

// Audit event types.
const (
	// Sign-in steps. Factor names the factor of the step; Blocked is set
	// on a failure refused because of a block.
	EventSigninSucceeded EventType = "signin.succeeded"
	EventSigninFailed    EventType = "signin.failed"

	// One-time codes and the checks of second factors. Purpose names the
	// purpose of a code sent; Factor names the factor of a failed check.
	EventCodeSent       EventType = "code.sent"
	EventCodeSendFailed EventType = "code.send_failed"
	EventCodeCapped     EventType = "code.capped"
	EventCodeFailed     EventType = "code.failed"
	EventCodeBlocked    EventType = "code.blocked"

	// Re-authentication before a sensitive account change.
	EventReauthSucceeded EventType = "reauth.succeeded"
	EventReauthFailed    EventType = "reauth.failed"

	// Second factors and recovery codes.
	EventFactorEnabled          EventType = "factor.enabled"
	EventFactorDisabled         EventType = "factor.disabled"
	EventFactorReset            EventType = "factor.reset"
	EventRecoveryIssued         EventType = "recovery.issued"
	EventRecoveryUsed           EventType = "recovery.used"
	EventWebAuthnRegisterFailed EventType = "webauthn.register_failed"
	EventWebAuthnCloneWarning   EventType = "webauthn.clone_warning"

	// Passwords and email addresses.
	EventPasswordChanged        EventType = "password.changed"
	EventPasswordChangeFailed   EventType = "password.change_failed"
	EventPasswordResetRequested EventType = "password.reset_requested"
	EventPasswordReset          EventType = "password.reset"
	EventEmailConfirmed         EventType = "email.confirmed"
	EventEmailChanged           EventType = "email.changed"
	EventEmailReverted          EventType = "email.reverted"

	// Consent to third-party clients.
	EventConsentRequired EventType = "consent.required"
	EventConsentGranted  EventType = "consent.granted"
	EventConsentDenied   EventType = "consent.denied"
	EventConsentRevoked  EventType = "consent.revoked"

	// Accounts.
	EventUserRegistered   EventType = "user.registered"
	EventRegisterExisting EventType = "register.existing"
	EventUserCreated      EventType = "user.created"
	EventUserEnabled      EventType = "user.enabled"
	EventUserDisabled     EventType = "user.disabled"
	EventUserSignedOut    EventType = "user.signed_out" // every session ended by an administrator
	EventAdminGranted     EventType = "admin.granted"   // the administrator role
	EventAdminRevoked     EventType = "admin.revoked"

	// Administration of clients and blocks.
	EventClientCreated       EventType = "client.created"
	EventClientUpdated       EventType = "client.updated"
	EventClientSecretRotated EventType = "client.secret_rotated"
	EventClientDisabled      EventType = "client.disabled"
	EventClientEnabled       EventType = "client.enabled"
	EventClientDeleted       EventType = "client.deleted"
	EventBlockCleared        EventType = "block.cleared"
	EventKeysRotated         EventType = "keys.rotated" // new signing keys, by an administrator
)

// Event is an audit event.
type Event struct {
	ID       string
	Time     time.Time
	Type     EventType
	UserID   string // "" when unknown
	ClientID string
	IP       string
	Detail   string // free text; never a secret

	// Factor is the factor a sign-in step or a code check was about:
	// "password", "totp", "email", "webauthn", "passkey" or "recovery";
	// "" when none.
	Factor string
	// Purpose is the purpose of the one-time code an event is about
	// (OneTimeCode.Purpose); "" when none.
	Purpose string
	// Blocked is set on a failure refused because the client IP or the
	// account was blocked.
	Blocked bool
}

// EventFilter selects audit events; zero fields match everything.
type EventFilter struct {
	UserID string
	IP     string
	Type   EventType
	Since  time.Time
	// Before, when set, selects only the events after (older than) the
	// event at Before with id BeforeID in the newest-first order: the
	// cursor of the next page is the last event of the page before. With
	// BeforeID "" every event at Before is excluded too.
	Before   time.Time
	BeforeID string
	Limit    int // 0 means 100
}

// AuditStore keeps the audit log. Store includes it.
type AuditStore interface {
	// AddEvent appends an audit event (ID is set if empty).
	AddEvent(ctx context.Context, e *Event) error
	// Events returns matching events, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
}
