package op

import (
	"log/slog"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// authRequest adapts storage.AuthRequest to zop.AuthRequest.
type authRequest struct {
	r *storage.AuthRequest
	// token is the access token created with the code's use, for the
	// exchange to hand out (nil outside a code exchange); refresh is the
	// value of the refresh token created with it, if any.
	token   *storage.AccessToken
	refresh string
	// unused marks the request of a code whose exchange zitadel will
	// refuse, handed to it without the code's use (codeexchange.go):
	// nothing may be issued from it.
	unused bool
}

func (a authRequest) GetID() string          { return a.r.ID }
func (a authRequest) GetACR() string         { return a.r.ACR }
func (a authRequest) GetAMR() []string       { return a.r.AMR }
func (a authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a authRequest) GetAuthTime() time.Time { return a.r.AuthTime }
func (a authRequest) GetClientID() string    { return a.r.ClientID }
func (a authRequest) GetNonce() string       { return a.r.Nonce }
func (a authRequest) GetRedirectURI() string { return a.r.RedirectURI }
func (a authRequest) GetScopes() []string    { return a.r.Scopes }
func (a authRequest) GetState() string       { return a.r.State }
func (a authRequest) GetSubject() string     { return a.r.UserID }
func (a authRequest) Done() bool             { return a.r.Done }
func (a authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.ResponseType)
}

// GetResponseMode is the request's response_mode, but form_post reads as
// query: zitadel then redirects, and formPosts turns the redirect, with the
// issuer in it, into the form_post page (formpost.go).
func (a authRequest) GetResponseMode() oidc.ResponseMode {
	if a.r.ResponseMode == ResponseModeFormPost {
		return oidc.ResponseModeQuery
	}
	return oidc.ResponseMode(a.r.ResponseMode)
}

func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}

// LogValue logs the request without its state, nonce or challenge.
func (a authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.r.ID), slog.String("client_id", a.r.ClientID), slog.Bool("done", a.r.Done))
}

// refreshRequest adapts a stored refresh token to zop.RefreshTokenRequest.
type refreshRequest struct {
	t      *storage.RefreshToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string       { return r.t.Audience }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// clientCredentialsRequest is the token request of the client_credentials
// grant: the client acts on its own behalf.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (c clientCredentialsRequest) GetSubject() string    { return c.clientID }
func (c clientCredentialsRequest) GetAudience() []string { return []string{c.clientID} }
func (c clientCredentialsRequest) GetScopes() []string   { return c.scopes }
