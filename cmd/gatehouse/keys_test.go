package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestKeyPoolDistinctPerDatabase checks the test binary's RSA key set
// (GATEHOUSE_TEST_RSA_KEYS, made by TestMain): a server on a fresh
// database signs with its first key, and a rotation adds the next one, so
// that no two keys of one database share a modulus. Without the set every
// server would generate its key, for half a second of CPU each.
func TestKeyPoolDistinctPerDatabase(t *testing.T) {
	t.Parallel()
	pool, err := os.ReadFile(os.Getenv("GATEHOUSE_TEST_RSA_KEYS"))
	if err != nil {
		t.Fatalf("the RSA key set of TestMain: %v", err)
	}
	var moduli []string
	for rest := pool; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		moduli = append(moduli, base64.RawURLEncoding.EncodeToString(k.(*rsa.PrivateKey).N.Bytes()))
	}
	if len(moduli) < 2 {
		t.Fatalf("the RSA key set holds %d keys, want at least 2", len(moduli))
	}
	// published returns the moduli of the RSA keys of g's JWKS.
	published := func(g *gatehouse) []string {
		resp, err := http.Get(g.base + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct{ Kty, N string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		var n []string
		for _, k := range set.Keys {
			if k.Kty == "RSA" {
				n = append(n, k.N)
			}
		}
		slices.Sort(n)
		return n
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			if got := published(g); !slices.Equal(got, moduli[:1]) {
				t.Fatalf("a fresh database publishes the RSA moduli %.12q, want the set's first, %.12q", got, moduli[0])
			}
			g.cli("", "keys", "rotate")
			want := slices.Sorted(slices.Values(moduli[:2]))
			// The server reads the keys again within keyCacheTTL (10 s).
			got := published(g)
			for deadline := time.Now().Add(15 * time.Second); !slices.Equal(got, want) && time.Now().Before(deadline); {
				time.Sleep(250 * time.Millisecond)
				got = published(g)
			}
			if !slices.Equal(got, want) {
				t.Errorf("after keys rotate the RSA moduli are %.12q, want the set's first two, %.12q", got, want)
			}
		})
	}
}
