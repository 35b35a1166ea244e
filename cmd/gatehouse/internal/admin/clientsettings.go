package admin

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds a client's settings beyond its redirect URIs and its
// authentication: pushed authorization requests (RFC 9126 §6), consent for
// third-party clients, DPoP-bound access tokens (RFC 9449 §5.2), the
// back-channel logout URI, the second factor it requires, its signing
// algorithm, its access token format and its grant types. The CLI's clients update and the admin API's
// PATCH /api/clients/{client_id}/settings change them.

// ClientSettings changes a client's settings; a nil field keeps the
// current value.
type ClientSettings struct {
	RequirePAR            *bool   `json:"require_pushed_authorization_requests"`
	Consent               *bool   `json:"consent"`
	DPoPBoundAccessTokens *bool   `json:"dpop_bound_access_tokens"`
	BackchannelLogoutURI  *string `json:"backchannel_logout_uri"`
	RequireMFA            *bool   `json:"require_mfa"`
	SigningAlgorithm      *string `json:"signing_algorithm"`
	AccessTokenFormat     *string `json:"access_token_format"`
	// GrantTypes replaces the grants the client may use
	// (CheckGrantTypes).
	GrantTypes *[]string `json:"grant_types"`
}

// Empty reports whether set changes nothing.
func (set ClientSettings) Empty() bool {
	return set.RequirePAR == nil && set.Consent == nil && set.DPoPBoundAccessTokens == nil && set.BackchannelLogoutURI == nil &&
		set.RequireMFA == nil && set.SigningAlgorithm == nil && set.AccessTokenFormat == nil && set.GrantTypes == nil
}

// SetClientSettings changes, in one write, the settings that set gives.
func (s *Service) SetClientSettings(ctx context.Context, id string, set ClientSettings) (*ClientView, error) {
	c, err := s.changeableClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if set.Empty() {
		return nil, Errorf(Invalid, "give at least one setting: require_pushed_authorization_requests, consent, dpop_bound_access_tokens, backchannel_logout_uri, require_mfa, signing_algorithm, access_token_format or grant_types")
	}
	var changes []string
	if v := set.RequirePAR; v != nil {
		c.RequirePAR = *v
		changes = append(changes, "require_pushed_authorization_requests "+strconv.FormatBool(*v))
	}
	if v := set.Consent; v != nil {
		c.Consent = *v
		changes = append(changes, "consent "+pick(*v, "on", "off"))
	}
	if v := set.DPoPBoundAccessTokens; v != nil {
		if *v && c.Admin {
			return nil, Errorf(Invalid, "an admin client cannot require DPoP-bound access tokens (the admin API accepts bearer tokens only)")
		}
		c.DPoPBoundAccessTokens = *v
		changes = append(changes, "DPoP-bound access tokens "+pick(*v, "on", "off"))
	}
	if v := set.BackchannelLogoutURI; v != nil {
		if err := CheckBackchannelLogoutURI(*v); err != nil {
			return nil, err
		}
		c.BackchannelLogoutURI = *v
		changes = append(changes, "back-channel logout URI "+*v)
	}
	if v := set.RequireMFA; v != nil {
		c.RequireMFA = *v
		changes = append(changes, "require MFA "+pick(*v, "on", "off"))
	}
	if v := set.SigningAlgorithm; v != nil {
		if !op.IsAlgorithm(*v) {
			return nil, Errorf(Invalid, "signing algorithm %q: must be RS256, ES256 or EdDSA", *v)
		}
		c.SigningAlgorithm = *v
		changes = append(changes, "signing algorithm "+*v)
	}
	if v := set.AccessTokenFormat; v != nil {
		if !op.IsAccessTokenFormat(*v) {
			return nil, Errorf(Invalid, "access token format %q: must be opaque or jwt", *v)
		}
		if *v == op.AccessTokenJWT && c.Admin {
			return nil, Errorf(Invalid, "an admin client must use the opaque access token format (the admin API accepts opaque tokens only)")
		}
		c.AccessTokenFormat = *v
		changes = append(changes, "access token format "+*v)
	}
	if v := set.GrantTypes; v != nil {
		grants, err := CheckGrantTypes(*v, c.Public)
		if err != nil {
			return nil, err
		}
		if c.Admin && !slices.Contains(grants, storage.GrantClientCredentials) {
			return nil, adminGrantError()
		}
		if slices.Contains(grants, storage.GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
			return nil, Errorf(Invalid, "the authorization_code grant needs a redirect URI: set the client's redirect URIs first")
		}
		c.GrantTypes = grants
		changes = append(changes, "grant types "+strings.Join(grants, " "))
	}
	now := s.Now()
	if err := s.Store.SetClientMetadata(ctx, c, now); err != nil {
		return nil, storeError(err, "update client", clientWithID(id))
	}
	c.UpdatedAt = now
	s.audit(ctx, storage.EventClientUpdated, "", id, strings.Join(changes, ", "))
	v := viewClient(c)
	return &v, nil
}
