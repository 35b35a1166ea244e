package main

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// logoutValidator validates end_session requests with the provider
// (zitadel's own checks of the id_token_hint, the client and the
// post_logout_redirect_uri) for the login's logout pages. What the
// provider refuses is login.ErrLogoutRefused, unless the database failed.
func logoutValidator(p *op.Provider) login.LogoutValidator {
	return func(r *http.Request) (*storage.LogoutRequest, error) {
		ctx, faulted := op.TrackFaults(r.Context())
		es, err := p.ValidateEndSession(r.WithContext(ctx))
		switch {
		case err != nil && faulted.Load():
			return nil, fmt.Errorf("end_session: %w", err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", login.ErrLogoutRefused, err)
		}
		return es, nil
	}
}
