package op

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// AdminScope is the scope of the admin API. Only clients registered as
// admin clients obtain it, with the client_credentials grant; the login
// flow never grants it (client.IsScopeAllowed).
const AdminScope = "gatehouse:admin"

// ErrInactiveToken means an access token is unknown, malformed, expired or
// revoked.
var ErrInactiveToken = errors.New("op: access token is not active")

// clientCredentialsScopes returns the scopes the client id is granted of
// those it asked for with the client_credentials grant.
func (s *Storage) clientCredentialsScopes(ctx context.Context, id string, requested []string) ([]string, error) {
	if !slices.Contains(requested, AdminScope) {
		return nil, nil
	}
	c, err := s.store.ClientByID(ctx, id)
	if err != nil {
		fault(ctx, err)
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if !c.Admin {
		slog.WarnContext(ctx, "admin scope refused to a client that is not an admin client", "client_id", id)
		return nil, oidc.ErrInvalidScope().WithDescription("the scope %s is reserved for admin clients", AdminScope)
	}
	return []string{AdminScope}, nil
}

// AccessToken returns the stored access token whose value is token, an
// opaque token, provided it was issued by this provider and is neither
// expired nor revoked; ErrInactiveToken otherwise. Other errors are
// database failures.
func (p *Provider) AccessToken(ctx context.Context, token string) (*storage.AccessToken, error) {
	// open, not Decrypt: a JWT is refused whether or not the provider
	// verified it lately.
	plain, err := p.sealer.open(token)
	if err != nil {
		return nil, ErrInactiveToken
	}
	id, subject, ok := strings.Cut(plain, ":")
	if !ok || id == "" {
		return nil, ErrInactiveToken
	}
	t, err := p.storage.store.AccessTokenByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInactiveToken
	}
	if err != nil {
		return nil, fmt.Errorf("op: access token: %w", err)
	}
	if t.Subject != subject || t.RevokedAt != nil || !p.storage.now().Before(t.ExpiresAt) {
		return nil, ErrInactiveToken
	}
	if t.DPoPJKT != "" {
		// The admin API takes bearer tokens only, and a DPoP-bound
		// token is never one (RFC 9449 §7.2).
		return nil, ErrInactiveToken
	}
	return t, nil
}
