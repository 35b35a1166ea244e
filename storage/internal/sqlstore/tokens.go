package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// SaveAuthCode stores c; storage.ErrConflict if its hash is taken.
func (s *Store) SaveAuthCode(ctx context.Context, c *storage.AuthCode) error {
	return s.write(ctx, "save auth code", false, func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO auth_codes (hash, auth_request_id, expires_at, used_at)
			VALUES ($1, $2, $3, NULL)`, c.Hash, c.AuthRequestID, millis(c.ExpiresAt))
		if err != nil {
			return s.fail("save auth code", err)
		}
		return nil
	})
}

// ConsumeAuthCode marks the code with the given hash used, deletes its auth
// request and returns it, and creates the access token issue gives for it,
// all in one transaction. Marking it is one conditional UPDATE, so of many
// concurrent callers exactly one succeeds. An unknown or expired code, or
// one whose auth request is gone, gives storage.ErrNotFound; a code used
// before gives storage.ErrReplayed after the grant it started has been
// revoked.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, issue func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken)) (*storage.AuthRequest, error) {
	var (
		id string
		ar *storage.AuthRequest
	)
	err := s.write(ctx, "consume auth code", true, func(ctx context.Context, q querier) error {
		var err error
		if s.d.WritableCTE {
			// One round trip for both: no row when the code is not
			// usable, or when its request is gone, and then the
			// rollback leaves the code as it was.
			ar, err = scanAuthRequest(q.QueryRowContext(ctx, `WITH c AS (UPDATE auth_codes SET used_at = $2
				WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING auth_request_id)
				DELETE FROM auth_requests WHERE id = (SELECT auth_request_id FROM c) RETURNING `+authRequestColumns,
				hash, millis(now)))
		} else {
			if err = q.QueryRowContext(ctx, `UPDATE auth_codes SET used_at = $2
				WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
				RETURNING auth_request_id`, hash, millis(now)).Scan(&id); err != nil {
				return err
			}
			// The request is done with: it goes in the same commit, and
			// so do the tokens issued for it.
			ar, err = scanAuthRequest(q.QueryRowContext(ctx,
				`DELETE FROM auth_requests WHERE id = $1 RETURNING `+authRequestColumns, id))
		}
		if err != nil || issue == nil {
			return err
		}
		access, refresh := issue(ar)
		return s.insertTokens(ctx, q, access, refresh)
	})
	if err == nil {
		return ar, nil
	}
	if !errors.Is(err, sql.ErrNoRows) || id != "" {
		// The code was usable: no rows means its auth request is gone.
		return nil, s.fail("consume auth code", err)
	}
	return nil, s.unusableCode(ctx, "consume auth code", hash, "", now)
}

// unusableCode tells why the code with the given hash could not be used:
// unknown or expired (storage.ErrNotFound), or used before, a replay,
// which revokes the grant it started (storage.ErrReplayed). A replay by a
// client named by clientID ("" for any) revokes only the tokens issued to
// that client: another client, which could not have used the code, cannot
// have the grant of the one that did revoked.
func (s *Store) unusableCode(ctx context.Context, op string, hash []byte, clientID string, now time.Time) error {
	var (
		id   string
		used sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT auth_request_id, used_at FROM auth_codes WHERE hash = $1`,
		hash).Scan(&id, &used)
	if err != nil {
		return s.fail(op, err)
	}
	if !used.Valid {
		return storage.ErrNotFound // expired
	}
	err = s.inTx(ctx, "revoke grant", func(tx *stmtTx) error {
		return s.revokeGrantOf(ctx, tx, id, clientID, now)
	})
	if err != nil {
		return err
	}
	return storage.ErrReplayed
}

// UseAuthCode marks the code with the given hash used and deletes its auth
// request requestID, which the caller read (CodeGrant), and stores access
// and refresh (either may be nil), all in one commit; on PostgreSQL in one
// statement. Marking it is one conditional UPDATE, so of many concurrent
// callers exactly one succeeds. A code that is unknown, expired or not
// requestID's, or whose request is gone, gives storage.ErrNotFound; one
// used before gives storage.ErrReplayed after the grant it started has
// been revoked.
func (s *Store) UseAuthCode(ctx context.Context, hash []byte, requestID string, now time.Time, access *storage.AccessToken, refresh *storage.RefreshToken) error {
	const op = "use auth code"
	if s.d.WritableCTE {
		return s.useCodeInOneStatement(ctx, hash, requestID, now, access, refresh)
	}
	err := s.write(ctx, op, true, func(ctx context.Context, q querier) error {
		n, err := s.execCount(ctx, q, op, `UPDATE auth_codes SET used_at = $2
			WHERE hash = $1 AND auth_request_id = $3 AND used_at IS NULL AND expires_at > $2`,
			hash, millis(now), requestID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errCodeUnusable
		}
		// The request is done with: it goes in the same commit, and so
		// do the tokens issued for it. Gone, it fails the whole.
		if err := s.execOneOn(ctx, q, op, `DELETE FROM auth_requests WHERE id = $1`, requestID); err != nil {
			return err
		}
		return s.insertTokens(ctx, q, access, refresh)
	})
	if errors.Is(err, errCodeUnusable) {
		return s.unusableCode(ctx, op, hash, "", now)
	}
	return err
}

// insertTokens stores on q the tokens of a code's exchange, either of
// which may be nil.
func (s *Store) insertTokens(ctx context.Context, q querier, access *storage.AccessToken, refresh *storage.RefreshToken) error {
	if access != nil {
		if err := s.insertAccessToken(ctx, q, access); err != nil {
			return err
		}
	}
	if refresh != nil {
		return s.insertRefreshToken(ctx, q, refresh)
	}
	return nil
}

// errCodeUnusable rolls back a code's use that marked no code used.
var errCodeUnusable = errors.New("storage: the code is not usable")

// useCodeStatement is UseAuthCode as one statement: the UPDATE that marks
// the code used guards the DELETE of its request, which guards the two
// INSERTs ($14 and $25 say whether there is a token to insert). A unique
// violation fails the whole statement, and the code stays unused.
const useCodeStatement = `WITH used AS (
	UPDATE auth_codes SET used_at = $2
	WHERE hash = $1 AND auth_request_id = $3 AND used_at IS NULL AND expires_at > $2
		AND EXISTS (SELECT 1 FROM auth_requests WHERE id = $3)
	RETURNING auth_request_id
), done AS (
	DELETE FROM auth_requests WHERE id = (SELECT auth_request_id FROM used) RETURNING id
), access AS (
	INSERT INTO access_tokens (` + accessTokenColumns + `)
	SELECT $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::bigint, $11::bigint, $12::bigint,
		$13::text
	FROM done WHERE $14::boolean
), refresh AS (
	INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
	SELECT $15::text, $16::bytea, $17::text, $18::text, $19::text, $20::text, $21::text, $22::text, $23::bigint,
		$24::bigint, $26::bigint, $27::bigint, $28::bigint, $29::text
	FROM done WHERE $25::boolean
)
SELECT id FROM done`

// useCodeInOneStatement is UseAuthCode where the database runs writes
// inside WITH.
func (s *Store) useCodeInOneStatement(ctx context.Context, hash []byte, requestID string, now time.Time, access *storage.AccessToken, refresh *storage.RefreshToken) error {
	const op = "use auth code"
	at, rt := access, refresh
	if at == nil {
		at = &storage.AccessToken{}
	}
	if rt == nil {
		rt = &storage.RefreshToken{}
	}
	var id string
	// Resolved, as the refresh rotation: a use that committed but lost its
	// answer would be retried as a replay, and revoke the grant.
	err := s.resolvedWrite(ctx, op, func(q querier) error {
		return q.QueryRowContext(ctx, useCodeStatement, hash, millis(now), requestID,
			at.ID, at.ClientID, at.Subject, list(at.Scopes), list(at.Audience), at.GrantID,
			millis(at.ExpiresAt), ptrMillis(at.RevokedAt), millis(at.CreatedAt), at.DPoPJKT, access != nil,
			rt.ID, rt.Hash, rt.FamilyID, rt.ClientID, rt.UserID, list(rt.Scopes), list(rt.Audience), list(rt.AMR),
			millis(rt.AuthTime), millis(rt.ExpiresAt), refresh != nil,
			ptrMillis(rt.UsedAt), ptrMillis(rt.RevokedAt), millis(rt.CreatedAt), rt.DPoPJKT).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return s.unusableCode(ctx, op, hash, "", now)
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

const accessTokenColumns = `id, client_id, subject, scopes, audience, grant_id, expires_at, revoked_at, created_at,
	dpop_jkt`

func scanAccessToken(row scanner) (*storage.AccessToken, error) {
	return scanDest(row, accessTokenDest)
}

// accessTokenDest are the scan destinations of accessTokenColumns.
func accessTokenDest(t *storage.AccessToken) []any {
	return []any{&t.ID, &t.ClientID, &t.Subject, listCol{&t.Scopes}, listCol{&t.Audience}, &t.GrantID,
		timeCol{&t.ExpiresAt}, timePtrCol{&t.RevokedAt}, timeCol{&t.CreatedAt}, &t.DPoPJKT}
}

// accessTokenAndUser reads a user's token and the user in one join.
var accessTokenAndUser = `SELECT ` + qualify("t", accessTokenColumns) + `, ` + qualify("u", userColumns) + `
	FROM access_tokens t JOIN users u ON u.id = t.subject
	WHERE t.id = $1 AND t.grant_id <> ''`

// accessTokenAndUserCounts is accessTokenAndUser with the generation
// counts (clientcache.go) after the user's columns.
var accessTokenAndUserCounts = `SELECT ` + qualify("t", accessTokenColumns) + `, ` + qualify("u", userColumns) + `, g.n, g.revocations
	FROM access_tokens t JOIN users u ON u.id = t.subject, client_generation g
	WHERE t.id = $1 AND t.grant_id <> '' AND g.id = 1`

// AccessTokenAndUser returns the user token id and its user, in one read.
// Where the Store keeps clients under a count (Dialect.ClientGeneration),
// a request's read (storage.RequestCounts) that has read no counts yet
// takes them in the same statement: the token's client is then looked up
// without a read of its own.
func (s *Store) AccessTokenAndUser(ctx context.Context, id string) (*storage.AccessToken, *storage.User, error) {
	const op = "access token and user"
	counts := storage.RequestCountsFrom(ctx)
	if _, _, read := counts.Get(); s.clients == nil || counts == nil || read {
		return withUser(ctx, s, op, accessTokenDest, accessTokenAndUser, id)
	}
	var (
		t                    storage.AccessToken
		u                    storage.User
		clients, revocations int64
	)
	dest := append(append(accessTokenDest(&t), userDest(&u)...), &clients, &revocations)
	if err := s.db.QueryRowContext(ctx, accessTokenAndUserCounts, id).Scan(dest...); err != nil {
		return nil, nil, s.fail(op, err)
	}
	counts.Set(clients, revocations)
	return &t, &u, nil
}

// qualify prefixes each of the comma-separated columns with table.
func qualify(table, columns string) string {
	var b strings.Builder
	for i, c := range strings.Split(columns, ",") {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(table + "." + strings.TrimSpace(c))
	}
	return b.String()
}

// CreateAccessToken stores t; storage.ErrConflict if its id is taken.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	return s.write(ctx, "create access token", false, func(ctx context.Context, q querier) error {
		return s.insertAccessToken(ctx, q, t)
	})
}

func (s *Store) insertAccessToken(ctx context.Context, q querier, t *storage.AccessToken) error {
	return s.execOn(ctx, q, "create access token", `INSERT INTO access_tokens (`+accessTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience), t.GrantID,
		millis(t.ExpiresAt), ptrMillis(t.RevokedAt), millis(t.CreatedAt), t.DPoPJKT)
}

// AccessTokenByID returns the access token id, even when it has expired or
// been revoked.
func (s *Store) AccessTokenByID(ctx context.Context, id string) (*storage.AccessToken, error) {
	return queryOne(ctx, s, "access token by id", scanAccessToken,
		`SELECT `+accessTokenColumns+` FROM access_tokens WHERE id = $1`, id)
}

// RevokeAccessToken revokes the access token id. A token revoked before
// keeps its first revocation time.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, "revoke access token",
		`UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, millis(now))
}

const refreshTokenColumns = `id, hash, family_id, client_id, user_id, scopes, audience, amr, auth_time,
	expires_at, used_at, revoked_at, created_at, dpop_jkt`

func scanRefreshToken(row scanner) (*storage.RefreshToken, error) {
	return scanDest(row, refreshTokenDest)
}

// refreshTokenDest are the scan destinations of refreshTokenColumns.
func refreshTokenDest(t *storage.RefreshToken) []any {
	return []any{&t.ID, &t.Hash, &t.FamilyID, &t.ClientID, &t.UserID,
		listCol{&t.Scopes}, listCol{&t.Audience}, listCol{&t.AMR}, timeCol{&t.AuthTime},
		timeCol{&t.ExpiresAt}, timePtrCol{&t.UsedAt}, timePtrCol{&t.RevokedAt}, timeCol{&t.CreatedAt}, &t.DPoPJKT}
}

// refreshTokenAndUser reads a refresh token and its user in one join.
var refreshTokenAndUser = `SELECT ` + qualify("t", refreshTokenColumns) + `, ` + qualify("u", userColumns) + `
	FROM refresh_tokens t JOIN users u ON u.id = t.user_id
	WHERE t.hash = $1`

// RefreshTokenAndUser returns the refresh token with the given hash, even
// used, expired or revoked, and its user, in one read.
func (s *Store) RefreshTokenAndUser(ctx context.Context, hash []byte) (*storage.RefreshToken, *storage.User, error) {
	return withUser(ctx, s, "refresh token and user", refreshTokenDest, refreshTokenAndUser, hash)
}

// withUser reads with query a row of an object, whose columns dest scans,
// followed by the columns of its user.
func withUser[T any](ctx context.Context, s *Store, op string, dest func(*T) []any, query string, args ...any) (*T, *storage.User, error) {
	var (
		v T
		u storage.User
	)
	err := s.db.QueryRowContext(ctx, query, args...).Scan(append(dest(&v), userDest(&u)...)...)
	if err != nil {
		return nil, nil, s.fail(op, err)
	}
	return &v, &u, nil
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) insertRefreshToken(ctx context.Context, e execer, t *storage.RefreshToken) error {
	return s.execOn(ctx, e, "create refresh token", `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		t.ID, t.Hash, t.FamilyID, t.ClientID, t.UserID,
		list(t.Scopes), list(t.Audience), list(t.AMR), millis(t.AuthTime),
		millis(t.ExpiresAt), ptrMillis(t.UsedAt), ptrMillis(t.RevokedAt), millis(t.CreatedAt), t.DPoPJKT)
}

// CreateRefreshToken stores t; storage.ErrConflict if its id or hash is
// taken.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	return s.write(ctx, "create refresh token", false, func(ctx context.Context, q querier) error {
		return s.insertRefreshToken(ctx, q, t)
	})
}

// RefreshTokenByHash returns the refresh token with the given hash, even
// when it has been used, has expired or has been revoked.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (*storage.RefreshToken, error) {
	return queryOne(ctx, s, "refresh token by hash", scanRefreshToken,
		`SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE hash = $1`, hash)
}

// RotateRefreshToken marks the token with oldHash used and stores next in
// its family, and access (unless nil) in that grant, in one transaction;
// next.FamilyID and access.GrantID are set to that family.
// Marking it is one conditional UPDATE, so of many concurrent callers
// exactly one succeeds. An unknown or expired token gives
// storage.ErrNotFound; a used or revoked one gives storage.ErrReplayed after
// the family has been revoked.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next *storage.RefreshToken, access *storage.AccessToken, now time.Time) error {
	const op = "rotate refresh token"
	if s.d.WritableCTE {
		return s.rotateInOneStatement(ctx, oldHash, next, access, now)
	}
	replayed := false
	err := s.write(ctx, op, true, func(ctx context.Context, tx querier) error {
		replayed = false
		var family string
		err := tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET used_at = $2
			WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
			RETURNING family_id`, oldHash, millis(now)).Scan(&family)
		if err == nil {
			next.FamilyID = family
			if err := s.insertRefreshToken(ctx, tx, next); err != nil || access == nil {
				return err
			}
			access.GrantID = family
			return s.insertAccessToken(ctx, tx, access)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return s.fail(op, err)
		}
		if family, err = s.replayedFamily(ctx, tx, oldHash); err != nil {
			return err
		}
		replayed = true
		return s.revokeGrant(ctx, tx, family, now)
	})
	if err == nil && replayed {
		return storage.ErrReplayed
	}
	return err
}

// rotateStatement is RotateRefreshToken's transaction as one statement:
// the UPDATE that marks the old token used guards the two INSERTs, which
// read its family from it. A unique violation fails the whole statement.
const rotateStatement = `WITH used AS (
	UPDATE refresh_tokens SET used_at = $1
	WHERE hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
	RETURNING family_id
), successor AS (
	INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
	SELECT $3::text, $4::bytea, family_id, $5::text, $6::text, $7::text, $8::text, $9::text, $10::bigint,
		$11::bigint, $12::bigint, $13::bigint, $14::bigint, $24::text FROM used
), access AS (
	INSERT INTO access_tokens (` + accessTokenColumns + `)
	SELECT $15::text, $16::text, $17::text, $18::text, $19::text, family_id, $20::bigint, $21::bigint, $22::bigint,
		$25::text
	FROM used WHERE $23::boolean
)
SELECT family_id FROM used`

// rotateInOneStatement is RotateRefreshToken where the database runs
// writes inside WITH. When no token was marked used, the token's state
// tells an unknown or expired one from a replay, which revokes the family.
func (s *Store) rotateInOneStatement(ctx context.Context, oldHash []byte, next *storage.RefreshToken, access *storage.AccessToken, now time.Time) error {
	const op = "rotate refresh token"
	at := access
	if at == nil {
		at = &storage.AccessToken{}
	}
	var family string
	// Resolved: a rotation that committed but lost its answer would be
	// retried as a replay, and revoke the family.
	err := s.resolvedWrite(ctx, op, func(q querier) error {
		return q.QueryRowContext(ctx, rotateStatement, millis(now), oldHash,
			next.ID, next.Hash, next.ClientID, next.UserID, list(next.Scopes), list(next.Audience), list(next.AMR),
			millis(next.AuthTime), millis(next.ExpiresAt), ptrMillis(next.UsedAt), ptrMillis(next.RevokedAt), millis(next.CreatedAt),
			at.ID, at.ClientID, at.Subject, list(at.Scopes), list(at.Audience),
			millis(at.ExpiresAt), ptrMillis(at.RevokedAt), millis(at.CreatedAt), access != nil,
			next.DPoPJKT, at.DPoPJKT).Scan(&family)
	})
	if err == nil {
		next.FamilyID = family
		if access != nil {
			access.GrantID = family
		}
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return s.fail(op, err)
	}
	if family, err = s.replayedFamily(ctx, s.db, oldHash); err != nil {
		return err
	}
	if err := s.RevokeGrant(ctx, family, now); err != nil {
		return err
	}
	return storage.ErrReplayed
}

// replayedFamily tells why the refresh token with oldHash could not be
// rotated: unknown or expired (storage.ErrNotFound), or used or revoked
// before, a replay, whose family it returns.
func (s *Store) replayedFamily(ctx context.Context, q querier, oldHash []byte) (string, error) {
	var (
		family        string
		used, revoked sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT family_id, used_at, revoked_at FROM refresh_tokens
		WHERE hash = $1`, oldHash).Scan(&family, &used, &revoked)
	if err != nil {
		return "", s.fail("rotate refresh token", err)
	}
	if !used.Valid && !revoked.Valid {
		return "", storage.ErrNotFound // expired
	}
	return family, nil
}

// RevokeGrant revokes every refresh token of the family grantID and every
// access token of the grant grantID. Tokens revoked before keep their first
// revocation time. An empty grantID (client credentials) revokes nothing.
func (s *Store) RevokeGrant(ctx context.Context, grantID string, now time.Time) error {
	return s.inTx(ctx, "revoke grant", func(tx *stmtTx) error {
		return s.revokeGrant(ctx, tx, grantID, now)
	})
}

func (s *Store) revokeGrant(ctx context.Context, e execer, grantID string, now time.Time) error {
	return s.revokeGrantOf(ctx, e, grantID, "", now)
}

// revokeGrantOf revokes the tokens of the grant grantID issued to the
// client clientID, or to any client when clientID is "".
func (s *Store) revokeGrantOf(ctx context.Context, e execer, grantID, clientID string, now time.Time) error {
	if grantID == "" {
		return nil
	}
	return s.revokeTokens(ctx, e, "revoke grant",
		`UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL AND ($3 = '' OR client_id = $3)`,
		`UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL AND ($3 = '' OR client_id = $3)`,
		grantID, millis(now), clientID)
}

// revokeTokens runs refresh, which revokes refresh tokens, until it
// revokes none, and then access, which revokes their access tokens, both
// with args, in the transaction of e.
//
// Once is not enough on PostgreSQL: a statement sees the rows committed
// before it began, and a rotation (RotateRefreshToken) committing while it
// runs inserts a successor it does not see; it revokes the token rotated
// away, and the successor, with its access token, would live on. The next
// statement sees it. A rotation of a token revoked here waits for this
// transaction and then fails, so a statement that revokes nothing leaves
// no rotation in flight, and the access tokens are revoked after it.
// (SQLite runs one writer at a time: the second statement revokes
// nothing.)
func (s *Store) revokeTokens(ctx context.Context, e execer, op, refresh, access string, args ...any) error {
	for {
		res, err := e.ExecContext(ctx, refresh, args...)
		if err != nil {
			return s.fail(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.fail(op, err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := e.ExecContext(ctx, access, args...); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// RevokeUserTokens revokes every refresh token of the user userID and every
// access token issued to it from a grant, in one transaction. Access tokens
// of client credentials (no grant; their subject is a client id) are left
// alone, and tokens revoked before keep their first revocation time. An
// empty userID revokes nothing.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, now time.Time) error {
	const op = "revoke user tokens"
	if userID == "" {
		return nil
	}
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		return s.revokeTokens(ctx, tx, op,
			`UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
			`UPDATE access_tokens SET revoked_at = $2
				WHERE subject = $1 AND grant_id <> '' AND revoked_at IS NULL`,
			userID, millis(now))
	})
}
