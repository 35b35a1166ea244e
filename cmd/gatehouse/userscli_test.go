package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersCreateBadField covers users create with a bad --name or
// --email: the message says what is wrong without blaming the other flag.
// (Before, every such error began "--email:", a bad name included.)
func TestUsersCreateBadField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := biEnv(
		"GATEHOUSE_DATABASE_URL=sqlite:"+filepath.Join(dir, "g.db"),
		"GATEHOUSE_SECRETS_KEY_FILE="+filepath.Join(dir, "secret.key"),
	)
	for _, tt := range []struct {
		name, email, displayName string
		want, notWant            string
	}{
		{"name with a newline", "bob@example.com", "Bob\nSmith",
			"gatehouse: users create: the name must be UTF-8 text without control characters", "--email"},
		{"name too long", "bob@example.com", strings.Repeat("n", 201),
			"gatehouse: users create: the name is longer than 200 bytes", "--email"},
		{"bad email", "not-an-email", "Bob",
			`gatehouse: users create: "not-an-email" is not an email address`, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := biRun(t, env, biPassword+"\n", "users", "create", "--email", tt.email, "--name", tt.displayName, "--password-stdin")
			if code != 2 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, tt.notWant) {
				t.Errorf("users create exited %d with\n%s\nwant exit 2 and %q, without %q", code, stderr, tt.want, tt.notWant)
			}
		})
	}
}
