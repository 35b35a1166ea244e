package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// codeGrant reads a code's auth request, its user and the session its
// grant belongs to (backchannel.go's GrantSession) in one join.
var codeGrant = `SELECT ` + qualify("ar", authRequestColumns) + `, ` + qualify("u", userColumns) + `,
		COALESCE(ss.sid_source, g.session_id, '')
	FROM auth_codes c
	JOIN auth_requests ar ON ar.id = c.auth_request_id
	JOIN users u ON u.id = ar.user_id
	LEFT JOIN session_grants g ON g.grant_id = ar.id
	LEFT JOIN session_sids ss ON ss.session_id = g.session_id
	WHERE c.hash = $1`

// CodeGrant returns the auth request of the code with the given hash, its
// user and the id its session's sid derives from ("" for none), in one
// read; storage.ErrNotFound when the code is unknown or its request is
// gone (the code was used) or has no user.
func (s *Store) CodeGrant(ctx context.Context, hash []byte) (*storage.AuthRequest, *storage.User, string, error) {
	var (
		u   storage.User
		sid string
	)
	ar, err := scanAuthRequest(moreCols{s.db.QueryRowContext(ctx, codeGrant, hash), append(userDest(&u), &sid)})
	if err != nil {
		return nil, nil, "", s.fail("code grant", err)
	}
	return ar, &u, sid, nil
}

// RedeemAuthCode reads the grant of the code with the given hash, marks
// the code used, deletes its request and stores the tokens issue returns
// for it; the grant is read before the use commits, and issue may refuse
// it before the use, which leaves the code as it was. A code whose request
// is another client's than clientID is left as it was: a client that
// presents a code it stole must not use it up for the one it was issued
// to.
//
// Where the database runs writes inside WITH (PostgreSQL), the read comes
// first and the use is one statement (UseAuthCode): two round trips.
// Elsewhere (SQLite) the read runs inside the write's transaction, on the
// one connection that writes. A reader connection in WAL mode drops its
// whole page cache whenever another connection has committed, so under
// load CodeGrant's join read every page it needed anew from the log and
// the file; the writer's cache stays valid, for it made every change
// itself. It also makes the exchange one trip through the group commit.
func (s *Store) RedeemAuthCode(ctx context.Context, hash []byte, clientID string, now time.Time, issue func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error)) (*storage.AuthRequest, *storage.User, string, error) {
	const op = "redeem auth code"
	if s.d.WritableCTE {
		ar, u, sid, err := s.CodeGrant(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil, "", s.unusableCode(ctx, op, hash, clientID, now)
		}
		if err != nil {
			return nil, nil, "", err
		}
		if ar.ClientID != clientID {
			return nil, nil, "", storage.ErrNotFound
		}
		access, refresh, err := issue(ar)
		if err != nil {
			return nil, nil, "", err
		}
		if err := s.UseAuthCode(ctx, hash, ar.ID, now, access, refresh); err != nil {
			return nil, nil, "", err
		}
		return ar, u, sid, nil
	}
	var (
		ar  *storage.AuthRequest
		u   storage.User
		sid string
	)
	err := s.write(ctx, op, true, func(ctx context.Context, q querier) error {
		var err error
		ar, err = scanAuthRequest(moreCols{q.QueryRowContext(ctx, codeGrant, hash), append(userDest(&u), &sid)})
		if errors.Is(err, sql.ErrNoRows) {
			return errCodeUnusable
		}
		if err != nil {
			return s.fail(op, err)
		}
		if ar.ClientID != clientID {
			return errAnotherClient
		}
		access, refresh, err := issue(ar)
		if err != nil {
			return refusal{err}
		}
		n, err := s.execCount(ctx, q, op, `UPDATE auth_codes SET used_at = $2
			WHERE hash = $1 AND used_at IS NULL AND expires_at > $2`, hash, millis(now))
		if err != nil {
			return err
		}
		if n == 0 {
			return errCodeUnusable
		}
		// The request is done with: it goes in the same commit, and so
		// do the tokens issued for it.
		if err := s.execOneOn(ctx, q, op, `DELETE FROM auth_requests WHERE id = $1`, ar.ID); err != nil {
			return err
		}
		return s.insertTokens(ctx, q, access, refresh)
	})
	var refused refusal
	switch {
	case errors.As(err, &refused):
		return nil, nil, "", refused.err
	case errors.Is(err, errCodeUnusable):
		return nil, nil, "", s.unusableCode(ctx, op, hash, clientID, now)
	case errors.Is(err, errAnotherClient):
		return nil, nil, "", storage.ErrNotFound
	case err != nil:
		return nil, nil, "", err
	}
	return ar, &u, sid, nil
}

// refusal rolls back a code's use that the caller's issue refused with
// err, apart from the write's own errors.
type refusal struct{ err error }

func (r refusal) Error() string { return "storage: code exchange refused: " + r.err.Error() }

// errAnotherClient rolls back a code's use by a client the code was not
// issued to.
var errAnotherClient = errors.New("storage: the code is another client's")

// moreCols is a row whose Scan fills more after the destinations it is
// given: a scan function of one table reads a join of it with others.
type moreCols struct {
	row  scanner
	more []any
}

func (r moreCols) Scan(dest ...any) error { return r.row.Scan(append(dest, r.more...)...) }
