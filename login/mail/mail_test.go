package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = Log{}
	_ Sender = (*Outbox)(nil)
)

func TestLogNeverLogsSecrets(t *testing.T) {
	tests := []struct {
		name    string
		m       Message
		want    []string // in the log line
		secrets []string // never in it
	}{
		{
			name: "code in subject and body",
			m:    Message{To: "alice@example.com", Subject: "Your Gatehouse code: 314159", Text: "Your one-time code is 314159", HTML: "<b>314159</b>"},
			want: []string{"level=WARN", "email not sent (no SMTP server configured)", "to=a***@example.com",
				`subject="Your Gatehouse code: [redacted]"`, "note="},
			secrets: []string{"314159", "alice@"},
		},
		{
			name: "link in subject",
			m: Message{To: "Bob <bob@example.com>", Subject: "Confirm: https://id.example.com/register/confirm?token=Zm9vYmFyYmF6cXV4",
				Text: "https://id.example.com/register/confirm?token=Zm9vYmFyYmF6cXV4"},
			want:    []string{"to=b***@example.com", `subject="Confirm: [redacted]"`},
			secrets: []string{"Zm9vYmFyYmF6cXV4", "token=", "Bob"},
		},
		{
			name:    "bare token and translated code",
			m:       Message{To: "carol@example.com", Subject: "Код Gatehouse: 271828 Zm9v_YmFyYmF6cXV4-abc"},
			want:    []string{`subject="Код Gatehouse: [redacted] [redacted]"`},
			secrets: []string{"271828", "Zm9v"},
		},
		{
			name:    "plain subject kept",
			m:       Message{To: "dave@example.com", Subject: "Confirm your email address for Gatehouse", Text: "token Zm9vYmFyYmF6cXV4"},
			want:    []string{`subject="Confirm your email address for Gatehouse"`},
			secrets: []string{"Zm9vYmFyYmF6cXV4"},
		},
		{
			name:    "not an address",
			m:       Message{To: "123456", Subject: "x"},
			want:    []string{"to=[redacted]"},
			secrets: []string{"123456"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := Log{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			if err := l.Send(t.Context(), tt.m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			out := buf.String()
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("log %q lacks %q", out, want)
				}
			}
			for _, secret := range tt.secrets {
				if strings.Contains(out, secret) {
					t.Errorf("log %q contains %q", out, secret)
				}
			}
		})
	}
}

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
