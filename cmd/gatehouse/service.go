package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// adminStore is the part of storage.Store the admin service uses: users,
// clients and factors, blocks and the audit log, and the sessions
// (BackchannelStore) and tokens (GrantStore) a disabled user loses.
type adminStore interface {
	storage.UserStore
	storage.ClientStore
	storage.FactorStore
	storage.AttemptStore
	storage.AuditStore
	storage.BackchannelStore
	storage.GrantStore
}

// adminService is the one implementation of Gatehouse's administrative
// operations on clients, users, blocks and the audit log. The CLI
// (admin.go, audit.go) and the admin API (adminapi.go) both call it, so
// they validate alike and leave the same audit trail.
type adminService struct {
	store     adminStore
	passwords *password.Hasher
	now       func() time.Time
	logger    *slog.Logger
	// by names who acts, for the audit log: "an administrator (CLI)" or
	// "admin client X (API)".
	by string
	// ip is the address the action came from ("" for the CLI).
	ip string
	// sealBox opens the secrets key, which seals the secrets of
	// client_secret_jwt clients; nil where there is none.
	sealBox func() (*seal.Box, error)
}

// newAdminService returns the service over store, hashing new passwords
// with passwords (the server's hasher, so that its gate bounds every
// argon2id hash of the process), acting as by, logging to slog.Default
// (set logger to change that).
func newAdminService(store adminStore, passwords *password.Hasher, now func() time.Time, by string) *adminService {
	return &adminService{store: store, passwords: passwords, now: now, logger: slog.Default(), by: by}
}

// errKind says what went wrong with a service call, so that the CLI picks
// an exit code and the API a status.
type errKind int

const (
	errInvalid  errKind = iota + 1 // the input is malformed (CLI exit 2, HTTP 400)
	errNotFound                    // no such client, user or block (HTTP 404)
	errConflict                    // clashes with what exists (HTTP 409)
	errRefused                     // well-formed but not acceptable, e.g. a weak password (HTTP 422)
)

// serviceError is an error the caller can fix; its message says how.
type serviceError struct {
	kind errKind
	msg  string
}

func (e *serviceError) Error() string { return e.msg }

func failf(kind errKind, format string, args ...any) error {
	return &serviceError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// kindOf returns the kind of a service error, or 0 for any other error (a
// database failure).
func kindOf(err error) errKind {
	var se *serviceError
	if errors.As(err, &se) {
		return se.kind
	}
	return 0
}

// audit records an administrative action and logs it. Failing to record
// it does not undo the action, and is logged.
func (s *adminService) audit(ctx context.Context, typ storage.EventType, userID, clientID, detail string) {
	d := "by " + s.by
	if detail != "" {
		d = detail + " " + d
	}
	s.logger.InfoContext(ctx, "audit", "event", string(typ), "user_id", userID, "client_id", clientID, "detail", d)
	if err := s.store.AddEvent(ctx, &storage.Event{Time: s.now(), Type: typ, UserID: userID, ClientID: clientID, IP: s.ip, Detail: d}); err != nil {
		s.logger.ErrorContext(ctx, "audit event not stored", "event", string(typ), "err", err)
	}
}

// ---- clients ----

// clientView is a client as the CLI and the API show it. The secret hash
// never leaves the store.
type clientView struct {
	ID                     string    `json:"client_id"`
	Name                   string    `json:"name"`
	Type                   string    `json:"type"` // "confidential" or "public"
	Admin                  bool      `json:"admin"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	RequireMFA             bool      `json:"require_mfa"`
	SigningAlgorithm       string    `json:"signing_algorithm"`
	AccessTokenFormat      string    `json:"access_token_format"` // "opaque" or "jwt"
	BackchannelLogoutURI   string    `json:"backchannel_logout_uri"`
	Consent                bool      `json:"consent"` // a third-party client: users consent to its scopes
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`

	// TokenEndpointAuthMethod is "" for a client registered before it
	// could be chosen, which may use client_secret_basic or
	// client_secret_post.
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	// RequirePAR: authorization requests must be pushed (RFC 9126).
	RequirePAR bool `json:"require_pushed_authorization_requests"`
	// DPoPBoundAccessTokens: the client must bind its access tokens to a
	// key with DPoP (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

func viewClient(c *storage.Client) clientView {
	alg := c.SigningAlgorithm
	if alg == "" {
		alg = op.RS256
	}
	format := c.AccessTokenFormat
	if format == "" {
		format = op.AccessTokenOpaque
	}
	return clientView{
		ID: c.ID, Name: c.Name, Type: clientType(c), Admin: c.Admin,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		RequireMFA: c.RequireMFA, SigningAlgorithm: alg, AccessTokenFormat: format,
		Consent:   c.Consent,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),

		TokenEndpointAuthMethod: op.ClientAuthMethod(c), JWKS: rawJSON(c.JWKS), JWKSURI: c.JWKSURI,
		RequirePAR:            c.RequirePAR,
		BackchannelLogoutURI:  c.BackchannelLogoutURI,
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
	}
}

// rawJSON is s as JSON, or nil when empty.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func clientType(c *storage.Client) string {
	if c.Public {
		return "public"
	}
	return "confidential"
}

// clientSpec describes a client to register.
type clientSpec struct {
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	Public                 bool     `json:"public"`
	RequireMFA             bool     `json:"require_mfa"`
	SigningAlgorithm       string   `json:"signing_algorithm"` // "" means RS256
	// AccessTokenFormat is "opaque" (the default, also for "") or "jwt":
	// access tokens that are JWTs signed with SigningAlgorithm.
	AccessTokenFormat string `json:"access_token_format"`
	// Admin lets the client obtain the gatehouse:admin scope with the
	// client_credentials grant. Admin clients need no redirect URI.
	Admin bool `json:"admin"`
	// RequirePAR refuses the client's authorization requests unless
	// pushed (RFC 9126).
	RequirePAR bool `json:"require_pushed_authorization_requests"`
	// BackchannelLogoutURI is where logout tokens are posted when a
	// session the client signed in through ends; "" for none.
	BackchannelLogoutURI string `json:"backchannel_logout_uri"`
	// Consent makes it a third-party client: users are asked to allow it
	// the scopes it asks for before it gets a response.
	Consent bool `json:"consent"`
	// ClientCredentialsOnly registers a confidential client for the
	// client_credentials grant alone: it has no redirect URI, so
	// /authorize refuses it. (The CLI's --grant client_credentials.)
	ClientCredentialsOnly bool `json:"-"`
	// TokenEndpointAuthMethod is how the client authenticates (RFC 7591
	// §2); "" is client_secret_basic, or none for a public client. JWKS
	// (a JWK Set object) or JWKSURI holds a private_key_jwt client's keys.
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 string          `json:"jwks_uri"`
	// DPoPBoundAccessTokens requires DPoP proofs of the client's token
	// requests (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

// newClientView is a registered client with its secret, shown once.
type newClientView struct {
	clientView
	Secret string `json:"client_secret,omitempty"`
}

// CreateClient validates spec and registers the client. The secret of a
// confidential client is returned once; only its hash is stored.
func (s *adminService) CreateClient(ctx context.Context, spec clientSpec) (*newClientView, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return nil, failf(errInvalid, "a name is required")
	}
	if len(name) > 200 {
		return nil, failf(errInvalid, "the name is longer than 200 bytes")
	}
	if spec.Admin && spec.Public {
		return nil, failf(errInvalid, "an admin client must be confidential (it authenticates with its secret)")
	}
	if spec.ClientCredentialsOnly {
		if spec.Public {
			return nil, failf(errInvalid, "a client_credentials client must be confidential (it authenticates with its secret)")
		}
		if len(spec.RedirectURIs) != 0 || len(spec.PostLogoutRedirectURIs) != 0 {
			return nil, failf(errInvalid, "a client_credentials client has no redirect URIs")
		}
	}
	if len(spec.RedirectURIs) == 0 && !spec.Admin && !spec.ClientCredentialsOnly {
		return nil, failf(errInvalid, "at least one redirect URI is required")
	}
	if err := checkURIs(spec.RedirectURIs, spec.PostLogoutRedirectURIs, spec.Public); err != nil {
		return nil, err
	}
	if err := checkBackchannelLogoutURI(spec.BackchannelLogoutURI); err != nil {
		return nil, err
	}
	alg := spec.SigningAlgorithm
	if alg == "" {
		alg = op.RS256
	}
	if !op.IsAlgorithm(alg) {
		return nil, failf(errInvalid, "signing algorithm %q: must be RS256, ES256 or EdDSA", alg)
	}
	format := spec.AccessTokenFormat
	if format == "" {
		format = op.AccessTokenOpaque
	}
	if !op.IsAccessTokenFormat(format) {
		return nil, failf(errInvalid, "access token format %q: must be opaque or jwt", format)
	}
	if spec.DPoPBoundAccessTokens && spec.Admin {
		// The admin API takes bearer tokens only.
		return nil, failf(errInvalid, "an admin client cannot require DPoP-bound access tokens (the admin API accepts bearer tokens only)")
	}
	if format == op.AccessTokenJWT && spec.Admin {
		// The admin API reads opaque tokens only.
		return nil, failf(errInvalid, "an admin client must use the opaque access token format (the admin API accepts opaque tokens only)")
	}
	method, jwks, jwksURI, err := checkClientAuth(spec.Public, spec.TokenEndpointAuthMethod, spec.JWKS, spec.JWKSURI)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &storage.Client{
		ID:                     op.NewClientID(),
		Name:                   name,
		Public:                 spec.Public,
		RedirectURIs:           nonNil(spec.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(spec.PostLogoutRedirectURIs),
		RequireMFA:             spec.RequireMFA,
		SigningAlgorithm:       alg,
		AccessTokenFormat:      format,
		Admin:                  spec.Admin,
		RequirePAR:             spec.RequirePAR,
		BackchannelLogoutURI:   spec.BackchannelLogoutURI,
		Consent:                spec.Consent,
		DPoPBoundAccessTokens:  spec.DPoPBoundAccessTokens,
		CreatedAt:              now,
		UpdatedAt:              now,

		TokenEndpointAuthMethod: method,
		JWKS:                    jwks,
		JWKSURI:                 jwksURI,
	}
	secret, sealed, err := s.newSecretFor(c.ID, method)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		c.SecretHash = op.HashClientSecret(secret)
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	if sealed != nil {
		if err := s.store.SetClientJWTSecret(ctx, c.ID, sealed, now); err != nil {
			s.store.DeleteClient(ctx, c.ID)
			return nil, fmt.Errorf("create client: %w", err)
		}
	}
	detail := ""
	if c.Admin {
		detail = "admin client"
	}
	s.audit(ctx, storage.EventClientCreated, "", c.ID, detail)
	return &newClientView{clientView: viewClient(c), Secret: secret}, nil
}

// checkURIs checks redirect and post-logout redirect URIs.
func checkURIs(redirects, logouts []string, public bool) error {
	for _, u := range redirects {
		if err := checkRedirectURI(u, public); err != nil {
			return failf(errInvalid, "redirect URI %s", err)
		}
	}
	for _, u := range logouts {
		if err := checkRedirectURI(u, public); err != nil {
			return failf(errInvalid, "post-logout redirect URI %s", err)
		}
	}
	return nil
}

// ListClients lists every client, oldest first.
func (s *adminService) ListClients(ctx context.Context) ([]clientView, error) {
	cs, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]clientView, len(cs))
	for i := range cs {
		out[i] = viewClient(&cs[i])
	}
	return out, nil
}

func (s *adminService) client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.store.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	return c, nil
}

// Client returns the client id.
func (s *adminService) Client(ctx context.Context, id string) (*clientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	v := viewClient(c)
	return &v, nil
}

// clientURIs replaces a client's redirect URIs; a nil
// PostLogoutRedirectURIs keeps the current ones.
type clientURIs struct {
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
}

// SetClientURIs replaces the client's redirect URIs (and, when given, its
// post-logout redirect URIs) after checking them like CreateClient does.
func (s *adminService) SetClientURIs(ctx context.Context, id string, u clientURIs) (*clientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	logouts := c.PostLogoutRedirectURIs
	if u.PostLogoutRedirectURIs != nil {
		logouts = *u.PostLogoutRedirectURIs
	}
	if len(u.RedirectURIs) == 0 && !c.Admin {
		return nil, failf(errInvalid, "at least one redirect URI is required")
	}
	if err := checkURIs(u.RedirectURIs, logouts, c.Public); err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.store.SetClientURIs(ctx, id, nonNil(u.RedirectURIs), nonNil(logouts), now); errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.UpdatedAt = nonNil(u.RedirectURIs), nonNil(logouts), now
	s.audit(ctx, storage.EventClientUpdated, "", id, "redirect URIs "+strings.Join(c.RedirectURIs, " "))
	v := viewClient(c)
	return &v, nil
}

// RotateSecret gives a confidential client a new secret, returned once;
// the old one stops working at once.
func (s *adminService) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", failf(errConflict, "client %s is public and has no secret", id)
	}
	if c.TokenEndpointAuthMethod == op.AuthMethodPrivateKeyJWT {
		return "", failf(errConflict, "client %s authenticates with private_key_jwt and has no secret", id)
	}
	secret, sealed, err := s.newSecretFor(c.ID, c.TokenEndpointAuthMethod)
	if err != nil {
		return "", err
	}
	if sealed != nil {
		if err := s.store.SetClientJWTSecret(ctx, c.ID, sealed, s.now()); err != nil {
			return "", fmt.Errorf("rotate secret: %w", err)
		}
	}
	if err := s.store.SetClientSecretHash(ctx, c.ID, op.HashClientSecret(secret), s.now()); err != nil {
		return "", fmt.Errorf("rotate secret: %w", err)
	}
	s.audit(ctx, storage.EventClientSecretRotated, "", id, "")
	return secret, nil
}

// DeleteClient removes the client and every token issued to it.
func (s *adminService) DeleteClient(ctx context.Context, id string) error {
	if err := s.store.DeleteClient(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	s.audit(ctx, storage.EventClientDeleted, "", id, "")
	return nil
}

// ---- users ----

// userView is a user as the CLI and the API show it; never the password
// hash or a factor's secret.
type userView struct {
	ID            string      `json:"id"`
	Email         string      `json:"email"`
	Name          string      `json:"name"`
	Status        string      `json:"status"` // "active" or "disabled"
	EmailVerified bool        `json:"email_verified"`
	Factors       *userFactor `json:"factors,omitempty"` // only when showing one user
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// userFactor lists a user's second factors.
type userFactor struct {
	AuthenticatorApp bool `json:"authenticator_app"`
	EmailCodes       bool `json:"email_codes"`
	SecurityKeys     int  `json:"security_keys"`
}

func viewUser(u *storage.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Status: userStatus(u), EmailVerified: u.EmailVerified,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func userStatus(u *storage.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

// userSpec describes a user to create.
type userSpec struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// CreateUser validates spec and creates the user, with the email verified
// (an administrator vouches for it).
func (s *adminService) CreateUser(ctx context.Context, spec userSpec) (*userView, error) {
	addr, err := mail.ParseAddress(spec.Email)
	if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(spec.Email) {
		return nil, failf(errInvalid, "%q is not an email address", spec.Email)
	}
	name := strings.TrimSpace(spec.Name)
	if len(name) > 200 {
		return nil, failf(errInvalid, "the name is longer than 200 bytes")
	}
	if err := s.passwords.Check(spec.Password, addr.Address, name); err != nil {
		return nil, failf(errRefused, "password: %v", err)
	}
	now := s.now()
	u := &storage.User{
		ID:            op.NewClientID(),
		Email:         login.NormalizeEmail(addr.Address),
		Name:          name,
		PasswordHash:  s.passwords.Hash(spec.Password),
		EmailVerified: true,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := s.store.CreateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
		return nil, failf(errConflict, "a user with email %q already exists", u.Email)
	} else if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	s.audit(ctx, storage.EventUserCreated, u.ID, "", "")
	v := viewUser(u)
	return &v, nil
}

// ListUsers lists every user.
func (s *adminService) ListUsers(ctx context.Context) ([]userView, error) {
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]userView, len(us))
	for i := range us {
		out[i] = viewUser(&us[i])
	}
	return out, nil
}

// user finds a user by email (anything with an @) or id.
func (s *adminService) user(ctx context.Context, ref string) (*storage.User, error) {
	if strings.Contains(ref, "@") {
		u, err := s.store.UserByEmail(ctx, login.NormalizeEmail(ref))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, failf(errNotFound, "no user with email %q", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("load user: %w", err)
		}
		return u, nil
	}
	u, err := s.store.UserByID(ctx, ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no user with id %q", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// User shows the user ref (an email or an id) with their second factors.
func (s *adminService) User(ctx context.Context, ref string) (*userView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	f := &userFactor{EmailCodes: u.EmailOTP}
	if t, err := s.store.TOTPByUser(ctx, u.ID); err == nil {
		f.AuthenticatorApp = t.Confirmed
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("load authenticator: %w", err)
	}
	keys, err := s.store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load security keys: %w", err)
	}
	f.SecurityKeys = len(keys)
	v := viewUser(u)
	v.Factors = f
	return &v, nil
}

// SetUserDisabled disables or enables the user ref. Disabling also ends
// their browser sessions and revokes their tokens.
func (s *adminService) SetUserDisabled(ctx context.Context, ref string, disabled bool) (*userView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.store.SetUserDisabled(ctx, u.ID, disabled, now); err != nil {
		return nil, fmt.Errorf("disable user: %w", err)
	}
	typ := storage.EventUserEnabled
	if disabled {
		typ = storage.EventUserDisabled
		if _, err := s.store.EndUserSessions(ctx, u.ID, "", now); err != nil {
			return nil, fmt.Errorf("end sessions: %w", err)
		}
		if err := s.store.RevokeUserTokens(ctx, u.ID, now); err != nil {
			return nil, fmt.Errorf("revoke tokens: %w", err)
		}
	}
	s.audit(ctx, typ, u.ID, "", "")
	u.Disabled, u.UpdatedAt = disabled, now
	v := viewUser(u)
	return &v, nil
}

// ResetTwoFactor removes every second factor of the user ref (authenticator
// app, email codes, security keys, recovery codes): they sign in with the
// password alone until they enrol again.
func (s *adminService) ResetTwoFactor(ctx context.Context, ref string) (*userView, error) {
	u, err := s.user(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.store.DeleteTOTP(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	if err := s.store.SetEmailOTP(ctx, u.ID, false, now); err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	keys, err := s.store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	for _, k := range keys {
		if err := s.store.DeleteWebAuthnCredential(ctx, u.ID, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("reset 2fa: %w", err)
		}
	}
	if err := s.store.VoidCodes(ctx, u.ID, "", ""); err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, nil, now); err != nil {
		return nil, fmt.Errorf("reset 2fa: %w", err)
	}
	s.audit(ctx, storage.EventFactorReset, u.ID, "", "")
	return s.User(ctx, u.ID)
}

// ---- blocks ----

// blockView is an active block: an IP address or an account locked out of
// a sign-in step.
type blockView struct {
	Kind         string    `json:"kind"` // "ip" or "account"
	Step         string    `json:"step"` // "pwd" (password) or "otp" (codes)
	Subject      string    `json:"subject"`
	Failures     int       `json:"failures"`
	BlockedUntil time.Time `json:"blocked_until"`
}

// Blocks lists the blocks running now; account blocks name the user's
// email.
func (s *adminService) Blocks(ctx context.Context) ([]blockView, error) {
	blocks, err := s.store.Blocks(ctx, s.now())
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	out := make([]blockView, 0, len(blocks))
	for _, b := range blocks {
		k, _ := lockout.ParseKey(b.Key)
		kind, subject := k.Kind, k.Subject
		if kind == lockout.KindAccount {
			kind = "account"
			if u, err := s.store.UserByID(ctx, subject); err == nil {
				subject = u.Email
			}
		}
		out = append(out, blockView{Kind: kind, Step: k.Scope, Subject: subject, Failures: b.Failures, BlockedUntil: b.BlockedUntil.UTC()})
	}
	return out, nil
}

// ClearBlocks forgets the failures and blocks of subject, an IP address or
// a user's email, and returns how many counters it removed.
func (s *adminService) ClearBlocks(ctx context.Context, subject string) (int, error) {
	var suffixes []string
	if ip, err := netip.ParseAddr(subject); err == nil {
		suffixes = []string{lockout.IPCounter("", ip).Suffix()}
	} else if strings.Contains(subject, "@") {
		u, err := s.user(ctx, subject)
		if err != nil {
			return 0, err
		}
		// Password counters are keyed by email, code counters by user id.
		suffixes = []string{lockout.AccountCounter("", u.Email).Suffix(), lockout.AccountCounter("", u.ID).Suffix()}
	} else {
		return 0, failf(errInvalid, "%q is neither an IP address nor a user's email", subject)
	}
	n := 0
	for _, suffix := range suffixes {
		k, err := s.store.ClearBlocks(ctx, suffix)
		if err != nil {
			return n, fmt.Errorf("clear blocks: %w", err)
		}
		n += k
	}
	s.audit(ctx, storage.EventBlockCleared, "", "", subject)
	return n, nil
}

// ---- audit ----

// auditQuery selects audit events; zero fields match everything.
type auditQuery struct {
	User  string    // an email or a user id
	IP    string    // an IP address
	Type  string    // an event type, e.g. "signin.failed"
	Since time.Time // events at or after
	Limit int       // 1…1000; 0 means 100
}

// maxAuditLimit is the most events one query returns.
const maxAuditLimit = 1000

// eventView is an audit event as the CLI and the API show it.
type eventView struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	UserID    string    `json:"user_id,omitempty"`
	UserEmail string    `json:"user_email,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Events returns the events q selects, newest first.
func (s *adminService) Events(ctx context.Context, q auditQuery) ([]eventView, error) {
	f := storage.EventFilter{Type: storage.EventType(q.Type), Since: q.Since, Limit: q.Limit}
	if q.Limit < 0 || q.Limit > maxAuditLimit {
		return nil, failf(errInvalid, "limit %d: must be between 1 and %d", q.Limit, maxAuditLimit)
	}
	if len(q.Type) > 100 {
		return nil, failf(errInvalid, "the event type is longer than 100 bytes")
	}
	if q.IP != "" {
		ip, err := netip.ParseAddr(q.IP)
		if err != nil {
			return nil, failf(errInvalid, "%q is not an IP address", q.IP)
		}
		f.IP = ip.Unmap().String()
	}
	if q.User != "" {
		u, err := s.user(ctx, q.User)
		if err != nil {
			return nil, err
		}
		f.UserID = u.ID
	}
	events, err := s.store.Events(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	emails := map[string]string{}
	out := make([]eventView, len(events))
	for i, e := range events {
		v := eventView{ID: e.ID, Time: e.Time.UTC(), Type: string(e.Type), UserID: e.UserID, ClientID: e.ClientID, IP: e.IP, Detail: e.Detail}
		if e.UserID != "" {
			email, ok := emails[e.UserID]
			if !ok {
				if u, err := s.store.UserByID(ctx, e.UserID); err == nil {
					email = u.Email
				}
				emails[e.UserID] = email
			}
			v.UserEmail = email
		}
		out[i] = v
	}
	return out, nil
}

// parseSince reads a --since or ?since= value: a duration back from now
// ("24h", "90m"), an RFC 3339 time, or a date (UTC midnight).
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, failf(errInvalid, "since %q: give a positive duration such as 24h", v)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, failf(errInvalid, "since %q: give a duration (24h), a date (2026-01-31) or an RFC 3339 time", v)
}
