package op

import (
	"net/http"
	"time"

	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// EndSession is a validated RP-initiated logout request (OpenID
// RP-Initiated Logout 1.0 §2).
type EndSession struct {
	// Subject is the user the id_token_hint names, or "" without a hint.
	// An expired hint still names its user, as the specification allows.
	Subject string
	// AuthTime is the hint's auth_time: the sign-in it was issued for. Zero
	// without a hint, or with a hint that has none.
	AuthTime time.Time
	// ClientID is the client the hint (its azp) or client_id names, or "".
	ClientID string
	// PostLogoutRedirectURI is the post_logout_redirect_uri when it is
	// registered for ClientID, else "".
	PostLogoutRedirectURI string
	State                 string
	// RedirectURI is where the browser goes once signed out:
	// PostLogoutRedirectURI, or the signed-out page, with State.
	RedirectURI string
}

// ValidateEndSession parses and validates an end_session request exactly
// as zitadel's end_session endpoint does — the hint's signature and issuer,
// the client, the post_logout_redirect_uri — and ends nothing. The error
// is an *oidc.Error; a database failure is recorded in the context of
// TrackFaults.
func (p *Provider) ValidateEndSession(r *http.Request) (*EndSession, error) {
	r = r.WithContext(zop.ContextWithIssuer(r.Context(), p.storage.cfg.Issuer))
	req, err := zop.ParseEndSessionRequest(r, p.zp.Decoder())
	if err != nil {
		return nil, err
	}
	s, err := zop.ValidateEndSessionRequest(r.Context(), req, p.zp)
	if err != nil {
		return nil, err
	}
	es := &EndSession{Subject: s.UserID, ClientID: s.ClientID, State: req.State, RedirectURI: s.RedirectURI}
	if c := s.IDTokenHintClaims; c != nil && c.AuthTime != 0 {
		es.AuthTime = c.AuthTime.AsTime()
	}
	if s.ClientID != "" {
		// ValidateEndSessionRequest accepted it for this client.
		es.PostLogoutRedirectURI = req.PostLogoutRedirectURI
	}
	return es, nil
}
