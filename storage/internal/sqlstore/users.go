package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const userColumns = `id, email, name, password_hash, email_verified, disabled, email_otp, created_at, updated_at, admin`

// userDest are the scan destinations of userColumns.
func userDest(u *storage.User) []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.EmailVerified, &u.Disabled, &u.EmailOTP,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.Admin}
}

func scanUser(row scanner) (*storage.User, error) {
	return scanDest(row, userDest)
}

// CreateUser adds u; storage.ErrConflict if the id or email is taken.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	return s.exec(ctx, "create user", `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.EmailVerified, u.Disabled, u.EmailOTP,
		millis(u.CreatedAt), millis(u.UpdatedAt), u.Admin)
}

// UserByID returns the user with the given id.
func (s *Store) UserByID(ctx context.Context, id string) (*storage.User, error) {
	return queryOne(ctx, s, "user by id", scanUser, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByEmail returns the user with the given (lower-cased) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*storage.User, error) {
	return queryOne(ctx, s, "user by email", scanUser, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return queryAll(ctx, s, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
}

// SearchUsers returns at most limit users whose email holds substr, by
// email. LIKE's wildcards in substr match themselves.
func (s *Store) SearchUsers(ctx context.Context, substr string, limit int) ([]storage.User, error) {
	escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(substr))
	return queryAll(ctx, s, "search users", scanUser,
		`SELECT `+userColumns+` FROM users WHERE email LIKE $1 ESCAPE '\' ORDER BY email, id LIMIT $2`, "%"+escaped+"%", limit)
}

// SetUserDisabled disables or enables the user id, if they are not so
// already, and reports whether it did. The condition is the UPDATE's, so
// that of concurrent callers one changes the user; a user already so is
// not written (updated_at stays).
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) (bool, error) {
	const op = "set user disabled"
	n, err := s.execCount(ctx, s.db, op, `UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1 AND disabled <> $2`,
		id, disabled, millis(now))
	if err != nil || n > 0 {
		return n > 0, err
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`, id).Scan(&one); err != nil {
		return false, s.fail(op, err)
	}
	return false, nil
}

// SetPasswordHash replaces the password hash of the user id.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string, now time.Time) error {
	return s.setUser(ctx, "set password hash", "password_hash", id, hash, now)
}

// SetEmailOTP turns email sign-in codes on or off for the user id.
func (s *Store) SetEmailOTP(ctx context.Context, id string, enabled bool, now time.Time) error {
	return s.setUser(ctx, "set email otp", "email_otp", id, enabled, now)
}

// SetEmailVerified marks the email of the user id verified.
func (s *Store) SetEmailVerified(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, "set email verified",
		`UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1`, id, millis(now))
}

// SetEmail replaces the email of the user id with email (which callers
// lower-case) and marks it verified; storage.ErrConflict if another user
// has it.
func (s *Store) SetEmail(ctx context.Context, id, email string, now time.Time) error {
	return s.execOne(ctx, "set email",
		`UPDATE users SET email = $2, email_verified = TRUE, updated_at = $3 WHERE id = $1`,
		id, email, millis(now))
}

// SetName replaces the name of the user id.
func (s *Store) SetName(ctx context.Context, id, name string, now time.Time) error {
	return s.setUser(ctx, "set name", "name", id, name, now)
}

// SetUserAdmin grants or revokes the administrator role of the user id.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool, now time.Time) error {
	return s.setUser(ctx, "set user admin", "admin", id, admin, now)
}

// setUser sets column of the user id to v, and its updated_at to now; op
// names the operation in errors.
func (s *Store) setUser(ctx context.Context, op, column, id string, v any, now time.Time) error {
	return s.execOne(ctx, op, `UPDATE users SET `+column+` = $2, updated_at = $3 WHERE id = $1`, id, v, millis(now))
}
