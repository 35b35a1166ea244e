package login

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// emailChangeTTL is how long the link confirming a new address works.
const emailChangeTTL = 24 * time.Hour

// account page notices, by the "done" query value.
var accountDone = map[string]string{
	"name":         "Your name was changed.",
	"email-sent":   "We sent a confirmation link to your new address. Your email changes when you open it.",
	"email":        "Your email address was changed.",
	"session":      "The session was signed out.",
	"others":       "All your other sessions were signed out.",
	"email-failed": "We couldn't send the confirmation email, try again.",
	"email-capped": "Too many emails were sent. Please try again later.",
	"app-revoked":  "The application's access was revoked. It asks again at its next sign-in.",
}

// sessionView is one row of the session list.
type sessionView struct {
	ID       string
	Device   string
	IP       string
	LastSeen time.Time
	Current  bool
}

// eventView is one row of the recent security events.
type eventView struct {
	Time   time.Time
	What   string
	IP     string
	Detail string
}

// eventNames are the audit events shown to users, in words.
var eventNames = map[storage.EventType]string{
	storage.EventSigninSucceeded: "Signed in",
	storage.EventSigninFailed:    "Failed sign-in",
	storage.EventCodeFailed:      "Wrong one-time password",
	storage.EventCodeBlocked:     "Sign-ins blocked",
	storage.EventFactorEnabled:   "Second factor turned on",
	storage.EventFactorDisabled:  "Second factor turned off",
	storage.EventFactorReset:     "Second factors reset by an administrator",
	storage.EventRecoveryUsed:    "Recovery code used",
	storage.EventRecoveryIssued:  "New recovery codes",
	storage.EventEmailChanged:    "Email address changed",
	storage.EventEmailReverted:   "Email address restored, signed out everywhere",
	storage.EventReauthSucceeded: "Confirmed it was you",
	storage.EventReauthFailed:    "Failed confirmation that it was you",
	storage.EventPasswordChanged: "Password changed",
	storage.EventConsentGranted:  "Allowed an application",
	storage.EventConsentRevoked:  "Revoked an application's access",

	storage.EventWebAuthnCloneWarning: "Security key refused: it may have been copied",
}

// showAccount shows the account: profile, sessions, second factors and
// recent security events.
func (h *Handler) showAccount(w http.ResponseWriter, r *http.Request) error {
	sess, u, err := h.signedIn(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := h.Now()
	list, err := h.Store.UserSessions(ctx, u.ID, now)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	var sessions []sessionView
	for _, s := range list {
		sessions = append(sessions, sessionView{ID: s.ID, Device: describeDevice(langOf(ctx), s.UserAgent), IP: s.IP,
			LastSeen: s.LastSeenAt, Current: s.ID == sess.ID})
	}
	evs, err := h.Store.Events(ctx, storage.EventFilter{UserID: u.ID, Limit: 15})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	var events []eventView
	for _, e := range evs {
		name, ok := eventNames[e.Type]
		if !ok {
			continue
		}
		events = append(events, eventView{Time: e.Time, What: name, IP: e.IP})
	}
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return err
	}
	grants, err := h.appGrants(r, u)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "account.html", &page{
		Title: "Your account", User: u, AuthTime: sess.AuthTime,
		CSRF:     h.sessionCSRF(r),
		Info:     accountDone[r.URL.Query().Get("done")],
		Sessions: sessions, Events: events, HasTOTP: hasTOTP, HasEmail: hasEmail,
		Grants: grants,
	})
	return nil
}

// accountStep is a posted account form of a signed-in user.
type accountStep struct {
	r    *http.Request // with its client IP remembered (withIP)
	ip   netip.Addr
	sess *storage.Session
	u    *storage.User
}

// sensitiveForm reads an account form that changes what protects the
// account (accountForm). When the session has not authenticated recently
// it sends the browser to re-authenticate, returning to back (stepUp), and
// returns nil.
func (h *Handler) sensitiveForm(w http.ResponseWriter, r *http.Request, back string) (*accountStep, error) {
	a, err := h.postedAccount(r)
	if err != nil || h.stepUp(w, a.r, a.sess, back) {
		return nil, err
	}
	return a, nil
}

// sensitive serves fn with the sensitive account form of each request
// (sensitiveForm, which re-authenticates returning to back).
func (h *Handler) sensitive(back string, fn func(http.ResponseWriter, *accountStep) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := h.sensitiveForm(w, r, back)
		if a == nil {
			return err
		}
		return fn(w, a)
	}
}

// postedAccount reads an account form (accountForm), remembering the
// client IP.
func (h *Handler) postedAccount(r *http.Request) (*accountStep, error) {
	r, ip := h.withIP(r)
	sess, u, err := h.accountForm(r)
	if err != nil {
		return nil, err
	}
	return &accountStep{r: r, ip: ip, sess: sess, u: u}, nil
}

// showAccountPage shows the form's page (page, for the request and the
// signed-in user; the template name).
func (h *Handler) showAccountPage(w http.ResponseWriter, r *http.Request, name string, page func(*http.Request, *storage.User) (*selfPage, error)) error {
	_, u, err := h.signedIn(r)
	if err != nil {
		return err
	}
	p, err := page(r, u)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, name, p)
	return nil
}

// factorPage is the page p of an account form of the signed-in user u
// that asks for a second factor besides the password: factor says which
// for u ("totp", "email", "webauthn" or "").
func (h *Handler) factorPage(r *http.Request, u *storage.User, factor func(context.Context, *storage.User) (string, error), p page) (*selfPage, error) {
	f, err := factor(r.Context(), u)
	if err != nil {
		return nil, err
	}
	p.User, p.CSRF = u, h.sessionCSRF(r)
	return &selfPage{page: p, Factor: f}, nil
}

// sendAccountCode emails the code that an account form asks for when the
// user's factor is email codes (and not the authenticator app), for
// purpose, and shows the form's page (page, for the request and the
// signed-in user; the template name) with what came of it. A form that
// asks for no emailed code goes back to back(p).
func (h *Handler) sendAccountCode(w http.ResponseWriter, r *http.Request, purpose, name string, page func(*http.Request, *storage.User) (*selfPage, error), back func(*selfPage) string) error {
	a, err := h.postedAccount(r)
	if err != nil {
		return err
	}
	p, err := page(a.r, a.u)
	if err != nil {
		return err
	}
	if p.Factor != factorEmail {
		http.Redirect(w, a.r, back(p), http.StatusSeeOther)
		return nil
	}
	return h.emailSessionCode(w, a.r, a.ip, a.u, a.sess.ID, purpose, name, p)
}

// accountForm checks the session and the CSRF token of an account form.
func (h *Handler) accountForm(r *http.Request) (*storage.Session, *storage.User, error) {
	if err := r.ParseForm(); err != nil {
		return nil, nil, err
	}
	if err := h.checkSessionCSRF(r); err != nil {
		return nil, nil, err
	}
	return h.signedIn(r)
}

func (h *Handler) accountDone(w http.ResponseWriter, r *http.Request, key string) error {
	http.Redirect(w, r, "/account?done="+key, http.StatusSeeOther)
	return nil
}

// changeName sets the user's display name.
func (h *Handler) changeName(w http.ResponseWriter, r *http.Request) error {
	_, u, err := h.accountForm(r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if len(name) > 200 {
		return userError(http.StatusBadRequest, "Name too long", "Use at most 200 characters for your name.")
	}
	if !PlainText(name) {
		return userError(http.StatusBadRequest, "Invalid name", "Use letters, digits, spaces and punctuation only.")
	}
	if err := h.Store.SetName(r.Context(), u.ID, name, h.Now()); err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	return h.accountDone(w, r, "name")
}

// changeEmail sends a confirmation link to the new address; the email
// changes only when it is opened.
func (h *Handler) changeEmail(w http.ResponseWriter, a *accountStep) error {
	r, ip, u := a.r, a.ip, a.u
	var email string
	if addr, err := mail.ParseAddress(strings.TrimSpace(r.PostForm.Get("email"))); err == nil && addr.Name == "" {
		email = NormalizeEmail(addr.Address)
	}
	if email == "" {
		return userError(http.StatusBadRequest, "Invalid email", "Enter a valid email address.")
	}
	if email == u.Email {
		return h.accountDone(w, r, "email")
	}
	// Whether the address is taken is not revealed here: the link simply
	// fails to change it later.
	token := newSecret()
	hash := sha256.Sum256([]byte(token))
	ctx := r.Context()
	// The confirmation mail counts against the caps of code emails, so
	// that an account cannot flood an address with them.
	sent, _, err := h.MailLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return err
	}
	if sent == nil {
		return h.accountDone(w, r, "email-capped")
	}
	// It is also an email its address did not ask for: it counts against
	// that address's cap, with the recovery links (RecoverLimiter), so
	// that many accounts cannot flood one address either.
	toAddr, _, err := h.RecoverLimiter.Reserve(ctx, ip, email)
	if err != nil {
		return errors.Join(err, sent.Cancel(ctx))
	}
	if toAddr == nil {
		if err := sent.Cancel(ctx); err != nil {
			return err
		}
		h.Logger.InfoContext(ctx, "email change link not sent: too many emails to this address or from this IP", "user_id", u.ID)
		return h.accountDone(w, r, "email-capped")
	}
	// Not sent: both places are given back.
	unsent := func(err error) error {
		return errors.Join(err, sent.Cancel(ctx), toAddr.Cancel(ctx))
	}
	// The link is stored, and the older links deleted, only once it is
	// sent: an email that is not sent changes nothing, and the link of an
	// earlier change keeps working. (Stored just after the send, the new
	// link works long before anyone can open it.)
	link := h.BaseURL + "/account/email/confirm?token=" + url.QueryEscape(token)
	copyOfUser := *u
	copyOfUser.Email = email
	now := h.Now()
	if err := h.sendMail(ctx, &copyOfUser, "Confirm your new email address",
		i18n.Tf(langOf(ctx), "Open this link to use this address for your Gatehouse account:\n\n%s\n\nThe link works once, for 24 hours. If you did not ask for this, ignore this email.\n", link)); err != nil {
		if err := unsent(nil); err != nil {
			return err
		}
		return h.accountDone(w, r, "email-failed")
	}
	if err := errors.Join(sent.Counted(ctx), toAddr.Counted(ctx)); err != nil {
		return err
	}
	if err := h.Store.DeleteActionTokens(ctx, u.ID, purposeChangeEmail); err != nil {
		return fmt.Errorf("drop old email links: %w", err)
	}
	err = h.Store.CreateActionToken(ctx, &storage.ActionToken{Hash: hash[:], Purpose: purposeChangeEmail, UserID: u.ID,
		Data: email, CreatedAt: now, ExpiresAt: now.Add(emailChangeTTL)})
	if err != nil {
		return fmt.Errorf("store email link: %w", err)
	}
	return h.accountDone(w, r, "email-sent")
}

// changeEmailLink is the link sent to the new address of an email change:
// its page asks before the address changes, so that a mail scanner that
// opens links does not change it.
var changeEmailLink = emailedLink{path: "/account/email/confirm", csrf: "change-email", purpose: purposeChangeEmail, used: msgLinkUsed,
	title: "Confirm your new email address", button: "Use this address",
	message: "Make this the email address of your Gatehouse account?"}

// confirmEmailChange does what the change link's token t, which the link's
// form has used up, asks: the account takes the new address, and the old
// one is told (with a link that puts it back).
func (h *Handler) confirmEmailChange(w http.ResponseWriter, r *http.Request, t *storage.ActionToken) error {
	ctx := r.Context()
	u, err := h.linkUser(ctx, changeEmailLink, t)
	if err != nil {
		return err
	}
	if u.Disabled {
		// A disabled account (perhaps taken over) keeps its address.
		return changeEmailLink.expired()
	}
	old := *u
	if err := h.setEmail(ctx, u.ID, t.Data); err != nil {
		return err
	}
	h.event(ctx, storage.EventEmailChanged, u.ID, "", "")
	if err := h.emailChangedNotice(ctx, &old, t.Data); err != nil {
		return err
	}
	http.Redirect(w, r, "/account?done=email", http.StatusSeeOther)
	return nil
}

// endSession signs out one of the user's sessions.
func (h *Handler) endSession(w http.ResponseWriter, a *accountStep) error {
	r, u := a.r, a.u
	id := r.PostForm.Get("session")
	list, err := h.Store.UserSessions(r.Context(), u.ID, h.Now())
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	for _, s := range list {
		if s.ID == id { // only the user's own sessions
			if err := h.Store.EndSession(r.Context(), id, h.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("delete session: %w", err)
			}
		}
	}
	return h.accountDone(w, r, "session")
}

// endOtherSessions signs out every session but this one.
func (h *Handler) endOtherSessions(w http.ResponseWriter, a *accountStep) error {
	r, sess, u := a.r, a.sess, a.u
	if _, err := h.Store.EndUserSessions(r.Context(), u.ID, sess.ID, h.Now()); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return h.accountDone(w, r, "others")
}

// describeDevice names a browser and system from a User-Agent string, in
// lang.
func describeDevice(lang i18n.Lang, ua string) string {
	browser := firstMark(ua, [][2]string{{"Edg/", "Edge"}, {"Firefox/", "Firefox"},
		{"Chrome/", "Chrome"}, {"Chromium/", "Chrome"}, {"Safari/", "Safari"}})
	if browser == "" && strings.HasPrefix(ua, "Go-http-client") {
		browser = i18n.T(lang, "Program")
	}
	system := firstMark(ua, [][2]string{{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"}})
	switch {
	case browser != "" && system != "":
		return i18n.Tf(lang, "%s on %s", browser, system)
	case browser != "":
		return browser
	case system != "":
		return system
	}
	return i18n.T(lang, "Unknown device")
}

// firstMark returns the name of the first of marks (mark, name) whose
// mark ua contains, or "".
func firstMark(ua string, marks [][2]string) string {
	for _, m := range marks {
		if strings.Contains(ua, m[0]) {
			return m[1]
		}
	}
	return ""
}
