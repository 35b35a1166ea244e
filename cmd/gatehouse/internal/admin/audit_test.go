package admin

import (
	"testing"
	"time"
)

// TestParseSince checks the values --since and ?since= take: a duration
// back from now, an RFC 3339 time or a date; anything else, and a negative
// duration, is refused as the caller's mistake.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2026-01-31T08:30:00Z", time.Date(2026, 1, 31, 8, 30, 0, 0, time.UTC)},
	} {
		got, err := ParseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"-1h", "yesterday", "31/01/2026"} {
		if _, err := ParseSince(in, now); KindOf(err) != Invalid {
			t.Errorf("ParseSince(%q): error %v, want one of kind Invalid", in, err)
		}
	}
}
