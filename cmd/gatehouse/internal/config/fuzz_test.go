package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig feeds arbitrary YAML to the config loader: it must return
// a config or an error, never panic, and every error must name a key or
// the file.
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile("../../../../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(example), "", "issuer: https://id.example.com\n",
		"http: {address: ':0', trusted_proxies: [10.0.0.0/8]}\n", "lockout:\n  block_duration: 10m\n  max_attempts: 3\n",
		"bogus: 1\n", "http:\n  nope: 1\n", "- a\n- b\n", "issuer: &a x\nmail: *a\n", "{{{", "session: {lifetime: -1s}\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, func(string) string { return "" })
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted a config Validate refuses: %v", verr)
			}
			return
		}
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}
