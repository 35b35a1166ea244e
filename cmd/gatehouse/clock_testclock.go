//go:build testclock

package main

import (
	"os"
	"strings"
	"time"
)

// clockFromEnv returns a clock running GATEHOUSE_TEST_CLOCK_FILE's offset
// (a Go duration such as "10m1s") ahead of the real time, re-read on every
// call so that a test can move time while the server runs. Only test
// builds (-tags testclock) contain it.
func clockFromEnv(getenv func(string) string) func() time.Time {
	path := getenv("GATEHOUSE_TEST_CLOCK_FILE")
	if path == "" {
		return time.Now
	}
	return func() time.Time {
		data, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(data)))
		if err != nil {
			return time.Now()
		}
		return time.Now().Add(d)
	}
}
