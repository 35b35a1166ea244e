package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds the client setting of pushed authorization requests
// (RFC 9126 §6, require_pushed_authorization_requests): a client that
// requires them is refused a plain authorization request (par.go).

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

// clientSettings changes a client's settings; a nil field keeps the
// current value.
type clientSettings struct {
	RequirePAR *bool `json:"require_pushed_authorization_requests"`
}

// SetClientSettings changes the client's settings that s gives.
func (s *adminService) SetClientSettings(ctx context.Context, id string, set clientSettings) (*clientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if set.RequirePAR == nil {
		v := viewClient(c)
		return &v, nil
	}
	now := s.now()
	c.RequirePAR = *set.RequirePAR
	if err := s.store.SetClientMetadata(ctx, c, now); errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	c.UpdatedAt = now
	s.audit(ctx, "client.updated", "", id, "require_pushed_authorization_requests "+strconv.FormatBool(c.RequirePAR))
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
