package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// A client's token_endpoint_auth_method (RFC 7591 §2) and its keys: how the
// CLI and the admin API register and change them. The provider enforces
// them (op/clientauth.go).

// openSealBox opens the secrets key of cfg, which seals the secrets of
// client_secret_jwt clients.
func openSealBox(cfg *config.Config) (*seal.Box, error) {
	master, err := seal.LoadOrCreateKey(cfg.Secrets.KeyFile)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(master)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return box, nil
}

// authMethodList is the methods, for messages.
var authMethodList = strings.Join(op.AuthMethods, ", ")

// checkClientAuth validates a client's authentication metadata and returns
// what to store: the method ("" picks none for a public client and
// client_secret_basic for a confidential one), the compacted inline JWK Set
// and the jwks_uri. Keys are for private_key_jwt only, one way or the
// other.
func checkClientAuth(public bool, method string, jwks json.RawMessage, jwksURI string) (string, string, string, error) {
	if method == "" {
		method = op.AuthMethodBasic
		if public {
			method = op.AuthMethodNone
		}
	}
	if !op.IsAuthMethod(method) {
		return "", "", "", failf(errInvalid, "token_endpoint_auth_method %q: must be one of %s", method, authMethodList)
	}
	if public && method != op.AuthMethodNone {
		return "", "", "", failf(errInvalid, "token_endpoint_auth_method %s: a public client has no credentials, its method is none", method)
	}
	if !public && method == op.AuthMethodNone {
		return "", "", "", failf(errInvalid, "token_endpoint_auth_method none is for public clients only")
	}
	if len(bytes.TrimSpace(jwks)) == 0 || bytes.Equal(bytes.TrimSpace(jwks), []byte("null")) {
		jwks = nil
	}
	jwksURI = strings.TrimSpace(jwksURI)
	if method != op.AuthMethodPrivateKeyJWT {
		if jwks != nil || jwksURI != "" {
			return "", "", "", failf(errInvalid, "jwks and jwks_uri are for private_key_jwt clients only")
		}
		return method, "", "", nil
	}
	switch {
	case jwks != nil && jwksURI != "":
		return "", "", "", failf(errInvalid, "jwks and jwks_uri: register the keys one way, not both")
	case jwks == nil && jwksURI == "":
		return "", "", "", failf(errInvalid, "a private_key_jwt client needs its public keys: jwks or jwks_uri")
	case jwksURI != "":
		if err := op.CheckJWKSURI(jwksURI); err != nil {
			return "", "", "", failf(errInvalid, "jwks_uri %v", err)
		}
		return method, "", jwksURI, nil
	}
	if _, err := op.ParseClientJWKS(jwks); err != nil {
		return "", "", "", failf(errInvalid, "jwks: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, jwks); err != nil {
		return "", "", "", failf(errInvalid, "jwks: %v", err)
	}
	return method, compact.String(), "", nil
}

// newSecretFor returns a fresh secret for a client with method, and its
// sealed form for a client_secret_jwt client (nil for others); "" for a
// private_key_jwt or public client, which have no secret.
func (s *adminService) newSecretFor(id, method string) (secret string, sealed []byte, err error) {
	switch method {
	case op.AuthMethodNone, op.AuthMethodPrivateKeyJWT:
		return "", nil, nil
	case op.AuthMethodSecretJWT:
		if s.sealBox == nil {
			return "", nil, errors.New("client_secret_jwt: no secrets key to seal the secret with")
		}
		box, err := s.sealBox()
		if err != nil {
			return "", nil, fmt.Errorf("client_secret_jwt: %w", err)
		}
		secret = op.NewJWTClientSecret()
		return secret, op.SealClientSecret(box, id, secret), nil
	}
	return op.NewClientSecret(), nil, nil
}

// clientAuthUpdate changes how a client authenticates; a nil field keeps
// what the client has. Leaving private_key_jwt drops its keys.
type clientAuthUpdate struct {
	TokenEndpointAuthMethod *string          `json:"token_endpoint_auth_method"`
	JWKS                    *json.RawMessage `json:"jwks"`
	JWKSURI                 *string          `json:"jwks_uri"`
}

// SetClientAuth changes a client's authentication method and keys. A
// client that needs a secret it does not have, or whose secret must now be
// kept retrievable (client_secret_jwt: only a hash of the old one is
// stored), gets a new secret, returned once in the view.
func (s *adminService) SetClientAuth(ctx context.Context, id string, u clientAuthUpdate) (*newClientView, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	old := op.ClientAuthMethod(c)
	method := old
	if u.TokenEndpointAuthMethod != nil {
		method = *u.TokenEndpointAuthMethod
	}
	if method == "" {
		return nil, failf(errInvalid, "token_endpoint_auth_method: choose one of %s", authMethodList)
	}
	var jwks json.RawMessage
	uri := ""
	if method == op.AuthMethodPrivateKeyJWT && old == op.AuthMethodPrivateKeyJWT {
		jwks, uri = json.RawMessage(c.JWKS), c.JWKSURI
	}
	if u.JWKS != nil || u.JWKSURI != nil {
		jwks, uri = nil, ""
		if u.JWKS != nil {
			jwks = *u.JWKS
		}
		if u.JWKSURI != nil {
			uri = *u.JWKSURI
		}
	}
	method, inline, uri, err := checkClientAuth(c.Public, method, jwks, uri)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var secret string
	newSecret := method == op.AuthMethodSecretJWT && old != op.AuthMethodSecretJWT ||
		(method == op.AuthMethodBasic || method == op.AuthMethodPost) && len(c.SecretHash) == 0
	if newSecret {
		var sealed []byte
		secret, sealed, err = s.newSecretFor(c.ID, method)
		if err != nil {
			return nil, err
		}
		if sealed != nil {
			if err := s.store.SetClientJWTSecret(ctx, c.ID, sealed, now); err != nil {
				return nil, fmt.Errorf("update client: %w", err)
			}
		}
		c.SecretHash = op.HashClientSecret(secret)
		if err := s.store.SetClientSecretHash(ctx, c.ID, c.SecretHash, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	if method == op.AuthMethodPrivateKeyJWT && len(c.SecretHash) > 0 {
		// The client proves itself with its keys now: its secret goes.
		c.SecretHash = nil
		if err := s.store.SetClientSecretHash(ctx, c.ID, nil, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	if method != op.AuthMethodSecretJWT && old == op.AuthMethodSecretJWT {
		// The secret need no longer be retrievable.
		if err := s.store.SetClientJWTSecret(ctx, c.ID, nil, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.UpdatedAt = method, inline, uri, now
	if err := s.store.SetClientMetadata(ctx, c, now); errors.Is(err, storage.ErrNotFound) {
		return nil, failf(errNotFound, "no client with id %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	detail := "token_endpoint_auth_method " + method
	if secret != "" {
		detail += ", new secret"
	}
	s.audit(ctx, "client.updated", "", id, detail)
	return &newClientView{clientView: viewClient(c), Secret: secret}, nil
}

// authMethodLabel is how the CLI shows a client's method.
func authMethodLabel(m string) string {
	if m == "" {
		return "legacy (client_secret_basic or client_secret_post)"
	}
	return m
}

// jwksFlag returns the JWK Set of --jwks or --jwks-file (not both), or nil.
func jwksFlag(command, inline, file string) (json.RawMessage, error) {
	switch {
	case inline != "" && file != "":
		return nil, usageError{command + ": --jwks contradicts --jwks-file"}
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s: --jwks-file: %v", command, err)}
		}
		return json.RawMessage(data), nil
	case inline != "":
		return json.RawMessage(inline), nil
	}
	return nil, nil
}

// clientsUpdateAuth is the authentication part of clients update: method
// ("" keeps it), and keys when given.
func clientsUpdateAuth(ctx context.Context, s *adminService, env *environ, id, method string, jwks json.RawMessage, jwksURI string) error {
	var u clientAuthUpdate
	if method != "" {
		u.TokenEndpointAuthMethod = &method
	}
	if jwks != nil || jwksURI != "" {
		u.JWKS, u.JWKSURI = &jwks, &jwksURI
	}
	c, err := s.SetClientAuth(ctx, id, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "token endpoint auth method: %s\n", authMethodLabel(c.TokenEndpointAuthMethod))
	if c.Secret != "" {
		fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now; the old secret no longer works)\n", c.Secret)
	}
	return nil
}
