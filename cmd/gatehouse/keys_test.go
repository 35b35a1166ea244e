package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIWrongSecretsKey runs CLI commands against a running server's
// database with secrets.key_file pointing where there is no key (another
// directory, a mistyped path). Each must fail with an error naming
// secrets.key_file, create no key file there and store nothing sealed
// with a fresh key: a signing key no server can open stops every
// signature once it becomes active, and a client secret sealed with it
// stops that client.
func TestCLIWrongSecretsKey(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			before := g.cli("", "keys", "list")
			wrong := filepath.Join(t.TempDir(), "elsewhere", "secret.key")
			for _, args := range [][]string{
				{"keys", "rotate"},
				{"keys", "list"},
				{"clients", "create", "--name", "jwt", "--redirect-uri", "https://app.example/cb", "--token-endpoint-auth-method", "client_secret_jwt"},
			} {
				cmd := exec.Command(binary, args...)
				cmd.Env = append(append([]string{}, g.env...), "GATEHOUSE_SECRETS_KEY_FILE="+wrong)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() == 0 {
					t.Errorf("gatehouse %s with a missing secrets key file: %v, want a non-zero exit", strings.Join(args, " "), err)
				} else if !strings.Contains(stderr.String(), "secrets.key_file") || strings.Contains(stderr.String(), "panic") {
					t.Errorf("gatehouse %s with a missing secrets key file said %q, want an error naming secrets.key_file", strings.Join(args, " "), stderr.String())
				}
				if _, err := os.Stat(wrong); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("gatehouse %s created a secrets key file at the wrong path (%v)", strings.Join(args, " "), err)
				}
			}
			if after := g.cli("", "keys", "list"); after != before {
				t.Errorf("the signing keys changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if out := g.cli("", "clients", "list"); strings.Contains(out, "jwt") {
				t.Errorf("a client was created with a fresh secrets key:\n%s", out)
			}
			if out := g.cli("", "audit", "--type", "keys.rotated"); !strings.Contains(out, "(no matching events)") {
				t.Errorf("the refused rotation was audited as done:\n%s", out)
			}
		})
	}
}

// TestKeysRotateAudited: keys rotate, an administrative action, is in the
// audit log with the new keys' ids, and the log shows no key material.
func TestKeysRotateAudited(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			out := g.cli("", "keys", "rotate")
			var added []string
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[2] == "next" {
					added = append(added, f[0])
				}
			}
			if len(added) == 0 {
				t.Fatalf("keys rotate listed no next key:\n%s", out)
			}
			audit := g.cli("", "audit", "--type", "keys.rotated")
			for _, kid := range added {
				if !strings.Contains(audit, kid) {
					t.Errorf("the audit log does not name the new key %s:\n%s", kid, audit)
				}
			}
			if !strings.Contains(audit, "by an administrator (CLI)") || strings.Count(audit, "keys.rotated") != 1 {
				t.Errorf("audit of keys rotate:\n%s", audit)
			}
		})
	}
}
