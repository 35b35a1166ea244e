package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age_ns, login_hint,
	ui_locales, acr_values, hint_subject, binding_hash, user_id, auth_time, amr, acr, done,
	created_at, expires_at, dpop_jkt`

func scanAuthRequest(row scanner) (*storage.AuthRequest, error) {
	var (
		ar     storage.AuthRequest
		maxAge sql.NullInt64
	)
	err := row.Scan(&ar.ID, &ar.ClientID, &ar.RedirectURI, listCol{&ar.Scopes}, &ar.State, &ar.Nonce,
		&ar.ResponseType, &ar.ResponseMode, &ar.CodeChallenge, &ar.CodeChallengeMethod,
		listCol{&ar.Prompt}, &maxAge, &ar.LoginHint, listCol{&ar.UILocales}, listCol{&ar.ACRValues},
		&ar.HintSubject, &ar.BindingHash, stringCol{&ar.UserID}, timeCol{&ar.AuthTime},
		listCol{&ar.AMR}, &ar.ACR, &ar.Done, timeCol{&ar.CreatedAt}, timeCol{&ar.ExpiresAt}, &ar.DPoPJKT)
	if err != nil {
		return nil, err
	}
	if maxAge.Valid {
		d := time.Duration(maxAge.Int64)
		ar.MaxAge = &d
	}
	return &ar, nil
}

// CreateAuthRequest adds ar; storage.ErrConflict if the id is taken and
// storage.ErrNotFound if its client or user does not exist.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *storage.AuthRequest) error {
	var maxAge any
	if ar.MaxAge != nil {
		maxAge = int64(*ar.MaxAge)
	}
	return s.write(ctx, "create auth request", false, func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
				$19, $20, $21, $22, $23, $24, $25)`,
			ar.ID, ar.ClientID, ar.RedirectURI, list(ar.Scopes), ar.State, ar.Nonce,
			ar.ResponseType, ar.ResponseMode, ar.CodeChallenge, ar.CodeChallengeMethod,
			list(ar.Prompt), maxAge, ar.LoginHint, list(ar.UILocales), list(ar.ACRValues),
			ar.HintSubject, nullBytes(ar.BindingHash), nullString(ar.UserID), nullMillis(ar.AuthTime),
			list(ar.AMR), ar.ACR, ar.Done, millis(ar.CreatedAt), millis(ar.ExpiresAt), ar.DPoPJKT)
		if err != nil {
			return s.fail("create auth request", err)
		}
		return nil
	})
}

// AuthRequestByID returns the auth request id, even when it has expired.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (*storage.AuthRequest, error) {
	return queryOne(ctx, s, "auth request by id", scanAuthRequest,
		`SELECT `+authRequestColumns+` FROM auth_requests WHERE id = $1`, id)
}

// ClaimAuthRequest lets the done auth request id, bound to bindingHash,
// yield its authorization response once: one conditional UPDATE, so that
// parallel claims on any number of replicas have one winner. It runs as a
// transaction of its own, so that a claim whose COMMIT loses its
// connection is resolved (CommitCheck) rather than failed: a claim that
// committed must not be answered as failed, since a retry would find the
// request claimed.
func (s *Store) ClaimAuthRequest(ctx context.Context, id string, bindingHash []byte) error {
	const op = "claim auth request"
	if len(bindingHash) == 0 {
		return errors.New("storage: claim auth request: empty binding hash")
	}
	err := s.write(ctx, op, true, func(ctx context.Context, q querier) error {
		return s.execOneOn(ctx, q, op, `UPDATE auth_requests SET binding_hash = $3
			WHERE id = $1 AND binding_hash = $2 AND done = $4`, id, bindingHash, storage.ClaimedBinding(bindingHash), true)
	})
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM auth_requests WHERE id = $1`, id).Scan(&one)
	if err != nil {
		return s.fail("claim auth request", err)
	}
	return storage.ErrConflict
}

// SetAuthRequestUser records userID on the auth request id.
func (s *Store) SetAuthRequestUser(ctx context.Context, id, userID string) error {
	return s.execOne(ctx, "set auth request user",
		`UPDATE auth_requests SET user_id = $2 WHERE id = $1`, id, nullString(userID))
}

// EndPendingSignIns clears the user of userID's auth requests that are not
// done, and deletes those done, in one transaction. A done request is
// deleted when its code is exchanged: those left are unclaimed, or their
// code is not exchanged yet, and it cannot be once they are gone
// (CodeGrant finds no request).
func (s *Store) EndPendingSignIns(ctx context.Context, userID string) error {
	const op = "end pending sign-ins"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if err := s.execOn(ctx, tx, op, `UPDATE auth_requests SET user_id = NULL WHERE user_id = $1 AND done = $2`, userID, false); err != nil {
			return err
		}
		return s.execOn(ctx, tx, op, `DELETE FROM auth_requests WHERE user_id = $1 AND done = $2`, userID, true)
	})
}

// CompleteAuthRequest marks the auth request id done for userID, if it has
// not expired at now: the caller's clock, as every check of the sign-in
// reads it, however recently the caller found the request live. The
// condition is the UPDATE's, so that an expired request is not written;
// it is then told from an unknown one (ErrConflict, not ErrNotFound).
func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, acr string, now time.Time) error {
	const op = "complete auth request"
	if userID == "" {
		return fmt.Errorf("storage: %s %q: no user", op, id)
	}
	err := s.execOne(ctx, op, `UPDATE auth_requests
		SET user_id = $2, auth_time = $3, amr = $4, acr = $5, done = $6 WHERE id = $1 AND expires_at > $7`,
		id, userID, nullMillis(authTime), list(amr), acr, true, millis(now))
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM auth_requests WHERE id = $1`, id).Scan(&one); err != nil {
		return s.fail(op, err)
	}
	return storage.ErrConflict // expired
}

// DeleteAuthRequest removes the auth request id. Codes issued for it stay
// behind, so that presenting one again is still seen as a replay.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete auth request", `DELETE FROM auth_requests WHERE id = $1`, id)
}
