//go:build testclock

package main

// skewCheckOff reports whether GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off turns the
// clock-skew check off: tests that move the server's clock to make codes
// and blocks expire move it away from the database's on purpose. Only test
// builds (-tags testclock) honour it.
func skewCheckOff(getenv func(string) string) bool {
	return getenv("GATEHOUSE_TEST_CLOCK_SKEW_CHECK") == "off"
}
