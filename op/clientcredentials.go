package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds the client_credentials JWT access tokens that are not
// recorded when issued. Such a token carries everything introspection
// reports (client, scope, audience, expiry), signed, and has no user whose
// disabling would revoke it: storing a row per token would only cost a
// commit per grant. Revoking one records it then, as a revoked row under
// its jti; introspection asks whether that row exists (a denylist, kept in
// memory on SQLite: storage.Store.UnrecordedRevoked) and checks that the
// client still exists.

// unrecordedPrefix starts the jti of an unrecorded token. Recorded ids are
// base64url and never contain a dot.
const unrecordedPrefix = storage.UnrecordedPrefix

func isUnrecorded(id string) bool { return strings.HasPrefix(id, unrecordedPrefix) }

// rawTokenKey carries the token of an introspection or revocation request:
// zitadel verifies it and hands over its jti and subject only.
type rawTokenKey struct{}

func withRawToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, rawTokenKey{}, token)
}

// rawToken returns the token withRawToken put in ctx, or "".
func rawToken(ctx context.Context) string {
	raw, _ := ctx.Value(rawTokenKey{}).(string)
	return raw
}

// unrecordedClaims are the claims of an unrecorded token.
type unrecordedClaims struct {
	ID       string        `json:"jti"`
	Subject  string        `json:"sub"`
	ClientID string        `json:"client_id"`
	Audience oidc.Audience `json:"aud"`
	Scope    string        `json:"scope"`
	Expiry   int64         `json:"exp"`
	IssuedAt int64         `json:"iat"`
	// Confirmation names the key a DPoP-bound token is bound to.
	Confirmation *dpopConfirmation `json:"cnf"`
}

// claimsOf returns the claims of raw, the request's token, which has been
// verified (signature, issuer, expiry) before its jti id and subject were
// asked about: they must match. The claims of a token the signature cache
// holds were parsed when it was verified.
func (s *Storage) claimsOf(raw, id, subject string) (*unrecordedClaims, error) {
	var (
		c  *unrecordedClaims
		ok bool
	)
	if s.verified != nil {
		c, ok = s.verified.unrecordedClaims(raw)
	}
	if !ok {
		var err error
		if c, err = parseUnrecordedClaims(raw); err != nil {
			return nil, err
		}
	}
	if c.ID != id || c.Subject != subject || c.ClientID == "" {
		return nil, errors.New("op: the request's token is not the one verified")
	}
	return c, nil
}

// parseUnrecordedClaims returns the claims in the payload of the JWT raw,
// whose signature is not checked here.
func parseUnrecordedClaims(raw string) (*unrecordedClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("op: the request's token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("op: token payload: %w", err)
	}
	var c unrecordedClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("op: token claims: %w", err)
	}
	return &c, nil
}

// unrecordedIntrospection answers introspection of an unrecorded token: active
// unless revoked, expired or its client is gone, and only for its own
// client or a client in its audience.
func (s *Storage) unrecordedIntrospection(ctx context.Context, raw, id, subject, clientID string) (*introspected, error) {
	c, err := s.claimsOf(raw, id, subject)
	if err != nil {
		return nil, err
	}
	// The client authenticated for this request read the count of
	// revocations with its own: the answer comes from memory on SQLite.
	if revoked, err := s.store.UnrecordedRevoked(ctx, id); err != nil {
		return nil, fault(ctx, fmt.Errorf("access token: %w", err))
	} else if revoked {
		return nil, errors.New("access token is revoked")
	}
	if !s.now().Before(time.Unix(c.Expiry, 0)) {
		return nil, errors.New("access token is not active")
	}
	if _, err := s.store.ClientByID(ctx, c.ClientID); err != nil {
		return nil, fault(ctx, fmt.Errorf("token client: %w", err))
	}
	if c.ClientID != clientID && !slices.Contains(c.Audience, clientID) {
		return nil, errors.New("caller is not in the token's audience")
	}
	live := &introspected{tokenType: oidc.BearerToken, clientID: c.ClientID, subject: c.Subject,
		scopes: strings.Fields(c.Scope), audience: c.Audience, issued: time.Unix(c.IssuedAt, 0), expires: time.Unix(c.Expiry, 0)}
	if c.Confirmation != nil {
		live.dpopJKT = c.Confirmation.JKT
	}
	return live, nil
}

// revokeUnrecorded records an unrecorded token as revoked, for its own
// client only. Revoking it again changes nothing.
func (s *Storage) revokeUnrecorded(ctx context.Context, id, subject, clientID string, now time.Time) *oidc.Error {
	c, err := s.claimsOf(rawToken(ctx), id, subject)
	if err != nil {
		return nil // RFC 7009 §2.2: an invalid token is not an error
	}
	if c.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was issued to another client")
	}
	err = s.store.CreateAccessToken(ctx, &storage.AccessToken{
		ID: id, ClientID: c.ClientID, Subject: c.Subject, Scopes: strings.Fields(c.Scope), Audience: c.Audience,
		ExpiresAt: time.Unix(c.Expiry, 0), RevokedAt: &now, CreatedAt: time.Unix(c.IssuedAt, 0),
	})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		fault(ctx, err)
		return oidc.ErrServerError()
	}
	return nil
}
