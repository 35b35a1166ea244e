//go:build !testclock

package main

// skewCheckOff reports whether the clock-skew check is turned off: never,
// outside test builds.
func skewCheckOff(func(string) string) bool { return false }
