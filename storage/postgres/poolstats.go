package postgres

import "github.com/gatehouse-idp/gatehouse/storage"

// PoolStats reports the pgx connection pool, which holds the connections:
// database/sql on top of it keeps none idle.
func (s *Store) PoolStats() storage.PoolStats {
	st := s.pool.Stat()
	return storage.PoolStats{
		InUse: int(st.AcquiredConns()), Idle: int(st.IdleConns()), MaxOpen: int(st.MaxConns()),
		Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime(),
	}
}
