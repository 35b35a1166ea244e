package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout is the time SMTP.Send allows a whole delivery when
// SMTPConfig.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// TLS modes of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLSImplicit = "tls"      // TLS from the first byte ("SMTPS", usually port 465)
	TLSNone     = "none"     // no encryption, for a relay on the same host
)

// SMTPConfig configures an SMTP sender. Field names follow the mail section
// of Gatehouse's configuration file.
type SMTPConfig struct {
	From     string // mail.from: sender address, e.g. "Gatehouse <no-reply@example.com>"
	Host     string // mail.smtp.host
	Port     int    // mail.smtp.port; 0 means 465 with TLS "tls", 587 with "starttls", 25 with "none"
	Username string // mail.smtp.username; authenticates with AUTH PLAIN if set
	Password string // mail.smtp.password
	TLS      string // mail.smtp.tls: "starttls" (default if empty), "tls" or "none"

	// Timeout bounds a whole delivery: connecting, the SMTP dialogue and
	// the message. Zero means DefaultTimeout.
	Timeout time.Duration

	// TLSConfig, if not nil, replaces the default TLS configuration, which
	// verifies the server's certificate for Host against the system roots.
	// It exists for tests with a self-signed certificate.
	TLSConfig *tls.Config
}

// SMTP is a Sender that delivers each message over a new connection to an
// SMTP server. It is safe for concurrent use.
type SMTP struct {
	from      string
	host      string
	addr      string // host:port
	implicit  bool   // TLS from the first byte
	opts      []gomail.Option
	tlsConfig *tls.Config
	timeout   time.Duration
}

// NewSMTP returns an SMTP sender for cfg, or an error naming the
// configuration key to fix.
//
// AUTH PLAIN sends the password as it is, so with TLS "none" a username is
// accepted only if Host is a loopback address (localhost, 127.0.0.0/8 or
// ::1).
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail.smtp.host: no SMTP server host")
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("mail.from: invalid sender address %q: %w", cfg.From, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("mail.smtp timeout: %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mail.smtp.username: required when mail.smtp.password is set")
	}

	s := &SMTP{from: cfg.From, host: cfg.Host, timeout: cfg.Timeout}
	if cfg.TLSConfig != nil {
		s.tlsConfig = cfg.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = cfg.Host
	}

	port := cfg.Port
	auth := gomail.SMTPAuthPlain
	s.opts = []gomail.Option{gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(s.tlsConfig)}
	switch cfg.TLS {
	case TLSStartTLS, "":
		if port == 0 {
			port = 587
		}
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		if port == 0 {
			port = 465
		}
		// The connection is dialled with TLS by dial; WithSSL makes the
		// client skip STARTTLS on it.
		s.implicit = true
		s.opts = append(s.opts, gomail.WithSSL())
	case TLSNone:
		if port == 0 {
			port = 25
		}
		if cfg.Username != "" && !isLoopback(cfg.Host) {
			return nil, fmt.Errorf("mail.smtp.tls: %q would send the SMTP password unencrypted to %s; use %q or %q, or a relay on a loopback address",
				cfg.TLS, cfg.Host, TLSStartTLS, TLSImplicit)
		}
		auth = gomail.SMTPAuthPlainNoEnc
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail.smtp.tls: %q is not one of %q, %q, %q", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail.smtp.port: %d is not a TCP port", port)
	}
	s.opts = append(s.opts, gomail.WithPort(port))
	s.addr = net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	if cfg.Username != "" {
		s.opts = append(s.opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}

	// Check the options once, so that Send cannot fail on them.
	if _, err := gomail.NewClient(cfg.Host, s.opts...); err != nil {
		return nil, fmt.Errorf("mail.smtp: %w", err)
	}
	return s, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Send delivers m. It returns within the configured timeout (or ctx's
// deadline, if sooner), whatever the server does. A failure wraps
// ErrUnavailable or ErrRejected.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout,
		fmt.Errorf("no delivery within %v", s.timeout))
	defer cancel()

	// The connection is closed when ctx is done, which interrupts any read
	// or write the client is blocked in, and in any case when Send returns.
	var (
		conn net.Conn
		stop = func() bool { return false }
	)
	defer func() {
		stop()
		if conn != nil {
			conn.Close()
		}
	}()
	dial := func(dialCtx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dialCtx, network, s.addr)
		if err != nil {
			return nil, err
		}
		conn = c
		stop = context.AfterFunc(ctx, func() { c.Close() })
		if !s.implicit {
			return c, nil
		}
		tc := tls.Client(c, s.tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return nil, err
		}
		return tc, nil
	}

	client, err := gomail.NewClient(s.host, slices.Concat(s.opts, []gomail.Option{gomail.WithDialContextFunc(dial)})...)
	if err != nil {
		return fmt.Errorf("mail: SMTP client for %s: %w", s.addr, err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.wrap(ctx, err)
	}
	if err := client.SendWithSMTPClient(sc, msg); err != nil {
		return s.wrap(ctx, err)
	}
	// The server has accepted the message; a failed QUIT changes nothing.
	_ = client.CloseWithSMTPClient(sc)
	return nil
}

// message builds the go-mail message for m.
func (s *SMTP) message(m Message) (*gomail.Msg, error) {
	return compose(s.from, m)
}

// wrap classifies a delivery error as ErrUnavailable or ErrRejected.
func (s *SMTP) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		// The connection was closed under the client: the cause is the
		// deadline or the caller's cancellation, not the closed socket.
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, s.addr, context.Cause(ctx))
	}
	if code := replyCode(err); code >= 500 && code <= 599 {
		return fmt.Errorf("%w: %s: %w", ErrRejected, s.addr, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, s.addr, err)
}

// replyCode returns the SMTP reply code carried by err, or 0.
func replyCode(err error) int {
	if se, ok := errors.AsType[*gomail.SendError](err); ok {
		return se.ErrorCode()
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code
	}
	return 0
}
