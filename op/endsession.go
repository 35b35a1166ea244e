package op

import (
	"net/http"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ValidateEndSession parses and validates an end_session request exactly
// as zitadel's end_session endpoint does — the hint's signature and issuer,
// the client, the post_logout_redirect_uri — and ends nothing. The error
// is an *oidc.Error; a database failure is recorded in the context of
// TrackFaults.
func (p *Provider) ValidateEndSession(r *http.Request) (*storage.LogoutRequest, error) {
	r = r.WithContext(zop.ContextWithIssuer(r.Context(), p.storage.cfg.Issuer))
	req, err := zop.ParseEndSessionRequest(r, p.zp.Decoder())
	if err != nil {
		return nil, err
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
