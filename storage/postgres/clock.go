package postgres

import (
	"context"
	"time"
)

// DBNow returns the database server's clock, to which gatehouse compares
// its own: every replica runs its clock by the database's, so that the
// times it writes and the expiry it judges (codes, blocks, sessions,
// tokens) agree with the other replicas'. It is not part of storage.Store;
// SQLite runs in the process and has no clock of its own.
func (s *Store) DBNow(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&t)
	return t, err
}
