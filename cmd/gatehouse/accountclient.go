package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// ensureAccountClient registers the account area's built-in client
// (login.AccountClient: public, first-party, its redirect URI the issuer's
// /account/callback), or puts it back as it should be. Every replica runs
// it at start; it is idempotent, and two replicas starting together agree
// (the loser of the insert reads the winner's row). The admin service
// refuses to change or delete the client, so only a hand-edited database
// or a new issuer makes it differ.
func ensureAccountClient(ctx context.Context, store storage.ClientStore, issuer string, now time.Time) error {
	want := login.AccountClient(issuer, now)
	for range 2 {
		have, err := store.ClientByID(ctx, want.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			err = store.CreateClient(ctx, want)
			if errors.Is(err, storage.ErrConflict) {
				continue // another replica created it: check that one
			}
			if err != nil {
				return fmt.Errorf("create the account client: %w", err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("load the account client: %w", err)
		case accountClientDrifted(have, want):
			// Settings no admin command changes: start it over (its
			// pending sign-ins and codes go with it).
			if err := store.DeleteClient(ctx, want.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("reset the account client: %w", err)
			}
			continue
		}
		if !slices.Equal(have.RedirectURIs, want.RedirectURIs) || len(have.PostLogoutRedirectURIs) != 0 {
			if err := store.SetClientURIs(ctx, want.ID, want.RedirectURIs, want.PostLogoutRedirectURIs, now); err != nil {
				return fmt.Errorf("update the account client: %w", err)
			}
		}
		if have.TokenEndpointAuthMethod != want.TokenEndpointAuthMethod || have.JWKS != "" || have.JWKSURI != "" ||
			have.RequirePAR || have.BackchannelLogoutURI != "" || have.Consent || have.DPoPBoundAccessTokens ||
			!slices.Equal(have.GrantTypes, want.GrantTypes) {
			if err := store.SetClientMetadata(ctx, want, now); err != nil {
				return fmt.Errorf("update the account client: %w", err)
			}
		}
		return nil
	}
	return errors.New("the account client keeps changing under this replica")
}

// accountClientDrifted reports whether have differs from want in its kind
// (public, without a secret, not an admin API client) or its token
// settings: it is then created again rather than updated.
func accountClientDrifted(have, want *storage.Client) bool {
	return have.Public != want.Public || have.SecretHash != nil || have.RequireMFA || have.Admin ||
		have.SigningAlgorithm != want.SigningAlgorithm || have.AccessTokenFormat != want.AccessTokenFormat
}
