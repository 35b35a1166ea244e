package main

import "testing"

// TestGCSettings checks what serve sets the garbage collector to: its own
// target and a limit under the cgroup's, each only where the operator's
// environment does not set it.
func TestGCSettings(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		memoryMax   string
		wantPercent int
		wantLimit   int64
	}{
		{"no environment, no cgroup limit", nil, "", serveGCPercent, -1},
		{"no environment, cgroup without limit", nil, "max\n", serveGCPercent, -1},
		{"no environment, cgroup limit of 384 MiB", nil, "402653184\n", serveGCPercent, 322122544},
		{"GOGC set", map[string]string{"GOGC": "100"}, "", -1, -1},
		{"GOGC off", map[string]string{"GOGC": "off"}, "402653184", -1, 322122544},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "320MiB"}, "402653184", serveGCPercent, -1},
		{"both set", map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"}, "402653184", -1, -1},
		{"unreadable limit", nil, "lots", serveGCPercent, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			percent, limit := gcSettings(func(k string) string { return tt.env[k] }, tt.memoryMax)
			if percent != tt.wantPercent || limit != tt.wantLimit {
				t.Errorf("gcSettings = %d, %d; want %d, %d", percent, limit, tt.wantPercent, tt.wantLimit)
			}
		})
	}
}
