package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesAdminOnHTTPPort covers http.address moved, alone, to the
// admin listener's default port (127.0.0.1:9090, as config.example.yaml's
// own example once did): serve refuses at once, naming both keys, before
// it says it is serving. (Before, it migrated, printed "Gatehouse is
// serving …" and the next-steps hints, then failed to bind the admin
// listener: "admin.address: listen tcp …: bind: address already in use".)
func TestServeRefusesAdminOnHTTPPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	env := biEnv(
		"GATEHOUSE_HTTP_ADDRESS="+addr,
		"GATEHOUSE_ADMIN_ADDRESS="+addr,
		"GATEHOUSE_DATABASE_URL=sqlite:"+filepath.Join(dir, "g.db"),
		"GATEHOUSE_SECRETS_KEY_FILE="+filepath.Join(dir, "secret.key"),
		"GATEHOUSE_MAIL_OUTBOX_DIR="+filepath.Join(dir, "mail"),
	)
	stdout, stderr, code := biRun(t, env, "", "serve")
	if code == 0 {
		t.Fatalf("serve exited 0:\n%s\n%s", stdout, stderr)
	}
	want := "gatehouse: admin.address (" + addr + ") and http.address (" + addr + ") are the same port: give admin.address another port, or off"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stdout, "is serving") {
		t.Errorf("serve said it was serving before it refused:\n%s", stdout)
	}
	biNoCrash(t, "serve output", stdout+stderr)
}
