//go:build !testclock

package main

import "time"

// clockFromEnv returns the server's clock: the real one. Builds with the
// testclock tag replace it with one the end-to-end tests can move.
func clockFromEnv(func(string) string) func() time.Time { return time.Now }
