package op

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ValidateEndSession parses and validates an end_session request as
// zitadel's end_session endpoint does — the hint's signature and issuer,
// the client, the post_logout_redirect_uri — and ends nothing. The hint
// must also be an ID token (OpenID RP-Initiated Logout §2): another JWT
// this provider signed is refused as an invalid hint. The error
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
	// zitadel checks the hint's issuer and signature, which a JWT access
	// token or a logout token of this provider passes too: one whose typ
	// is not the ID tokens' is refused as an invalid hint is. (Media type
	// names are case-insensitive, RFC 7515 §4.1.9.)
	if typ, ok := headerType(req.IdTokenHint); ok && !strings.EqualFold(typ, idTokenHeaderType) {
		return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint invalid").
			WithParent(errors.New("the hint is not an ID token (its typ header)"))
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
// tokens LogoutTokenType. The typ of a hint is read, not checked: its
// signature is zitadel's to check.
const idTokenHeaderType = "JWT"

// headerType returns the typ header of the compact JWS token; false when
// token is not one whose header can be read (zitadel refuses it).
func headerType(token string) (string, bool) {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return "", false
	}
	var h struct {
		Type string `json:"typ"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return "", false
	}
	return h.Type, true
}
