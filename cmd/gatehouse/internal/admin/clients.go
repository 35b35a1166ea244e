package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-chi/chi/v5"
)

// ClientView is a client as the CLI and the API show it. The secret hash
// never leaves the store.
type ClientView struct {
	ID                     string   `json:"client_id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"` // "confidential" or "public"
	Admin                  bool     `json:"admin"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	RequireMFA             bool     `json:"require_mfa"`
	SigningAlgorithm       string   `json:"signing_algorithm"`
	AccessTokenFormat      string   `json:"access_token_format"` // "opaque" or "jwt"
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	Consent                bool     `json:"consent"` // a third-party client: users consent to its scopes
	// GrantTypes are the grants the client may use (RFC 7591 §2):
	// authorization_code, refresh_token, client_credentials.
	GrantTypes []string  `json:"grant_types"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

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

func viewClient(c *storage.Client) ClientView {
	alg := c.SigningAlgorithm
	if alg == "" {
		alg = op.RS256
	}
	format := c.AccessTokenFormat
	if format == "" {
		format = op.AccessTokenOpaque
	}
	return ClientView{
		ID: c.ID, Name: c.Name, Type: pick(c.Public, "public", "confidential"), Admin: c.Admin,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		RequireMFA: c.RequireMFA, SigningAlgorithm: alg, AccessTokenFormat: format,
		Consent: c.Consent, GrantTypes: nonNil(c.GrantTypes), Disabled: c.Disabled,
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

// ClientSpec describes a client to register.
type ClientSpec struct {
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
	// client_credentials grant alone: it has no redirect URI, and
	// GrantTypes is client_credentials. (The CLI's --grant
	// client_credentials.)
	ClientCredentialsOnly bool `json:"-"`
	// GrantTypes are the grants the client may use (RFC 7591 §2):
	// authorization_code, refresh_token, client_credentials (confidential
	// clients only). Omitted, they are authorization_code and
	// refresh_token; for an admin client, client_credentials as well, or
	// client_credentials alone when it has no redirect URI.
	GrantTypes []string `json:"grant_types"`
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

// NewClientView is a registered client with its secret, shown once.
type NewClientView struct {
	ClientView
	Secret string `json:"client_secret,omitempty"`
}

// CreateClient validates spec and registers the client. The secret of a
// confidential client is returned once; only its hash is stored.
func (s *Service) CreateClient(ctx context.Context, spec ClientSpec) (*NewClientView, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return nil, Errorf(Invalid, "a name is required")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if spec.Admin && spec.Public {
		return nil, Errorf(Invalid, "an admin client must be confidential (it authenticates with its secret)")
	}
	if spec.ClientCredentialsOnly {
		if spec.Public {
			return nil, Errorf(Invalid, "a client_credentials client must be confidential (it authenticates with its secret)")
		}
		if len(spec.RedirectURIs) != 0 || len(spec.PostLogoutRedirectURIs) != 0 {
			return nil, Errorf(Invalid, "a client_credentials client has no redirect URIs")
		}
	}
	grants, err := createGrants(spec)
	if err != nil {
		return nil, err
	}
	if len(spec.RedirectURIs) == 0 && slices.Contains(grants, storage.GrantAuthorizationCode) {
		return nil, Errorf(Invalid, "at least one redirect URI is required (for the authorization_code grant; a client for client_credentials alone needs none)")
	}
	if err := CheckURIs(spec.RedirectURIs, spec.PostLogoutRedirectURIs, spec.Public); err != nil {
		return nil, err
	}
	if err := CheckBackchannelLogoutURI(spec.BackchannelLogoutURI); err != nil {
		return nil, err
	}
	alg := spec.SigningAlgorithm
	if alg == "" {
		alg = op.RS256
	}
	if !op.IsAlgorithm(alg) {
		return nil, Errorf(Invalid, "signing algorithm %q: must be RS256, ES256 or EdDSA", alg)
	}
	format := spec.AccessTokenFormat
	if format == "" {
		format = op.AccessTokenOpaque
	}
	if !op.IsAccessTokenFormat(format) {
		return nil, Errorf(Invalid, "access token format %q: must be opaque or jwt", format)
	}
	if spec.DPoPBoundAccessTokens && spec.Admin {
		// The admin API takes bearer tokens only.
		return nil, Errorf(Invalid, "an admin client cannot require DPoP-bound access tokens (the admin API accepts bearer tokens only)")
	}
	if format == op.AccessTokenJWT && spec.Admin {
		// The admin API reads opaque tokens only.
		return nil, Errorf(Invalid, "an admin client must use the opaque access token format (the admin API accepts opaque tokens only)")
	}
	method, jwks, jwksURI, err := checkClientAuth(spec.Public, spec.TokenEndpointAuthMethod, spec.JWKS, spec.JWKSURI)
	if err != nil {
		return nil, err
	}
	now := s.Now()
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
		GrantTypes:             grants,
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
	if err := s.Store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	if sealed != nil {
		if err := s.Store.SetClientJWTSecret(ctx, c.ID, sealed, now); err != nil {
			s.Store.DeleteClient(ctx, c.ID)
			return nil, fmt.Errorf("create client: %w", err)
		}
	}
	detail := ""
	if c.Admin {
		detail = "admin client"
	}
	s.audit(ctx, storage.EventClientCreated, "", c.ID, detail)
	return &NewClientView{ClientView: viewClient(c), Secret: secret}, nil
}

// createGrants returns the grant types of the client that spec
// registers, checked (CheckGrantTypes), or its defaults when spec names
// none.
func createGrants(spec ClientSpec) ([]string, error) {
	switch {
	case spec.ClientCredentialsOnly && spec.GrantTypes != nil && !slices.Equal(spec.GrantTypes, []string{storage.GrantClientCredentials}):
		return nil, Errorf(Invalid, "grant types %s contradict a client for client_credentials alone", strings.Join(spec.GrantTypes, ", "))
	case spec.ClientCredentialsOnly:
		return []string{storage.GrantClientCredentials}, nil
	case spec.GrantTypes != nil:
		grants, err := CheckGrantTypes(spec.GrantTypes, spec.Public)
		if err == nil && spec.Admin && !slices.Contains(grants, storage.GrantClientCredentials) {
			err = adminGrantError()
		}
		return grants, err
	case spec.Admin && len(spec.RedirectURIs) == 0:
		// An admin client obtains its tokens with client_credentials.
		return []string{storage.GrantClientCredentials}, nil
	case spec.Admin:
		return append(storage.DefaultGrantTypes(), storage.GrantClientCredentials), nil
	}
	return storage.DefaultGrantTypes(), nil
}

// adminGrantError refuses an admin client without client_credentials.
func adminGrantError() error {
	return Errorf(Invalid, "an admin client needs the client_credentials grant (it obtains its admin API tokens with it)")
}

// CheckGrantTypes checks the grant types of a client, public or not, and
// returns them without repetitions, in the order authorization_code,
// refresh_token, client_credentials: at least one, each of those three;
// client_credentials only for a confidential client (a public one has no
// secret to authenticate with); refresh_token only with
// authorization_code (refresh tokens are issued by code exchanges).
func CheckGrantTypes(grants []string, public bool) ([]string, error) {
	if len(grants) == 0 {
		return nil, Errorf(Invalid, "grant types: give at least one of authorization_code, refresh_token, client_credentials")
	}
	for _, g := range grants {
		if !op.IsGrantType(g) {
			return nil, Errorf(Invalid, "grant type %q: must be authorization_code, refresh_token or client_credentials", g)
		}
	}
	var out []string
	for _, g := range op.GrantTypes {
		if slices.Contains(grants, g) {
			out = append(out, g)
		}
	}
	switch {
	case public && slices.Contains(out, storage.GrantClientCredentials):
		return nil, Errorf(Invalid, "a public client cannot use the client_credentials grant (it has no secret to authenticate with); register a confidential client for it")
	case slices.Contains(out, storage.GrantRefreshToken) && !slices.Contains(out, storage.GrantAuthorizationCode):
		return nil, Errorf(Invalid, "the refresh_token grant needs authorization_code (refresh tokens are issued by code exchanges)")
	}
	return out, nil
}

// CheckURIs checks redirect and post-logout redirect URIs.
func CheckURIs(redirects, logouts []string, public bool) error {
	for _, u := range redirects {
		if err := checkRedirectURI(u, public); err != nil {
			return Errorf(Invalid, "redirect URI %s", err)
		}
	}
	for _, u := range logouts {
		if err := checkRedirectURI(u, public); err != nil {
			return Errorf(Invalid, "post-logout redirect URI %s", err)
		}
	}
	return nil
}

// checkRedirectURI enforces exact, safe redirect URIs: absolute, no
// fragment, no wildcard, https — or http only to a loopback host (RFC 8252)
// — and, for public native apps, a private-use scheme.
func checkRedirectURI(raw string, public bool) error {
	// A URI is ASCII without spaces (RFC 3986); non-ASCII is taken as an
	// IRI, but bytes that are not UTF-8 would be stored as U+FFFD, another
	// URI than the one given.
	if !utf8.ValidString(raw) {
		return fmt.Errorf("%q: must be UTF-8", raw)
	}
	if strings.ContainsFunc(raw, unicode.IsSpace) {
		return fmt.Errorf("%q: must not contain spaces (write them %%20)", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q: must be an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q: must not have a fragment", raw)
	}
	if strings.Contains(raw, "*") {
		return fmt.Errorf("%q: wildcards are not allowed", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: must not contain user information", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("%q: must have a host", raw)
		}
	case "http":
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
		default:
			return fmt.Errorf("%q: http is allowed only for loopback hosts; use https", raw)
		}
	default:
		if !public || !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("%q: scheme must be https (or a reverse-domain private scheme for public apps)", raw)
		}
	}
	return nil
}

// CheckBackchannelLogoutURI checks a back-channel logout URI ("" is none)
// like a confidential client's redirect URI: absolute, no fragment, https
// or http to a loopback host. Gatehouse posts to it from the server, so
// nothing else is allowed.
func CheckBackchannelLogoutURI(raw string) error {
	if raw == "" {
		return nil
	}
	if err := checkRedirectURI(raw, false); err != nil {
		return Errorf(Invalid, "back-channel logout URI %s", err)
	}
	return nil
}

// ListClients lists every client, oldest first.
func (s *Service) ListClients(ctx context.Context) ([]ClientView, error) {
	cs, err := s.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return views(cs, viewClient), nil
}

// clientWithID names the client id, for storeError.
func clientWithID(id string) string { return fmt.Sprintf("client with id %q", id) }

// changeableClient is client for a change: the account area's built-in
// client (login.AccountClientID) refuses every one, since Gatehouse's own
// sign-in depends on it as it is (serve puts it back at every start).
func (s *Service) changeableClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := builtInClient(id); err != nil {
		return nil, err
	}
	return s.client(ctx, id)
}

// builtInClient refuses to change or delete the client id if it is the
// account area's (login.AccountClientID).
func builtInClient(id string) error {
	if id == login.AccountClientID {
		return Errorf(Conflict, "client %s is built in (Gatehouse's own account sign-in): it cannot be changed or deleted", id)
	}
	return nil
}

func (s *Service) client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.Store.ClientByID(ctx, id)
	if err != nil {
		return nil, storeError(err, "load client", clientWithID(id))
	}
	return c, nil
}

// Client returns the client id.
func (s *Service) Client(ctx context.Context, id string) (*ClientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	v := viewClient(c)
	return &v, nil
}

// ClientURIs replaces a client's redirect URIs; a nil
// PostLogoutRedirectURIs keeps the current ones.
type ClientURIs struct {
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
}

// SetClientURIs replaces the client's redirect URIs (and, when given, its
// post-logout redirect URIs) after checking them like CreateClient does.
func (s *Service) SetClientURIs(ctx context.Context, id string, u ClientURIs) (*ClientView, error) {
	c, err := s.changeableClient(ctx, id)
	if err != nil {
		return nil, err
	}
	logouts := c.PostLogoutRedirectURIs
	if u.PostLogoutRedirectURIs != nil {
		logouts = *u.PostLogoutRedirectURIs
	}
	if len(u.RedirectURIs) == 0 && !c.Admin && c.AllowsGrant(storage.GrantAuthorizationCode) {
		return nil, Errorf(Invalid, "at least one redirect URI is required")
	}
	if err := CheckURIs(u.RedirectURIs, logouts, c.Public); err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.Store.SetClientURIs(ctx, id, nonNil(u.RedirectURIs), nonNil(logouts), now); err != nil {
		return nil, storeError(err, "update client", clientWithID(id))
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.UpdatedAt = nonNil(u.RedirectURIs), nonNil(logouts), now
	s.audit(ctx, storage.EventClientUpdated, "", id, "redirect URIs "+strings.Join(c.RedirectURIs, " "))
	v := viewClient(c)
	return &v, nil
}

// RotateSecret gives a confidential client a new secret, returned once;
// the old one stops working at once.
func (s *Service) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := s.changeableClient(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", Errorf(Conflict, "client %s is public and has no secret", id)
	}
	if c.TokenEndpointAuthMethod == op.AuthMethodPrivateKeyJWT {
		return "", Errorf(Conflict, "client %s authenticates with private_key_jwt and has no secret", id)
	}
	secret, sealed, err := s.newSecretFor(c.ID, c.TokenEndpointAuthMethod)
	if err != nil {
		return "", err
	}
	if sealed != nil {
		if err := s.Store.SetClientJWTSecret(ctx, c.ID, sealed, s.Now()); err != nil {
			return "", fmt.Errorf("rotate secret: %w", err)
		}
	}
	if err := s.Store.SetClientSecretHash(ctx, c.ID, op.HashClientSecret(secret), s.Now()); err != nil {
		return "", fmt.Errorf("rotate secret: %w", err)
	}
	s.audit(ctx, storage.EventClientSecretRotated, "", id, "")
	return secret, nil
}

// DeleteClient removes the client and every token issued to it.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if err := builtInClient(id); err != nil {
		return err
	}
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return storeError(err, "delete client", clientWithID(id))
	}
	s.audit(ctx, storage.EventClientDeleted, "", id, "")
	return nil
}

// SetClientDisabled disables the client id, which every protocol endpoint
// then refuses as if it did not exist and whose tokens are revoked, or
// enables it again.
func (s *Service) SetClientDisabled(ctx context.Context, id string, disabled bool) (*ClientView, error) {
	if err := builtInClient(id); err != nil {
		return nil, err
	}
	if err := s.Store.SetClientDisabled(ctx, id, disabled, s.Now()); err != nil {
		return nil, storeError(err, "set client disabled", clientWithID(id))
	}
	s.audit(ctx, pick(disabled, storage.EventClientDisabled, storage.EventClientEnabled), "", id, "")
	return s.Client(ctx, id)
}

// clientRoutes are the routes of /api/clients.
func (a *api) clientRoutes(r chi.Router) {
	r.Get("/api/clients", a.handle(listed("clients", (*Service).ListClients)))
	r.Post("/api/clients", a.handle(createClient))
	r.Get("/api/clients/{client_id}", a.handle(onParam("client_id", (*Service).Client)))
	r.Delete("/api/clients/{client_id}", a.handle(deleteClient))
	r.Patch("/api/clients/{client_id}/settings", a.handle(withBody("client_id", (*Service).SetClientSettings)))
	r.Put("/api/clients/{client_id}/redirect-uris", a.handle(withBody("client_id", setClientURIs)))
	r.Post("/api/clients/{client_id}/secret", a.handle(onParam("client_id", rotateSecret)))
	r.Put("/api/clients/{client_id}/authentication", a.handle(withBody("client_id", (*Service).SetClientAuth)))
	r.Post("/api/clients/{client_id}/disable", a.handle(onParam("client_id", setTo((*Service).SetClientDisabled, true))))
	r.Post("/api/clients/{client_id}/enable", a.handle(onParam("client_id", setTo((*Service).SetClientDisabled, false))))
}

func createClient(w http.ResponseWriter, r *http.Request, s *Service) error {
	var spec ClientSpec
	if err := decodeJSON(w, r, &spec); err != nil {
		return err
	}
	c, err := s.CreateClient(r.Context(), spec)
	if err != nil {
		return err
	}
	return created(w, "clients", c.ID, c)
}

func deleteClient(w http.ResponseWriter, r *http.Request, s *Service) error {
	id, err := param(r, "client_id")
	if err != nil {
		return err
	}
	if err := s.DeleteClient(r.Context(), id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setClientURIs is PUT /api/clients/{client_id}/redirect-uris, whose list
// replaces the current one and so must be there.
func setClientURIs(s *Service, ctx context.Context, id string, u ClientURIs) (*ClientView, error) {
	if u.RedirectURIs == nil {
		return nil, badRequest("redirect_uris is required (the list replaces the current one)")
	}
	return s.SetClientURIs(ctx, id, u)
}

// rotateSecret is POST /api/clients/{client_id}/secret.
func rotateSecret(s *Service, ctx context.Context, id string) (map[string]string, error) {
	secret, err := s.RotateSecret(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]string{"client_id": id, "client_secret": secret}, nil
}
