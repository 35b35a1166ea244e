package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Hardening of the infrastructure around Gatehouse: logs, links to the
// database and the mail server, files on disk, static files and the admin
// API's input (issue 15 §4).

// infraStore opens g's database from the test, as the CLI would, with the
// key that seals g's secrets. It returns the store and the key of
// emailed codes' HMACs.
func infraStore(t *testing.T, g *gatehouse) (storage.Store, [32]byte) {
	t.Helper()
	cfg, err := loadConfig("", &environ{getenv: func(k string) string { return tfEnvValue(g, k) }})
	if err != nil {
		t.Fatal(err)
	}
	store, err := openStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	_, box, err := keyManager(t.Context(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return store, box.Derive("email codes")
}

// infraCrackCode returns the 6-digit code whose HMAC is c.Hash, trying
// them all: the store keeps only the HMAC, computed as login's codeHash
// does.
func infraCrackCode(t *testing.T, key [32]byte, c *storage.OneTimeCode) string {
	t.Helper()
	m := hmac.New(sha256.New, key[:])
	msg := []byte(c.UserID + "\x00" + c.Purpose + "\x00" + c.Binding + "\x00" + "000000")
	digits := msg[len(msg)-6:]
	var sum []byte
	for n := range 1000000 {
		for i, v := len(digits)-1, n; i >= 0; i, v = i-1, v/10 {
			digits[i] = byte('0' + v%10)
		}
		m.Reset()
		m.Write(msg)
		if sum = m.Sum(sum[:0]); hmac.Equal(sum, c.Hash) {
			return string(digits)
		}
	}
	t.Fatal("no 6-digit code has the stored HMAC")
	return ""
}

// infraCodePage signs u in through rp up to the emailed code's page and
// returns the flow, the page and the auth request it is bound to.
func infraCodePage(t *testing.T, g *gatehouse, rp *relyingParty, b *browser, email, pass string) (*flow, *response, string) {
	t.Helper()
	f, resp := tfPassword(t, rp, b, email, pass)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/otp?authRequestID=") {
		t.Fatalf("password = %d %q, want 303 to /login/otp?authRequestID=…", resp.StatusCode, loc)
	}
	page := b.get(g.base + loc)
	return f, page, tfQuery(t, loc, "authRequestID")
}

// TestDevMailLogHasNoSecrets signs in with an emailed code on a server
// without SMTP, which writes its emails to the mail outbox and logs the
// file names: the log must hold
// neither the code nor the link of an email. The code is found from its
// HMAC in the database, and used to finish the sign-in, so the test knows
// it is the real one. The log is the same whatever the database: SQLite
// only.
func TestDevMailLogHasNoSecrets(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	const email, pass = "dev-log@example.com", "a long enough password"
	g.createUser(email, "Dev Log", pass)
	store, key := infraStore(t, g)
	u, err := store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetEmailOTP(t.Context(), u.ID, true, time.Now()); err != nil {
		t.Fatal(err)
	}

	rp := newRelyingParty(t, g)
	b := newBrowser(t)
	f, page, arID := infraCodePage(t, g, rp, b, email, pass)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("code page = %d %q", page.StatusCode, tfAlert(page.body))
	}
	c, err := store.LatestCode(t.Context(), u.ID, "signin", arID, time.Now())
	if err != nil {
		t.Fatalf("no code issued: %v", err)
	}
	code := infraCrackCode(t, key, c)

	// Password recovery emails a link with a token.
	recoverPage := b.get(g.base + "/recover?authRequestID=" + url.QueryEscape(arID))
	form := tfForm(t, recoverPage.body, "/recover")
	form.Set("email", email)
	if resp := b.post(g.base+"/recover", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /recover = %d %q", resp.StatusCode, tfAlert(resp.body))
	}
	infraWaitLog(t, g, 2, "email written to the mail outbox")

	logs := g.output()
	if strings.Contains(logs, code) {
		t.Errorf("the log holds the emailed code %s:\n%s", code, infraLines(logs, code))
	}
	for _, link := range []string{"/recover/reset", "token="} {
		if strings.Contains(logs, link) {
			t.Errorf("the log holds the emailed link (%s):\n%s", link, infraLines(logs, link))
		}
	}
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "email written to the mail outbox") && !strings.Contains(line, `"to":"d***@example.com"`) {
			t.Errorf("the line of an email in the outbox does not show the masked recipient d***@example.com: %s", line)
		}
	}

	// The code found is the code sent.
	resp := tfPostCode(b, g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), code)
	tfFinish(t, rp, b, f, resp)
}

// infraWaitLog waits until g has logged n lines containing s.
func infraWaitLog(t *testing.T, g *gatehouse, n int, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(g.output(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines with %q, want %d:\n%s", strings.Count(g.output(), s), s, n, g.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// infraLines returns the lines of logs that contain s.
func infraLines(logs, s string) string {
	var b strings.Builder
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestInsecureLinks checks TLS-02 at start: a PostgreSQL or SMTP link to
// another host without verified TLS is refused with the key to fix, unless
// the host is listed in an insecure_hosts key, and then serve warns.
func TestInsecureLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want string // in stderr; "" if accepted
	}{
		{
			name: "postgres without sslmode",
			env:  []string{"GATEHOUSE_DATABASE_URL=postgres://gatehouse:hunter2@db.example.com/gatehouse"},
			want: "database.url: the link to db.example.com is not verified TLS: add sslmode=verify-full to the URL, or list db.example.com in database.insecure_hosts",
		},
		{
			name: "postgres sslmode=require",
			env:  []string{"GATEHOUSE_DATABASE_URL=postgres://gatehouse:hunter2@192.0.2.7/gatehouse?sslmode=require"},
			want: "database.url: the link to 192.0.2.7 is not verified TLS",
		},
		{
			name: "SMTP without TLS",
			env:  []string{"GATEHOUSE_MAIL_SMTP_HOST=smtp.example.com", "GATEHOUSE_MAIL_SMTP_TLS=none"},
			want: "mail.smtp.tls: none would send mail, one-time codes included, unencrypted to smtp.example.com: use starttls or tls, or list smtp.example.com in mail.smtp.insecure_hosts",
		},
		{
			name: "SMTP without TLS, another host listed",
			env: []string{"GATEHOUSE_MAIL_SMTP_HOST=smtp.example.com", "GATEHOUSE_MAIL_SMTP_TLS=none",
				"GATEHOUSE_MAIL_SMTP_INSECURE_HOSTS=relay.example.com"},
			want: "mail.smtp.tls: none would send mail",
		},
		{
			name: "SMTP without TLS, listed",
			env: []string{"GATEHOUSE_MAIL_SMTP_HOST=relay.example.com", "GATEHOUSE_MAIL_SMTP_TLS=none",
				"GATEHOUSE_MAIL_SMTP_INSECURE_HOSTS=relay.example.com"},
		},
		{
			name: "SMTP without TLS on loopback",
			env:  []string{"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1", "GATEHOUSE_MAIL_SMTP_TLS=none"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGatehouse(t, databaseURL(t, "sqlite"), tt.env...)
			_, errOut, err := g.tryCLI("", "users", "list")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("users list: %v\n%s", err, errOut)
				}
				return
			}
			if err == nil || !strings.Contains(errOut, tt.want) {
				t.Errorf("users list: err %v, stderr %q, want it to contain %q", err, errOut, tt.want)
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("the error shows the database password: %q", errOut)
			}
		})
	}

	t.Run("warning at start", func(t *testing.T) {
		g := startGatehouse(t, "sqlite", "GATEHOUSE_MAIL_SMTP_HOST=relay.example.com", "GATEHOUSE_MAIL_SMTP_TLS=none",
			"GATEHOUSE_MAIL_SMTP_INSECURE_HOSTS=relay.example.com")
		var warned bool
		for line := range strings.Lines(g.output()) {
			warned = warned || strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "SMTP to relay.example.com without TLS")
		}
		if !warned {
			t.Errorf("no WARN line about SMTP to relay.example.com without TLS:\n%s", g.output())
		}
	})
}

// infraSink is a loopback SMTP server (emersion/go-smtp) that offers no
// STARTTLS and counts the transactions it sees.
type infraSink struct {
	port int

	mu    sync.Mutex
	mails int // MAIL FROM commands
	data  int // messages received
}

func newInfraSink(t *testing.T) *infraSink {
	t.Helper()
	s := &infraSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &infraSession{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

func (s *infraSink) counts() (mails, data int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mails, s.data
}

type infraSession struct{ sink *infraSink }

func (s *infraSession) Mail(string, *smtp.MailOptions) error {
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.mails++
	return nil
}

func (s *infraSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *infraSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.data++
	return nil
}

func (s *infraSession) Reset()        {}
func (s *infraSession) Logout() error { return nil }

// TestSMTPStartTLSRequired checks that tls: starttls is mandatory STARTTLS:
// with a server that does not offer it, nothing is sent (the user is told
// the code could not be sent), even on loopback; with tls: none the same
// server gets the message.
func TestSMTPStartTLSRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tls       string
		delivered bool
	}{
		{tls: "starttls", delivered: false},
		{tls: "none", delivered: true},
	}
	for _, tt := range tests {
		t.Run(tt.tls, func(t *testing.T) {
			sink := newInfraSink(t)
			g := startGatehouse(t, "sqlite", "GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
				"GATEHOUSE_MAIL_SMTP_PORT="+strconv.Itoa(sink.port), "GATEHOUSE_MAIL_SMTP_TLS="+tt.tls)
			const email, pass = "starttls@example.com", "a long enough password"
			g.createUser(email, "StartTLS", pass)
			store, _ := infraStore(t, g)
			u, err := store.UserByEmail(t.Context(), email)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.SetEmailOTP(t.Context(), u.ID, true, time.Now()); err != nil {
				t.Fatal(err)
			}
			_, page, _ := infraCodePage(t, g, newRelyingParty(t, g), newBrowser(t), email, pass)
			mails, data := sink.counts()
			if !tt.delivered {
				if mails != 0 || data != 0 {
					t.Errorf("the server without STARTTLS saw %d MAIL commands and %d messages, want none", mails, data)
				}
				if !strings.Contains(tfAlert(page.body), "send") {
					t.Errorf("code page (%d) alert %q, want one saying the code could not be sent", page.StatusCode, tfAlert(page.body))
				}
				// The process's log reaches the test through a pipe: give
				// the line a moment to arrive.
				said := false
				for deadline := time.Now().Add(5 * time.Second); !said && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					said = strings.Contains(infraLines(g.output(), "code email not sent"), "STARTTLS")
				}
				if !said {
					t.Errorf("the log does not say that STARTTLS was missing:\n%s", g.output())
				}
				return
			}
			if data != 1 {
				t.Errorf("the server got %d messages, want 1; code page alert %q", data, tfAlert(page.body))
			}
		})
	}
}

// TestStaticNoListing checks that /static/ serves files, not directory
// listings.
func TestStaticNoListing(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	b := newBrowser(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/static/gatehouse.css", http.StatusOK},
		{"/static/", http.StatusNotFound},
		{"/static/./", http.StatusNotFound},
		{"/static//", http.StatusNotFound},
		{"/static/nothing.css", http.StatusNotFound},
	} {
		resp := b.get(g.base + tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		if strings.Contains(resp.body, `<a href="gatehouse.css">`) {
			t.Errorf("GET %s lists the directory:\n%s", tc.path, resp.body)
		}
	}
}

// TestSQLiteFileModes checks that the database file and its -wal and -shm
// files are readable by their owner only, under a umask that would let
// others read them.
func TestSQLiteFileModes(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0o022) // inherited by the server
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	g := newGatehouse(t, "sqlite:"+path)
	g.start()
	g.createUser("modes@example.com", "Modes", "a long enough password")
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(name), perm)
		}
	}
}

// TestUsersInvalidUTF8 checks that an email that is not UTF-8 is refused by
// the admin API (raw bytes, or a JSON escape of a lone surrogate, which
// encoding/json turns into U+FFFD) and by users create, and that no user is
// created.
func TestUsersInvalidUTF8(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	token := adminToken(t, g, g.createClient("--name", "Operations", "--admin"))
	for _, body := range []string{
		"{\"email\":\"a\xffb@example.com\",\"password\":\"a long enough password\"}",
		`{"email":"a\udc80b@example.com","password":"a long enough password"}`,
		"{\"email\":\"ok@example.com\",\"name\":\"\xc3\x28\",\"password\":\"a long enough password\"}",
	} {
		adminCall(t, g, token, http.MethodPost, "/api/users", body).wantError(t, http.StatusBadRequest, "invalid_request")
	}
	_, errOut, err := g.tryCLI("a long enough password\n", "users", "create", "--email", "a\xffb@example.com", "--password-stdin")
	if err == nil {
		t.Errorf("users create with an email that is not UTF-8 succeeded")
	} else if !strings.Contains(errOut, "is not an email address") {
		t.Errorf("users create: stderr %q, want it to say the email is not an email address", errOut)
	}
	if out := g.cli("", "users", "list"); strings.Contains(out, "example.com") {
		t.Errorf("a user was created:\n%s", out)
	}
}
