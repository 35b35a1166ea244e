package sqlstore

import (
	"cmp"
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const clientColumns = `id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris,
	require_mfa, signing_algorithm, created_at, updated_at, admin, access_token_format,
	token_endpoint_auth_method, jwks, jwks_uri, require_par, backchannel_logout_uri, consent,
	dpop_bound_access_tokens, disabled, grant_types`

func scanClient(row scanner) (*storage.Client, error) {
	return scanDest(row, func(c *storage.Client) []any {
		return []any{&c.ID, &c.Name, &c.SecretHash, &c.Public,
			listCol{&c.RedirectURIs}, listCol{&c.PostLogoutRedirectURIs},
			&c.RequireMFA, &c.SigningAlgorithm, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, &c.Admin, &c.AccessTokenFormat,
			&c.TokenEndpointAuthMethod, &c.JWKS, &c.JWKSURI, &c.RequirePAR, &c.BackchannelLogoutURI, &c.Consent,
			&c.DPoPBoundAccessTokens, &c.Disabled, listCol{&c.GrantTypes}}
	})
}

// CreateClient adds c; storage.ErrConflict if the id is taken. An empty
// AccessTokenFormat is stored as "opaque", empty GrantTypes as
// storage.DefaultGrantTypes.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	return s.exec(ctx, "create client", `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		c.ID, c.Name, nullBytes(c.SecretHash), c.Public,
		list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		c.RequireMFA, c.SigningAlgorithm, millis(c.CreatedAt), millis(c.UpdatedAt), c.Admin, cmp.Or(c.AccessTokenFormat, "opaque"),
		c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.RequirePAR, c.BackchannelLogoutURI, c.Consent,
		c.DPoPBoundAccessTokens, c.Disabled, grantTypes(c.GrantTypes))
}

// grantTypes is the grant_types column's value of the list g: empty is
// storage.DefaultGrantTypes.
func grantTypes(g []string) string {
	if len(g) == 0 {
		g = storage.DefaultGrantTypes()
	}
	return list(g)
}

// SetClientDisabled disables or enables the client id; disabling it
// revokes the client's access and refresh tokens in the same transaction.
func (s *Store) SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	const op = "set client disabled"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if err := s.execOneOn(ctx, tx, op, `UPDATE clients SET disabled = $2, updated_at = $3 WHERE id = $1`,
			id, disabled, millis(now)); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		return s.revokeTokens(ctx, tx, op,
			`UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`,
			`UPDATE access_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`,
			id, millis(now))
	})
}

// ClientByID returns the client with the given id.
func (s *Store) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	if s.clients != nil {
		return s.cachedClientByID(ctx, id)
	}
	return s.readClient(ctx, id)
}

// readClient reads the client with the given id from the database.
func (s *Store) readClient(ctx context.Context, id string) (*storage.Client, error) {
	return queryOne(ctx, s, "client by id", scanClient, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id)
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return queryAll(ctx, s, "list clients", scanClient, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
}

// DeleteClient removes the client id together with its auth requests and
// the access and refresh tokens issued to it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete client", func(tx *stmtTx) error {
		if err := s.execOneOn(ctx, tx, "delete client", `DELETE FROM clients WHERE id = $1`, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM access_tokens WHERE client_id = $1`,
			`DELETE FROM refresh_tokens WHERE client_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return s.fail("delete client", err)
			}
		}
		return nil
	})
}

// SetClientSecretHash replaces the secret hash of the client id.
func (s *Store) SetClientSecretHash(ctx context.Context, id string, hash []byte, now time.Time) error {
	return s.execOne(ctx, "set client secret hash",
		`UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, nullBytes(hash), millis(now))
}
