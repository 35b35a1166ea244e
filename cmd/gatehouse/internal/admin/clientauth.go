package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// A client's token_endpoint_auth_method (RFC 7591 §2) and its keys: how the
// CLI and the admin API register and change them. The provider enforces
// them (op/clientauth.go).

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
		return "", "", "", Errorf(Invalid, "token_endpoint_auth_method %q: must be one of %s", method, authMethodList)
	}
	if public && method != op.AuthMethodNone {
		return "", "", "", Errorf(Invalid, "token_endpoint_auth_method %s: a public client has no credentials, its method is none", method)
	}
	if !public && method == op.AuthMethodNone {
		return "", "", "", Errorf(Invalid, "token_endpoint_auth_method none is for public clients only")
	}
	if len(bytes.TrimSpace(jwks)) == 0 || bytes.Equal(bytes.TrimSpace(jwks), []byte("null")) {
		jwks = nil
	}
	jwksURI = strings.TrimSpace(jwksURI)
	if method != op.AuthMethodPrivateKeyJWT {
		if jwks != nil || jwksURI != "" {
			return "", "", "", Errorf(Invalid, "jwks and jwks_uri are for private_key_jwt clients only")
		}
		return method, "", "", nil
	}
	switch {
	case jwks != nil && jwksURI != "":
		return "", "", "", Errorf(Invalid, "jwks and jwks_uri: register the keys one way, not both")
	case jwks == nil && jwksURI == "":
		return "", "", "", Errorf(Invalid, "a private_key_jwt client needs its public keys: jwks or jwks_uri")
	case jwksURI != "":
		if err := op.CheckJWKSURI(jwksURI); err != nil {
			return "", "", "", Errorf(Invalid, "jwks_uri %v", err)
		}
		return method, "", jwksURI, nil
	}
	if _, err := op.ParseClientJWKS(jwks); err != nil {
		return "", "", "", Errorf(Invalid, "jwks: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, jwks); err != nil {
		return "", "", "", Errorf(Invalid, "jwks: %v", err)
	}
	return method, compact.String(), "", nil
}

// newSecretFor returns a fresh secret for a client with method, and its
// sealed form for a client_secret_jwt client (nil for others); "" for a
// private_key_jwt or public client, which have no secret.
func (s *Service) newSecretFor(id, method string) (secret string, sealed []byte, err error) {
	switch method {
	case op.AuthMethodNone, op.AuthMethodPrivateKeyJWT:
		return "", nil, nil
	case op.AuthMethodSecretJWT:
		if s.SealBox == nil {
			return "", nil, errors.New("client_secret_jwt: no secrets key to seal the secret with")
		}
		box, err := s.SealBox()
		if err != nil {
			return "", nil, fmt.Errorf("client_secret_jwt: %w", err)
		}
		secret = op.NewJWTClientSecret()
		return secret, op.SealClientSecret(box, id, secret), nil
	}
	return op.NewClientSecret(), nil, nil
}

// ClientAuthUpdate changes how a client authenticates; a nil field keeps
// what the client has. Leaving private_key_jwt drops its keys.
type ClientAuthUpdate struct {
	TokenEndpointAuthMethod *string          `json:"token_endpoint_auth_method"`
	JWKS                    *json.RawMessage `json:"jwks"`
	JWKSURI                 *string          `json:"jwks_uri"`
}

// SetClientAuth changes a client's authentication method and keys. A
// client that needs a secret it does not have, or whose secret must now be
// kept retrievable (client_secret_jwt: only a hash of the old one is
// stored), gets a new secret, returned once in the view.
func (s *Service) SetClientAuth(ctx context.Context, id string, u ClientAuthUpdate) (*NewClientView, error) {
	c, err := s.changeableClient(ctx, id)
	if err != nil {
		return nil, err
	}
	old := op.ClientAuthMethod(c)
	method := old
	if u.TokenEndpointAuthMethod != nil {
		method = *u.TokenEndpointAuthMethod
	}
	if method == "" {
		return nil, Errorf(Invalid, "token_endpoint_auth_method: choose one of %s", authMethodList)
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
	now := s.Now()
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
			if err := s.Store.SetClientJWTSecret(ctx, c.ID, sealed, now); err != nil {
				return nil, fmt.Errorf("update client: %w", err)
			}
		}
		c.SecretHash = op.HashClientSecret(secret)
		if err := s.Store.SetClientSecretHash(ctx, c.ID, c.SecretHash, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	if method == op.AuthMethodPrivateKeyJWT && len(c.SecretHash) > 0 {
		// The client proves itself with its keys now: its secret goes.
		c.SecretHash = nil
		if err := s.Store.SetClientSecretHash(ctx, c.ID, nil, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	if method != op.AuthMethodSecretJWT && old == op.AuthMethodSecretJWT {
		// The secret need no longer be retrievable.
		if err := s.Store.SetClientJWTSecret(ctx, c.ID, nil, now); err != nil {
			return nil, fmt.Errorf("update client: %w", err)
		}
	}
	c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.UpdatedAt = method, inline, uri, now
	if err := s.Store.SetClientMetadata(ctx, c, now); err != nil {
		return nil, storeError(err, "update client", clientWithID(id))
	}
	detail := "token_endpoint_auth_method " + method
	if secret != "" {
		detail += ", new secret"
	}
	s.audit(ctx, storage.EventClientUpdated, "", id, detail)
	return &NewClientView{ClientView: viewClient(c), Secret: secret}, nil
}
