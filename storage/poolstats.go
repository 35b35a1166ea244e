package storage

import "time"

// PoolStats describes a backend's database connection pool at one moment.
// Backends that pool connections implement a PoolStats() PoolStats method;
// it is optional, so callers find it with a type assertion.
type PoolStats struct {
	InUse   int // connections lent out now
	Idle    int // open connections waiting for work
	MaxOpen int // the pool's limit; 0 means none
	// Waits counts the requests for a connection that had to wait for one
	// because the pool was exhausted; WaitTime is their total wait.
	Waits    int64
	WaitTime time.Duration
}
