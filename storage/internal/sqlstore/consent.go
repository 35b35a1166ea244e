package sqlstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const consentGrantColumns = `user_id, client_id, scopes, created_at, updated_at`

func scanConsentGrant(row scanner) (*storage.ConsentGrant, error) {
	return scanDest(row, func(g *storage.ConsentGrant) []any {
		return []any{&g.UserID, &g.ClientID, listCol{&g.Scopes}, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt}}
	})
}

// GrantConsent adds scopes to the user's grant to the client
// (grantConsent). storage.ErrNotFound if the user or the client does not
// exist.
func (s *Store) GrantConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	const op = "grant consent"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		return s.grantConsent(ctx, tx, op, userID, clientID, scopes, now)
	})
}

// ConsentAuthRequest marks the auth request id, of userID for clientID,
// consented and adds its scopes to the user's grant to the client in one
// transaction: a Deny that deleted the request first leaves the UPDATE
// nothing to mark, and then nothing is granted (storage.ErrNotFound); a
// Deny that comes later waits for the commit (the UPDATE locks the row on
// PostgreSQL; on SQLite the transaction holds the write lock).
func (s *Store) ConsentAuthRequest(ctx context.Context, id, userID, clientID string, scopes []string, now time.Time) error {
	const op = "consent auth request"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		n, err := s.execCount(ctx, tx, op, `UPDATE auth_requests SET consented = $4
			WHERE id = $1 AND user_id = $2 AND client_id = $3`, id, userID, clientID, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return s.grantConsent(ctx, tx, op, userID, clientID, scopes, now)
	})
}

// DenyAuthRequest takes the auth request id for a denial in one
// conditional UPDATE: only a done request of userID, bound to bindingHash
// and not consented. It forgets the user, so that ConsentAuthRequest finds
// nothing to mark, is no longer done and is claimed, so that
// ClaimAuthRequest finds nothing to claim. A concurrent ConsentAuthRequest
// is ordered with it by the row's lock on PostgreSQL and the write lock on
// SQLite: whichever commits first, the other finds no row.
func (s *Store) DenyAuthRequest(ctx context.Context, id, userID string, bindingHash []byte) error {
	if len(bindingHash) == 0 {
		return errors.New("storage: deny auth request: empty binding hash")
	}
	return s.execOne(ctx, "deny auth request", `UPDATE auth_requests SET user_id = NULL, done = $5, binding_hash = $4
		WHERE id = $1 AND user_id = $2 AND binding_hash = $3 AND done = $6 AND consented = $5`,
		id, userID, bindingHash, storage.ClaimedBinding(bindingHash), false, true)
}

// grantConsent adds scopes to the user's grant to the client in tx. The
// grant's row is created empty if missing and then locked (on SQLite, the
// transaction holds the write lock from its start), so that concurrent
// grants add up instead of overwriting each other.
func (s *Store) grantConsent(ctx context.Context, tx *stmtTx, op, userID, clientID string, scopes []string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO consent_grants (`+consentGrantColumns+`)
		VALUES ($1, $2, '[]', $3, $3) ON CONFLICT (user_id, client_id) DO NOTHING`,
		userID, clientID, millis(now))
	if err != nil {
		return s.fail(op, err)
	}
	g, err := scanConsentGrant(tx.QueryRowContext(ctx, `SELECT `+consentGrantColumns+`
		FROM consent_grants WHERE user_id = $1 AND client_id = $2`+s.d.LockRow, userID, clientID))
	if err != nil {
		return s.fail(op, err)
	}
	all := g.Scopes
	for _, sc := range scopes {
		if !slices.Contains(all, sc) {
			all = append(all, sc)
		}
	}
	if all == nil {
		all = []string{}
	}
	_, err = tx.ExecContext(ctx, `UPDATE consent_grants SET scopes = $3, updated_at = $4
		WHERE user_id = $1 AND client_id = $2`, userID, clientID, list(all), millis(now))
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ConsentGrant returns the user's grant to the client.
func (s *Store) ConsentGrant(ctx context.Context, userID, clientID string) (*storage.ConsentGrant, error) {
	return queryOne(ctx, s, "consent grant", scanConsentGrant, `SELECT `+consentGrantColumns+`
		FROM consent_grants WHERE user_id = $1 AND client_id = $2`, userID, clientID)
}

// ConsentGrants lists the user's grants, the most recently updated first.
func (s *Store) ConsentGrants(ctx context.Context, userID string) ([]storage.ConsentGrant, error) {
	const op = "consent grants"
	rows, err := s.db.QueryContext(ctx, `SELECT `+consentGrantColumns+`
		FROM consent_grants WHERE user_id = $1 ORDER BY updated_at DESC, client_id`, userID)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []storage.ConsentGrant
	for rows.Next() {
		g, err := scanConsentGrant(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, *g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// revokeUserClientTokens are the statements that revoke a client's tokens
// for a user ($1 the user, $2 the client, $3 the time): the refresh tokens,
// then the access tokens (revokeTokens).
var revokeUserClientTokens = [2]string{
	`UPDATE refresh_tokens SET revoked_at = $3
		WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`,
	`UPDATE access_tokens SET revoked_at = $3
		WHERE subject = $1 AND client_id = $2 AND grant_id <> '' AND revoked_at IS NULL`,
}

// RevokeConsent deletes the user's grant to the client and revokes the
// client's tokens for the user in one transaction.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string, now time.Time) (bool, error) {
	const op = "revoke consent"
	var found bool
	err := s.inTx(ctx, op, func(tx *stmtTx) error {
		n, err := s.execCount(ctx, tx, op, `DELETE FROM consent_grants WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return err
		}
		found = n > 0
		return s.revokeTokens(ctx, tx, op, revokeUserClientTokens[0], revokeUserClientTokens[1], userID, clientID, millis(now))
	})
	return found, err
}

// RevokeUserClientTokens revokes every refresh and access token issued to
// the client for the user, in one transaction.
func (s *Store) RevokeUserClientTokens(ctx context.Context, userID, clientID string, now time.Time) error {
	const op = "revoke user client tokens"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		return s.revokeTokens(ctx, tx, op, revokeUserClientTokens[0], revokeUserClientTokens[1], userID, clientID, millis(now))
	})
}

// AuthRequestConsented reports whether the auth request id was consented.
func (s *Store) AuthRequestConsented(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.db.QueryRowContext(ctx, `SELECT consented FROM auth_requests WHERE id = $1`, id).Scan(&ok); err != nil {
		return false, s.fail("auth request consented", err)
	}
	return ok, nil
}
