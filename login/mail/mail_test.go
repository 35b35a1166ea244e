package mail

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = (*Outbox)(nil)
)

func TestOutbox(t *testing.T) {
	var o Outbox
	ctx := t.Context()
	msgs := []Message{
		{To: "alice@example.com", Subject: "1", Text: "a1"},
		{To: "bob@example.com", Subject: "1", Text: "b1"},
		{To: "alice@example.com", Subject: "2", Text: "a2"},
	}
	for _, m := range msgs {
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.Messages(); len(got) != 3 || got[2] != msgs[2] {
		t.Errorf("Messages() = %v", got)
	}
	o.Messages()[0].Text = "changed"
	if o.Messages()[0].Text != "a1" {
		t.Error("Messages() returned the Outbox's own slice")
	}

	tests := []struct {
		to   string
		last string // Text of Last(to), "" if none
		n    int
		wait string // Text of Wait(to, n), "" if it must time out
	}{
		{to: "alice@example.com", last: "a2", n: 1, wait: "a1"},
		{to: "alice@example.com", last: "a2", n: 2, wait: "a2"},
		{to: "alice@example.com", last: "a2", n: 3, wait: ""},
		{to: "bob@example.com", last: "b1", n: 1, wait: "b1"},
		{to: "carol@example.com", last: "", n: 1, wait: ""},
	}
	for _, tt := range tests {
		m, ok := o.Last(tt.to)
		if ok != (tt.last != "") || m.Text != tt.last {
			t.Errorf("Last(%s) = %q, %t; want %q", tt.to, m.Text, ok, tt.last)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		m, err := o.Wait(wctx, tt.to, tt.n)
		cancel()
		if tt.wait == "" {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait(%s, %d) = %q, %v; want a deadline error", tt.to, tt.n, m.Text, err)
			}
		} else if err != nil || m.Text != tt.wait {
			t.Errorf("Wait(%s, %d) = %q, %v; want %q", tt.to, tt.n, m.Text, err, tt.wait)
		}
	}
	if _, err := o.Wait(ctx, "alice@example.com", 0); err == nil {
		t.Error("Wait(n=0) succeeded")
	}
}

func TestOutboxWaitWakesUp(t *testing.T) {
	var o Outbox
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	results := make([]Message, 3)
	for i := range results {
		wg.Go(func() {
			m, err := o.Wait(ctx, "alice@example.com", i+1)
			if err != nil {
				t.Errorf("Wait(%d): %v", i+1, err)
			}
			results[i] = m
		})
	}
	time.Sleep(10 * time.Millisecond)
	for _, text := range []string{"first", "second", "third"} {
		o.Send(ctx, Message{To: "bob@example.com", Text: "not for alice"})
		o.Send(ctx, Message{To: "alice@example.com", Text: text})
	}
	wg.Wait()
	for i, want := range []string{"first", "second", "third"} {
		if results[i].Text != want {
			t.Errorf("Wait(%d) = %q, want %q", i+1, results[i].Text, want)
		}
	}
}

func TestOutboxSetErr(t *testing.T) {
	var o Outbox
	down := errors.New("mail server down")
	o.SetErr(down)
	if err := o.Send(t.Context(), Message{To: "alice@example.com"}); !errors.Is(err, down) {
		t.Errorf("Send error = %v, want %v", err, down)
	}
	if n := len(o.Messages()); n != 0 {
		t.Errorf("failed Send recorded %d messages", n)
	}
	o.SetErr(nil)
	if err := o.Send(t.Context(), Message{To: "alice@example.com"}); err != nil {
		t.Errorf("Send after SetErr(nil): %v", err)
	}
	if n := len(o.Messages()); n != 1 {
		t.Errorf("recorded %d messages, want 1", n)
	}
}

// TestMaskAddress: the recipient the outbox logs keeps only the first
// character of its local part, and nothing of its display name.
func TestMaskAddress(t *testing.T) {
	for _, tt := range []struct{ to, want string }{
		{"alice@example.com", "a***@example.com"},
		{"Bob <bob@example.com>", "b***@example.com"},
		{"ünal@example.com", "ü***@example.com"},
		{"123456", "[redacted]"},
		{"", "[redacted]"},
	} {
		if got := maskAddress(tt.to); got != tt.want {
			t.Errorf("maskAddress(%q) = %q, want %q", tt.to, got, tt.want)
		}
	}
}
