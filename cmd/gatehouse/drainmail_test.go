package main

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMSendsPendingMail covers SIGTERM right after a password
// recovery request, whose email goes out in the background, to a slow mail
// server: serve waits for the email within its drain before it exits 0, so
// the link the page promised arrives. (Before, the process exited as soon
// as the request was answered, and the email in flight was lost.)
func TestSIGTERMSendsPendingMail(t *testing.T) {
	t.Parallel()
	e := ssStart(t, "sqlite:"+t.TempDir()+"/gatehouse.db")
	u := e.newUser(t, "drain-mail@example.com")
	e.mail.delay.Store(int64(3 * time.Second))

	b := e.browser(t)
	page := b.get(e.g.base + "/recover")
	r := b.post(e.g.base+"/recover", ssWith(ssForm(t, page.body, "/recover"), "email", u.email))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /recover = %d:\n%s", r.StatusCode, r.body)
	}
	e.g.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-e.g.exited:
		e.g.exited <- err
	case <-time.After(40 * time.Second):
		t.Fatal("gatehouse still running 40 s after SIGTERM")
	}
	if err != nil {
		t.Errorf("gatehouse exited with %v after SIGTERM, want exit status 0", err)
	}
	if n := e.mail.count(u.email, ssSubjReset); n != 1 {
		t.Errorf("%d reset emails arrived, want 1: the email in flight at SIGTERM was lost", n)
	}
}
