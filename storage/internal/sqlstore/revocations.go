package sqlstore

import (
	"context"
	"sync"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// maxRevokedSet bounds a revokedSet; past it, each question reads the
// token's record.
const maxRevokedSet = 4096

// A revokedSet keeps the ids of the revoked unrecorded tokens, as read
// after the count of their revocations (client_generation.revocations,
// migration 0021) was: every revocation committed before that count was
// read is in it. A question asked with the same count, read during the
// question's request (storage.RequestCounts), is answered from memory, as
// fresh as a read of the token's record would be. Another count, higher
// or lower (a restored database), loads the set again.
type revokedSet struct {
	mu     sync.Mutex
	count  int64
	loaded bool
	ids    map[string]struct{}
	// tooMany: more records than maxRevokedSet under count.
	tooMany bool
	// answers and loads count the questions answered from the set and
	// the times it was read.
	answers, loads int64
}

// RevokedSetStats reports the questions of UnrecordedRevoked answered from
// memory and the times the revoked ids were read; zero where the Store
// keeps none (Dialect.RevokedSet off).
func (s *Store) RevokedSetStats() (answers, loads int64) {
	if s.revoked == nil {
		return 0, 0
	}
	s.revoked.mu.Lock()
	defer s.revoked.mu.Unlock()
	return s.revoked.answers, s.revoked.loads
}

// newRevokedSet returns the set a Store of dialect d keeps, or nil.
func newRevokedSet(d Dialect) *revokedSet {
	if !d.ClientGeneration || !d.RevokedSet {
		return nil
	}
	return &revokedSet{}
}

// UnrecordedRevoked reports whether the unrecorded access token id has a
// record, which is its revocation: from the revoked set when the request
// read the count of revocations (with its client, cachedClientByID),
// else with a read of the record.
func (s *Store) UnrecordedRevoked(ctx context.Context, id string) (bool, error) {
	if _, count, ok := storage.RequestCountsFrom(ctx).Get(); ok && s.revoked != nil {
		if revoked, ok, err := s.revoked.has(ctx, s, count, id); ok || err != nil {
			return revoked, err
		}
	}
	var found bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM access_tokens WHERE id = $1)`, id).Scan(&found)
	if err != nil {
		return false, s.fail("unrecorded token's revocation", err)
	}
	return found, nil
}

// has reports whether id is in the set under count, loading it if it is
// held under another count; ok is false when the set cannot answer (too
// many records).
func (r *revokedSet) has(ctx context.Context, s *Store, count int64, id string) (revoked, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded || r.count != count {
		if err := r.load(ctx, s, count); err != nil {
			return false, false, err
		}
	}
	if r.tooMany {
		return false, false, nil
	}
	_, revoked = r.ids[id]
	r.answers++
	return revoked, true, nil
}

// load reads the ids of the revoked unrecorded tokens, after count was
// read. The range is the prefix's: ids from "cc." up to "cc/", the next
// byte, which the primary key's index answers.
func (r *revokedSet) load(ctx context.Context, s *Store, count int64) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM access_tokens WHERE id >= $1 AND id < $2 LIMIT $3`,
		storage.UnrecordedPrefix, prefixEnd(storage.UnrecordedPrefix), maxRevokedSet+1)
	if err != nil {
		return s.fail("revoked unrecorded tokens", err)
	}
	defer rows.Close()
	ids := make(map[string]struct{})
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return s.fail("revoked unrecorded tokens", err)
		}
		ids[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return s.fail("revoked unrecorded tokens", err)
	}
	r.count, r.loaded, r.ids, r.tooMany = count, true, ids, len(ids) > maxRevokedSet
	r.loads++
	return nil
}

// prefixEnd returns the least string above every string that starts with
// prefix, whose last byte is below 0xff.
func prefixEnd(prefix string) string {
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
}
