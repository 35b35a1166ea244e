package op

import (
	"context"
	"errors"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ValidateEndSession parses and validates an end_session request as
// zitadel's end_session endpoint does — the hint's signature and issuer,
// the client, the post_logout_redirect_uri — and ends nothing. The hint
// must also be an ID token (OpenID RP-Initiated Logout §2): another JWT
// this provider signed is refused as an invalid hint (idTokenKeySet). The error
// is an *oidc.Error; a database failure is recorded in the context of
// TrackFaults.
func (p *Provider) ValidateEndSession(r *http.Request) (*storage.LogoutRequest, error) {
	r = r.WithContext(zop.ContextWithIssuer(r.Context(), p.storage.cfg.Issuer))
	req, err := zop.ParseEndSessionRequest(r, p.zp.Decoder())
	if err != nil {
		return nil, err
	}
	// zitadel's decoder keeps one of a repeated parameter's values; the
	// request is refused as /authorize refuses its own (RFC 6749 §3.1).
	// r.Form holds the query and a POSTed body together.
	if name := RepeatedParameter(r.Form); name != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("the parameter %s is included more than once", name)
	}
	s, err := zop.ValidateEndSessionRequest(r.Context(), req, p.zp)
	if err != nil {
		return nil, err
	}
	es := &storage.LogoutRequest{Subject: s.UserID, ClientID: s.ClientID, State: req.State, RedirectURI: s.RedirectURI}
	if c := s.IDTokenHintClaims; c != nil && c.AuthTime != 0 {
		es.AuthTime = c.AuthTime.AsTime()
	}
	if s.ClientID != "" {
		// ValidateEndSessionRequest accepted it for this client.
		es.PostLogoutRedirectURI = req.PostLogoutRedirectURI
	}
	return es, nil
}

// idTokenHeaderType is the typ header of the ID tokens zitadel signs
// (SignerFromKey); JWT access tokens carry accessTokenType and logout
// tokens LogoutTokenType.
const idTokenHeaderType = "JWT"

// errNotIDToken refuses an id_token_hint that is another JWT of this
// provider's.
var errNotIDToken = errors.New("op: the id_token_hint is not an ID token (its typ header)")

// idTokenKeySet is the key set of id_token_hint verification, at
// /authorize, in pushed requests and at end_session: zitadel checks a
// hint's issuer and signature, which a JWT access token or a logout
// token of this provider passes too. It verifies only a JWS whose typ is
// the ID tokens' (media type names are case-insensitive, RFC 7515
// §4.1.9); anything else fails as a bad signature does, so the hint gets
// the answer of an invalid one (OpenID RP-Initiated Logout §2, OpenID
// Connect Core §3.1.2.1: the hint is an ID token).
type idTokenKeySet struct{ oidc.KeySet }

func (k idTokenKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	for _, sig := range jws.Signatures {
		typ, _ := sig.Protected.ExtraHeaders[jose.HeaderType].(string)
		if !strings.EqualFold(typ, idTokenHeaderType) {
			return nil, errNotIDToken
		}
	}
	return k.KeySet.VerifySignature(ctx, jws)
}

// idTokenHintsOnly makes the id_token_hint verifier's key set an
// idTokenKeySet.
func idTokenHintsOnly(v *zop.IDTokenHintVerifier) {
	v.KeySet = idTokenKeySet{v.KeySet}
}
