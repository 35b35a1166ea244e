package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// EnsureWebAuthnHandle returns the user's WebAuthn user handle, storing
// handle as it first if the user has none. The insert does nothing when a
// handle exists, so concurrent callers all read back the one stored first.
// storage.ErrNotFound if the user does not exist.
func (s *Store) EnsureWebAuthnHandle(ctx context.Context, userID string, handle []byte, now time.Time) ([]byte, error) {
	const op = "ensure webauthn handle"
	_, err := s.db.ExecContext(ctx, `INSERT INTO webauthn_users (user_id, handle, created_at)
		VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING`, userID, handle, millis(now))
	if err != nil {
		return nil, s.fail(op, err)
	}
	var stored []byte
	err = s.db.QueryRowContext(ctx, `SELECT handle FROM webauthn_users WHERE user_id = $1`, userID).Scan(&stored)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return stored, nil
}

// UserByWebAuthnHandle returns the user whose WebAuthn user handle it is.
func (s *Store) UserByWebAuthnHandle(ctx context.Context, handle []byte) (*storage.User, error) {
	return queryOne(ctx, s, "user by webauthn handle", scanUser, `SELECT `+userColumns+` FROM users
		WHERE id = (SELECT user_id FROM webauthn_users WHERE handle = $1)`, handle)
}

const webauthnColumns = `id, user_id, name, public_key, sign_count, backup_eligible, backup_state,
	transports, aaguid, attestation_type, created_at, last_used_at, clone_warning`

func scanWebAuthnCredential(row scanner) (*storage.WebAuthnCredential, error) {
	var c storage.WebAuthnCredential
	var count int64
	err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.PublicKey, &count, &c.BackupEligible, &c.BackupState,
		listCol{&c.Transports}, &c.AAGUID, &c.AttestationType, timeCol{&c.CreatedAt}, timeCol{&c.LastUsedAt},
		&c.CloneWarning)
	if err != nil {
		return nil, err
	}
	c.SignCount = uint32(count)
	return &c, nil
}

// AddWebAuthnCredential stores c; storage.ErrConflict if its id is taken,
// storage.ErrNotFound if its user does not exist, storage.ErrFull if the
// user has max credentials already (max > 0) or, with first, any second
// factor (a credential, a confirmed TOTP secret, emailed codes). The
// checks and the insert run in one transaction that first locks the
// user's row (SQLite's write transactions serialise anyway), so that
// parallel additions cannot pass the checks together.
func (s *Store) AddWebAuthnCredential(ctx context.Context, c *storage.WebAuthnCredential, max int, first bool) error {
	const op = "add webauthn credential"
	return s.inTx(ctx, op, func(tx *stmtTx) error {
		if max > 0 || first {
			var emailOTP bool
			err := tx.QueryRowContext(ctx, `SELECT email_otp FROM users WHERE id = $1`+s.d.LockRow, c.UserID).Scan(&emailOTP)
			if err != nil {
				return s.fail(op, err)
			}
			var keys, totp int
			err = tx.QueryRowContext(ctx, `SELECT
				(SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = $1),
				(SELECT COUNT(*) FROM totp_secrets WHERE user_id = $1 AND confirmed = TRUE)`, c.UserID).Scan(&keys, &totp)
			if err != nil {
				return s.fail(op, err)
			}
			if max > 0 && keys >= max || first && (keys > 0 || totp > 0 || emailOTP) {
				return storage.ErrFull
			}
		}
		return s.execOn(ctx, tx, op, `INSERT INTO webauthn_credentials (`+webauthnColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			c.ID, c.UserID, c.Name, c.PublicKey, int64(c.SignCount), c.BackupEligible, c.BackupState,
			list(c.Transports), nullBytes(c.AAGUID), c.AttestationType, millis(c.CreatedAt), nullMillis(c.LastUsedAt),
			c.CloneWarning)
	})
}

// WebAuthnCredentials lists the user's credentials, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, userID string) ([]storage.WebAuthnCredential, error) {
	const op = "list webauthn credentials"
	return queryAll(ctx, s, op, scanWebAuthnCredential, `SELECT `+webauthnColumns+` FROM webauthn_credentials
		WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

// WebAuthnCredentialByID returns the credential with the given id.
func (s *Store) WebAuthnCredentialByID(ctx context.Context, id []byte) (*storage.WebAuthnCredential, error) {
	return queryOne(ctx, s, "webauthn credential by id", scanWebAuthnCredential, `SELECT `+webauthnColumns+`
		FROM webauthn_credentials WHERE id = $1`, id)
}

// UpdateWebAuthnCredentialUse records a sign-in with the credential id at
// now. With cloneWarning it only sets the credential's clone warning.
// Otherwise one conditional UPDATE stores the counter, backup state and
// time of use, provided the counter went forward (or both counts are 0,
// an authenticator without a counter): of two sign-ins with the same
// counter value only one succeeds, the other gets storage.ErrReplayed.
// storage.ErrNotFound if the credential does not exist.
func (s *Store) UpdateWebAuthnCredentialUse(ctx context.Context, id []byte, signCount uint32, backupState, cloneWarning bool, now time.Time) error {
	const op = "update webauthn credential use"
	if cloneWarning {
		return s.execOne(ctx, op, `UPDATE webauthn_credentials SET clone_warning = TRUE WHERE id = $1`, id)
	}
	n, err := s.execCount(ctx, s.db, op, `UPDATE webauthn_credentials
		SET sign_count = $2, backup_state = $3, last_used_at = $4
		WHERE id = $1 AND ($2 > sign_count OR ($2 = 0 AND sign_count = 0))`,
		id, int64(signCount), backupState, millis(now))
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := s.WebAuthnCredentialByID(ctx, id); err != nil {
		return err
	}
	return storage.ErrReplayed
}

// DeleteWebAuthnCredential removes the user's credential id;
// storage.ErrNotFound if the user has no such credential.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte) error {
	return s.execOne(ctx, "delete webauthn credential",
		`DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2`, userID, id)
}

// PutWebAuthnSession stores a ceremony's data under key until expires;
// storage.ErrConflict if key is taken.
func (s *Store) PutWebAuthnSession(ctx context.Context, key string, data []byte, expires time.Time) error {
	return s.exec(ctx, "put webauthn session", `INSERT INTO webauthn_sessions (id, data, expires_at) VALUES ($1, $2, $3)`,
		key, data, millis(expires))
}

// TakeWebAuthnSession deletes the data under key and returns it, in one
// DELETE … RETURNING: of concurrent callers exactly one gets it. Data that
// is unknown, taken or expired at now gives storage.ErrNotFound. It also
// clears the expired ceremonies of everyone.
func (s *Store) TakeWebAuthnSession(ctx context.Context, key string, now time.Time) ([]byte, error) {
	const op = "take webauthn session"
	var data []byte
	var expires time.Time
	err := s.db.QueryRowContext(ctx, `DELETE FROM webauthn_sessions WHERE id = $1 RETURNING data, expires_at`, key).
		Scan(&data, timeCol{&expires})
	if err != nil {
		return nil, s.fail(op, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM webauthn_sessions WHERE expires_at <= $1`, millis(now)); err != nil {
		return nil, s.fail(op, err)
	}
	if !expires.After(now) {
		return nil, storage.ErrNotFound
	}
	return data, nil
}
