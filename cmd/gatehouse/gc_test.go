package main

import "testing"

// TestGCSettings checks what serve sets the garbage collector to: its own
// target and a limit under the cgroup's, each only where the operator's
// environment does not set it.
func TestGCSettings(t *testing.T) {
	t.Parallel()
	const hashing = 38 << 20 // two argon2id hashes of 19 MiB
	const limit = serveMemoryHeadroom + hashing
	tests := []struct {
		name        string
		env         map[string]string
		memoryMax   string
		wantPercent int
		wantLimit   int64
	}{
		{"no environment, no cgroup limit", nil, "", serveGCPercent, limit},
		{"no environment, cgroup without limit", nil, "max\n", serveGCPercent, limit},
		{"no environment, cgroup limit of 8 GiB", nil, "8589934592\n", serveGCPercent, limit},
		{"no environment, cgroup limit of 128 MiB", nil, "134217728\n", serveGCPercent, 107374176},
		{"GOGC set", map[string]string{"GOGC": "100"}, "", -1, limit},
		{"GOGC off", map[string]string{"GOGC": "off"}, "134217728", -1, 107374176},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "320MiB"}, "402653184", serveGCPercent, -1},
		{"both set", map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"}, "402653184", -1, -1},
		{"unreadable limit", nil, "lots", serveGCPercent, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			percent, limit := gcSettings(func(k string) string { return tt.env[k] }, tt.memoryMax, hashing)
			if percent != tt.wantPercent || limit != tt.wantLimit {
				t.Errorf("gcSettings = %d, %d; want %d, %d", percent, limit, tt.wantPercent, tt.wantLimit)
			}
		})
	}
}
