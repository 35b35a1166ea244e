package login

// Step-up: a session cookie alone does not change what protects the
// account. Changing the email address, turning a factor on or off, adding
// or removing a security key, new recovery codes and signing out other
// sessions need a recent authentication: a sign-in, or a re-authentication
// on GET/POST /account/reauth, within Handler.ReauthWindow. Otherwise the
// action changes nothing and sends the browser to /account/reauth, which
// asks again for the password (under the password limiter) and, when the
// user has a second factor, for a code of it (checkCode, under the one
// limiter of every code) or, when keys are the only factor, for a key
// check; then it returns to the page the user was on (a path of the
// account area, never another site). The time of the re-authentication is
// kept with the session (storage.Session.ReauthAt).
//
// An email change also tells the old address, with a link that puts the
// old address back and signs the account out everywhere for
// revertEmailTTL (GET shows the page, POST uses the link once).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// DefaultReauthWindow is the re-authentication window when
// Handler.ReauthWindow is not set.
const DefaultReauthWindow = 5 * time.Minute

// Purposes of the step-up's emailed codes and links.
const (
	purposeReauth      = "reauth"       // emailed code: re-authentication
	purposeRevertEmail = "revert-email" // action token: put the old address back
)

// revertEmailTTL is how long the link sent to the old address works.
const revertEmailTTL = 72 * time.Hour

// Ceremony kinds of a re-authentication with a key.
const (
	ceremonyReauthPassword = "reauth-password" // the password passed, bound to the browser session
	ceremonyReauth         = "reauth"          // the key check, bound to the browser session
)

// Messages of the step-up.
const (
	msgReauth         = "For your security, confirm it's you before this change: enter your password again."
	msgReauthKey      = "Your password is correct. Now confirm with one of your security keys or passkeys."
	msgReauthRequired = "Confirm it's you first."
	msgReauthWrong    = "The password is not correct."
	msgReverted       = "Your old email address is back, and your account was signed out everywhere. Sign in again, and change your password if someone else may know it."
)

// reauthWindow is how recent an authentication must be for a sensitive
// change.
func (h *Handler) reauthWindow() time.Duration {
	if h.ReauthWindow > 0 {
		return h.ReauthWindow
	}
	return DefaultReauthWindow
}

// recentlyAuthenticated reports whether sess signed in or re-authenticated
// within the window.
func (h *Handler) recentlyAuthenticated(sess *storage.Session) bool {
	last := sess.AuthTime
	if sess.ReauthAt.After(last) {
		last = sess.ReauthAt
	}
	return h.Now().Sub(last) < h.reauthWindow()
}

// reauthURL is the re-authentication page that returns to back.
func reauthURL(back string) string {
	return "/account/reauth?next=" + url.QueryEscape(back)
}

// stepUp answers a sensitive account form whose session has not
// authenticated recently with a redirect to the re-authentication page,
// which returns to back; it reports whether it did. The caller then
// changes nothing.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, sess *storage.Session, back string) bool {
	if h.recentlyAuthenticated(sess) {
		return false
	}
	http.Redirect(w, r, reauthURL(back), http.StatusSeeOther)
	return true
}

// stepUpJSON is stepUp for the JSON steps of keys: a 403 whose redirect
// webauthn.js follows. reply is nil when the session is recent enough.
func (h *Handler) stepUpJSON(sess *storage.Session, back string) (int, *jsonReply) {
	if h.recentlyAuthenticated(sess) {
		return 0, nil
	}
	return http.StatusForbidden, &jsonReply{Error: msgReauthRequired, Redirect: reauthURL(back)}
}

// safeNext returns s if it is a path of the account area or the admin
// console (/admin) of this site, and "/account" otherwise: the
// re-authentication page never sends the browser anywhere else.
func safeNext(s string) string {
	u := siteURL(s, "/account", "/admin")
	if u == nil || strings.HasPrefix(u.Path, "/account/reauth") {
		return "/account"
	}
	return u.RequestURI()
}

// siteURL parses s, a path and query, if it is one of areas or a path
// under one on this site, and returns nil otherwise: no scheme, host or
// user, no second leading slash, no backslash, control character or dot
// segment, not even percent-encoded (the path is checked decoded as well).
func siteURL(s string, areas ...string) *url.URL {
	if s == "" || len(s) > 512 || strings.ContainsAny(s, "\\\x00\r\n\t") || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return nil
	}
	inArea := slices.ContainsFunc(areas, func(a string) bool { return u.Path == a || strings.HasPrefix(u.Path, a+"/") })
	if !inArea || strings.Contains(u.Path, "/..") ||
		strings.Contains(u.Path, "//") || strings.ContainsAny(u.Path, "\\\x00\r\n\t") {
		return nil
	}
	return u
}

// reauthFactor is what a re-authentication of u asks for besides the
// password: "totp", "email", "webauthn" (keys are the only factor) or "".
func (h *Handler) reauthFactor(ctx context.Context, u *storage.User) (string, error) {
	f, err := h.enrolled(ctx, u)
	switch {
	case err != nil:
		return "", err
	case f.codeFactor() != "":
		return f.codeFactor(), nil
	case f.Keys: // never while keys are off
		return factorWebAuthn, nil
	}
	return "", nil
}

// reauthPage is the re-authentication form.
func (h *Handler) reauthPage(r *http.Request, u *storage.User, next string) (*selfPage, error) {
	return h.factorPage(r, u, h.reauthFactor, page{
		Title:     "Confirm it's you",
		Message:   msgReauth,
		Action:    "/account/reauth",
		Hidden:    map[string]string{"next": next},
		CancelURL: next,
	})
}

// showReauth shows the re-authentication form.
func (h *Handler) showReauth(w http.ResponseWriter, r *http.Request) error {
	return h.showAccountPage(w, r, "reauth.html", func(r *http.Request, u *storage.User) (*selfPage, error) {
		return h.reauthPage(r, u, safeNext(r.URL.Query().Get("next")))
	})
}

// sendReauthCode emails the code a re-authentication of a user with email
// codes (and no authenticator app) asks for.
func (h *Handler) sendReauthCode(w http.ResponseWriter, r *http.Request) error {
	return h.sendAccountCode(w, r, purposeReauth, "reauth.html", h.postedReauthPage,
		func(p *selfPage) string { return reauthURL(p.Hidden["next"]) })
}

// postedReauthPage is the re-authentication form of a POST, which returns
// to the page its form names.
func (h *Handler) postedReauthPage(r *http.Request, u *storage.User) (*selfPage, error) {
	return h.reauthPage(r, u, safeNext(r.PostForm.Get("next")))
}

// emailSessionCode emails (again) the code of an account step bound to the
// session sessionID, unless the code limiter's block runs, and renders the
// step's page p with what came of it.
func (h *Handler) emailSessionCode(w http.ResponseWriter, r *http.Request, ip netip.Addr, u *storage.User, sessionID, purpose, name string, p *selfPage) error {
	ctx := r.Context()
	if until, err := h.OTPLimiter.Blocked(ctx, ip, u.ID); err != nil {
		return err
	} else if !until.IsZero() {
		p.Error = h.blockedMessage(ctx, until)
		h.render(w, r, http.StatusTooManyRequests, name, p)
		return nil
	}
	_, err := h.Store.LatestCode(ctx, u.ID, purpose, sessionID, h.Now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("load code: %w", err)
	}
	res, err := h.sendCode(ctx, u, purpose, sessionID, err == nil, ip)
	if err != nil {
		return err
	}
	res.show(&p.page)
	h.render(w, r, res.status(), name, p)
	return nil
}

// submitReauth checks the password and the second factor, records the
// re-authentication and returns to the page the user was on. A user whose
// only factor is keys goes on to a key check.
func (h *Handler) submitReauth(w http.ResponseWriter, r *http.Request) error {
	a, err := h.postedAccount(r)
	if err != nil {
		return err
	}
	r, ip, sess, u, ctx := a.r, a.ip, a.sess, a.u, a.r.Context()
	p, err := h.postedReauthPage(r, u)
	if err != nil {
		return err
	}
	next := p.Hidden["next"]
	fail := func(status int, msg string) error {
		p.Error = msg
		h.render(w, r, status, "reauth.html", p)
		return nil
	}

	status, msg, err := h.checkPassword(w, r, ip, u, r.PostForm.Get("password"))
	if err != nil {
		return err
	}
	if status != 0 {
		h.event(ctx, storage.EventReauthFailed, u.ID, "", "password")
		return fail(status, msg)
	}

	switch p.Factor {
	case factorTOTP, factorEmail:
		res, err := h.checkCode(ctx, u, p.Factor, purposeReauth, sess.ID, r.PostForm.Get("code"), true, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			h.event(ctx, storage.EventReauthFailed, u.ID, "", p.Factor)
			status := http.StatusUnauthorized
			if res.blocked {
				status = http.StatusTooManyRequests
			}
			return fail(status, res.message)
		}
	case factorWebAuthn:
		// The password passed; a key check finishes the re-authentication.
		key, err := h.putCeremony(ctx, &ceremony{Kind: ceremonyReauthPassword, Binding: sess.ID, UserID: u.ID, Next: next})
		if err != nil {
			return err
		}
		h.render(w, r, http.StatusOK, "webauthn.html", &page{
			Title:     "Confirm it's you",
			Message:   msgReauthKey,
			CancelURL: next,
			WebAuthn: &webauthnView{
				Mode: ceremonyReauth, Begin: "/account/reauth/key/begin", Finish: "/account/reauth/key/finish",
				CSRF: p.CSRF, KeyID: key,
			},
		})
		return nil
	}
	if err := h.reauthenticated(w, r, sess, u, p.Factor); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// reauthenticated records a passed re-authentication of sess, which goes
// on under a new id and cookie (rotateSession): the id it had before the
// password and factor were asked again is worth nothing after.
func (h *Handler) reauthenticated(w http.ResponseWriter, r *http.Request, sess *storage.Session, u *storage.User, factor string) error {
	if _, err := h.rotateSession(w, r, sess, true); err != nil {
		return err
	}
	h.event(r.Context(), storage.EventReauthSucceeded, u.ID, "", factor)
	return nil
}

// checkPassword checks u's password under the password limiter of the
// sign-in: the attempt is reserved (counted) before the password is
// checked and given back when it is right. As at the sign-in, the owner's
// browser (its device cookie) counts its failures apart, so that wrong
// passwords sent from elsewhere cannot keep the signed-in owner from
// re-authenticating. It returns 0 when the password is right, or the
// status and message of the answer.
func (h *Handler) checkPassword(w http.ResponseWriter, r *http.Request, ip netip.Addr, u *storage.User, secret string) (int, string, error) {
	ctx := r.Context()
	// As at the sign-in (submitPassword): a running block first, then the
	// hashing slot, so that a counted attempt is always checked, then the
	// attempt's place in the counters.
	device, err := h.passwordDevice(r, u, ip)
	if err != nil {
		return 0, "", err
	}
	if until, err := h.Limiter.BlockedOnDevice(ctx, ip, u.Email, device); err != nil {
		return 0, "", err
	} else if !until.IsZero() {
		return http.StatusTooManyRequests, h.blockedMessage(ctx, until), nil
	}
	slot, err := h.Passwords.Acquire()
	if errors.Is(err, password.ErrBusy) {
		// Not checked, so not an attempt (busy.go).
		w.Header().Set("Retry-After", busyRetryAfter)
		return http.StatusServiceUnavailable, msgBusy, nil
	}
	if err != nil {
		return 0, "", err
	}
	defer slot.Release()
	attempt, until, err := h.Limiter.ReserveOnDevice(ctx, ip, u.Email, device)
	if err != nil {
		return 0, "", err
	}
	if attempt == nil {
		return http.StatusTooManyRequests, h.blockedMessage(ctx, until), nil
	}
	err = errors.New("empty or oversized password")
	if secret != "" && len(secret) <= policy.MaxBytes {
		err = slot.Verify(u.PasswordHash, secret)
	}
	if err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			h.Logger.WarnContext(ctx, "password check failed", "user_id", u.ID, "reason", err.Error())
		}
		res, err := attempt.Failed(ctx)
		if err != nil {
			return 0, "", err
		}
		if !res.BlockedUntil.IsZero() {
			return http.StatusTooManyRequests, h.blockedMessage(ctx, res.BlockedUntil), nil
		}
		return http.StatusUnauthorized, msgReauthWrong, nil
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return 0, "", err
	}
	return 0, "", nil
}

// beginReauthKey starts the key check of a re-authentication whose
// password passed.
func (h *Handler) beginReauthKey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, status, reply, err := h.accountJSON(r, "")
	if st == nil {
		return status, reply, err
	}
	ctx, sess, u := st.r.Context(), st.sess, st.u
	pw, err := h.peekReauthPassword(ctx, st.req.Key, sess, u)
	if err != nil {
		return 0, nil, err
	}
	if pw == nil {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyExpired, Redirect: reauthURL("/account")}, nil
	}
	return h.beginAccountCheck(ctx, st, &ceremony{Kind: ceremonyReauth, Next: pw.Next})
}

// peekReauthPassword returns the passed password of a re-authentication
// under key without using it up, so that a failed key check can be tried
// again; nil when there is none for this session and user.
func (h *Handler) peekReauthPassword(ctx context.Context, key string, sess *storage.Session, u *storage.User) (*ceremony, error) {
	c, err := h.takeCeremony(ctx, key, ceremonyReauthPassword, sess.ID)
	if err != nil || c == nil || c.UserID != u.ID {
		return nil, err
	}
	data, err := jsonCeremony(c)
	if err != nil {
		return nil, err
	}
	if err := h.Store.PutWebAuthnSession(ctx, key, data, h.Now().Add(ceremonyTTL)); err != nil {
		return nil, fmt.Errorf("store webauthn ceremony: %w", err)
	}
	return c, nil
}

// jsonCeremony is c as putCeremony stores it.
func jsonCeremony(c *ceremony) ([]byte, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode webauthn ceremony: %w", err)
	}
	return data, nil
}

// readBody decodes the body of a JSON POST and leaves it in r for the
// next reader.
func readBody(r *http.Request) (*jsonRequest, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var req jsonRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, userError(http.StatusBadRequest, "Request refused", msgForbidden)
	}
	return &req, nil
}

// finishReauthKey checks the key and, with the passed password, records
// the re-authentication.
func (h *Handler) finishReauthKey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	// finishAccountCheck reads the body; keep it for the password key.
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	chk, status, reply, err := h.finishAccountCheck(r, ceremonyReauth, "")
	if chk == nil {
		return status, reply, err
	}
	ctx := chk.r.Context()
	u := chk.ku.u
	pw, err := h.takeCeremony(ctx, body.Key, ceremonyReauthPassword, chk.sess.ID)
	if err != nil {
		return 0, nil, err
	}
	if pw == nil || pw.UserID != u.ID {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyExpired, Redirect: reauthURL(chk.c.Next)}, nil
	}
	if err := h.reauthenticated(w, chk.r, chk.sess, u, factorWebAuthn); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: safeNext(pw.Next)}, nil
}

// ---- the email change: telling the old address ----

// emailChangedNotice tells old, the address the account had, that it
// was changed to newEmail, with a link that puts it back. Only the address
// of record gets a link: when the email already changed within the
// link's lifetime, the address it is changed from was not, and gets the
// notice alone (a chain of changes cannot take the link away from the
// first address).
func (h *Handler) emailChangedNotice(ctx context.Context, old *storage.User, newEmail string) error {
	recent, err := h.Store.Events(ctx, storage.EventFilter{UserID: old.ID, Type: storage.EventEmailChanged, Since: h.Now().Add(-revertEmailTTL), Limit: 2})
	if err != nil {
		return fmt.Errorf("list email changes: %w", err)
	}
	lang := langOf(ctx)
	if len(recent) > 1 { // this change is one of them
		h.notify(ctx, old, "Your email address was changed",
			i18n.Tf(lang, "The email address of your Gatehouse account was changed to %s.\n\nIf this was not you, contact your administrator at once.\n", newEmail))
		return nil
	}
	token, err := h.issueToken(ctx, old.ID, purposeRevertEmail, old.Email, h.Now().Add(revertEmailTTL))
	if err != nil {
		return err
	}
	h.notify(ctx, old, "Your email address was changed",
		i18n.Tf(lang, "The email address of your Gatehouse account was changed to %s.\n\nIf this was not you, open this link within 72 hours: it puts this address back and signs your account out everywhere.\n\n%s\n\nThe link works once. Then change your password and contact your administrator.\n",
			newEmail, h.link("/account/email/revert", token)))
	return nil
}

// revertLink is the link sent to the old address when the address
// changes; its page asks before putting the old address back.
var revertLink = emailedLink{path: "/account/email/revert", csrf: "revert", purpose: purposeRevertEmail, used: msgLinkUsed,
	title: "Restore your email address", button: "Restore my old address",
	message: "Put your old email address back and sign your account out everywhere?"}

// revertEmail does what the revert link's token t, which the link's form
// has used up, asks: the old address comes back, every session ends,
// tokens are revoked, and pending email changes and password-reset links
// die.
func (h *Handler) revertEmail(w http.ResponseWriter, r *http.Request, t *storage.ActionToken) error {
	ctx := r.Context()
	u, err := h.linkUser(ctx, revertLink, t)
	if err != nil {
		return err
	}
	if u.Email != t.Data {
		if err := h.setEmail(ctx, u.ID, t.Data); err != nil {
			return err
		}
	}
	now := h.Now()
	for _, purpose := range []string{purposeChangeEmail, purposeResetPassword, purposeRevertEmail} {
		if err := h.Store.DeleteActionTokens(ctx, u.ID, purpose); err != nil {
			return fmt.Errorf("delete %s tokens: %w", purpose, err)
		}
	}
	if _, err := h.Store.EndUserSessions(ctx, u.ID, "", now); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if err := h.Store.RevokeUserTokens(ctx, u.ID, now); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	h.event(ctx, storage.EventEmailReverted, u.ID, "", "signed out everywhere, tokens revoked")
	h.ClearSession(w)
	return h.notice(w, r, http.StatusOK, &selfPage{page: page{Title: "Email address restored", Info: msgReverted}})
}

// stepUpRoutes adds the re-authentication and revert routes.
func (h *Handler) stepUpRoutes(r chi.Router) {
	r.Get("/account/reauth", h.serve(h.showReauth))
	r.Post("/account/reauth", h.serve(h.submitReauth))
	r.Post("/account/reauth/code", h.serve(h.sendReauthCode))
	h.linkRoutes(r, revertLink, h.revertEmail)
	if h.WebAuthn != nil {
		r.Post("/account/reauth/key/begin", h.serveJSON(h.beginReauthKey))
		r.Post("/account/reauth/key/finish", h.serveJSON(h.finishReauthKey))
	}
}
