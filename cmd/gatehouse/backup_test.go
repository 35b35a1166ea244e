package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBackupRestore backs up the SQLite database of a running server with
// `gatehouse backup` while requests that write go on, then stops the
// server and restores the backup under a fresh one with the same key file:
// the user signs in again, the refresh token issued before the backup
// still refreshes (though the old server rotated it after the backup: the
// backup is the database as it was), and a user created after the backup
// is not there. Under another key file the backup does not serve at all.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := newGatehouse(t, "sqlite:"+filepath.Join(dir, "data", "gatehouse.db"))
	g.start()
	g.createUser(alice, "Alice Liddell", alicePass)
	rp := newRelyingParty(t, g)
	f := rp.newFlow()
	kept, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
	f = rp.newFlow()
	busy, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
	if kept.RefreshToken == "" || busy.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}

	// Refreshes (each one writes: the token rotates) and readiness
	// probes run before, during and after the backup.
	load := startLoad(rp, busy.RefreshToken)
	load.waitFor(t, 5)
	backups := filepath.Join(dir, "backups")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(backups, "gatehouse-1.db")
	atStart := load.done.Load()
	out := g.cli("", "backup", backup)
	during := load.done.Load() - atStart
	load.waitFor(t, load.done.Load()+5)
	if errs := load.stop(); len(errs) > 0 {
		t.Fatalf("requests failed around the backup: %v", errs)
	}
	t.Logf("%d requests answered while gatehouse backup ran; it printed:\n%s", during, out)
	for _, want := range []string{"backed up " + filepath.Join(dir, "data", "gatehouse.db") + " to " + backup, "secrets.key_file", "schema version"} {
		if !strings.Contains(out, want) {
			t.Errorf("gatehouse backup printed %q, want it to say %q", out, want)
		}
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}

	// After the backup: the kept token rotates on the running server and
	// a new user is created there.
	if status, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {kept.RefreshToken}}); status != http.StatusOK {
		t.Fatalf("refresh on the running server = %d %v", status, out)
	}
	g.createUser("bob@example.com", "Bob", "another long password")
	if err := g.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Restore as an operator would: the backup copied to the database's
	// place in a fresh data directory, the same key file, the same issuer.
	restored := filepath.Join(dir, "restored", "gatehouse.db")
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(restored), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restored, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without its key file the backup is no good: the server refuses to
	// start on signing keys it cannot open.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	noKey := exec.CommandContext(ctx, binary, "serve")
	noKey.Env = withEnv(g.env, "GATEHOUSE_DATABASE_URL=sqlite:"+restored,
		"GATEHOUSE_SECRETS_KEY_FILE="+filepath.Join(t.TempDir(), "another.key"))
	if out, err := noKey.CombinedOutput(); err == nil || !strings.Contains(string(out), "secrets.key_file") {
		t.Fatalf("serve on the backup with another key file: %v\n%s", err, out)
	}

	g2 := &gatehouse{t: t, base: g.base, admin: g.admin, env: withEnv(g.env, "GATEHOUSE_DATABASE_URL=sqlite:"+restored)}
	g2.start()

	status, resp := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {kept.RefreshToken}})
	if status != http.StatusOK {
		t.Fatalf("refresh token from before the backup, on the restored server = %d %v", status, resp)
	}
	if idt, _ := resp["id_token"].(string); idt == "" {
		t.Error("the refresh on the restored server returned no id_token")
	} else if _, err := rp.verifier.Verify(t.Context(), idt); err != nil {
		t.Errorf("ID token from the restored server: %v", err)
	}
	f = rp.newFlow()
	if _, _, c := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f); c.Email != alice {
		t.Errorf("sign-in on the restored server: claims %+v", c)
	}
	if _, _, err := g2.tryCLI("", "users", "show", "bob@example.com"); err == nil {
		t.Error("a user created after the backup is in it")
	}
}

// TestBackupRefusals checks what gatehouse backup refuses, and that each
// refusal says why and leaves no file behind.
func TestBackupRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	g := newGatehouse(t, "sqlite:"+db)
	g.cli("", "migrate")
	root := cliUser{env: g.env}
	refused := func(t *testing.T, c cliUser, wantCode int, want []string, args ...string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"backup"}, args...)...)
		cmd.Env = c.env
		if c.cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		}
		var errBuf strings.Builder
		cmd.Stderr = &errBuf
		err := cmd.Run()
		errOut := errBuf.String()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != wantCode {
			t.Fatalf("gatehouse backup %v: %v, want exit status %d\n%s", args, err, wantCode, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Errorf("gatehouse backup %v said %q, want it to mention %q", args, errOut, w)
			}
		}
	}
	absent := func(t *testing.T, path string) {
		t.Helper()
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want no file", path, err)
		}
	}

	t.Run("existing file", func(t *testing.T) {
		existing := filepath.Join(dir, "existing.db")
		if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, root, 1, []string{existing + " already exists", "never overwrites"}, existing)
		if b, _ := os.ReadFile(existing); string(b) != "precious" {
			t.Errorf("the existing file now holds %.20q", b)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		missing := filepath.Join(dir, "no-such-dir")
		refused(t, root, 1, []string{missing + " does not exist"}, filepath.Join(missing, "b.db"))
		absent(t, missing)
	})
	t.Run("directory is a file", func(t *testing.T) {
		file := filepath.Join(dir, "a-file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, root, 1, []string{file + " is not a directory"}, filepath.Join(file, "b.db"))
	})
	t.Run("unwritable directory", func(t *testing.T) {
		// The directory is not writable by the user the command runs
		// as: root writes anywhere, so as root the command runs as
		// nobody, on a database and a tree it may read.
		ro := filepath.Join(dir, "read-only")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		user := root
		if os.Geteuid() == 0 {
			user = asNobody(t, g.env, db)
		}
		refused(t, user, 1, []string{"create the backup", "permission denied"}, filepath.Join(ro, "b.db"))
		absent(t, filepath.Join(ro, "b.db"))
	})
	t.Run("no database", func(t *testing.T) {
		gm := cliUser{env: withEnv(g.env, "GATEHOUSE_DATABASE_URL=sqlite:"+filepath.Join(dir, "missing.db"))}
		refused(t, gm, 1, []string{"no database to back up at " + filepath.Join(dir, "missing.db")}, filepath.Join(dir, "b.db"))
		absent(t, filepath.Join(dir, "missing.db"))
		absent(t, filepath.Join(dir, "b.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		// Refused before any connection: no server is needed.
		gp := cliUser{env: withEnv(g.env, "GATEHOUSE_DATABASE_URL=postgres://gatehouse@127.0.0.1:5432/gatehouse?sslmode=disable")}
		refused(t, gp, 1, []string{"PostgreSQL", "pg_dump", "point-in-time", "secrets.key_file"}, filepath.Join(dir, "pg.db"))
		absent(t, filepath.Join(dir, "pg.db"))
	})
	t.Run("usage", func(t *testing.T) {
		refused(t, root, 2, []string{"expected one backup file name"})
		refused(t, root, 2, []string{"expected one backup file name"}, "a.db", "b.db")
		absent(t, filepath.Join(dir, "a.db"))
	})
}

// A cliUser runs the CLI with an environment, as the user cred (nil: this
// process's).
type cliUser struct {
	env  []string
	cred *syscall.Credential
}

// asNobody returns a CLI user with the environment env that runs as the
// user nobody, able to reach and read the database db in its directory.
func asNobody(t *testing.T, env []string, db string) cliUser {
	t.Helper()
	const nobody = 65534
	// The test's temporary directories, the binary's among them, are
	// 0700: let nobody through.
	for _, start := range []string{filepath.Dir(db), filepath.Dir(binary)} {
		for d := start; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Chown(f, nobody, nobody); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	probe := exec.Command(binary, "version")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("the binary does not run as nobody here (a directory above the temporary ones is closed?): %v %s", err, out)
	}
	return cliUser{env: env, cred: cred}
}

// withEnv returns env with the variables of set (KEY=value) replacing
// those of the same name.
func withEnv(env []string, set ...string) []string {
	env = slices.Clone(env)
	for _, kv := range set {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		env = append(env, kv)
	}
	return env
}

// A load runs requests against a relying party's server until stopped:
// refresh token rotations, each of which writes, and readiness probes.
type load struct {
	done atomic.Int64 // requests answered as expected
	quit chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []string
}

func startLoad(rp *relyingParty, refreshToken string) *load {
	l := &load{quit: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	fail := func(format string, args ...any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
	l.wg.Go(func() {
		rt := refreshToken
		for {
			select {
			case <-l.quit:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodPost, rp.provider.Endpoint().TokenURL,
				strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(rp.client.ID), url.QueryEscape(rp.client.Secret))
			var out struct {
				RefreshToken string `json:"refresh_token"`
			}
			resp, err := hc.Do(req)
			if err != nil {
				fail("refresh: %v", err)
				return
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil || out.RefreshToken == "" {
				fail("refresh: %d %v", resp.StatusCode, err)
				return
			}
			rt = out.RefreshToken
			rp.remember(rt)
			l.done.Add(1)
		}
	})
	l.wg.Go(func() {
		for {
			select {
			case <-l.quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
			resp, err := hc.Get(rp.g.base + "/readyz")
			if err != nil {
				fail("readyz: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail("readyz: %d", resp.StatusCode)
				return
			}
			l.done.Add(1)
		}
	})
	return l
}

// waitFor waits until n requests have been answered.
func (l *load) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.done.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered in 30 s: %v", l.done.Load(), l.stop())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop stops the load and returns the failures seen.
func (l *load) stop() []string {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs
}
