package config

import (
	"strings"
	"testing"
)

// TestDatabaseMaxConns checks the database.max_conns key: read from the
// environment, refused out of range with a message naming it.
func TestDatabaseMaxConns(t *testing.T) {
	tests := []struct {
		value   string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"12", 12, false},
		{"-1", 0, true},
		{"10001", 0, true},
		{"many", 0, true},
	}
	for _, tt := range tests {
		env := map[string]string{"GATEHOUSE_DATABASE_MAX_CONNS": tt.value}
		cfg, err := Load("", func(k string) string { return env[k] })
		switch {
		case tt.wantErr && (err == nil || !strings.Contains(err.Error(), "database.max_conns")):
			t.Errorf("max_conns %q: error %v, want one naming database.max_conns", tt.value, err)
		case !tt.wantErr && err != nil:
			t.Errorf("max_conns %q: %v", tt.value, err)
		case !tt.wantErr && cfg.Database.MaxConns != tt.want:
			t.Errorf("max_conns %q: got %d, want %d", tt.value, cfg.Database.MaxConns, tt.want)
		}
	}
}
