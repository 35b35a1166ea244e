package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-chi/chi/v5"
)

// UserView is a user as the CLI and the API show it; never the password
// hash or a factor's secret.
type UserView struct {
	ID            string      `json:"id"`
	Email         string      `json:"email"`
	Name          string      `json:"name"`
	Status        string      `json:"status"` // "active" or "disabled"
	EmailVerified bool        `json:"email_verified"`
	Admin         bool        `json:"admin"`             // may use the admin console
	Factors       *UserFactor `json:"factors,omitempty"` // only when showing one user
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// UserFactor lists a user's second factors.
type UserFactor struct {
	AuthenticatorApp bool `json:"authenticator_app"`
	EmailCodes       bool `json:"email_codes"`
	SecurityKeys     int  `json:"security_keys"`
}

func viewUser(u *storage.User) UserView {
	return UserView{ID: u.ID, Email: u.Email, Name: u.Name, Status: pick(u.Disabled, "disabled", "active"), EmailVerified: u.EmailVerified, Admin: u.Admin,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

// UserSpec describes a user to create.
type UserSpec struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
	// Invite creates the user with no usable password and emails them a
	// link to choose one (Service.Invite); Password must be empty.
	Invite bool `json:"-"`
}

// CreateUser validates spec and creates the user, with the email verified
// (an administrator vouches for it).
func (s *Service) CreateUser(ctx context.Context, spec UserSpec) (*UserView, error) {
	if spec.Invite && (s.Invite == nil || spec.Password != "") {
		return nil, Errorf(Invalid, "an invitation needs the server's email and no password")
	}
	addr, err := mail.ParseAddress(spec.Email)
	email := ""
	if err == nil && addr.Name == "" && addr.Address == strings.TrimSpace(spec.Email) {
		email = login.NormalizeEmail(addr.Address)
	}
	if email == "" {
		return nil, Errorf(Invalid, "%q is not an email address", spec.Email)
	}
	name := strings.TrimSpace(spec.Name)
	if err := checkName(name); err != nil {
		return nil, err
	}
	pw := spec.Password
	if spec.Invite {
		pw = rand.Text() + rand.Text() // never told: the invitation's link sets the password
	} else if err := s.Passwords.Check(pw, addr.Address, name); err != nil {
		return nil, Errorf(Refused, "password: %v", err)
	}
	now := s.Now()
	u := &storage.User{
		ID:            op.NewClientID(),
		Email:         email,
		Name:          name,
		PasswordHash:  s.Passwords.Hash(pw),
		EmailVerified: true,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := s.Store.CreateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
		return nil, Errorf(Conflict, "a user with email %q already exists", u.Email)
	} else if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if !spec.Invite {
		s.audit(ctx, storage.EventUserCreated, u.ID, "", "")
		v := viewUser(u)
		return &v, nil
	}
	s.audit(ctx, storage.EventUserCreated, u.ID, "", "invited by email")
	if err := s.Invite(ctx, u); err != nil {
		return nil, fmt.Errorf("the user was created, but the invitation was not sent (send a set-password link from their page): %w", err)
	}
	v := viewUser(u)
	return &v, nil
}

// SendPasswordLink emails the user ref a link to choose a new password
// (Service.Invite); their password works until they use it.
func (s *Service) SendPasswordLink(ctx context.Context, ref string) (*UserView, error) {
	if s.Invite == nil {
		return nil, Errorf(Invalid, "set-password links need the server's email")
	}
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, Errorf(Refused, "user %s is disabled; enable them first", u.Email)
	}
	if err := s.Invite(ctx, u); err != nil {
		return nil, fmt.Errorf("send the set-password link: %w", err)
	}
	s.audit(ctx, storage.EventPasswordResetRequested, u.ID, "", "set-password link emailed")
	v := viewUser(u)
	return &v, nil
}

// ListUsers lists every user.
func (s *Service) ListUsers(ctx context.Context) ([]UserView, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return views(us, viewUser), nil
}

// MaxSearch bounds the users SearchUsers returns.
const MaxSearch = 200

// SearchUsers returns the users whose email holds q (at most MaxSearch, by
// email), searched in the database.
func (s *Service) SearchUsers(ctx context.Context, q string) ([]UserView, error) {
	if !login.PlainText(q) {
		return []UserView{}, nil // no email holds it
	}
	us, err := s.Store.SearchUsers(ctx, strings.TrimSpace(q), MaxSearch)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return views(us, viewUser), nil
}

// user finds a user by email (anything with an @) or id.
func (s *Service) user(ctx context.Context, ref string) (*storage.User, error) {
	var (
		u    *storage.User
		err  error
		what string
	)
	if strings.Contains(ref, "@") {
		u, err = s.Store.UserByEmail(ctx, login.NormalizeEmail(ref))
		what = fmt.Sprintf("user with email %q", ref)
	} else {
		u, err = s.Store.UserByID(ctx, ref)
		what = fmt.Sprintf("user with id %q", ref)
	}
	if err != nil {
		return nil, storeError(err, "load user", what)
	}
	return u, nil
}

// User shows the user ref (an email or an id) with their second factors.
func (s *Service) User(ctx context.Context, ref string) (*UserView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	f := &UserFactor{EmailCodes: u.EmailOTP}
	if t, err := s.Store.TOTPByUser(ctx, u.ID); err == nil {
		f.AuthenticatorApp = t.Confirmed
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("load authenticator: %w", err)
	}
	keys, err := s.Store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load security keys: %w", err)
	}
	f.SecurityKeys = len(keys)
	v := viewUser(u)
	v.Factors = f
	return &v, nil
}

// SetUserDisabled disables or enables the user ref. Disabling also ends
// their browser sessions and revokes their tokens, and tells an active
// user by email.
func (s *Service) SetUserDisabled(ctx context.Context, ref string, disabled bool) (*UserView, error) {
	return s.setUser(ctx, ref, func(u *storage.User, now time.Time) (storage.EventType, error) {
		// changed: this call disabled the user, and tells them (not a
		// retry, nor another request sent at once, which both loaded the
		// user as active).
		changed, err := s.Store.SetUserDisabled(ctx, u.ID, disabled, now)
		if err != nil {
			return "", fmt.Errorf("disable user: %w", err)
		}
		if disabled {
			if _, err := s.signOut(ctx, u.ID, now); err != nil {
				return "", err
			}
			if changed {
				s.notify(ctx, u, login.AdminDisabled)
			}
		}
		u.Disabled = disabled
		if changed {
			u.UpdatedAt = now
		}
		return pick(disabled, storage.EventUserDisabled, storage.EventUserEnabled), nil
	})
}

// setUser loads the user ref and changes it with set at the time now:
// set stores the change, makes it to u as well and returns the event to
// audit. setUser returns u as set left it.
func (s *Service) setUser(ctx context.Context, ref string, set func(u *storage.User, now time.Time) (storage.EventType, error)) (*UserView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	typ, err := set(u, s.Now())
	if err != nil {
		return nil, err
	}
	s.audit(ctx, typ, u.ID, "", "")
	v := viewUser(u)
	return &v, nil
}

// ResetTwoFactor removes every second factor of the user ref (authenticator
// app, email codes, security keys, recovery codes): they sign in with the
// password alone until they enrol again. Like a password reset, it also
// ends what the old factors let in: the user's sign-ins in progress, their
// browser sessions (a lost device's among them) and their tokens. A user
// who had a factor is told by email, as of any change of their factors.
func (s *Service) ResetTwoFactor(ctx context.Context, ref string) (*UserView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	// had: this call removed a factor the user had, and tells them (not a
	// retry, nor another request sent at once, which both loaded the
	// user with the factors: the store's removal tells them apart).
	had, err := s.Store.RemoveSecondFactors(ctx, u.ID, now)
	if err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	if err := s.Store.VoidCodes(ctx, u.ID, "", ""); err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, u.ID, nil, now); err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	n, err := s.signOut(ctx, u.ID, now)
	if err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	s.audit(ctx, storage.EventFactorReset, u.ID, "", fmt.Sprintf("%d sessions ended, tokens revoked", n))
	if had {
		s.notify(ctx, u, login.AdminFactorsReset)
	}
	return s.User(ctx, u.ID)
}

// SetUserAdmin grants (admin true) or revokes the administrator role of
// the user ref, which lets them use the admin console at /admin.
func (s *Service) SetUserAdmin(ctx context.Context, ref string, admin bool) (*UserView, error) {
	return s.setUser(ctx, ref, func(u *storage.User, now time.Time) (storage.EventType, error) {
		if err := s.Store.SetUserAdmin(ctx, u.ID, admin, now); err != nil {
			return "", storeError(err, "set admin role", fmt.Sprintf("user with id %q", u.ID))
		}
		u.Admin, u.UpdatedAt = admin, now
		return pick(admin, storage.EventAdminGranted, storage.EventAdminRevoked), nil
	})
}

// SignOutEverywhere ends every browser session of the user ref (the
// clients they signed in to are told, by back-channel logout) and revokes
// their tokens, and returns how many sessions it ended.
func (s *Service) SignOutEverywhere(ctx context.Context, ref string) (int, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return 0, err
	}
	n, err := s.signOut(ctx, u.ID, s.Now())
	if err != nil {
		return n, err
	}
	s.audit(ctx, storage.EventUserSignedOut, u.ID, "", fmt.Sprintf("%d sessions ended", n))
	return n, nil
}

// signOut ends the sign-ins in progress and every browser session of the
// user id, revokes their tokens and voids the email changes not yet
// confirmed, and returns how many sessions it ended. A sign-in past the
// password step (perhaps an intruder's, waiting for its code) starts again
// from the password, and an email change a session just ended asked for
// (perhaps an intruder's, to their own address) cannot be confirmed.
func (s *Service) signOut(ctx context.Context, id string, now time.Time) (int, error) {
	if err := s.Store.DeleteActionTokens(ctx, id, login.PurposeChangeEmail); err != nil {
		return 0, fmt.Errorf("void email changes: %w", err)
	}
	if err := s.Store.EndPendingSignIns(ctx, id); err != nil {
		return 0, fmt.Errorf("end pending sign-ins: %w", err)
	}
	n, err := s.Store.EndUserSessions(ctx, id, "", now)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	if err := s.Store.RevokeUserTokens(ctx, id, now); err != nil {
		return n, fmt.Errorf("revoke tokens: %w", err)
	}
	return n, nil
}

// userRoutes are the routes of /api/users.
func (a *api) userRoutes(r chi.Router) {
	r.Get("/api/users", a.handle(listed("users", (*Service).ListUsers)))
	r.Post("/api/users", a.handle(createUser))
	r.Get("/api/users/{user}", a.handle(onParam("user", (*Service).User)))
	r.Post("/api/users/{user}/disable", a.handle(onParam("user", setTo((*Service).SetUserDisabled, true))))
	r.Post("/api/users/{user}/enable", a.handle(onParam("user", setTo((*Service).SetUserDisabled, false))))
	r.Post("/api/users/{user}/reset-2fa", a.handle(onParam("user", (*Service).ResetTwoFactor)))
	r.Post("/api/users/{user}/sign-out", a.handle(onParam("user", signOutEverywhere)))
	r.Put("/api/users/{user}/admin", a.handle(onParam("user", setTo((*Service).SetUserAdmin, true))))
	r.Delete("/api/users/{user}/admin", a.handle(onParam("user", setTo((*Service).SetUserAdmin, false))))
}

// signOutEverywhere is POST /api/users/{user}/sign-out.
func signOutEverywhere(s *Service, ctx context.Context, ref string) (map[string]any, error) {
	n, err := s.SignOutEverywhere(ctx, ref)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": ref, "sessions_ended": n}, nil
}

func createUser(w http.ResponseWriter, r *http.Request, s *Service) error {
	var spec UserSpec
	if err := decodeJSON(w, r, &spec); err != nil {
		return err
	}
	// A JSON escape of a lone surrogate (\udc80) decodes to U+FFFD: the
	// address was not valid UTF-8 either.
	if strings.ContainsRune(spec.Email, utf8.RuneError) {
		return badRequest("email: not valid UTF-8")
	}
	u, err := s.CreateUser(r.Context(), spec)
	if err != nil {
		return err
	}
	return created(w, "users", u.ID, u)
}
