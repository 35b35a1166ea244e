package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second `gatehouse serve` on the same SQLite file refuses to start at
// once, with a clear message, and the first keeps serving (REL-07). The
// CLI still runs beside the server.
func TestSQLiteSingleServer(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "gatehouse.db")
	first := newGatehouse(t, "sqlite:"+dbPath)
	first.start()

	second := newGatehouse(t, "sqlite:"+dbPath) // another port and key file
	cmd := exec.Command(binary, "serve")
	cmd.Env = second.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(began)
		if err == nil {
			t.Fatalf("second serve exited 0:\n%s", out.String())
		}
		msg := out.String()
		for _, want := range []string{
			"another gatehouse serve is using " + dbPath,
			"(lock " + dbPath + ".lock)",
			"SQLite supports one server — use PostgreSQL for several replicas",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("second serve's output lacks %q:\n%s", want, msg)
			}
		}
		t.Logf("second serve exited in %v with %v: %s", took.Round(time.Millisecond), err, strings.TrimSpace(msg))
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("second serve still running after 5 s:\n%s", out.String())
	}

	resp, err := http.Get(first.base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first server after the refusal: %v %v", resp, err)
	}
	resp.Body.Close()
	// CLI commands do not take the lock.
	first.createUser("lock@example.com", "Lock", "a long enough password")
	if out := first.cli("", "users", "list"); !strings.Contains(out, "lock@example.com") {
		t.Errorf("users list beside the server = %q", out)
	}

	// Once the first stops, the file is free again (the same server
	// restarts on it).
	if err := first.stop(); err != nil {
		t.Fatalf("first stop: %v", err)
	}
	first.start()
}
