package sqlstore

import (
	"context"

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

// moreCols is a row whose Scan fills more after the destinations it is
// given: a scan function of one table reads a join of it with others.
type moreCols struct {
	row  scanner
	more []any
}

func (r moreCols) Scan(dest ...any) error { return r.row.Scan(append(dest, r.more...)...) }
