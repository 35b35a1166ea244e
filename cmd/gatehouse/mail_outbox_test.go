package main

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/login/mail"
)

// Issue 18 §4: with no SMTP server, every email is written whole to the
// mail outbox, and every email is multipart, in the user's language, with
// its purpose stated and the code kept out of the subject.

// outboxStart starts a gatehouse on SQLite without an SMTP host (the mail
// goes to its outbox, g.outbox), with extra GATEHOUSE_… variables. What
// the mail says does not depend on the database.
func outboxStart(t *testing.T, extra ...string) *tfEnv {
	t.Helper()
	e := &tfEnv{dsn: databaseURL(t, "sqlite"), clockFile: filepath.Join(t.TempDir(), "clock")}
	e.advance(0)
	e.extra = append([]string{
		"GATEHOUSE_MAIL_SMTP_HOST=",
		"GATEHOUSE_TEST_CLOCK_FILE=" + e.clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
		"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_ACCOUNT=1000",
		"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_IP=1000",
	}, extra...)
	e.g = newGatehouse(t, e.dsn, e.extra...)
	e.g.start()
	e.rp = newRelyingParty(t, e.g)
	return e
}

// outboxMail is an email read from an .eml file of the outbox.
type outboxMail struct {
	file     string
	header   netmail.Header
	subject  string
	text     string
	html     string
	charsets []string // of the text and the HTML part
}

// outboxFiles returns the names of the .eml files in dir, oldest first.
func outboxFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// outboxNext waits until the outbox holds more than n messages and
// returns the newest, parsed.
func outboxNext(t *testing.T, dir string, n int) outboxMail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if names := outboxFiles(t, dir); len(names) > n {
			return outboxRead(t, filepath.Join(dir, names[len(names)-1]))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox %s holds %d messages, want more than %d", dir, len(outboxFiles(t, dir)), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outboxRead parses the .eml file name with net/mail and mime/multipart,
// requiring a multipart/alternative of a text/plain and a text/html part.
func outboxRead(t *testing.T, name string) outboxMail {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", name, err, raw)
	}
	m := outboxMail{file: filepath.Base(name), header: msg.Header}
	if m.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("%s: Subject: %v", name, err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("%s: Content-Type %q (%v), want multipart/alternative", name, msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pt, pp, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("%s: part Content-Type: %v", name, err)
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("%s: %s part: %v", name, pt, err)
		}
		types = append(types, pt)
		m.charsets = append(m.charsets, pp["charset"])
		switch pt {
		case "text/plain":
			m.text = string(b)
		case "text/html":
			m.html = string(b)
		}
	}
	if !slices.Equal(types, []string{"text/plain", "text/html"}) {
		t.Fatalf("%s: parts %v, want text/plain then text/html", name, types)
	}
	for _, cs := range m.charsets {
		if !strings.EqualFold(cs, "utf-8") {
			t.Errorf("%s: charsets %v, want UTF-8", name, m.charsets)
		}
	}
	for _, h := range []string{"From", "To", "Date", "Message-Id", "Mime-Version"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("%s: no %s header", name, h)
		}
	}
	return m
}

// code returns the code of a code email: alone on a line of the text,
// and set large in the HTML.
func (m outboxMail) code(t *testing.T) string {
	t.Helper()
	c := tfMailCode(tfMail{raw: m.text})
	if c == "" {
		t.Fatalf("%s: no code in the text:\n%s", m.file, m.text)
	}
	if !strings.Contains(m.html, ">"+c+"</p>") {
		t.Errorf("%s: the HTML part does not hold the code %s:\n%s", m.file, c, m.html)
	}
	return c
}

// expect checks that the text and the HTML part of m both say each of
// says (HTML-escaped in the HTML) and that neither says any of not.
func (m outboxMail) expect(t *testing.T, lang string, says []string, not []string) {
	t.Helper()
	if got := m.header.Get("Content-Language"); got != lang {
		t.Errorf("%s: Content-Language %q, want %q", m.file, got, lang)
	}
	if !strings.Contains(m.html, `<html lang="`+lang+`">`) {
		t.Errorf("%s: the HTML part is not in lang %q:\n%s", m.file, lang, m.html)
	}
	for _, s := range says {
		if !strings.Contains(m.text, s) {
			t.Errorf("%s: the text does not say %q:\n%s", m.file, s, m.text)
		}
		if !strings.Contains(m.html, strings.ReplaceAll(s, "'", "&#39;")) {
			t.Errorf("%s: the HTML part does not say %q:\n%s", m.file, s, m.html)
		}
	}
	for _, s := range not {
		if strings.Contains(m.text, s) || strings.Contains(m.html, s) {
			t.Errorf("%s: says %q, which is not its purpose:\n%s", m.file, s, m.text)
		}
	}
}

// Purpose sentences of the code emails.
const (
	outboxSignIn = "Use this code to finish signing in to your Gatehouse account:"
	outboxEnable = "Use this code to turn on email codes as a second factor for your Gatehouse account:"
	outboxTried  = "If you did not try to sign in"
	outboxNote   = "so emails are not sent but written to the mail outbox on the server"
)

func TestMailOutbox(t *testing.T) {
	t.Parallel()
	e := outboxStart(t)
	g := e.g
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "outbox@example.com")
	var codes []string

	// Turning on email codes: the code email says so, not "sign in".
	b := e.session(t, u, "127.0.60.1")
	n := len(outboxFiles(t, g.outbox))
	page := b.post(g.base+"/account/security/email/enable", tfForm(t, e.security(t, b).body, "/account/security/email/enable"))
	if page.StatusCode != http.StatusOK || !strings.Contains(tfInfo(page.body), "We sent") {
		t.Fatalf("email/enable = %d %q", page.StatusCode, tfInfo(page.body))
	}
	// In development the page says where the email is.
	if !strings.Contains(tfInfo(page.body), outboxNote) {
		t.Errorf("the code page does not point to the outbox: %q", tfInfo(page.body))
	}
	m := outboxNext(t, g.outbox, n)
	m.expect(t, "en", []string{outboxEnable, "It is valid for 60 seconds.", "change your password and sign out everywhere"}, []string{"signing in", outboxTried})
	code := m.code(t)
	codes = append(codes, code)
	if m.subject != "Your Gatehouse code" {
		t.Errorf("subject %q, want %q (no code by default)", m.subject, "Your Gatehouse code")
	}
	if to, err := m.header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != u.email {
		t.Errorf("To = %q (%v), want %s", m.header.Get("To"), err, u.email)
	}
	tfEnabled(t, tfPostCode(b, g.base+"/account/security/email/enable-confirm", tfForm(t, page.body, "/account/security/email/enable-confirm"), code), "/account/security?done=email-on")

	// Signing in with the emailed code, read from the newest .eml file.
	b = newBrowser(t).from("127.0.60.2")
	n = len(outboxFiles(t, g.outbox))
	f, page := e.codePage(t, rp, b, u)
	m = outboxNext(t, g.outbox, n)
	m.expect(t, "en", []string{outboxSignIn, outboxTried + ", someone knows your password: change it."}, []string{"turn on"})
	code = m.code(t)
	codes = append(codes, code)
	if strings.Contains(m.subject, code) {
		t.Errorf("subject %q holds the code", m.subject)
	}
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), code)), tfAMREmail, tfACREmail)

	// A sign-in in Russian (ui_locales=ru) gets its email in Russian.
	b = newBrowser(t).from("127.0.60.3")
	n = len(outboxFiles(t, g.outbox))
	f, resp := tfPassword(t, rp, b, u.email, u.pass, ruOnly)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password = %d", resp.StatusCode)
	}
	page = b.get(redirectTarget(resp))
	m = outboxNext(t, g.outbox, n)
	m.expect(t, "ru", []string{"Введите этот код, чтобы завершить вход в учётную запись Gatehouse:", "Он действует 60 секунд."}, []string{"Use this code"})
	if m.subject != "Ваш код Gatehouse" {
		t.Errorf("Russian subject %q, want %q", m.subject, "Ваш код Gatehouse")
	}
	code = m.code(t)
	codes = append(codes, code)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), code)), tfAMREmail, tfACREmail)

	// Password recovery: its own purpose, and a link in both parts.
	b = newBrowser(t).from("127.0.60.4")
	f = rp.newFlow()
	login, _ := b.follow(f.authURL, rpRedirect)
	if login == nil || login.StatusCode != http.StatusOK {
		t.Fatal("no sign-in page")
	}
	arID := formFields(login.body).Get("authRequestID")
	n = len(outboxFiles(t, g.outbox))
	form := tfForm(t, b.get(g.base+"/recover?authRequestID="+url.QueryEscape(arID)).body, "/recover")
	form.Set("email", u.email)
	if resp := b.post(g.base+"/recover", form); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, outboxNote) {
		t.Fatalf("POST /recover = %d, want 200 pointing to the outbox:\n%s", resp.StatusCode, resp.body)
	}
	m = outboxNext(t, g.outbox, n)
	m.expect(t, "en", []string{"asked to reset the password of your Gatehouse account", "If you did not ask, ignore this email"}, []string{outboxSignIn, outboxTried})
	if m.subject != "Reset your Gatehouse password" {
		t.Errorf("reset subject %q", m.subject)
	}
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/recover/reset\?token=[A-Za-z0-9_-]{43}`).FindString(m.text)
	if link == "" {
		t.Fatalf("no reset link in the text:\n%s", m.text)
	}
	if !strings.Contains(m.html, `<a href="`+link+`"`) {
		t.Errorf("the HTML part does not link to %s:\n%s", link, m.html)
	}
	if r := b.get(link); r.StatusCode != http.StatusOK {
		t.Errorf("the reset link from the outbox = %d", r.StatusCode)
	}

	// Registration: the confirmation link, in both parts.
	n = len(outboxFiles(t, g.outbox))
	reg := tfForm(t, b.get(g.base+"/register?authRequestID="+url.QueryEscape(arID)).body, "/register")
	for k, v := range map[string]string{"email": "outbox-new@example.com", "name": "New <b>Person</b>", "password": "a fresh outbox password", "password2": "a fresh outbox password"} {
		reg.Set(k, v)
	}
	if resp := b.post(g.base+"/register", reg); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, outboxNote) {
		t.Fatalf("POST /register = %d, want 200 pointing to the outbox:\n%s", resp.StatusCode, resp.body)
	}
	m = outboxNext(t, g.outbox, n)
	m.expect(t, "en", []string{"To finish creating your Gatehouse account, confirm your email address"}, []string{outboxSignIn})
	if m.subject != "Confirm your email address for Gatehouse" || !strings.Contains(m.html, "Hello New &lt;b&gt;Person&lt;/b&gt;,") || strings.Contains(m.html, "<b>Person") {
		t.Errorf("confirmation email %q: the name is not escaped in the HTML part:\n%s", m.subject, m.html)
	}
	link = regexp.MustCompile(`http://127\.0\.0\.1:\d+/register/confirm\?token=[A-Za-z0-9_-]{43}`).FindString(m.text)
	if link == "" || !strings.Contains(m.html, `<a href="`+link+`"`) {
		t.Fatalf("no confirmation link in both parts:\n%s\n%s", m.text, m.html)
	}
	if r := b.get(link); r.StatusCode != http.StatusOK {
		t.Errorf("the confirmation link from the outbox = %d", r.StatusCode)
	}

	// The outbox is private: the directory 0700, each file 0600.
	if fi, err := os.Stat(g.outbox); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("outbox directory: %v (%v), want mode 0700", fi.Mode().Perm(), err)
	}
	names := outboxFiles(t, g.outbox)
	for _, name := range names {
		if fi, err := os.Stat(filepath.Join(g.outbox, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", name, fi.Mode().Perm(), err)
		}
	}
	if !regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{8}\.eml$`).MatchString(names[0]) {
		t.Errorf("outbox file name %q, want a UTC timestamp, a random suffix and .eml", names[0])
	}

	// Start-up said where the outbox is; the log names the files, never
	// a code or a link.
	logs := g.output()
	if !strings.Contains(logs, "emails (codes, confirmation and reset links) are written to the mail outbox, "+g.outbox) {
		t.Errorf("the start-up banner does not name the outbox %s:\n%s", g.outbox, logs)
	}
	if !strings.Contains(logs, `"outbox_dir":"`+g.outbox+`"`) {
		t.Errorf("no log line names the outbox directory %s", g.outbox)
	}
	for _, name := range names {
		if !strings.Contains(logs, `"file":"`+name+`"`) {
			t.Errorf("the log does not name %s", name)
		}
	}
	for _, c := range codes {
		if strings.Contains(logs, c) {
			t.Errorf("the log holds the emailed code %s:\n%s", c, infraLines(logs, c))
		}
	}
	if strings.Contains(logs, "token=") {
		t.Errorf("the log holds an emailed link:\n%s", infraLines(logs, "token="))
	}
}

// TestMailOutboxCodeInSubject: mail.code_in_subject puts the code in the
// subject too.
func TestMailOutboxCodeInSubject(t *testing.T) {
	t.Parallel()
	e := outboxStart(t, "GATEHOUSE_MAIL_CODE_IN_SUBJECT=true")
	u := e.newUser(t, "outbox-subject@example.com")
	b := e.session(t, u, "127.0.60.5")
	n := len(outboxFiles(t, e.g.outbox))
	page := b.post(e.g.base+"/account/security/email/enable", tfForm(t, e.security(t, b).body, "/account/security/email/enable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("email/enable = %d", page.StatusCode)
	}
	m := outboxNext(t, e.g.outbox, n)
	if code := m.code(t); m.subject != "Your Gatehouse code: "+code {
		t.Errorf("subject %q, want the code %s in it", m.subject, code)
	}
}

// TestMailOutboxProductionWarning: with an https issuer and no SMTP host,
// serve warns at start, in the log and on stdout, that emails are not sent
// but written to disk.
func TestMailOutboxProductionWarning(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		issuer string
		warn   bool
	}{
		{"https://id.example.com", true},
		{"http://localhost:8080", false},
	} {
		t.Run(tt.issuer, func(t *testing.T) {
			cfg := config.Default()
			cfg.Issuer = tt.issuer
			cfg.Mail.OutboxDir = filepath.Join(t.TempDir(), "mail")
			var logs, stdout bytes.Buffer
			s, err := newMailer(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := s.(mail.Dir); !ok {
				t.Errorf("newMailer = %T, want the outbox", s)
			}
			printOutbox(cfg, &environ{stdout: &stdout})
			if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "PRODUCTION WARNING"); got != tt.warn {
				t.Errorf("log warns: %v, want %v:\n%s", got, tt.warn, logs.String())
			}
			if got := strings.HasPrefix(stdout.String(), "WARNING: "); got != tt.warn {
				t.Errorf("stdout warns: %v, want %v:\n%s", got, tt.warn, stdout.String())
			}
			if !strings.Contains(stdout.String(), cfg.Mail.OutboxDir) || !strings.Contains(logs.String(), cfg.Mail.OutboxDir) {
				t.Errorf("the outbox %s is not named:\n%s%s", cfg.Mail.OutboxDir, stdout.String(), logs.String())
			}
		})
	}
}
