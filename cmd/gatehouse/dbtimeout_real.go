//go:build !testclock

package main

import "time"

// cliDBTimeout is dbTimeout: outside test builds nothing changes it.
func cliDBTimeout(func(string) string) time.Duration { return dbTimeout }
