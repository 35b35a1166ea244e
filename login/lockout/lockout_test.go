package lockout

import (
	"net/netip"
	"testing"
	"time"
)

func TestIPKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.2", "127.0.0.2"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		if got := IPKey(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("IPKey(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMinutesLeft(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want int
	}{
		{10 * time.Minute, 10},
		{9*time.Minute + time.Second, 10},
		{9 * time.Minute, 9},
		{time.Second, 1},
		{0, 0},
		{-time.Minute, 0},
	}
	for _, tt := range tests {
		if got := MinutesLeft(now, now.Add(tt.d)); got != tt.want {
			t.Errorf("MinutesLeft(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
