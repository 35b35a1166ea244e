package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/console"
	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/demo"
	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/metrics"
	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/templates"
)

// newMailer returns the SMTP sender, or with no mail.smtp.host the mail
// outbox, which writes each message to a file in mail.outbox_dir.
func newMailer(cfg *config.Config, logger *slog.Logger) (mail.Sender, error) {
	if cfg.Mail.SMTP.Host == "" {
		if strings.HasPrefix(cfg.Issuer, "https://") {
			logger.Warn("PRODUCTION WARNING: mail.smtp.host is empty: no email is sent; codes and links are written to files in mail.outbox_dir instead; set mail.smtp.host",
				"issuer", cfg.Issuer, "outbox_dir", cfg.Mail.OutboxDir)
		} else {
			logger.Info("mail.smtp.host is empty: emails are written to the mail outbox, not sent", "outbox_dir", cfg.Mail.OutboxDir)
		}
	}
	return mailSender(cfg, logger)
}

// mailSender is newMailer without its start-up message: the SMTP sender,
// or with no mail.smtp.host the mail outbox.
func mailSender(cfg *config.Config, logger *slog.Logger) (mail.Sender, error) {
	if cfg.Mail.SMTP.Host == "" {
		return mail.Dir{Path: cfg.Mail.OutboxDir, From: cfg.Mail.From, Logger: logger}, nil
	}
	return mail.NewSMTP(mail.SMTPConfig{
		From: cfg.Mail.From, Host: cfg.Mail.SMTP.Host, Port: cfg.Mail.SMTP.Port,
		Username: cfg.Mail.SMTP.Username, Password: cfg.Mail.SMTP.Password, TLS: cfg.Mail.SMTP.TLS,
	})
}

// pageFiles are the page templates and static files: the built-in ones,
// under brand.templates_dir's when it is set.
func pageFiles(cfg *config.Config) fs.FS {
	if d := cfg.Brand.TemplatesDir; d != "" {
		return templates.Overlay(os.DirFS(d), templates.FS)
	}
	return templates.FS
}

// brandColor is the brand's colour for the pages, "" when it is the
// built-in one (no stylesheet to add).
func brandColor(cfg *config.Config) string {
	if c := cfg.Brand.PrimaryColor; !strings.EqualFold(c, config.Default().Brand.PrimaryColor) {
		return c
	}
	return ""
}

// shutdownTimeout bounds how long SIGTERM waits for requests in flight.
const shutdownTimeout = 30 * time.Second

// adminReadTimeout bounds how long the admin listener waits for a whole
// request, body included: its bodies are small JSON documents (at most
// admin.MaxAPIBody), and a client that stops sending one must not hold a
// connection, and with it SIGTERM's drain, open.
const adminReadTimeout = 10 * time.Second

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(contextHandler{h})
}

func runServe(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("serve", env)
	withDemo := fs.Bool("demo", false, "create a demo user and client if absent and serve a demo application at /demo")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"serve: unexpected argument " + fs.Arg(0)}
	}
	cfg, err := loadConfig(*configPath, env)
	if err != nil {
		return err
	}
	// Refused before anything is migrated or printed: the admin listener
	// would fail to bind only after "Gatehouse is serving …".
	if err := cfg.ListenerConflict(); err != nil {
		return err
	}
	logger := newLogger(cfg, env.stderr)
	// zitadel's op logs through slog.Default; set it once, here.
	slog.SetDefault(logger)
	cfg.WarnInsecureLinks(logger)
	if msg := cfg.IssuerPortMismatch(); msg != "" {
		logger.Warn(msg)
	}

	// SQLite supports one server: a second serve on the file refuses to
	// start (lock.go).
	if driver, path := cfg.DatabaseDriver(); driver == "sqlite" {
		release, err := lockSQLite(path)
		if err != nil {
			return err
		}
		defer release()
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := newServer(ctx, cfg, store, logger)
	if err != nil {
		return err
	}
	// Expired state is purged on a schedule (housekeeping.go), by the
	// clock the server runs on (the database's, on PostgreSQL).
	go newHousekeeper(cfg, store, srv.now, logger).run(ctx)
	// Logout tokens of ended sessions go out from every replica
	// (backchannel.go); SIGTERM lets the sends in flight finish.
	logoutCtx, stopLogouts := context.WithCancel(ctx)
	waitLogouts := startLogoutSender(logoutCtx, srv, store, logger)
	defer func() { stopLogouts(); waitLogouts() }()
	if *withDemo {
		if srv.demo, err = newDemo(ctx, cfg, store, srv.now, srv.passwords, env, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http.address: %w", err)
	}
	// The admin listener is bound before the public one serves, so that
	// once /readyz answers, /metrics and the admin API do too; and before
	// anything says Gatehouse is serving.
	var aln net.Listener
	if cfg.Admin.Address != "off" {
		if aln, err = net.Listen("tcp", cfg.Admin.Address); err != nil {
			ln.Close()
			return fmt.Errorf("admin.address: %w", err)
		}
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	logger.Info("gatehouse listening", "address", ln.Addr().String(), "issuer", cfg.Issuer, "database", dbKind(cfg))
	fmt.Fprintf(env.stdout, "Gatehouse is serving %s on http://%s\n", cfg.Issuer, ln.Addr())
	printOutbox(cfg, env)
	printFirstRunHints(ctx, store, env)
	tuneGC(logger, password.OWASP)

	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var adminServer *http.Server
	if aln != nil {
		deps := admin.Deps{Store: store, Logger: logger, Tokens: srv.provider,
			Metrics: srv.metrics.Handler(logger), Passwords: srv.passwords, Now: srv.now,
			SealBox: func() (*seal.Box, error) { return openSealBox(ctx, cfg, store) }, Pprof: cfg.Admin.Pprof,
			Mailer: srv.mailer}
		adminServer = &http.Server{
			// Profiles last as long as they are asked to; the rest as
			// long as a public request.
			Handler: withDeadline(requestTimeout, func(r *http.Request) bool {
				return strings.HasPrefix(r.URL.Path, "/debug/pprof/")
			}, admin.NewHandler(deps)),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       adminReadTimeout,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
		logger.Info("admin listening", "address", aln.Addr().String())
		fmt.Fprintf(env.stdout, "Admin listener (metrics, admin API) on http://%s\n", aln.Addr())
		go func() { errc <- adminServer.Serve(aln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: readiness off, draining requests")
	srv.draining.Store(true)
	if d := cfg.HTTP.ShutdownDelay.Duration; d > 0 {
		// Keep serving while load balancers see /readyz fail.
		time.Sleep(d)
	}
	// Both listeners drain at once, within the one shutdownTimeout: the
	// admin listener's requests do not wait for the public one's.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	adminDone := make(chan error, 1)
	go func() {
		if adminServer == nil {
			adminDone <- nil
			return
		}
		if err := adminServer.Shutdown(sctx); err != nil {
			adminDone <- fmt.Errorf("shutdown admin listener: %w", err)
			return
		}
		adminDone <- nil
	}()
	err = hs.Shutdown(sctx)
	if err != nil {
		err = fmt.Errorf("shutdown: %w", err)
	}
	if err := errors.Join(err, <-adminDone); err != nil {
		return err
	}
	// Emails the requests left to send in the background go out within
	// the same deadline.
	if err := srv.waitMail(sctx); err != nil {
		logger.Warn("shutdown: emails still being sent were abandoned", "err", err)
	}
	logger.Info("stopped")
	return nil
}

func dbKind(cfg *config.Config) string {
	d, _ := cfg.DatabaseDriver()
	return d
}

// printOutbox tells where emails go when there is no SMTP server.
func printOutbox(cfg *config.Config, env *environ) {
	if cfg.Mail.SMTP.Host != "" {
		return
	}
	dir := cfg.Mail.OutboxDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if strings.HasPrefix(cfg.Issuer, "https://") {
		fmt.Fprintf(env.stdout, "WARNING: no SMTP server (mail.smtp.host): emails are NOT sent; their codes and links are written to %s\n", dir)
		return
	}
	fmt.Fprintf(env.stdout, "No SMTP server configured: emails (codes, confirmation and reset links) are written to the mail outbox, %s (one .eml file each, newest last)\n", dir)
}

// printFirstRunHints tells a new user how to add a user and a client.
func printFirstRunHints(ctx context.Context, store storage.Store, env *environ) {
	users, err1 := store.ListUsers(ctx)
	clients, err2 := store.ListClients(ctx)
	// The account area's own client does not count.
	clients = slices.DeleteFunc(clients, func(c storage.Client) bool { return c.ID == login.AccountClientID })
	if err1 != nil || err2 != nil || (len(users) > 0 && len(clients) > 0) {
		return
	}
	fmt.Fprint(env.stdout, `
Next steps (in another terminal):
  echo 'a long password' | ./bin/gatehouse users create --email you@example.com --name "You" --password-stdin
  ./bin/gatehouse clients create --name "My app" --redirect-uri http://localhost:3000/callback
Then point your application at the issuer above (discovery: /.well-known/openid-configuration).
People sign in to their own account (password, two-factor) at the issuer's /.
`)
}

// server is Gatehouse's HTTP handler.
type server struct {
	handler  http.Handler
	draining atomic.Bool
	clock    *clockCheck      // nil without a database clock (SQLite)
	now      func() time.Time // the clock of expiry: the database's on PostgreSQL
	provider *op.Provider     // also verifies the admin API's access tokens
	// passwords is the one argon2id hasher (and gate) of the process:
	// the login's, the admin API's and the demo's.
	passwords *password.Hasher
	metrics   *metrics.Metrics // served by the admin listener
	demo      *demo.App        // the demo application (serve --demo), or nil
	// mailer sends the server's emails: the login's and the admin API's.
	mailer mail.Sender
	// waitMail waits for the login's emails sent in the background.
	waitMail func(context.Context) error
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// newServer wires storage, keys, the provider and the login into one
// handler.
func newServer(ctx context.Context, cfg *config.Config, store storage.Store, logger *slog.Logger) (*server, error) {
	keys, box, err := keyManager(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	if err := keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	https := strings.HasPrefix(issuer, "https://")
	// On PostgreSQL the server's clock follows the database's (clockskew.go).
	clock := startClockCheck(ctx, store, clockFromEnv(os.Getenv), logger)
	now := clock.follow(clockFromEnv(os.Getenv))
	// Metrics count audit events, new blocks, mail and requests on their
	// way (internal/metrics); the clock check above needs the backend itself.
	obs := metrics.New(store, now, []string{discoveryPath, metadataPath, jwksPath})
	store = obs.Store(store)
	// The account area signs in as a client of Gatehouse (login/home.go).
	if err := ensureAccountClient(ctx, store, issuer, now()); err != nil {
		return nil, err
	}

	provider, err := op.New(op.Config{
		Issuer:          issuer,
		CryptoKey:       box.Derive("op crypto"),
		AccessTokenTTL:  cfg.Tokens.AccessTokenTTL.Duration,
		IDTokenTTL:      cfg.Tokens.IDTokenTTL.Duration,
		RefreshTokenTTL: cfg.Tokens.RefreshTokenTTL.Duration,
		AuthCodeTTL:     cfg.Tokens.AuthCodeTTL.Duration,
		DefaultAudience: cfg.Tokens.DefaultAudience,
		AuthRequestTTL:  30 * time.Minute,
		LoginURL:        func(id string) string { return issuer + "/login?authRequestID=" + url.QueryEscape(id) },
		SignedOutURL:    issuer + "/signed-out",
		ACR:             login.ACRFor,
		PublicPushLimit: publicPushLimit(&lockout.Limiter{
			Store: store, Now: now, Scope: pushLimitScope,
			IP: storage.Limit{Max: pushLimitMax, Window: pushLimitWindow, Block: pushLimitWindow},
		}, now),
		Now: now,
	}, store, keys)
	if err != nil {
		return nil, err
	}
	obs.ReportSignatureCache(provider)

	mailer, err := newMailer(cfg, logger)
	if err != nil {
		return nil, err
	}
	mailer = obs.Mailer(mail.Branded{Sender: mailer, Name: cfg.Brand.Name})
	pwBlock := cfg.Password.BlockDuration.Duration
	otpBlock := cfg.Lockout.BlockDuration.Duration
	passwords, err := newHasher(cfg, logger)
	if err != nil {
		return nil, err
	}
	lh := &login.Handler{
		Store:     store,
		Pages:     pageFiles(cfg),
		Passwords: passwords,
		// One IP block closes every step: a block earned with codes also
		// refuses passwords, and the other way round.
		Limiter: &lockout.Limiter{
			Store:         store,
			Now:           now,
			Scope:         "pwd",
			IP:            storage.Limit{Max: cfg.Password.IPMaxAttempts, Window: pwBlock, Block: pwBlock},
			Account:       storage.Limit{Max: cfg.Password.MaxAttempts, Window: pwBlock, Block: pwBlock},
			AlsoBlockedBy: []string{"otp"},
		},
		OTPLimiter: &lockout.Limiter{
			Store: store,
			Now:   now,
			Scope: "otp",
			IP:    storage.Limit{Max: cfg.Lockout.MaxAttempts, Window: otpBlock, Block: otpBlock},
			Account: storage.Limit{Max: cfg.Lockout.AccountMaxAttempts, Window: cfg.Lockout.AccountWindow.Duration,
				Block: otpBlock},
			AlsoBlockedBy: []string{"pwd"},
		},
		Mailer:        mailer,
		CodeInSubject: cfg.Mail.CodeInSubject,
		Brand: login.Brand{Name: cfg.Brand.Name, Logo: cfg.Brand.Logo, PrimaryColor: brandColor(cfg),
			SupportURL: cfg.Brand.SupportURL, SupportEmail: cfg.Brand.SupportEmail,
			PrivacyURL: cfg.Brand.PrivacyURL, TermsURL: cfg.Brand.TermsURL},
		MailOutbox:      cfg.Mail.SMTP.Host == "" && !strings.HasPrefix(cfg.Issuer, "https://"),
		Seal:            box,
		CodeKey:         box.Derive("email codes"),
		TOTPIssuer:      cfg.SecondFactor.TOTPIssuer,
		EmailCodeTTL:    cfg.SecondFactor.EmailCodeTTL.Duration,
		ResendCooldown:  cfg.SecondFactor.EmailResendCooldown.Duration,
		BaseURL:         issuer,
		Callback:        provider.CallbackURL,
		Fail:            provider.AuthRequestError,
		ClientIP:        clientIP,
		CSRFKey:         box.Derive("csrf"),
		Secure:          https,
		SessionLifetime: cfg.Session.Lifetime.Duration,
		SessionIdle:     cfg.Session.IdleTimeout.Duration,
		ReauthWindow:    cfg.Session.ReauthWindow.Duration,
		Now:             now,
		Logger:          logger,
		Registration:    cfg.Registration.Enabled,
		// Registrations and recovery requests send email: each client IP
		// and each address gets a few per hour.
		RegLimiter: &lockout.Limiter{
			Store: store, Now: now, Scope: "reg",
			IP:      storage.Limit{Max: 10, Window: time.Hour, Block: time.Hour},
			Account: storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour},
		},
		// Code emails: every one counts, per account and per client IP.
		MailLimiter: &lockout.Limiter{
			Store: store, Now: now, Scope: "mail",
			IP: storage.Limit{Max: cfg.SecondFactor.EmailMaxPerIP, Window: cfg.SecondFactor.EmailMaxWindow.Duration,
				Block: cfg.SecondFactor.EmailMaxWindow.Duration},
			Account: storage.Limit{Max: cfg.SecondFactor.EmailMaxPerAccount, Window: cfg.SecondFactor.EmailMaxWindow.Duration,
				Block: cfg.SecondFactor.EmailMaxWindow.Duration},
		},
		RecoverLimiter: &lockout.Limiter{
			Store: store, Now: now, Scope: "rec",
			IP:      storage.Limit{Max: 10, Window: time.Hour, Block: time.Hour},
			Account: storage.Limit{Max: 5, Window: time.Hour, Block: time.Hour},
		},
	}
	if lh.WebAuthn, err = newWebAuthn(issuer, logger); err != nil {
		return nil, err
	}
	if err := lh.Init(); err != nil {
		return nil, err
	}

	s := &server{clock: clock, now: now, provider: provider, metrics: obs, passwords: lh.Passwords, mailer: mailer, waitMail: lh.WaitMail}
	r := chi.NewRouter()
	r.Use(obs.Instrument)
	// The demo application (serve --demo, internal/demo); 404 without it.
	r.HandleFunc("/demo", s.serveDemo)
	r.HandleFunc("/demo/*", s.serveDemo)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if s.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(pctx); err != nil {
			logger.WarnContext(r.Context(), "readiness: database unreachable", "err", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		if msg := s.clock.problem(); msg != "" {
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})

	// The login pages: same-origin POSTs only (Sec-Fetch-Site / Origin),
	// on top of each form's CSRF token.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lh.RenderError(w, r, http.StatusForbidden, "Request refused", "Cross-origin form submissions are not accepted.")
	}))
	if err := lh.Mount(r, func(h http.Handler) http.Handler {
		return provider.IssuerInterceptor(csrf.Handler(formGuard(lh, false, h)))
	}); err != nil {
		return nil, fmt.Errorf("login routes: %w", err)
	}

	// The protocol endpoints. /authorize answers errors it cannot redirect
	// with an error page, and database failures with 503.
	// /authorize binds the request it stores to the browser that sent it
	// (a flow cookie); the callback that issues the code checks the cookie
	// and answers each request once (login/binding.go).
	// A pushed request's request_uri stands for its parameters (par.go).
	// A parameter without a value is no parameter (authorize.go).
	r.Handle("/authorize", omitEmptyParameters(pushedRequests(lh, provider, authorizeErrors(lh, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		provider.ServeHTTP(w, r.WithContext(op.WithFlowBinding(r.Context(), lh.FlowBinding(w, r))))
	})))))
	r.Handle("/authorize/callback", authorizeErrors(lh, lh.CallbackGuard(provider)))
	// Pushed authorization requests (RFC 9126): for clients' back ends,
	// no CORS.
	r.Handle(op.PushedAuthorizationPath, protocolFaults(provider.PushedAuthorization()))
	// end_session (RP-initiated logout) is the login's: the provider only
	// validates the request (endsession.go). Without an id_token_hint
	// naming the session's user, the user confirms with a same-origin,
	// CSRF-protected form.
	validateLogout := logoutValidator(provider)
	r.Handle(login.EndSessionPath, formGuard(lh, true, lh.EndSession(validateLogout)))
	r.Handle(login.ConfirmLogoutPath, csrf.Handler(formGuard(lh, false, lh.ConfirmLogout(validateLogout))))
	// The admin console (internal/console), for users with the admin role.
	ch := &console.Handler{Login: lh, Store: store, Passwords: lh.Passwords, Now: now, Logger: logger, ClientIP: clientIP,
		CSRFKey: box.Derive("console"), Secure: https, SealBox: func() (*seal.Box, error) { return openSealBox(ctx, cfg, store) }}
	if err := ch.Init(); err != nil {
		return nil, err
	}
	if err := ch.Mount(r, csrf.Handler); err != nil {
		return nil, fmt.Errorf("console routes: %w", err)
	}
	r.Mount("/", clientEndpointRules(issuer, protocolFaults(provider)))

	var h http.Handler = r
	h = limitBody(cfg.HTTP.MaxBodyBytes, h)
	h = securityHeaders(https, h)
	ips := clientIPResolver{trusted: cfg.TrustedProxies()}
	h = requestContext(logger, ips, h)
	h = documentsFirst(provider, obs, https, logger, ips, h)
	h = withDeadline(requestTimeout, nil, h)
	// Under an issuer with a path, everything is served under that path
	// (basepath.go).
	h = underIssuerPath(lh.BasePath(), lh.URL, https, h)
	s.handler = h
	return s, nil
}

// protocolFaults answers 503 when a protocol endpoint failed because the
// database did: zitadel would otherwise blame the client (a valid code
// reported as invalid_grant while the database is away).
func protocolFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, faulted := op.TrackFaults(r.Context())
		iw := &interceptWriter{ResponseWriter: w, passRedirects: true}
		next.ServeHTTP(iw, r.WithContext(ctx))
		if !iw.intercepted {
			return
		}
		if faulted.Load() {
			// The endpoint's own verdict on the token is void: a
			// WWW-Authenticate challenge (userinfo's invalid_token) would
			// make the application throw away a token that is good.
			w.Header().Del("WWW-Authenticate")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"server_error","error_description":"`+op.UnavailableDescription+`"}`+"\n")
			return
		}
		w.WriteHeader(iw.status)
		io.WriteString(w, iw.body.String())
	})
}

// interceptWriter holds back error responses and redirects so that
// authorizeErrors can rewrite them.
type interceptWriter struct {
	http.ResponseWriter
	passRedirects bool // let redirects through unchanged
	status        int
	intercepted   bool
	redirect      string
	body          strings.Builder
}

func (w *interceptWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	switch {
	case code >= 300 && code < 400 && !w.passRedirects:
		w.redirect = w.Header().Get("Location")
		w.Header().Del("Location")
	case code >= 400:
		w.intercepted = true
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *interceptWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.intercepted {
		w.body.Write(b) // error bodies are small
		return len(b), nil
	}
	if w.redirect != "" {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// serveDemo serves the demo application, or 404 without --demo.
func (s *server) serveDemo(w http.ResponseWriter, r *http.Request) {
	if s.demo == nil {
		http.NotFound(w, r)
		return
	}
	s.demo.ServeHTTP(w, r)
}

// newDemo sets up the demo user and client, printing to env.stdout, and
// returns the demo application (internal/demo), running on the clock now.
func newDemo(ctx context.Context, cfg *config.Config, store storage.Store, now func() time.Time, passwords *password.Hasher,
	env *environ, logger *slog.Logger) (*demo.App, error) {
	_, box, err := keyManager(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	return demo.New(ctx, store, passwords, strings.TrimSuffix(cfg.Issuer, "/"), box, now, env.stdout, logger)
}
