package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestMisspeltVariableWarned covers a misspelt environment override: the
// command still runs (the variable sets nothing, as before), but says on
// stderr which variable it ignored and which one was meant, instead of
// silently running on the default (here a SQLite file instead of the
// database the variable named).
func TestMisspeltVariableWarned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		extra []string
		want  []string // lines of stderr
	}{
		{"no misspelling", nil, nil},
		{"misspelt database", []string{"GATEHOUSE_DATABSE_URL=postgres://db.example.com/gatehouse"},
			[]string{"gatehouse: warning: GATEHOUSE_DATABSE_URL is not a configuration variable and is ignored (did you mean GATEHOUSE_DATABASE_URL?)"}},
		{"two", []string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPT=1", "GATEHOUSE_NONSENSE=1"},
			[]string{
				"gatehouse: warning: GATEHOUSE_LOCKOUT_MAX_ATTEMPT is not a configuration variable and is ignored (did you mean GATEHOUSE_LOCKOUT_MAX_ATTEMPTS?)",
				"gatehouse: warning: GATEHOUSE_NONSENSE is not a configuration variable and is ignored",
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := biEnv(append([]string{
				"GATEHOUSE_DATABASE_URL=sqlite:" + filepath.Join(dir, "g"+string(rune('a'+i))+".db"),
				"GATEHOUSE_SECRETS_KEY_FILE=" + filepath.Join(dir, "secret.key"),
			}, tt.extra...)...)
			stdout, stderr, code := biRun(t, env, "", "migrate")
			if code != 0 || !strings.Contains(stdout, "database migrated") {
				t.Fatalf("migrate exited %d:\n%s\n%s", code, stdout, stderr)
			}
			var got []string
			for line := range strings.Lines(stderr) {
				got = append(got, strings.TrimSpace(line))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, strings.Join(tt.want, "\n"))
			}
		})
	}
}
