package main

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMWithStalledAdminRequest covers a client of the admin listener
// that sends the headers of a request and part of its body, then nothing:
// the listener gives up on it after adminReadTimeout, so SIGTERM still
// drains in time and exits 0. (Before, the admin listener had no read
// timeout: the stalled request held the drain for the whole 30 s and
// serve exited 1 with "shutdown admin listener: context deadline
// exceeded".) The listener is the same on both backends; SQLite is used.
func TestSIGTERMWithStalledAdminRequest(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	for _, path := range []string{"/api/users", "/api/clients"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.admin, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "POST " + path + " HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the requests are being read

	began := time.Now()
	g.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-g.exited:
		g.exited <- err
	case <-time.After(40 * time.Second):
		t.Fatalf("gatehouse still running 40 s after SIGTERM")
	}
	took := time.Since(began)
	if err != nil {
		t.Errorf("gatehouse exited with %v after SIGTERM (in %v), want exit status 0\n%s", err, took.Round(time.Millisecond), g.output())
	}
	if limit := adminReadTimeout + 5*time.Second; took > limit {
		t.Errorf("SIGTERM took %v with a stalled admin request, want under %v", took.Round(time.Millisecond), limit)
	}
	if out := g.output(); !strings.Contains(out, `"msg":"stopped"`) {
		t.Errorf("log does not record an orderly shutdown:\n%s", out)
	}
}
