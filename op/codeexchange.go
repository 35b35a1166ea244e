package op

import (
	"context"
	"errors"
	"log/slog"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file checks a code exchange's code_verifier and redirect_uri before
// the code is used. zitadel checks them after Storage.AuthRequestByCode,
// which uses the code: a refused exchange would have used it up, and the
// client's right exchange would then have been taken for a replay, which
// revokes the grant. Whoever saw a code could so deny its sign-in, with a
// public client's id, which is no secret, or with a wrong verifier of
// their own.

// codeExchangeKey carries the parameters of a code exchange that zitadel
// checks against the code's request (exchangeParams).
type codeExchangeKey struct{}

// exchangeParams are the code_verifier and redirect_uri of a code
// exchange, as zitadel reads them: the last value of each in the request's
// form (its decoder keeps the last of repeated values).
type exchangeParams struct {
	verifier, redirectURI string
}

// withCodeExchange keeps the code exchange's parameters of form, the
// token request's parsed form, in ctx.
func withCodeExchange(ctx context.Context, form url.Values) context.Context {
	return context.WithValue(ctx, codeExchangeKey{}, exchangeParams{
		verifier:    lastValue(form, "code_verifier"),
		redirectURI: lastValue(form, "redirect_uri"),
	})
}

func lastValue(form url.Values, key string) string {
	if v := form[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// errExchangeRefused stops a code's use that zitadel will refuse
// (exchangeRefusal).
var errExchangeRefused = errors.New("op: the code exchange will be refused")

// exchangeRefusal returns what zitadel will refuse in the exchange of ar's
// code once AuthRequestByCode has returned ar, or nil. It runs zitadel's
// own checks, in its order, on the same values: the code_verifier
// (AuthorizeCodeChallenge), PKCE for a client without authentication
// (AuthorizeCodeClient), the client's authorization_code grant and the
// redirect_uri (ValidateAccessTokenRequest).
// A request without the exchange's parameters (none recorded) is not
// judged here.
func (s *Storage) exchangeRefusal(ctx context.Context, ar *storage.AuthRequest) error {
	p, ok := ctx.Value(codeExchangeKey{}).(exchangeParams)
	if !ok {
		return nil
	}
	challenge := authRequest{r: ar}.GetCodeChallenge()
	if err := zop.AuthorizeCodeChallenge(p.verifier, challenge); err != nil {
		return err
	}
	c, err := s.store.ClientByID(ctx, ar.ClientID) // the request's memo has it
	if err != nil {
		return nil // zitadel's own read answers
	}
	if challenge == nil && s.zopClient(c).AuthMethod() == oidc.AuthMethodNone {
		return oidc.ErrInvalidRequest().WithDescription("PKCE required")
	}
	if !c.AllowsGrant(storage.GrantAuthorizationCode) {
		// Its grants changed since the code was issued.
		return oidc.ErrUnauthorizedClient().WithDescription("client missing grant type " + storage.GrantAuthorizationCode)
	}
	if p.redirectURI != ar.RedirectURI {
		return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not correspond")
	}
	return nil
}

// issuable refuses to issue a token from the request of a code that was
// not used (exchangeRefusal): zitadel was to refuse its exchange before it
// asked for one.
func issuable(ctx context.Context, req zop.TokenRequest) error {
	if r, ok := req.(authRequest); ok && r.unused {
		slog.ErrorContext(ctx, "a token was asked for a code exchange that was to be refused; none issued", "client_id", r.r.ClientID)
		return oidc.ErrServerError()
	}
	return nil
}
