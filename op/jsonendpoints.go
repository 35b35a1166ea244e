package op

import (
	"context"
	"errors"
	"net/http"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// jsonEndpoints answers introspection (RFC 7662) and userinfo (OpenID
// Connect Core §5.3) itself, as zitadel's Introspect and Userinfo do, step
// by step and with the same answers, but without what zitadel's router
// puts around them: its router and the interceptor that puts the issuer in
// the context, a tracing span per step, and the form decoder that fills a
// struct by reflection only for one string to be read out of it. Those
// cost as much as the rest of a request that the client cache and the
// signature cache have left with one statement. The CORS policy is the
// one zitadel's router applies. The wrappers before it are kept: client
// authentication (clientAuth), DPoP (dpop), the userinfo endpoint's
// Bearer challenges (bearerErrors).
//
// An introspection request reaches zitadel as before unless a
// confidential client authenticated for it (clientAuth), for which
// zitadel's ClientIDFromRequest could only accept it
// (Storage.AuthorizeClientIDSecret): a public client's refusal is
// zitadel's to answer, in its words.
func (p *Provider) jsonEndpoints(next http.Handler) http.Handler {
	introspect := p.cors.Handler(http.HandlerFunc(p.introspect))
	userinfo := p.cors.Handler(http.HandlerFunc(p.userinfo))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == IntrospectionPath && r.Method == http.MethodPost && p.confidentialAuthenticated(r):
			routed(r, IntrospectionPath)
			introspect.ServeHTTP(w, r)
		case r.URL.Path == UserinfoPath && r.Method != http.MethodOptions:
			routed(r, UserinfoPath)
			userinfo.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// confidentialAuthenticated reports whether clientAuth authenticated a
// confidential client for r, its form parsed.
func (p *Provider) confidentialAuthenticated(r *http.Request) bool {
	return confidentialClient(r.Context()) != "" && r.Form != nil
}

// introspect answers an introspection request of the confidential client
// clientAuth authenticated, as zitadel's Introspect does: active with the
// token's facts when the token is live and the client may know them
// (Storage.accessIntrospection, which zitadel's SetIntrospectionFromToken
// reads too), {"active":false} for anything else. The token may also be a
// refresh token (RFC 7662 §2.1), which zitadel does not look for: one that
// is not an access token of this provider is looked up as a refresh token
// (Storage.refreshIntrospection), whatever token_type_hint says, since the
// hint is only a hint.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	clientID := authenticatedClient(ctx)
	token := r.Form.Get("token")
	var live *introspected // nil: inactive
	if id, subject, ok := p.tokenIDAndSubject(ctx, token); ok {
		live, _ = p.storage.accessIntrospection(ctx, token, id, subject, clientID)
	} else if token != "" {
		live, _ = p.storage.refreshIntrospection(ctx, token, clientID)
	}
	if faulted(ctx) {
		// The database failed: the token's state is unknown, and
		// {"active":false} would make the resource server drop a token
		// that may be good. An error status, which the server's
		// protocolFaults turns into its 503.
		writeJSONError(w, http.StatusServiceUnavailable, "server_error", UnavailableDescription)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	w.Write(live.appendJSON(make([]byte, 0, 512)))
}

// jsonContentType is the Content-Type of the JSON answers, as zitadel
// sets it.
var jsonContentType = []string{"application/json"}

// userinfo answers a userinfo request as zitadel's Userinfo does: the
// access token from the Authorization header's Bearer scheme, else from
// the form's access_token; 401 for a token that is not one of this
// provider's, 403 for one whose record refuses it (bearerErrors turns
// both into Bearer challenges).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := zop.ContextWithIssuer(r.Context(), p.issuer())
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		// OpenID Connect Core §5.3.1: GET and POST.
		w.Header().Set("Allow", "GET, POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "the userinfo endpoint accepts GET and POST requests only")
		return
	}
	if userinfoTokens(r) > 1 {
		// RFC 6750 §2 and §3.1: one method, and one token.
		const description = "send the access token once, in the Authorization header, the form body or the query"
		w.Header().Set("WWW-Authenticate", resourceChallenge(r, "invalid_request", description))
		writeJSONError(w, http.StatusBadRequest, "invalid_request", description)
		return
	}
	token, err := userinfoToken(r)
	if err != nil {
		http.Error(w, "access token missing", http.StatusUnauthorized)
		return
	}
	id, subject, ok := p.tokenIDAndSubject(ctx, token)
	if !ok {
		http.Error(w, "access token invalid", http.StatusUnauthorized)
		return
	}
	info := new(oidc.UserInfo)
	if err := p.storage.SetUserinfoFromToken(ctx, info, id, subject, r.Header.Get("origin")); err != nil {
		if errors.Is(err, errNoOpenID) {
			const description = "the access token lacks the openid scope"
			w.Header().Set("WWW-Authenticate", resourceChallenge(r, "insufficient_scope", description)+`, scope="openid"`)
			writeJSONError(w, http.StatusForbidden, "insufficient_scope", description)
			return
		}
		httphelper.MarshalJSONWithStatus(w, err, http.StatusForbidden)
		return
	}
	httphelper.MarshalJSON(w, info)
}

// userinfoToken returns the access token of a userinfo request, as
// zitadel's ParseUserinfoRequest finds it.
func userinfoToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if len(h) >= len(oidc.PrefixBearer) && strings.EqualFold(h[:len(oidc.PrefixBearer)], oidc.PrefixBearer) {
		return h[len(oidc.PrefixBearer):], nil
	}
	if err := r.ParseForm(); err != nil {
		return "", errors.New("unable to parse request")
	}
	return r.Form.Get("access_token"), nil
}

// resourceChallenge is the WWW-Authenticate value of a userinfo refusal
// with code and description: of the DPoP scheme when the request used it
// with a valid proof (dpopResource), else of the Bearer scheme.
func resourceChallenge(r *http.Request, code, description string) string {
	if use, _ := r.Context().Value(dpopUseKey{}).(*dpopUse); use != nil && use.jkt != "" {
		return dpopChallenge(code, description)
	}
	return `Bearer error="` + code + `", error_description="` + description + `"`
}

// userinfoTokens counts the access tokens a userinfo request carries: in
// the Authorization header (the Bearer scheme, which dpopResource makes of
// DPoP), and each non-empty access_token of the form body and the query.
func userinfoTokens(r *http.Request) int {
	n := 0
	h := r.Header.Get("Authorization")
	if len(h) >= len(oidc.PrefixBearer) && strings.EqualFold(h[:len(oidc.PrefixBearer)], oidc.PrefixBearer) {
		n++
	}
	if r.ParseForm() != nil {
		return n // userinfoToken reports the malformed body
	}
	for _, v := range append(r.PostForm["access_token"], r.URL.Query()["access_token"]...) {
		if v != "" {
			n++
		}
	}
	return n
}

// tokenIDAndSubject returns the id and subject of an access token, as
// zitadel's getTokenIDAndSubject does: what the token sealed (an opaque
// token, or a JWT the signature cache knows), else the claims of a JWT
// that verifies.
func (p *Provider) tokenIDAndSubject(ctx context.Context, token string) (id, subject string, ok bool) {
	if p.verified != nil && strings.Count(token, ".") == 2 {
		// What Decrypt answers first, without its "id:subject".
		if id, subject, ok := p.verified.idAndSubject(token); ok {
			return id, subject, true
		}
	}
	if plain, err := p.sealer.Decrypt(token); err == nil {
		parts := strings.Split(plain, ":")
		if len(parts) != 2 {
			return "", "", false
		}
		return parts[0], parts[1], true
	}
	ctx = zop.ContextWithIssuer(ctx, p.issuer())
	claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.zp.AccessTokenVerifier(ctx))
	if err != nil {
		return "", "", false
	}
	return claims.JWTID, claims.Subject, true
}
