//go:build testclock

package main

import "time"

// cliDBTimeout is GATEHOUSE_TEST_DB_TIMEOUT (a Go duration) if set, so
// that a test of a database that never answers does not wait the whole
// dbTimeout; dbTimeout otherwise. Only test builds (-tags testclock)
// contain it.
func cliDBTimeout(getenv func(string) string) time.Duration {
	if d, err := time.ParseDuration(getenv("GATEHOUSE_TEST_DB_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return dbTimeout
}
