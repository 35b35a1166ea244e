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

// TestCLIStrayArguments covers a misspelt flag after an id, and an
// argument a command does not take: the message names the flag, and a
// command given an argument it does not take does nothing. (Before,
// "clients update ID --nmae x" said "expected one client id", and
// "keys rotate now" rotated the keys, ignoring "now".)
func TestCLIStrayArguments(t *testing.T) {
	t.Parallel()
	g := newGatehouse(t, "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	c := g.createClient("--name", "Stray App", "--redirect-uri", biWebCB)
	g.createUser("stray@example.com", "Stray", biPassword)
	g.cli("", "keys", "list")
	keysBefore := g.cli("", "keys", "list")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"misspelt flag after the id", []string{"clients", "update", c.ID, "--nmae", "x"},
			"gatehouse: clients update: unknown flag --nmae (see gatehouse clients update --help)"},
		{"misspelt flag with its value", []string{"clients", "update", c.ID, "--requre-mfa=true"},
			"gatehouse: clients update: unknown flag --requre-mfa (see gatehouse clients update --help)"},
		{"misspelt flag after an email", []string{"users", "show", "stray@example.com", "--jsn"},
			"gatehouse: users show: unknown flag --jsn"},
		{"two ids", []string{"clients", "show", c.ID, c.ID}, "gatehouse: clients show: expected one client id, got 2 arguments"},
		{"keys rotate with an argument", []string{"keys", "rotate", "now"}, "gatehouse: keys rotate: unexpected argument now"},
		{"keys list with an argument", []string{"keys", "list", "all"}, "gatehouse: keys list: unexpected argument all"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := g.tryCLI("", tt.args...)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Errorf("gatehouse %s: %v\n%s\nwant a usage error with %q", strings.Join(tt.args, " "), err, stderr, tt.want)
			}
		})
	}
	if after := g.cli("", "keys", "list"); after != keysBefore {
		t.Errorf("keys changed by commands that were refused:\nbefore\n%s\nafter\n%s", keysBefore, after)
	}
}
