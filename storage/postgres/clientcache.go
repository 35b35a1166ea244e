package postgres

// The replicas keep the clients they read in memory, under the count of
// changes to clients that the clients table's trigger keeps
// (client_generation, migration 0019), as on SQLite: a lookup reads the
// count, shared with the lookups that ask at once, and answers from memory
// while it is unchanged (storage/internal/sqlstore/clientcache.go). A
// lookup that begins after a change has committed, at this replica or any
// other, through the CLI or by SQL by hand, sees it.
//
// Until then the replicas emptied their caches on PostgreSQL's
// notifications of the changes (migration 0008's trigger), which reach a
// replica only some time after the commit: a client disabled, or its
// secret rotated, at one replica was still served by the others meanwhile.
// The trigger stays, for replicas of earlier versions during a rolling
// upgrade.

// ClientCacheStats reports the client cache: on (it does not depend on
// notifications), the lookups answered from memory and from the database,
// and the clients held in memory.
func (s *Store) ClientCacheStats() (live bool, hits, misses int64, entries int) {
	hits, misses, entries = s.ClientLookupStats()
	return true, hits, misses, entries
}
