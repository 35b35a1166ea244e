// Package admin is Gatehouse's administration: the service that creates,
// shows and changes clients, users and blocks and queries the audit log,
// which the CLI and the admin API both call, and the admin API itself, JSON
// on the admin listener (openapi.yaml describes it).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// Store is the part of storage.Store the service uses: users, clients and
// factors, blocks and the audit log, and the sessions (BackchannelStore),
// tokens (GrantStore) and sign-ins in progress (EndPendingSignIns) a
// disabled user, or one whose second factors were reset, loses.
type Store interface {
	storage.UserStore
	storage.ClientStore
	storage.FactorStore
	storage.AttemptStore
	storage.AuditStore
	storage.BackchannelStore
	storage.GrantStore
	EndPendingSignIns(ctx context.Context, userID string) error
}

// Service is the one implementation of Gatehouse's administrative
// operations on clients, users, blocks and the audit log. The CLI
// (package main) and the admin API (api.go) both call it, so they validate
// alike and leave the same audit trail.
type Service struct {
	Store     Store
	Passwords *password.Hasher
	Now       func() time.Time
	Logger    *slog.Logger
	// By names who acts, for the audit log: "an administrator (CLI)" or
	// "admin client X (API)".
	By string
	// IP is the address the action came from ("" for the CLI).
	IP string
	// SealBox opens the secrets key, which seals the secrets of
	// client_secret_jwt clients; nil where there is none.
	SealBox func() (*seal.Box, error)
	// Invite emails a user a link to choose their password (the login's
	// SendInvitation); nil where the caller sends no email (the CLI and
	// the API), which then cannot invite.
	Invite func(ctx context.Context, u *storage.User) error
	// Mailer sends the security emails that tell a user what an
	// administrator changed in their account (login.AdminChangeMail): the
	// server's mailer, SMTP or the mail outbox, which the CLI, the API and
	// the console set; nil sends none (the demo, tests).
	Mailer mail.Sender
}

// NewService returns the service over store, hashing new passwords
// with passwords (the server's hasher, so that its gate bounds every
// argon2id hash of the process), acting as by, logging to slog.Default
// (set Logger to change that).
func NewService(store Store, passwords *password.Hasher, now func() time.Time, by string) *Service {
	return &Service{Store: store, Passwords: passwords, Now: now, Logger: slog.Default(), By: by}
}

// Kind says what went wrong with a service call, so that the CLI picks
// an exit code and the API a status.
type Kind int

const (
	Invalid  Kind = iota + 1 // the input is malformed (CLI exit 2, HTTP 400)
	NotFound                 // no such client, user or block (HTTP 404)
	Conflict                 // clashes with what exists (HTTP 409)
	Refused                  // well-formed but not acceptable, e.g. a weak password (HTTP 422)
)

// An Error is an error the caller can fix; its message says how.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an Error of kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of a service error, or 0 for any other error (a
// database failure).
func KindOf(err error) Kind {
	var se *Error
	if errors.As(err, &se) {
		return se.Kind
	}
	return 0
}

// pick returns yes if b, else no.
func pick[T any](b bool, yes, no T) T {
	if b {
		return yes
	}
	return no
}

// views returns the view of each of l.
func views[T, V any](l []T, view func(*T) V) []V {
	out := make([]V, len(l))
	for i := range l {
		out[i] = view(&l[i])
	}
	return out
}

// storeError describes err, a store's: storage.ErrNotFound becomes a
// NotFound error saying there is no such what (`client with id "x"`), any
// other is wrapped by what was being done (action, "load client").
func storeError(err error, action, what string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return Errorf(NotFound, "no %s", what)
	}
	return fmt.Errorf("%s: %w", action, err)
}

// checkName refuses a user's or client's name (trimmed) that is longer
// than 200 bytes or not plain text (login.PlainText).
func checkName(name string) error {
	if len(name) > 200 {
		return Errorf(Invalid, "the name is longer than 200 bytes")
	}
	if !login.PlainText(name) {
		return Errorf(Invalid, "the name must be UTF-8 text without control characters")
	}
	return nil
}

// audit records an administrative action and logs it. Failing to record
// it does not undo the action, and is logged.
func (s *Service) audit(ctx context.Context, typ storage.EventType, userID, clientID, detail string) {
	d := "by " + s.By
	if detail != "" {
		d = detail + " " + d
	}
	s.Logger.InfoContext(ctx, "audit", "event", string(typ), "user_id", userID, "client_id", clientID, "detail", d)
	if err := s.Store.AddEvent(ctx, &storage.Event{Time: s.Now(), Type: typ, UserID: userID, ClientID: clientID, IP: s.IP, Detail: d}); err != nil {
		s.Logger.ErrorContext(ctx, "audit event not stored", "event", string(typ), "err", err)
	}
}

// notifyTimeout bounds the sending of one security email.
const notifyTimeout = 12 * time.Second

// notify emails u that an administrator made change c to their account.
// The change is made either way: a failure is logged (a warning, which
// the CLI prints) and recorded in the audit log, not returned.
func (s *Service) notify(ctx context.Context, u *storage.User, c login.AdminChange) {
	if s.Mailer == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if err := s.Mailer.Send(sctx, login.AdminChangeMail(i18n.Default, u, c)); err != nil {
		s.Logger.WarnContext(ctx, "the user was not told of the change by email", "user_id", u.ID, "err", err)
	}
}
