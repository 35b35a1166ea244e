package login

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// Messages shown to users. DESIGN.md fixes their text.
const (
	msgBadCredentials = "Invalid email or password."
	msgBlocked        = "You have reached the limit of attempts. Please try again later in %d minutes."
	msgExpired        = "This sign-in request has expired or is not valid. Please go back to the application and sign in again."
	msgOtherBrowser   = "This sign-in was started in another browser. Please go back to the application and sign in again."
	msgForbidden      = "Your request could not be verified. Please reload the page and try again."
	msgUnavailable    = "Sign-in is temporarily unavailable. Please try again in a moment."
	msgTooLarge       = "The request was too large."
)

// ACR values Gatehouse issues.
const (
	ACRPassword = "urn:gatehouse:loa:1" // one factor
)

// Store is the part of storage.Store the login uses: users and their
// factors, sessions, auth requests, the ends of sign-ins (SignInStore),
// consent, the audit log, the clients
// users sign in to (ClientStore) and the tokens a password change revokes
// (GrantStore).
type Store interface {
	storage.UserStore
	storage.FactorStore
	storage.SessionStore
	storage.SignInStore
	storage.BackchannelStore
	storage.AuthRequestStore
	storage.ConsentStore
	storage.AuditStore
	storage.ClientStore
	storage.GrantStore
}

// Handler serves the hosted login. Set the exported fields, then call Init
// once before Routes.
type Handler struct {
	Store     Store
	Pages     fs.FS // templates.FS, or a directory in development
	Passwords *password.Hasher
	// Limiter guards the password step.
	Limiter *lockout.Limiter
	// OTPLimiter guards every check of a one-time code: sign-in, enabling
	// and disabling a factor.
	OTPLimiter *lockout.Limiter
	Mailer     mail.Sender
	// Brand is the operator's name, logo, colour and links on every page
	// (brand.go); the zero Brand is Gatehouse's own.
	Brand Brand
	// CodeInSubject puts emailed one-time codes in the subject line too;
	// by default they are only in the body, away from lock-screen
	// previews.
	CodeInSubject bool
	// MailOutbox says that emails go to the development mail outbox, not
	// to people: the pages that say an email was sent say where it is.
	MailOutbox bool
	// Seal opens and seals TOTP secrets at rest.
	Seal *seal.Box
	// CodeKey keys the HMAC under which emailed codes are stored.
	CodeKey        [32]byte
	TOTPIssuer     string
	EmailCodeTTL   time.Duration
	ResendCooldown time.Duration
	// BaseURL is the public base URL (the issuer), for links in emails.
	// Its path, if any, is where the pages are served (basepath.go).
	BaseURL string
	// Callback returns the provider's URL that completes an auth request.
	Callback func(ctx context.Context, authRequestID string) string
	// Fail sends an OAuth error for an auth request to its client.
	Fail func(w http.ResponseWriter, r *http.Request, authRequestID, code, description string)
	// ClientIP returns the client's address (see cmd's trusted proxies).
	ClientIP func(*http.Request) netip.Addr
	CSRFKey  [32]byte
	// Secure marks cookies Secure and names them with the __Host- prefix
	// (__Secure- under an issuer's path: CookieName); set it when the
	// issuer is https.
	Secure          bool
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	Now             func() time.Time
	Logger          *slog.Logger

	// ReauthWindow is how recent a sign-in or re-authentication must be
	// for a sensitive account change (stepup.go); 0 means
	// DefaultReauthWindow.
	ReauthWindow time.Duration

	// WebAuthn, when set, turns on security keys and passkeys (webauthn.go).
	// It needs an issuer with a host name: WebAuthn refuses IP addresses.
	WebAuthn *WebAuthnRP

	// Registration opens /register, where people create their own accounts.
	Registration bool
	// RegLimiter counts registrations per client IP and per address.
	RegLimiter *lockout.Limiter
	// RecoverLimiter counts password-recovery requests per client IP and per
	// address.
	RecoverLimiter *lockout.Limiter
	// MailLimiter caps the emails with one-time codes per client IP and
	// per account: every email counts, and the cap is a block.
	MailLimiter *lockout.Limiter

	pages pages
	// basePath is the issuer's path (basepath.go), from BaseURL.
	basePath string
	// mailing counts the emails mailLater is still sending.
	mailing sync.WaitGroup
}

// Init checks the dependencies and parses the pages.
func (h *Handler) Init() error {
	switch {
	case h.Store == nil, h.Pages == nil, h.Passwords == nil, h.Limiter == nil, h.Callback == nil,
		h.Fail == nil, h.ClientIP == nil, h.Now == nil, h.Logger == nil, h.OTPLimiter == nil,
		h.Mailer == nil, h.Seal == nil, h.TOTPIssuer == "", h.MailLimiter == nil:
		return errors.New("login: Handler is missing a dependency")
	case h.SessionLifetime <= 0 || h.SessionIdle <= 0 || h.EmailCodeTTL <= 0 || h.ResendCooldown < 0:
		return errors.New("login: lifetimes must be positive")
	}
	if err := h.initSelfService(); err != nil {
		return err
	}
	h.basePath = basePathOf(h.BaseURL)
	p, err := parsePages(h.Pages, h.Brand, h.basePath)
	if err != nil {
		return err
	}
	h.pages = p
	return nil
}

// Mount registers each of the login's routes (Routes) on r, its handler
// wrapped by wrap, so that the server's router needs no list of them.
func (h *Handler) Mount(r chi.Router, wrap func(http.Handler) http.Handler) error {
	return chi.Walk(h.Routes(), func(method, route string, handler http.Handler, _ ...func(http.Handler) http.Handler) error {
		r.Method(method, route, wrap(handler))
		return nil
	})
}

// Routes returns the login routes: / (the account home, home.go), /login,
// /account, /logout, /signed-out, /lang (the language switcher) and
// /static/.
func (h *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	r.Get("/login", h.serve(h.showLogin))
	r.Post("/login", h.serve(h.submitPassword))
	r.Post("/login/continue", h.serve(h.continueAs))
	r.Get("/login/otp", h.serve(h.showCode))
	r.Post("/login/otp", h.serve(h.submitCode))
	r.Post("/login/otp/resend", h.serve(h.resendCode))
	r.Get("/login/enroll", h.serve(h.showEnroll))
	r.Post("/login/enroll", h.serve(h.submitEnroll))
	r.Post("/login/enroll/resend", h.serve(h.resendEnroll))
	r.Get(ConsentPath, h.serve(h.showConsent))
	r.Post(ConsentPath, h.serve(h.submitConsent))
	r.Get("/", h.serve(h.showHome))
	r.Get(AccountCallbackPath, h.serve(h.accountCallback))
	r.Get("/account", h.serve(h.showAccount))
	r.Post("/account/name", h.serve(h.changeName))
	r.Post("/account/email", h.serve(h.sensitive("/account", h.changeEmail)))
	h.linkRoutes(r, changeEmailLink, h.confirmEmailChange)
	r.Post("/account/sessions/end", h.serve(h.sensitive("/account", h.endSession)))
	r.Post("/account/sessions/end-others", h.serve(h.sensitive("/account", h.endOtherSessions)))
	r.Post("/account/apps/revoke", h.serve(h.revokeApp))
	r.Get("/account/security", h.serve(h.showSecurity))
	r.Post("/account/security/{factor}/{op}", h.serve(h.sensitive("/account/security", h.securityAction)))
	h.webauthnRoutes(r)
	h.stepUpRoutes(r)
	r.Get("/register", h.serve(h.showRegister))
	r.Post("/register", h.serve(h.submitRegister))
	h.linkRoutes(r, confirmLink, h.confirmEmail)
	r.Get("/recover", h.serve(h.showRecover))
	r.Post("/recover", h.serve(h.submitRecover))
	r.Get("/recover/reset", h.serve(h.showReset))
	r.Post("/recover/reset", h.serve(h.submitReset))
	r.Get("/account/password", h.serve(h.showPasswordChange))
	r.Post("/account/password", h.serve(h.changePassword))
	r.Post("/account/password/code", h.serve(h.sendPasswordCode))
	r.Post("/logout", h.serve(h.logout))
	r.Get("/signed-out", h.serve(h.signedOut))
	r.Get("/lang", h.serve(h.switchLang))
	r.Get(BrandCSSPath, h.serveBrandCSS)
	static, _ := fs.Sub(h.Pages, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(filesOnly{static}))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})
	return r
}

// pageError is an error shown to the user as a page with a status.
type pageError struct {
	status  int
	title   string
	message string
	// signIn says that a sign-in would answer it: a GET signs in and
	// comes back (signInToAccount) instead of showing the page.
	signIn bool
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

func userError(status int, title, message string) error {
	return &pageError{status: status, title: title, message: message}
}

// serve adapts a step that returns an error: page errors render the error
// page with their status; anything else is logged and answered 503, since
// it means the database (or another dependency) failed.
func (h *Handler) serve(step func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r = h.withLang(r)
		err := step(w, r)
		if err == nil {
			return
		}
		var pe *pageError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(err, lockout.ErrBusy):
			pe = h.inFlight(w, r)
		case errors.As(err, &pe) && pe.signIn && r.Method == http.MethodGet:
			h.signInToAccount(w, r, r.URL.RequestURI())
			return
		case errors.As(err, &pe):
		case errors.As(err, &tooLarge):
			pe = &pageError{status: http.StatusRequestEntityTooLarge, title: "Request too large", message: msgTooLarge}
		default:
			h.Logger.ErrorContext(r.Context(), "login step failed", "path", r.URL.Path, "err", err)
			pe = &pageError{status: http.StatusServiceUnavailable, title: "Temporarily unavailable", message: msgUnavailable}
			w.Header().Set("Retry-After", "5")
		}
		h.render(w, r, pe.status, "error.html", &page{Title: pe.title, Message: pe.message, sessionGone: pe.signIn})
	}
}

// page is the data every page template receives; each uses its part.
type page struct {
	Title         string
	Lang          string // set by render: the request's language (login/i18n)
	Back          string // set by render: where the language switcher returns
	Message       string // error page
	Error         string // form error
	ClientName    string
	Registration  bool // the sign-in page and the footer link to /register
	SignedIn      bool // set by render: the browser has a session cookie (the footer's links)
	sessionGone   bool // the page says the session is gone: the footer offers to sign in
	AuthRequestID string
	CSRF          string
	Email         string
	// ContinueAs is the address of the browser's session user the sign-in
	// page offers to continue as (prompt=select_account); "": none.
	ContinueAs string
	User       *storage.User
	AuthTime   time.Time

	// Field names the form field that Error is about: the page shows the
	// error next to it and puts the focus there. "": the form as a whole.
	Field string

	// The code and enrolment pages.
	Info         string            // information (a code was sent)
	Action       string            // where the code form posts
	Hidden       map[string]string // extra hidden fields of the forms
	ResendAction string            // where Resend posts; "" hides it
	SwitchURL    string            // "Send a code to my email instead" and the like
	SwitchText   string
	AltURL       string // "Use a recovery code"
	AltText      string
	CancelURL    string
	ShowForm     bool
	QR           template.URL // data: URL of the enrolment QR code
	Secret       string       // the enrolment secret, for manual entry
	OTPAuthURL   template.URL // otpauth:// link
	Recovery     bool         // the code form takes a recovery code
	Codes        []string     // freshly issued recovery codes
	Download     template.URL // the codes as a text file

	// Blocked says a limiter blocks the step: the page shows the block
	// message (Error) and none of the controls that cannot work.
	Blocked bool
	// CodeLeft is how long the emailed code stays valid; ResendWait how
	// long Resend stays disabled. nil: not shown.
	CodeLeft   *countdown
	ResendWait *countdown
	// SecretKey is Secret as one word, for the copy button; Secret is
	// shown in groups of four.
	SecretKey string

	// The account page.
	Sessions []sessionView
	Events   []eventView
	// The security page.
	HasTOTP      bool
	HasEmail     bool
	RecoveryLeft int
	// OfferEndOthers offers to sign out the other sessions (a factor was
	// turned off).
	OfferEndOthers bool
	// Security keys and passkeys (webauthn.go).
	WebAuthn *webauthnView
	// The consent page and the account's applications (consent.go).
	Consent *consentView
	Grants  []grantView
}

// RenderError renders the error page; the HTTP layer uses it for errors it
// catches outside the login steps.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Del("Content-Type")
	r = h.errorRequest(r)
	h.render(w, r, status, "error.html", &page{Title: title, Message: message})
}

// errorRequest gives r, an error outside the login steps, its language:
// at /authorize, the ui_locales the sign-in request asks for count.
func (h *Handler) errorRequest(r *http.Request) *http.Request {
	r = h.withLang(r)
	if ui := r.URL.Query().Get("ui_locales"); ui != "" && len(ui) <= 256 {
		useRequestLang(r.Context(), &storage.AuthRequest{UILocales: strings.Fields(ui)})
	}
	return r
}

// RenderErrorf is RenderError with a message formatted from an English
// format, translated into the request's language.
func (h *Handler) RenderErrorf(w http.ResponseWriter, r *http.Request, status int, title, format string, args ...any) {
	r = h.errorRequest(r)
	h.RenderError(w, r, status, title, i18n.Tf(langOf(r.Context()), format, args...))
}
