package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds a client's settings beyond its redirect URIs and its
// authentication: pushed authorization requests (RFC 9126 §6), consent for
// third-party clients, DPoP-bound access tokens (RFC 9449 §5.2) and the
// back-channel logout URI. The CLI's clients update and the admin API's
// PATCH /api/clients/{client_id}/settings change them.

// optionalBool is a boolean flag that knows whether it was given:
// --require-par alone means true, --require-par=false false.
type optionalBool struct {
	set, value bool
}

func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q: want true or false", s)
	}
	b.set, b.value = true, v
	return nil
}

func (b *optionalBool) IsBoolFlag() bool { return true }

// ptr returns a pointer to the flag's value, or nil when it was not given.
func (b *optionalBool) ptr() *bool {
	if !b.set {
		return nil
	}
	v := b.value
	return &v
}

// optionalString is a string flag that knows whether it was given, so
// that --backchannel-logout-uri "" (remove it) differs from no flag.
type optionalString struct {
	set   bool
	value string
}

func (s *optionalString) String() string {
	if s == nil {
		return ""
	}
	return s.value
}

func (s *optionalString) Set(v string) error {
	s.set, s.value = true, v
	return nil
}

func (s *optionalString) ptr() *string {
	if !s.set {
		return nil
	}
	v := s.value
	return &v
}

// settingsFlags are the flags of clients update that change settings.
type settingsFlags struct {
	requirePAR, consent, dpop optionalBool
	backchannel               optionalString
}

func (f *settingsFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.requirePAR, "require-par", "true: accept only pushed authorization requests (RFC 9126) from this client; false: plain ones too")
	fs.Var(&f.consent, "consent", "true: a third-party client, whose users allow it its scopes on a consent page; false: a first-party one")
	fs.Var(&f.dpop, "dpop", "true: the client's token requests must carry a DPoP proof (RFC 9449); false: bearer tokens are fine")
	fs.Var(&f.backchannel, "backchannel-logout-uri", "where logout tokens are posted when a session the client signed in through ends (\"\" removes it)")
}

func (f *settingsFlags) settings() clientSettings {
	return clientSettings{
		RequirePAR:            f.requirePAR.ptr(),
		Consent:               f.consent.ptr(),
		DPoPBoundAccessTokens: f.dpop.ptr(),
		BackchannelLogoutURI:  f.backchannel.ptr(),
	}
}

// clientSettings changes a client's settings; a nil field keeps the
// current value.
type clientSettings struct {
	RequirePAR            *bool   `json:"require_pushed_authorization_requests"`
	Consent               *bool   `json:"consent"`
	DPoPBoundAccessTokens *bool   `json:"dpop_bound_access_tokens"`
	BackchannelLogoutURI  *string `json:"backchannel_logout_uri"`
}

// empty reports whether set changes nothing.
func (set clientSettings) empty() bool {
	return set.RequirePAR == nil && set.Consent == nil && set.DPoPBoundAccessTokens == nil && set.BackchannelLogoutURI == nil
}

// SetClientSettings changes, in one write, the settings that set gives.
func (s *adminService) SetClientSettings(ctx context.Context, id string, set clientSettings) (*clientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if set.empty() {
		return nil, failf(errInvalid, "give at least one setting: require_pushed_authorization_requests, consent, dpop_bound_access_tokens or backchannel_logout_uri")
	}
	var changes []string
	if v := set.RequirePAR; v != nil {
		c.RequirePAR = *v
		changes = append(changes, "require_pushed_authorization_requests "+strconv.FormatBool(*v))
	}
	if v := set.Consent; v != nil {
		c.Consent = *v
		changes = append(changes, "consent "+onOff(*v))
	}
	if v := set.DPoPBoundAccessTokens; v != nil {
		if *v && c.Admin {
			return nil, failf(errInvalid, "an admin client cannot require DPoP-bound access tokens (the admin API accepts bearer tokens only)")
		}
		c.DPoPBoundAccessTokens = *v
		changes = append(changes, "DPoP-bound access tokens "+onOff(*v))
	}
	if v := set.BackchannelLogoutURI; v != nil {
		if err := checkBackchannelLogoutURI(*v); err != nil {
			return nil, err
		}
		c.BackchannelLogoutURI = *v
		changes = append(changes, "back-channel logout URI "+*v)
	}
	now := s.now()
	if err := s.store.SetClientMetadata(ctx, c, now); errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	c.UpdatedAt = now
	s.audit(ctx, storage.EventClientUpdated, "", id, strings.Join(changes, ", "))
	v := viewClient(c)
	return &v, nil
}

// updateClientSettings is PATCH /api/clients/{client_id}/settings.
func (a *adminAPI) updateClientSettings(w http.ResponseWriter, r *http.Request, s *adminService) error {
	id, err := param(r, "client_id")
	if err != nil {
		return err
	}
	var set clientSettings
	if err := decodeJSON(w, r, &set); err != nil {
		return err
	}
	c, err := s.SetClientSettings(r.Context(), id, set)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
