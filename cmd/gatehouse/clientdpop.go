package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds the administration of a client's DPoP requirement
// (RFC 9449 §5.2, op/dpop.go): the CLI's clients update --dpop and the
// admin API's PUT /api/clients/{client_id}/dpop.

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// clientDPoP is the body of PUT /api/clients/{client_id}/dpop.
type clientDPoP struct {
	DPoPBoundAccessTokens *bool `json:"dpop_bound_access_tokens"`
}

// SetClientDPoP sets whether the client's access tokens must be
// DPoP-bound: when on, its token requests without a DPoP proof are
// refused. Tokens issued before keep what they are.
func (s *adminService) SetClientDPoP(ctx context.Context, id string, on bool) (*clientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if on && c.Admin {
		return nil, failf(errInvalid, "an admin client cannot require DPoP-bound access tokens (the admin API accepts bearer tokens only)")
	}
	now := s.now()
	c.DPoPBoundAccessTokens = on
	if err := s.store.SetClientMetadata(ctx, c, now); errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	c.UpdatedAt = now
	s.audit(ctx, "client.updated", "", id, "DPoP-bound access tokens "+onOff(on))
	v := viewClient(c)
	return &v, nil
}

func (a *adminAPI) updateClientDPoP(w http.ResponseWriter, r *http.Request, s *adminService) error {
	id, err := param(r, "client_id")
	if err != nil {
		return err
	}
	var d clientDPoP
	if err := decodeJSON(w, r, &d); err != nil {
		return err
	}
	if d.DPoPBoundAccessTokens == nil {
		return badRequest("dpop_bound_access_tokens is required")
	}
	c, err := s.SetClientDPoP(r.Context(), id, *d.DPoPBoundAccessTokens)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
