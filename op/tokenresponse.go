package op

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// tokenExchanges answers the token endpoint's authorization_code and
// refresh_token grants as zitadel's CodeExchange and RefreshTokenExchange
// do, step by step and through the same functions (the request's parsing,
// its validation with the client's and the code's or refresh token's
// checks, the access and refresh tokens' creation, its errors), but for
// the ID token and what zitadel's router puts around them (its router, the
// interceptor that puts the issuer in the context, the tracing spans).
//
// zitadel's CreateIDToken marshals the claims beyond its struct's fields,
// Gatehouse's sid and a refresh's acr, by encoding the struct, decoding it
// into a map, merging and encoding again: a fifth of a code exchange's CPU
// went to the ID token. idToken sets both in the struct, which is encoded
// once, to the same claims (TestTokenExchangesAnswerAsZitadel). An answer
// to a grant without the openid scope has no ID token (OIDC Core
// §3.1.2.1: such a request is OAuth 2.0), which is then not signed at all;
// Userinfo refuses such a grant's access token.
//
// zitadel answers the token endpoint's other grant, client_credentials,
// which has no ID token.
//
// The CORS policy is the one zitadel's router applies. The wrappers
// before it are kept: client authentication (clientAuth), DPoP (dpop), the
// client's checks (tokenClient).
func (p *Provider) tokenExchanges(next http.Handler) http.Handler {
	exchange := p.cors.Handler(http.HandlerFunc(p.exchange))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" && r.Method == http.MethodPost {
			switch gt := r.FormValue("grant_type"); {
			case gt == string(oidc.GrantTypeCode),
				gt == string(oidc.GrantTypeRefreshToken) && p.zp.GrantTypeRefreshTokenSupported():
				routed(r, "/oauth/token")
				exchange.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// exchange answers a code or refresh token exchange.
func (p *Provider) exchange(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(zop.ContextWithIssuer(r.Context(), p.issuer()))
	var (
		resp *oidc.AccessTokenResponse
		err  error
	)
	if r.FormValue("grant_type") == string(oidc.GrantTypeCode) {
		resp, err = p.codeExchange(r)
	} else {
		resp, err = p.refreshExchange(r)
	}
	if err != nil {
		zop.RequestError(w, r, err, nil)
		return
	}
	httphelper.MarshalJSON(w, resp)
}

// codeExchange is zitadel's CodeExchange up to its answer.
func (p *Provider) codeExchange(r *http.Request) (*oidc.AccessTokenResponse, error) {
	req, err := zop.ParseAccessTokenRequest(r, p.zp.Decoder())
	if err != nil {
		return nil, err
	}
	if req.Code == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("code missing")
	}
	ar, client, err := zop.ValidateAccessTokenRequest(r.Context(), req, p.zp)
	if err != nil {
		return nil, err
	}
	return p.tokenResponse(r.Context(), ar, client, req.Code, "")
}

// refreshExchange is zitadel's RefreshTokenExchange up to its answer.
func (p *Provider) refreshExchange(r *http.Request) (*oidc.AccessTokenResponse, error) {
	req, err := zop.ParseRefreshTokenRequest(r, p.zp.Decoder())
	if err != nil {
		return nil, err
	}
	validated, client, err := zop.ValidateRefreshTokenRequest(r.Context(), req, p.zp)
	if err != nil {
		return nil, err
	}
	return p.tokenResponse(r.Context(), validated, client, "", req.RefreshToken)
}

// tokenResponse is zitadel's CreateTokenResponse for a code (code) or a
// refresh token (refreshToken) exchange, with Gatehouse's ID token.
func (p *Provider) tokenResponse(ctx context.Context, req zop.IDTokenRequest, client zop.Client, code, refreshToken string) (*oidc.AccessTokenResponse, error) {
	accessToken, newRefreshToken, validity, err := zop.CreateAccessToken(ctx, req, client.AccessTokenType(), p.zp, client, refreshToken)
	if err != nil {
		return nil, err
	}
	var idToken string
	if slices.Contains(req.GetScopes(), oidc.ScopeOpenID) {
		if idToken, err = p.idToken(ctx, req, client, accessToken, code); err != nil {
			return nil, err
		}
	}
	if ar, ok := req.(zop.AuthRequest); ok {
		if err := p.storage.DeleteAuthRequest(ctx, ar.GetID()); err != nil {
			return nil, err
		}
	}
	return &oidc.AccessTokenResponse{
		AccessToken:  accessToken,
		IDToken:      idToken,
		RefreshToken: newRefreshToken,
		TokenType:    oidc.BearerToken,
		ExpiresIn:    uint64(validity.Seconds()),
		Scope:        req.GetScopes(),
	}, nil
}

// idToken is zitadel's CreateIDToken for the requests of Gatehouse's
// grants, with sid and a refresh's acr in the claims' struct.
func (p *Provider) idToken(ctx context.Context, req zop.IDTokenRequest, client zop.Client, accessToken, code string) (string, error) {
	exp := time.Now().UTC().Add(client.ClockSkew()).Add(client.IDTokenLifetime())
	var acr, nonce string
	if ar, ok := req.(zop.AuthRequest); ok {
		acr, nonce = ar.GetACR(), ar.GetNonce()
	}
	claims := oidc.NewIDTokenClaims(p.issuer(), req.GetSubject(), req.GetAudience(), exp, req.GetAuthTime(), nonce, acr,
		req.GetAMR(), req.GetClientID(), client.ClockSkew())
	scopes := client.RestrictAdditionalIdTokenScopes()(req.GetScopes())
	key, err := p.storage.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	alg := key.SignatureAlgorithm()
	if accessToken != "" {
		if claims.AccessTokenHash, err = oidc.ClaimHash(accessToken, alg); err != nil {
			return "", err
		}
		if !client.IDTokenUserinfoClaimsAssertion() {
			scopes = slices.DeleteFunc(slices.Clone(scopes), userinfoScope)
		}
	}
	if len(scopes) > 0 {
		ui := new(oidc.UserInfo)
		sid, refreshACR, err := p.storage.idTokenUserinfo(ctx, ui, req, scopes)
		if err != nil {
			return "", err
		}
		claims.SetUserInfo(ui)
		claims.SessionID = sid
		if refreshACR != "" {
			claims.AuthenticationContextClassReference = refreshACR
		}
	}
	if code != "" {
		if claims.CodeHash, err = oidc.ClaimHash(code, alg); err != nil {
			return "", err
		}
	}
	signer, err := zop.SignerFromKey(key)
	if err != nil {
		return "", err
	}
	return crypto.Sign(claims, signer)
}

// userinfoScope reports the scopes whose claims zitadel leaves out of an
// ID token issued with an access token, unless the client asks for them
// there (Client.IDTokenUserinfoClaimsAssertion).
func userinfoScope(scope string) bool {
	switch scope {
	case oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeAddress, oidc.ScopePhone:
		return true
	}
	return false
}

// routed records pattern as the route that answered r, as zitadel's router
// does, for the router that mounted the provider (its metrics label
// requests by route): the endpoints answered ahead of zitadel's router
// pass it by.
func routed(r *http.Request, pattern string) {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		rctx.RoutePatterns = append(rctx.RoutePatterns, pattern)
	}
}
