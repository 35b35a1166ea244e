package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/op"
)

// How clients create and clients update take a client's authentication
// method and keys (package admin checks and stores them).

// authMethodList is the token endpoint authentication methods, for the
// flags' help.
func authMethodList() string { return strings.Join(op.AuthMethods, ", ") }

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
func clientsUpdateAuth(ctx context.Context, s *admin.Service, env *environ, id, method string, jwks json.RawMessage, jwksURI string) error {
	var u admin.ClientAuthUpdate
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
