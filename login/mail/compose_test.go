package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTML(t *testing.T) {
	tests := []struct {
		name      string
		lang      string
		text      string
		want      []string // in the body, in this order
		wantNot   []string
		wantParas int
	}{
		{
			name:      "paragraphs and line breaks",
			lang:      "en",
			text:      "Hello Alice,\n\nline one\nline two\n",
			want:      []string{`<html lang="en">`, "<p>Hello Alice,</p>", "<p>line one<br>\nline two</p>"},
			wantParas: 2,
		},
		{
			name:      "values are escaped",
			lang:      "en",
			text:      `Hello <script>alert("x")</script> & "you"`,
			want:      []string{"<p>Hello &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;you&#34;</p>"},
			wantNot:   []string{"<script>"},
			wantParas: 1,
		},
		{
			name:      "a code alone is set large",
			lang:      "ru",
			text:      "Введите этот код:\n\n123456\n\nОн действует 60 секунд.",
			want:      []string{`<html lang="ru">`, "<p>Введите этот код:</p>", `monospace">123456</p>`, "<p>Он действует 60 секунд.</p>"},
			wantParas: 3,
		},
		{
			name:      "a link alone becomes a link",
			lang:      "en",
			text:      "Open this link:\n\nhttps://id.example.com/recover/reset?token=abc&x=1\n",
			want:      []string{`<a href="https://id.example.com/recover/reset?token=abc&amp;x=1"`, `>https://id.example.com/recover/reset?token=abc&amp;x=1</a>`},
			wantParas: 2,
		},
		{
			name:      "a javascript URL is not a link",
			lang:      "en",
			text:      "javascript:alert(1)",
			want:      []string{"<p>javascript:alert(1)</p>"},
			wantNot:   []string{"<a "},
			wantParas: 1,
		},
		{
			name:      "a code inside a sentence stays text",
			lang:      "en",
			text:      "Your code is 123456.",
			want:      []string{"<p>Your code is 123456.</p>"},
			wantNot:   []string{"monospace\">"},
			wantParas: 1,
		},
		{
			name:      "no language",
			text:      "Hi",
			want:      []string{"<html>\n", "<p>Hi</p>"},
			wantParas: 1,
		},
		{
			name:      "an injected language is escaped",
			lang:      `en" onload="x`,
			text:      "Hi",
			want:      []string{`<html lang="en&#34; onload=&#34;x">`},
			wantParas: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HTML(tt.lang, tt.text)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("HTML lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("HTML holds %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "<p"); n != tt.wantParas {
				t.Errorf("%d paragraphs, want %d:\n%s", n, tt.wantParas, got)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		msg      Message
		wantLang string
		wantHTML string // "" means made from the text
		wantErr  error
	}{
		{
			name:     "English code email",
			msg:      Message{To: "alice@example.com", Subject: "Your Gatehouse code", Text: "Use this code:\n\n123456\n", Lang: "en"},
			wantLang: "en",
		},
		{
			name:     "Russian, non-ASCII subject",
			msg:      Message{To: "Алиса <alice@example.com>", Subject: "Ваш код Gatehouse", Text: "Введите этот код:\n\n654321\n", Lang: "ru"},
			wantLang: "ru",
		},
		{
			name:     "own HTML part",
			msg:      Message{To: "alice@example.com", Subject: "Hi", Text: "Hi", HTML: "<p>Hi <b>there</b></p>"},
			wantHTML: "<p>Hi <b>there</b></p>",
		},
		{
			name:    "bad recipient",
			msg:     Message{To: "not an address", Subject: "Hi", Text: "Hi"},
			wantErr: ErrRejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, "Gatehouse <no-reply@gatehouse.test>", tt.msg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Write = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, buf.Bytes())
			subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
			if err != nil || subject != tt.msg.Subject {
				t.Errorf("Subject = %q (%v), want %q", subject, err, tt.msg.Subject)
			}
			if got := p.header.Get("Content-Language"); got != tt.wantLang {
				t.Errorf("Content-Language = %q, want %q", got, tt.wantLang)
			}
			if got := p.header.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if p.header.Get("Date") == "" || p.header.Get("Message-Id") == "" || p.header.Get("From") == "" {
				t.Errorf("Date, Message-ID or From missing: %v", p.header)
			}
			if strings.TrimRight(strings.ReplaceAll(p.text, "\r\n", "\n"), "\n") != strings.TrimRight(tt.msg.Text, "\n") {
				t.Errorf("text = %q, want %q", p.text, tt.msg.Text)
			}
			want := tt.wantHTML
			if want == "" {
				want = HTML(tt.msg.Lang, tt.msg.Text)
			}
			if got := strings.TrimRight(strings.ReplaceAll(p.html, "\r\n", "\n"), "\n"); got != strings.TrimRight(want, "\n") {
				t.Errorf("HTML = %q, want %q", got, want)
			}
		})
	}
}

func TestDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "mail")
	var logs bytes.Buffer
	now := time.Date(2026, 12, 5, 20, 15, 0, 123456789, time.UTC)
	d := Dir{Path: dir, From: "Gatehouse <no-reply@gatehouse.test>",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }}
	var _ Sender = d

	msgs := []Message{
		{To: "alice@example.com", Subject: "Your Gatehouse code", Text: "Use this code:\n\n482910\n", Lang: "en"},
		{To: "bob@example.com", Subject: "Reset your Gatehouse password", Text: "Open:\n\nhttps://id.example.com/recover/reset?token=SECRETTOKEN\n", Lang: "en"},
	}
	for _, m := range msgs {
		if err := d.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("outbox directory: %v %v, want mode 0700", fi, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(msgs) {
		t.Fatalf("%d files in the outbox, want %d (no temporary file left)", len(entries), len(msgs))
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "20261205T201500.123456789Z-") || !strings.HasSuffix(name, ".eml") {
			t.Errorf("file name %q", name)
		}
		fi, err := e.Info()
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", name, fi.Mode().Perm(), err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, raw) // requires multipart/alternative, UTF-8
		if p.text == "" || p.html == "" {
			t.Errorf("%s: text %q, HTML %q: want both", name, p.text, p.html)
		}
		if !strings.Contains(logs.String(), "file="+name) {
			t.Errorf("the log does not name %s:\n%s", name, logs.String())
		}
	}
	for _, secret := range []string{"482910", "SECRETTOKEN", "alice@", "Reset your"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Send(ctx, msgs[0]); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Send with a cancelled context = %v, want ErrUnavailable", err)
	}
	if err := d.Send(t.Context(), Message{To: "nobody", Subject: "x", Text: "x"}); !errors.Is(err, ErrRejected) {
		t.Errorf("Send to a bad address = %v, want ErrRejected", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(msgs) {
		t.Errorf("%d files after failed sends, want %d", len(entries), len(msgs))
	}
}
