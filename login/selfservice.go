package login

// Account self-service: registration with a confirmation link
// (register.go), password recovery by an emailed link (pwreset.go) and the
// password change in the account area (pwchange.go).
//
// Emailed links carry 256 random bits; only their SHA-256 is stored, as a
// storage.ActionToken that UseActionToken consumes atomically. Opening a
// link (GET) never consumes it, since mail scanners fetch links on their
// own: the page it shows posts the token back.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Purposes of the action tokens and emailed codes of self-service.
const (
	purposeConfirmEmail   = "confirm-email"   // action token: registration
	purposeResetPassword  = "reset-password"  // action token: recovery
	purposeChangePassword = "change-password" // emailed code: password change
	purposeChangeEmail    = "change-email"    // action token: a new address
)

// PurposeChangeEmail is the purpose of the action tokens that confirm an
// email change (storage.ActionToken.Purpose): deleting the user's tokens of
// it ends the email changes not yet confirmed, as an administrator's
// sign-out does.
const PurposeChangeEmail = purposeChangeEmail

// Lifetimes of the emailed links.
const (
	confirmTTL = 24 * time.Hour
	resetTTL   = 30 * time.Minute
)

// Messages of self-service pages.
const (
	msgPasswordsDiffer = "The two passwords are not the same."
	msgLinkUsed        = "This link has expired or was already used."
)

// selfPage is the data of the self-service pages: the common page plus
// their own fields.
type selfPage struct {
	page
	Name     string // the registration form's name
	Token    string // an emailed link's token, posted back by the page's form
	Button   string // the label of notice.html's button
	Factor   string // the second factor a password change asks for: "totp", "email" or ""
	LinkURL  string // where to go on from a notice
	LinkText string
}

// initSelfService checks the self-service dependencies.
func (h *Handler) initSelfService() error {
	switch {
	case h.RecoverLimiter == nil, h.Registration && h.RegLimiter == nil:
		return errors.New("login: Handler is missing a self-service limiter")
	case h.BaseURL == "":
		return errors.New("login: Handler.BaseURL is not set")
	}
	return nil
}

// newUserID returns a random, opaque user id.
func newUserID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is the stored form of an emailed link's token.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// validToken reports whether s looks like a token newSecret made.
func validToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// issueToken stores a new action token for the user and returns its value;
// data is kept with it (the auth request to continue, for example).
func (h *Handler) issueToken(ctx context.Context, userID, purpose, data string, expires time.Time) (string, error) {
	value, _, err := h.issueActionToken(ctx, userID, purpose, data, expires)
	return value, err
}

// issueActionToken is issueToken that also returns the token as stored.
func (h *Handler) issueActionToken(ctx context.Context, userID, purpose, data string, expires time.Time) (string, *storage.ActionToken, error) {
	value := newSecret()
	t := &storage.ActionToken{
		Hash: tokenHash(value), Purpose: purpose, UserID: userID, Data: data,
		CreatedAt: h.Now(), ExpiresAt: expires,
	}
	if err := h.Store.CreateActionToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("create %s token: %w", purpose, err)
	}
	return value, t, nil
}

// useToken consumes the token value of purpose; one that is unknown, used
// or expired is a page error ("Link expired") that says expired.
func (h *Handler) useToken(ctx context.Context, value, purpose, expired string) (*storage.ActionToken, error) {
	gone := userError(http.StatusBadRequest, "Link expired", expired)
	if !validToken(value) {
		return nil, gone
	}
	t, err := h.Store.UseActionToken(ctx, tokenHash(value), purpose, h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, gone
	}
	if err != nil {
		return nil, fmt.Errorf("use %s token: %w", purpose, err)
	}
	return t, nil
}

// emailedLink is a link emailed to confirm an action: opening it shows a
// notice page whose form posts the link's token back, and only the form
// uses the link up.
type emailedLink struct {
	path    string // where the link points: its page, and where the page's form posts
	csrf    string // the CSRF purpose of the page's form
	purpose string // the purpose of the link's action token
	used    string // the message of a link that is not valid, used or expired

	// The texts of the link's page: its title, its question and the
	// label of its form's button.
	title, message, button string
}

// linkRoutes mounts the link l at its path: GET shows its page, and POST,
// the page's form, uses the link up (useToken) and then calls use with the
// request, its client IP remembered (selfForm), and the link's token.
func (h *Handler) linkRoutes(r chi.Router, l emailedLink, use func(w http.ResponseWriter, r *http.Request, t *storage.ActionToken) error) {
	r.Get(l.path, h.serve(func(w http.ResponseWriter, r *http.Request) error {
		token := r.URL.Query().Get("token")
		if !validToken(token) {
			return userError(http.StatusBadRequest, "Link not valid", l.used)
		}
		return h.notice(w, r, http.StatusOK, h.linkPage(l, h.flowValue(w, r), token))
	}))
	r.Post(l.path, h.serve(func(w http.ResponseWriter, r *http.Request) error {
		st, err := h.selfForm(r, l.csrf)
		if err != nil {
			return err
		}
		t, err := h.useToken(st.r.Context(), st.r.PostForm.Get("token"), l.purpose, l.used)
		if err != nil {
			return err
		}
		return use(w, st.r, t)
	}))
}

// linkPage is the page the link l opens, for the browser's flow and the
// link's token.
func (h *Handler) linkPage(l emailedLink, flow, token string) *selfPage {
	return &selfPage{
		page: page{
			Title:   l.title,
			Message: l.message,
			Action:  l.path,
			CSRF:    h.csrfToken(l.csrf, flow),
		},
		Token:  token,
		Button: l.button,
	}
}

// expired is the page error of a link whose token was valid but whose
// action can no longer be done: its account is gone.
func (l emailedLink) expired() error {
	return userError(http.StatusBadRequest, "Link expired", l.used)
}

// linkUser returns the account of the link l's token t: an account
// deleted since the link was sent makes the link expired.
func (h *Handler) linkUser(ctx context.Context, l emailedLink, t *storage.ActionToken) (*storage.User, error) {
	u, err := h.Store.UserByID(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, l.expired()
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// setEmail gives the account id the address email, which an emailed link
// has proven; an address another account took meanwhile is refused.
func (h *Handler) setEmail(ctx context.Context, id, email string) error {
	err := h.Store.SetEmail(ctx, id, email, h.Now())
	if errors.Is(err, storage.ErrConflict) {
		return userError(http.StatusConflict, "Address in use", "This address already belongs to another account.")
	}
	if err != nil {
		return fmt.Errorf("set email: %w", err)
	}
	return nil
}

// selfStep is a posted form of a self-service page.
type selfStep struct {
	r     *http.Request // with its client IP remembered (withIP)
	ip    netip.Addr
	flow  string // the browser's flow cookie
	id    string // addressForm: the sign-in in progress, or ""
	email string // addressForm: the address typed, normalised
}

// selfForm reads the form of a self-service page: it checks the CSRF
// token of purpose against the browser's flow cookie and remembers the
// client IP.
func (h *Handler) selfForm(r *http.Request, purpose string) (*selfStep, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	flow := h.cookieValue(r, flowCookie)
	if err := h.checkCSRF(r, purpose, flow); err != nil {
		return nil, err
	}
	r, ip := h.withIP(r)
	return &selfStep{r: r, ip: ip, flow: flow}, nil
}

// addressForm is selfForm for the forms that start from an address,
// registration and recovery: it adds the address and the sign-in in
// progress that the form may name (liveRequest).
func (h *Handler) addressForm(r *http.Request, purpose string) (*selfStep, error) {
	st, err := h.selfForm(r, purpose)
	if err != nil {
		return nil, err
	}
	if st.id, err = h.liveRequest(st.r.Context(), st.r.PostForm.Get("authRequestID")); err != nil {
		return nil, err
	}
	st.email = NormalizeEmail(st.r.PostForm.Get("email"))
	return st, nil
}

// addressPage is an address form titled title, whose CSRF token is for
// purpose, within the sign-in authRequestID ("" for none).
func (h *Handler) addressPage(title, purpose, flow, authRequestID string) *selfPage {
	return &selfPage{page: page{
		Title:         title,
		CSRF:          h.csrfToken(purpose, flow),
		AuthRequestID: authRequestID,
	}}
}

// showAddressForm shows the page name of an address form, made by form
// for the browser's flow cookie and the sign-in in progress the query
// names (liveRequest).
func (h *Handler) showAddressForm(w http.ResponseWriter, r *http.Request, name string, form func(flow, authRequestID string) *selfPage) error {
	id, err := h.liveRequest(r.Context(), r.URL.Query().Get("authRequestID"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, name, form(h.flowValue(w, r), id))
	return nil
}

// sendCounted counts a request that emails address (a registration, a
// password recovery) against lim for the client IP and the address, and
// sends the email with send unless the address is blocked; then nothing is
// sent and skipped is logged. Either way the page says the same: check
// your email, with message. The request is counted (reserved) before
// anything is sent, so that requests at once get no more emails out than
// the limits allow. An IP blocked meanwhile (the caller checked it, but a
// parallel request may have reached the cap since) is answered by
// refuse, with the block's end.
func (h *Handler) sendCounted(w http.ResponseWriter, r *http.Request, lim *lockout.Limiter, ip netip.Addr, address, skipped, message string,
	send func() error, refuse func(until time.Time) error) error {
	ctx := r.Context()
	attempt, _, err := lim.Reserve(ctx, ip, address)
	if err != nil {
		return err
	}
	if attempt == nil {
		// Refused: the IP's block, or else the address's.
		until, err := lim.Blocked(ctx, ip, "")
		if err != nil {
			return err
		}
		if !until.IsZero() {
			return refuse(until)
		}
		// Requests for a capped address still count against the IP.
		if _, err := lim.Fail(ctx, ip, ""); err != nil {
			return err
		}
		h.Logger.InfoContext(ctx, skipped)
	} else if err := errors.Join(send(), attempt.Counted(ctx)); err != nil {
		return err
	}
	return h.notice(w, r, http.StatusOK, &selfPage{page: page{
		Title:   "Check your email",
		Info:    h.outboxNote(),
		Message: i18n.Tf(langOf(ctx), message, address),
	}})
}

// link returns the absolute URL of path with the token.
func (h *Handler) link(path, token string) string {
	return h.BaseURL + path + "?token=" + url.QueryEscape(token)
}

// liveRequest returns id if it names an auth request that can still be
// completed, and "" otherwise; self-service pages use it to offer a way
// back to the sign-in.
func (h *Handler) liveRequest(ctx context.Context, id string) (string, error) {
	if id == "" || len(id) > 64 {
		return "", nil
	}
	ar, err := h.Store.AuthRequestByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load auth request: %w", err)
	}
	if ar.Done || !h.Now().Before(ar.ExpiresAt) {
		return "", nil
	}
	// The page belongs to this sign-in: it speaks its ui_locales.
	useRequestLang(ctx, ar)
	return ar.ID, nil
}

// continueLink puts a link back to the sign-in of the auth request id on
// p, if the request is still live.
func (h *Handler) continueLink(ctx context.Context, p *selfPage, id string) error {
	id, err := h.liveRequest(ctx, id)
	if err != nil || id == "" {
		return err
	}
	p.LinkURL, p.LinkText = "/login?authRequestID="+url.QueryEscape(id), "Continue signing in"
	return nil
}

// mailLater sends u an email in the background, so that how long the
// answer takes does not depend on whether a message was sent (or on the
// mail server): the pages that send links say the same whether the
// account exists or not. subject and text arrive translated to the
// language of the request in ctx; kind names the email in logs. Failures
// are logged. then, if not nil, runs after the attempt with its outcome
// (nil when the email was sent): a link that replaces older ones retires
// them only once it is on its way (resetLink).
func (h *Handler) mailLater(ctx context.Context, u *storage.User, kind, subject, text string, then func(ctx context.Context, sendErr error) error) {
	m, userID := mail.Message{To: u.Email, Subject: subject, Text: text, Lang: string(langOf(ctx))}, u.ID
	ctx = context.WithoutCancel(ctx)
	h.mailing.Go(func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := h.Mailer.Send(sctx, m)
		if err != nil {
			h.Logger.WarnContext(ctx, "email not sent", "kind", kind, "user_id", userID, "err", err)
		}
		if then == nil {
			return
		}
		if err := then(context.WithoutCancel(sctx), err); err != nil {
			h.Logger.ErrorContext(ctx, "email's links not updated", "kind", kind, "user_id", userID, "err", err)
		}
	})
}

// WaitMail waits until the emails sent in the background (mailLater: the
// registration and password-reset links) have gone out or failed, or ctx
// ends, and returns ctx's error then. A server that stops calls it once
// it serves no more requests, so that a link a user was told to expect is
// not lost to a restart.
func (h *Handler) WaitMail(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.mailing.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notice renders notice.html.
func (h *Handler) notice(w http.ResponseWriter, r *http.Request, status int, p *selfPage) error {
	h.render(w, r, status, "notice.html", p)
	return nil
}
