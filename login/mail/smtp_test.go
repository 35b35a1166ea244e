package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sink is a real SMTP server for tests, built on emersion/go-smtp.
type sink struct {
	addr string

	// Set before sending; read by sessions.
	user, pass string          // if user is set, AUTH PLAIN is required
	rcptErr    *smtp.SMTPError // returned at RCPT TO
	dataErr    *smtp.SMTPError // returned at the end of DATA

	mu       sync.Mutex
	received [][]byte // raw messages
	authed   []string // users that authenticated
}

type sinkOptions struct {
	tls      *tls.Config // offered with STARTTLS, or from the first byte if implicit
	implicit bool
}

// newSink starts an SMTP server on 127.0.0.1 that lives until the test ends.
func newSink(t *testing.T, opts sinkOptions) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(t.Output(), "smtp sink: ", 0)

	var l net.Listener
	var err error
	if opts.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", opts.tls)
	} else {
		srv.TLSConfig = opts.tls
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		// Close races with Serve registering l: close l too, so that
		// Serve returns even if it had not started yet.
		l.Close()
		<-done
	})
	return s
}

func (s *sink) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

func (s *sink) port(t *testing.T) int {
	_, p, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// session is one SMTP session of a sink.
type session struct {
	sink   *sink
	authed bool
}

func (s *session) AuthMechanisms() []string {
	if s.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.sink.user || password != s.sink.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		s.sink.mu.Lock()
		s.sink.authed = append(s.sink.authed, username)
		s.sink.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.sink.rcptErr != nil {
		return s.sink.rcptErr
	}
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.sink.dataErr != nil {
		return s.sink.dataErr
	}
	s.sink.mu.Lock()
	s.sink.received = append(s.sink.received, b)
	s.sink.mu.Unlock()
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// selfSigned returns a server certificate for 127.0.0.1 and a client
// configuration that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// parsed is a received message, decoded.
type parsed struct {
	header netmail.Header
	text   string
	html   string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, raw)
	}
	p := parsed{header: m.Header}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	// Every message is multipart: a text and an HTML part.
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %s, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		if cs := pparams["charset"]; !strings.EqualFold(cs, "utf-8") {
			t.Errorf("%s part: charset %q, want UTF-8", pt, cs)
		}
		decodeBody(t, pt, part.Header.Get("Content-Transfer-Encoding"), part, &p)
	}
	return p
}

// decodeBody stores the decoded body r of type mediaType in p.
func decodeBody(t *testing.T, mediaType, cte string, r io.Reader, p *parsed) {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch mediaType {
	case "text/plain":
		p.text = string(b)
	case "text/html":
		p.html = string(b)
	default:
		t.Fatalf("unexpected part %s", mediaType)
	}
}

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Gatehouse <no-reply@gatehouse.test>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

func TestSMTPDelivers(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	const code = "493817"
	tests := []struct {
		name     string
		sink     sinkOptions
		user     string
		cfg      SMTPConfig
		msg      Message
		wantHTML bool
	}{
		{
			name: "plain text, no TLS",
			cfg:  SMTPConfig{TLS: TLSNone},
			msg:  Message{To: "alice@example.com", Subject: "Your sign-in code", Text: "Your code is " + code + ".\n"},
		},
		{
			name:     "text and HTML",
			cfg:      SMTPConfig{TLS: TLSNone},
			msg:      Message{To: "Alice <alice@example.com>", Subject: "Your sign-in code", Text: "Code: " + code, HTML: "<p>Code: <b>" + code + "</b></p>"},
			wantHTML: true,
		},
		{
			name: "non-ASCII subject and body",
			cfg:  SMTPConfig{TLS: TLSNone},
			msg:  Message{To: "alice@example.com", Subject: "Ihr Anmeldecode für Gatehouse", Text: "Grüße: " + code},
		},
		{
			name: "header injection in subject",
			cfg:  SMTPConfig{TLS: TLSNone},
			msg:  Message{To: "alice@example.com", Subject: "Code\r\nBcc: eve@example.com", Text: code},
		},
		{
			name: "AUTH PLAIN without TLS to loopback",
			user: "relay",
			cfg:  SMTPConfig{TLS: TLSNone, Username: "relay", Password: "s3cret"},
			msg:  Message{To: "alice@example.com", Subject: "Your sign-in code", Text: code},
		},
		{
			name: "STARTTLS with AUTH PLAIN",
			sink: sinkOptions{tls: serverTLS},
			user: "relay",
			cfg:  SMTPConfig{TLS: TLSStartTLS, Username: "relay", Password: "s3cret", TLSConfig: clientTLS},
			msg:  Message{To: "alice@example.com", Subject: "Your sign-in code", Text: code},
		},
		{
			name: "implicit TLS with AUTH PLAIN",
			sink: sinkOptions{tls: serverTLS, implicit: true},
			user: "relay",
			cfg:  SMTPConfig{TLS: TLSImplicit, Username: "relay", Password: "s3cret", TLSConfig: clientTLS},
			msg:  Message{To: "alice@example.com", Subject: "Your sign-in code", Text: code},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk := newSink(t, tt.sink)
			sk.user, sk.pass = tt.user, "s3cret"
			cfg := tt.cfg
			cfg.Host, cfg.Port = "127.0.0.1", sk.port(t)
			s := newTestSMTP(t, cfg)

			if err := s.Send(t.Context(), tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := sk.messages()
			if len(got) != 1 {
				t.Fatalf("sink received %d messages, want 1", len(got))
			}
			sk.mu.Lock()
			authed := len(sk.authed)
			sk.mu.Unlock()
			if tt.user != "" && authed != 1 {
				t.Errorf("sink saw %d authentications, want 1", authed)
			}
			p := parse(t, got[0])
			from, err := p.header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "no-reply@gatehouse.test" || from[0].Name != "Gatehouse" {
				t.Errorf("From = %q (%v)", p.header.Get("From"), err)
			}
			wantTo, _ := netmail.ParseAddress(tt.msg.To)
			to, err := p.header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != wantTo.Address {
				t.Errorf("To = %q (%v), want %s", p.header.Get("To"), err, wantTo.Address)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
			if err != nil || subject != tt.msg.Subject {
				t.Errorf("Subject = %q (%v), want %q", subject, err, tt.msg.Subject)
			}
			if p.header.Get("Date") == "" || p.header.Get("Message-Id") == "" {
				t.Errorf("Date %q, Message-ID %q: want both set", p.header.Get("Date"), p.header.Get("Message-Id"))
			}
			if bcc := p.header.Get("Bcc"); bcc != "" {
				t.Errorf("Bcc = %q, want none", bcc)
			}
			if got := p.header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q, want auto-generated", got)
			}
			if strings.TrimRight(p.text, "\r\n") != strings.TrimRight(tt.msg.Text, "\r\n") {
				t.Errorf("text body = %q, want %q", p.text, tt.msg.Text)
			}
			// Without an HTML body of its own, a message gets one made
			// from its text.
			wantHTML := tt.msg.HTML
			if !tt.wantHTML {
				wantHTML = HTML(tt.msg.Lang, tt.msg.Text)
			}
			if got := strings.ReplaceAll(p.html, "\r\n", "\n"); got != wantHTML {
				t.Errorf("HTML body = %q, want %q", got, wantHTML)
			}
		})
	}
}

func TestSMTPConcurrentSends(t *testing.T) {
	sk := newSink(t, sinkOptions{})
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: sk.port(t), TLS: TLSNone})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := Message{To: "alice@example.com", Subject: "Your sign-in code", Text: strconv.Itoa(i)}
			if err := s.Send(t.Context(), m); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := len(sk.messages()); n != 8 {
		t.Errorf("sink received %d messages, want 8", n)
	}
}

func TestSMTPFailures(t *testing.T) {
	const code = "271828"
	msg := Message{To: "alice@example.com", Subject: "Your sign-in code", Text: "Your code is " + code}
	tempFailure := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	permFailure := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	_, clientTLS := selfSigned(t)

	tests := []struct {
		name    string
		setup   func(t *testing.T, s *sink)
		cfg     SMTPConfig
		want    error
		wantNot error
	}{
		{"451 at RCPT", func(t *testing.T, s *sink) { s.rcptErr = tempFailure }, SMTPConfig{TLS: TLSNone}, ErrUnavailable, ErrRejected},
		{"451 at DATA", func(t *testing.T, s *sink) { s.dataErr = tempFailure }, SMTPConfig{TLS: TLSNone}, ErrUnavailable, ErrRejected},
		{"550 at RCPT", func(t *testing.T, s *sink) { s.rcptErr = permFailure }, SMTPConfig{TLS: TLSNone}, ErrRejected, ErrUnavailable},
		{"550 at DATA", func(t *testing.T, s *sink) { s.dataErr = permFailure }, SMTPConfig{TLS: TLSNone}, ErrRejected, ErrUnavailable},
		{"wrong password", func(t *testing.T, s *sink) { s.user, s.pass = "relay", "other" },
			SMTPConfig{TLS: TLSNone, Username: "relay", Password: "s3cret"}, ErrRejected, ErrUnavailable},
		{"STARTTLS required but not offered", nil,
			SMTPConfig{TLS: TLSStartTLS, TLSConfig: clientTLS}, ErrUnavailable, ErrRejected},
		{"implicit TLS to a plain server", nil,
			SMTPConfig{TLS: TLSImplicit, TLSConfig: clientTLS}, ErrUnavailable, ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk := newSink(t, sinkOptions{})
			if tt.setup != nil {
				tt.setup(t, sk)
			}
			cfg := tt.cfg
			cfg.Host, cfg.Port, cfg.Timeout = "127.0.0.1", sk.port(t), 2*time.Second
			s := newTestSMTP(t, cfg)
			start := time.Now()
			err := s.Send(t.Context(), msg)
			if !errors.Is(err, tt.want) || errors.Is(err, tt.wantNot) {
				t.Fatalf("Send error = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > cfg.Timeout+time.Second {
				t.Errorf("Send took %v, want at most %v", d, cfg.Timeout+time.Second)
			}
			if strings.Contains(err.Error(), code) {
				t.Errorf("error %q contains the message body", err)
			}
			t.Logf("Send: %v", err)
			if n := len(sk.messages()); n != 0 {
				t.Errorf("sink received %d messages, want 0", n)
			}
		})
	}
}

// blackhole accepts TCP connections and never writes a byte.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// closedPort returns the address of a port with nothing listening.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestSMTPUnreachable(t *testing.T) {
	msg := Message{To: "alice@example.com", Subject: "Your sign-in code", Text: "Your code is 161803"}
	const timeout = time.Second
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		maxTime time.Duration
	}{
		{"nothing listening", closedPort, 500 * time.Millisecond},
		{"never answers", blackhole, timeout + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(tt.addr(t))
			p, _ := strconv.Atoi(port)
			s := newTestSMTP(t, SMTPConfig{Host: host, Port: p, TLS: TLSNone, Timeout: timeout})
			start := time.Now()
			err := s.Send(t.Context(), msg)
			d := time.Since(start)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Send error = %v, want ErrUnavailable", err)
			}
			if d > tt.maxTime {
				t.Errorf("Send took %v, want at most %v", d, tt.maxTime)
			}
			t.Logf("Send failed after %v: %v", d.Round(time.Millisecond), err)
		})
	}
}

func TestSMTPHonoursContext(t *testing.T) {
	addr := blackhole(t)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s := newTestSMTP(t, SMTPConfig{Host: host, Port: p, TLS: TLSNone, Timeout: 10 * time.Second})

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, Message{To: "alice@example.com", Subject: "x", Text: "x"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 1300*time.Millisecond {
		t.Errorf("Send took %v after a 300ms context deadline", d)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := s.Send(ctx, Message{To: "alice@example.com", Subject: "x", Text: "x"}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context: error = %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestSMTPNoGoroutineLeak(t *testing.T) {
	temp := newSink(t, sinkOptions{})
	temp.rcptErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	perm := newSink(t, sinkOptions{})
	perm.dataErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected"}
	ok := newSink(t, sinkOptions{})
	addrs := []string{temp.addr, perm.addr, ok.addr, closedPort(t), blackhole(t)}
	senders := make([]*SMTP, len(addrs))
	for i, addr := range addrs {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		senders[i] = newTestSMTP(t, SMTPConfig{Host: host, Port: p, TLS: TLSNone, Timeout: 500 * time.Millisecond})
	}
	msg := Message{To: "alice@example.com", Subject: "Your sign-in code", Text: "Your code is 141421"}

	settle := func() int {
		// Let the sinks' connection goroutines and runtime helpers finish.
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(20 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				return n
			}
			n = m
		}
		return n
	}
	// Warm up once, so that one-time runtime and resolver goroutines exist.
	for _, s := range senders {
		s.Send(t.Context(), msg)
	}
	before := settle()
	for range 3 {
		for _, s := range senders {
			s.Send(t.Context(), msg)
		}
	}
	var after int
	deadline := time.Now().Add(3 * time.Second)
	for {
		after = settle()
		if after <= before || time.Now().After(deadline) {
			break
		}
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after 15 sends\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewSMTPConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SMTPConfig
		wantErr string // substring; empty for success
	}{
		{"starttls default", SMTPConfig{Host: "smtp.example.com"}, ""},
		{"starttls with auth", SMTPConfig{Host: "smtp.example.com", TLS: "starttls", Username: "u", Password: "p"}, ""},
		{"implicit TLS with auth", SMTPConfig{Host: "smtp.example.com", TLS: "tls", Username: "u", Password: "p"}, ""},
		{"none without auth", SMTPConfig{Host: "smtp.example.com", TLS: "none"}, ""},
		{"none with auth to 127.0.0.1", SMTPConfig{Host: "127.0.0.1", TLS: "none", Username: "u", Password: "p"}, ""},
		{"none with auth to 127.0.0.2", SMTPConfig{Host: "127.0.0.2", TLS: "none", Username: "u", Password: "p"}, ""},
		{"none with auth to ::1", SMTPConfig{Host: "::1", TLS: "none", Username: "u", Password: "p"}, ""},
		{"none with auth to localhost", SMTPConfig{Host: "localhost", TLS: "none", Username: "u", Password: "p"}, ""},
		{"none with auth to a remote host", SMTPConfig{Host: "smtp.example.com", TLS: "none", Username: "u", Password: "p"}, "mail.smtp.tls"},
		{"none with auth to a remote IP", SMTPConfig{Host: "192.0.2.1", TLS: "none", Username: "u", Password: "p"}, "mail.smtp.tls"},
		{"unknown TLS mode", SMTPConfig{Host: "smtp.example.com", TLS: "ssl"}, "mail.smtp.tls"},
		{"no host", SMTPConfig{}, "mail.smtp.host"},
		{"bad port", SMTPConfig{Host: "smtp.example.com", Port: 70000}, "mail.smtp.port"},
		{"negative port", SMTPConfig{Host: "smtp.example.com", Port: -1}, "mail.smtp.port"},
		{"bad sender", SMTPConfig{Host: "smtp.example.com", From: "not an address"}, "mail.from"},
		{"password without username", SMTPConfig{Host: "smtp.example.com", Password: "p"}, "mail.smtp.username"},
		{"negative timeout", SMTPConfig{Host: "smtp.example.com", Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.From == "" {
				cfg.From = "Gatehouse <no-reply@localhost>"
			}
			s, err := NewSMTP(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewSMTP: %v", err)
				}
				if s.timeout != DefaultTimeout {
					t.Errorf("timeout = %v, want %v", s.timeout, DefaultTimeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewSMTP error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestNewSMTPDefaultPorts(t *testing.T) {
	tests := []struct {
		tls  string
		want string
	}{
		{"", "smtp.example.com:587"},
		{TLSStartTLS, "smtp.example.com:587"},
		{TLSImplicit, "smtp.example.com:465"},
		{TLSNone, "smtp.example.com:25"},
	}
	for _, tt := range tests {
		s, err := NewSMTP(SMTPConfig{From: "no-reply@example.com", Host: "smtp.example.com", TLS: tt.tls})
		if err != nil {
			t.Fatal(err)
		}
		if s.addr != tt.want {
			t.Errorf("TLS %q: address %s, want %s", tt.tls, s.addr, tt.want)
		}
	}
}

func TestSMTPBadRecipient(t *testing.T) {
	sk := newSink(t, sinkOptions{})
	s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: sk.port(t), TLS: TLSNone})
	for _, to := range []string{"", "not an address", "alice@example.com\r\nBcc: eve@example.com"} {
		if err := s.Send(t.Context(), Message{To: to, Subject: "x", Text: "x"}); !errors.Is(err, ErrRejected) {
			t.Errorf("Send(To: %q) error = %v, want ErrRejected", to, err)
		}
	}
	if n := len(sk.messages()); n != 0 {
		t.Errorf("sink received %d messages, want 0", n)
	}
}
