package sqlstore

import "github.com/gatehouse-idp/gatehouse/storage"

// PoolStats reports database/sql's connection pool.
func (s *Store) PoolStats() storage.PoolStats {
	st := s.db.Stats()
	return storage.PoolStats{
		InUse: st.InUse, Idle: st.Idle, MaxOpen: st.MaxOpenConnections,
		Waits: st.WaitCount, WaitTime: st.WaitDuration,
	}
}
