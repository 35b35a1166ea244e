package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// loadRequest loads the auth request named by the form or query and checks
// that it is live and belongs to this browser: the one whose flow cookie
// /authorize bound it to (binding.go).
func (h *Handler) loadRequest(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, string, error) {
	ar, flow, err := h.boundRequest(r, id)
	if err != nil {
		return nil, "", err
	}
	if ar.Done {
		return nil, "", &doneError{ar: ar, flow: flow}
	}
	return ar, flow, nil
}

// doneError is loadRequest's refusal of a request that is done already:
// the sign-in has expired (errExpired), unless a retried post resumes it
// (resumeDone).
type doneError struct {
	ar   *storage.AuthRequest
	flow string
}

func (e *doneError) Error() string { return errExpired.Error() }
func (e *doneError) Unwrap() error { return errExpired }

// resumeDone answers a post on to a step of the sign-in done.ar, which is
// done already. That is the retry of a post whose first answer was lost
// (a 503 when the database failed over after the request was done but
// before the answer): if the browser's session is the one the request was
// done with, the post is answered as the first one would have been, with
// the callback; otherwise the sign-in has expired. The CSRF token of the
// step's form is checked first, as the first post's was.
func (h *Handler) resumeDone(w http.ResponseWriter, r *http.Request, on event, done *doneError) error {
	ar := done.ar
	if err := h.checkCSRF(r, "login", done.flow); err != nil {
		return err
	}
	sess, err := h.currentSession(r)
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	s := signIn{On: on, Done: true, Resumed: sess != nil && sess.UserID == ar.UserID && sess.AuthTime.Equal(ar.AuthTime)}
	if n := nextStep(s); n.Step != stepDone {
		return h.goTo(w, r, ar, n)
	}
	// The request was done with the session grant in one transaction
	// (signInDone, complete): the callback is all that is left, and it
	// refuses a request that has expired since.
	h.Logger.InfoContext(r.Context(), "sign-in step retried after it was done: on to the callback", "client_id", ar.ClientID)
	http.Redirect(w, r, h.Callback(r.Context(), ar.ID), http.StatusSeeOther)
	return nil
}

// showLogin reuses the browser's SSO session when the request allows it,
// and shows the password form otherwise.
func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request) error {
	ar, flow, err := h.loadRequest(w, r, r.URL.Query().Get("authRequestID"))
	if err != nil {
		return err
	}
	st, sess, u, err := h.openState(r, ar)
	if err != nil {
		return err
	}
	continueAs := ""
	switch nextStep(st).Step {
	case stepDone:
		return h.completeFromSession(w, r, ar, sess)
	case stepError:
		h.Fail(w, r, ar.ID, "login_required", "the user is not signed in")
		return nil
	case stepChoose:
		continueAs = u.Email // a live session's user
	}
	// A blocked IP sees the block at once, not after typing a password.
	until, err := h.Limiter.Blocked(r.Context(), h.ClientIP(r), "")
	if err != nil {
		return err
	}
	if !until.IsZero() {
		return h.showForm(w, r, ar, flow, http.StatusTooManyRequests, ar.LoginHint, h.blockedMessage(r.Context(), until))
	}
	return h.renderForm(w, r, ar, flow, http.StatusOK, ar.LoginHint, "", continueAs)
}

// completeFromSession completes ar with the browser's session sess, which
// answers it (nextStep: done), and keeps the session alive.
func (h *Handler) completeFromSession(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, sess *storage.Session) error {
	err := h.Store.TouchSession(r.Context(), sess.ID, h.Now(), h.Now().Add(h.SessionIdle))
	if errors.Is(err, storage.ErrNotFound) {
		// The session ended, or took a new id (a re-authentication in
		// another tab), since it was loaded: it answers nothing, and the
		// sign-in page (which asks again) is the answer, not a 503.
		return h.goTo(w, r, ar, next{Step: stepPassword})
	}
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return h.complete(w, r, ar, sess)
}

// continueAs answers the choose page's "Continue as" (prompt=select_account):
// the browser's session completes the request if it still answers it, and
// the sign-in page comes back otherwise.
func (h *Handler) continueAs(w http.ResponseWriter, r *http.Request) error {
	ar, _, err := h.loginPost(w, r, onContinue)
	if ar == nil || err != nil {
		return err
	}
	st, sess, _, err := h.openState(r, ar)
	if err != nil {
		return err
	}
	st.On = onContinue
	n := nextStep(st)
	if n.Step == stepDone {
		return h.completeFromSession(w, r, ar, sess)
	}
	return h.goTo(w, r, ar, n)
}

// openState is what nextStep decides the opening of the sign-in ar from:
// whether the browser's session, which it returns (nil: none) with its
// user (nil: none, or gone), may answer it.
func (h *Handler) openState(r *http.Request, ar *storage.AuthRequest) (st signIn, sess *storage.Session, u *storage.User, err error) {
	st = signIn{On: onOpen, Policy: policyOf(ar, false)}
	if sess, err = h.currentSession(r); err != nil {
		return st, nil, nil, fmt.Errorf("load session: %w", err)
	}
	if sess == nil {
		return st, nil, nil, nil
	}
	st.Session.MFA = slices.Contains(sess.AMR, "mfa")
	if !st.Session.MFA {
		// Only then does the client's --require-mfa matter.
		if st.Policy.MFARequired, err = h.mfaRequired(r.Context(), ar); err != nil {
			return st, sess, nil, err
		}
	}
	st.Session.Satisfies = h.sessionSatisfies(sess, ar)
	u, err = h.Store.UserByID(r.Context(), sess.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return st, sess, nil, nil
	case err != nil:
		return st, sess, nil, fmt.Errorf("load user: %w", err)
	}
	st.Session.Live = !u.Disabled
	return st, sess, u, nil
}

// sessionSatisfies reports whether sess may answer ar without a new
// sign-in: a session below the acr that acr_values ask for (acr.go),
// prompt=login and an exceeded max_age demand one, and an id_token_hint
// must name the session's user.
func (h *Handler) sessionSatisfies(sess *storage.Session, ar *storage.AuthRequest) bool {
	if !acrSatisfied(sess.AMR, ar) {
		return false
	}
	if slices.Contains(ar.Prompt, "login") {
		return false
	}
	if ar.HintSubject != "" && ar.HintSubject != sess.UserID {
		return false
	}
	if ar.MaxAge != nil && h.Now().Sub(sess.AuthTime) > *ar.MaxAge {
		return false
	}
	return true
}

// showForm shows the password form, or with status 429 only the block
// message msg: a blocked client IP cannot sign in.
func (h *Handler) showForm(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, flow string, status int, email, msg string) error {
	return h.renderForm(w, r, ar, flow, status, email, msg, "")
}

// renderForm is showForm offering, when continueAs is an address, to
// continue as the session's user of that address (the choose step).
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, flow string, status int, email, msg, continueAs string) error {
	name := ar.ClientID
	c, err := h.Store.ClientByID(r.Context(), ar.ClientID)
	switch {
	case ar.ClientID == AccountClientID:
		name = "" // Gatehouse's own account: no "to continue to"
	case err == nil:
		name = c.Name
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("load client: %w", err)
	}
	h.render(w, r, status, "login.html", &page{
		Title:         "Sign in",
		ClientName:    name,
		AuthRequestID: ar.ID,
		Registration:  h.Registration,
		CSRF:          h.csrfToken("login", flow),
		Email:         email,
		Error:         msg,
		Blocked:       status == http.StatusTooManyRequests,
		WebAuthn:      h.passkeyView(ar.ID, flow),
		ContinueAs:    continueAs,
	})
	return nil
}

// loginPost reads a post of one of the sign-in page's forms, on: its
// auth request, which must be this browser's (loadRequest), the flow
// cookie, and the form's CSRF token. A post to a request that is done
// already is answered here (resumeDone), with a nil request.
func (h *Handler) loginPost(w http.ResponseWriter, r *http.Request, on event) (*storage.AuthRequest, string, error) {
	if err := r.ParseForm(); err != nil {
		return nil, "", err
	}
	ar, flow, err := h.loadRequest(w, r, r.PostForm.Get("authRequestID"))
	if done := (*doneError)(nil); errors.As(err, &done) {
		return nil, "", h.resumeDone(w, r, on, done)
	}
	if err != nil {
		return nil, "", err
	}
	return ar, flow, h.checkCSRF(r, "login", flow)
}

// submitPassword checks the password under the attempt limits.
func (h *Handler) submitPassword(w http.ResponseWriter, r *http.Request) error {
	ar, flow, err := h.loginPost(w, r, onPassword)
	if ar == nil || err != nil {
		return err
	}
	r, ip := h.withIP(r)
	ctx := r.Context()
	email := NormalizeEmail(r.PostForm.Get("email"))
	secret := r.PostForm.Get("password")
	if email == "" || secret == "" || len(email) > 320 || len(secret) > 1024 {
		return h.showForm(w, r, ar, flow, http.StatusUnauthorized, email, msgBadCredentials)
	}

	u, err := h.Store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("load user: %w", err)
	}
	// The attempt is counted before the password is checked, so parallel
	// guesses get no more checks than the limits allow. The browser the
	// account last signed in from counts its failures apart (device.go).
	// A running block is seen first. The attempt is reserved before the
	// hashing slot is taken, since a reservation may wait for the checks in
	// flight to finish (lockout.ErrBusy), and a slot held meanwhile would
	// idle the hasher for everyone; an attempt that then finds the hasher
	// busy is given back (busy.go), so a counted one always runs.
	device, err := h.passwordDevice(r, u, ip)
	if err != nil {
		return err
	}
	if until, err := h.Limiter.BlockedOnDevice(ctx, ip, email, device); err != nil {
		return err
	} else if !until.IsZero() {
		return h.showForm(w, r, ar, flow, http.StatusTooManyRequests, email, h.blockedMessage(ctx, until))
	}
	var (
		attempt *lockout.Attempt
		until   time.Time
	)
	if device != "" {
		attempt, until, err = h.Limiter.ReserveOnDevice(ctx, ip, email, device)
	} else {
		attempt, until, err = h.Limiter.Reserve(ctx, ip, email)
	}
	if err != nil {
		return err
	}
	if attempt == nil {
		return h.showForm(w, r, ar, flow, http.StatusTooManyRequests, email, h.blockedMessage(ctx, until))
	}
	slot, err := h.Passwords.Acquire()
	if err != nil {
		// Not checked: no attempt.
		if cerr := attempt.Cancel(ctx); cerr != nil {
			return errors.Join(err, cerr)
		}
		if errors.Is(err, password.ErrBusy) {
			return h.busy(w, r, ar, flow, email)
		}
		return err
	}
	defer slot.Release()

	if u == nil {
		slot.VerifyDummy(secret)
		err = storage.ErrNotFound // fails like a wrong password
	} else {
		err = slot.Verify(u.PasswordHash, secret)
		if err == nil && u.Disabled {
			err = errors.New("account disabled")
		}
		if err == nil && !u.EmailVerified {
			// A registration whose address is not confirmed yet fails
			// like a wrong password.
			err = errors.New("email not confirmed")
		}
		if err != nil && !errors.Is(err, password.ErrMismatch) {
			h.Logger.WarnContext(ctx, "password check failed", "user_id", u.ID, "reason", err.Error())
		}
	}
	if err != nil {
		h.factorEvent(ctx, storage.EventSigninFailed, userID(u), ar.ClientID, "password", "")
		res, err := attempt.Failed(ctx)
		if err != nil {
			return err
		}
		h.Logger.InfoContext(ctx, "sign-in failed", "step", "password", "blocked", !res.BlockedUntil.IsZero())
		if !res.BlockedUntil.IsZero() {
			return h.showForm(w, r, ar, flow, http.StatusTooManyRequests, email, h.blockedMessage(ctx, res.BlockedUntil))
		}
		return h.showForm(w, r, ar, flow, http.StatusUnauthorized, email, msgBadCredentials)
	}

	if err := attempt.Succeeded(ctx); err != nil {
		return err
	}
	if h.Passwords.NeedsRehash(u.PasswordHash) {
		hash := h.Passwords.Hash(secret)
		if err := h.Store.SetPasswordHash(ctx, u.ID, hash, h.Now()); err != nil {
			h.Logger.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "err", err)
		} else {
			u.PasswordHash = hash // the device cookie is bound to it
		}
	}
	return h.afterPassword(w, r, ar, u)
}

// complete ends the sign-in ar with the browser's session sess, which
// answers it (single sign-on): ar done for the session's user and the
// session grant in one transaction (CompleteSignIn with the session
// stored), then the browser goes on to the provider's callback. A request
// that has expired by now, however recently the step found it live, or
// that is done meanwhile, is not done: the sign-in has expired
// (errNotPending). A session that ended meanwhile (another tab signed
// out) answers nothing, and the sign-in page (which asks again) is the
// answer.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, sess *storage.Session) error {
	err := h.Store.CompleteSignIn(r.Context(), &storage.SignInCompletion{Session: sess, RequestID: ar.ID,
		ClientID: ar.ClientID, ACR: acrFor(sess.AMR), Now: h.Now(), Stored: true})
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errNotPending
	case errors.Is(err, storage.ErrNotFound):
		return h.goTo(w, r, ar, next{Step: stepPassword})
	case err != nil:
		return fmt.Errorf("complete auth request: %w", err)
	}
	http.Redirect(w, r, h.Callback(r.Context(), ar.ID), http.StatusSeeOther)
	return nil
}

// signInDone ends the sign-in ar of u, passed with amr by factor (the
// last one checked; "password" when it was the only one): a new SSO
// session for u, ar done for it and the session grant in one transaction
// (CompleteSignIn), and only once it committed the session cookie and the
// signin.succeeded event. The password alone and a passkey identified u
// in this very step, and end ar whichever user, if any, it was pending
// for (Claim); a later step (a security key, an enrolment) ends only u's
// pending sign-in, which a password reset or an administrator's sign-out
// may have ended meanwhile. A request that has expired (or was ended or
// done) meanwhile gives errNotPending, and nothing is written.
func (h *Handler) signInDone(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, u *storage.User, amr []string, factor string) error {
	ctx := r.Context()
	sess, value := h.newSession(r, u, amr)
	err := h.Store.CompleteSignIn(ctx, &storage.SignInCompletion{Session: sess, RequestID: ar.ID, ClientID: ar.ClientID,
		ACR: acrFor(sess.AMR), Now: sess.CreatedAt, Claim: factor == "password" || factor == "passkey"})
	if err := h.sessionCommitted(w, r, u, sess, value, err); err != nil {
		return err
	}
	if factor == "password" {
		// Its detail has always been the amr value.
		h.record(ctx, &storage.Event{Type: storage.EventSigninSucceeded, UserID: u.ID, ClientID: ar.ClientID, Detail: "pwd", Factor: factor})
	} else {
		h.factorEvent(ctx, storage.EventSigninSucceeded, u.ID, ar.ClientID, factor, "")
	}
	return nil
}

// sessionCommitted answers the completion (CompleteSignIn) of a sign-in
// of u with the new session sess, named by the cookie value, that gave
// err. Once it committed, the browser gets the session's cookie and its
// device cookie (device.go), and the session replaces the browser's old
// one (replaceSession). A request not pending any more (ErrConflict)
// gives errNotPending, and no cookie. Another error may come from a
// completion that committed with its answer lost: the browser gets the
// session's cookie only if it did (the session reads back), and the
// retry the 503 asks for resumes the sign-in done with it (resumeDone); a
// completion that rolled back sets no cookie, which would name no session
// and replace the browser's own, and the retry completes the sign-in.
func (h *Handler) sessionCommitted(w http.ResponseWriter, r *http.Request, u *storage.User, sess *storage.Session, value string, err error) error {
	ctx := r.Context()
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errNotPending
	case err != nil:
		if committed, rerr := h.sessionStored(ctx, sess.ID); committed {
			h.setCookie(w, sessionCookie, value, h.SessionLifetime)
		} else if rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("complete sign-in: %w", err)
	}
	h.setCookie(w, sessionCookie, value, h.SessionLifetime)
	h.setDevice(w, u)
	if err := h.replaceSession(r, sess); err != nil {
		return fmt.Errorf("replace session: %w", err)
	}
	return nil
}

// errCodeUsed is codeSignInDone's refusal of a code that another request
// used first (or a recovery code that is not one of the user's unused
// codes): the code step fails as it does for a wrong code.
var errCodeUsed = errors.New("the code was used by another request")

// codeSignInDone is signInDone for the code step of factor, whose code
// the check left unused (use): the code's use, the new session, ar done
// and the session grant are one transaction (CompleteSignIn), so that a
// completion that fails leaves the code for the retry the 503 asks for,
// and of requests with one code exactly one completes. A code used first
// by another request gives errCodeUsed, a request done meanwhile
// errNotPending.
func (h *Handler) codeSignInDone(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, u *storage.User, factor string, use *storage.FactorUse) error {
	ctx := r.Context()
	if use == nil {
		// No code's use: the step would pass without its code.
		return fmt.Errorf("complete sign-in: the %s step's code has no use", factor)
	}
	sess, value := h.newSession(r, u, amrFor(factor))
	err := h.Store.CompleteSignIn(ctx, &storage.SignInCompletion{Session: sess, RequestID: ar.ID, ClientID: ar.ClientID,
		ACR: acrFor(sess.AMR), Use: use, Now: sess.CreatedAt})
	if errors.Is(err, storage.ErrReplayed) || errors.Is(err, storage.ErrNotFound) {
		return errCodeUsed
	}
	if err := h.sessionCommitted(w, r, u, sess, value, err); err != nil {
		return err
	}
	h.factorEvent(ctx, storage.EventSigninSucceeded, u.ID, ar.ClientID, factor, "")
	if use.RecoveryHash != nil {
		return h.recoveryCodeUsed(ctx, u)
	}
	return nil
}

// sessionStored reports whether the session id is stored and live: a
// completion whose outcome its error left unknown committed if it is.
func (h *Handler) sessionStored(ctx context.Context, id string) (bool, error) {
	_, err := h.Store.SessionByID(ctx, id, h.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read back the session: %w", err)
	}
	return true, nil
}

// logout ends the browser's session from the account page.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if err := h.checkSessionCSRF(r); err != nil {
		return err
	}
	if id := h.SessionID(r); id != "" {
		if err := h.Store.EndSession(r.Context(), id, h.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete session: %w", err)
		}
	}
	h.ClearSession(w)
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
	return nil
}

// signedOut shows the page a sign-out ends on. It clears nothing: every way
// here has ended the session already, and a GET any site can send a
// browser to must not sign anyone out.
func (h *Handler) signedOut(w http.ResponseWriter, r *http.Request) error {
	h.render(w, r, http.StatusOK, "signedout.html", &page{Title: "Signed out"})
	return nil
}

// userID is u's id, or "" for no user.
func userID(u *storage.User) string {
	if u == nil {
		return ""
	}
	return u.ID
}

// PlainText reports whether s is text a name may be: UTF-8 without
// control characters (NUL, line breaks, escapes), which no page shows and
// PostgreSQL partly refuses.
func PlainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// NormalizeEmail is the form emails are stored and looked up in; "" for
// text that no stored address can be, which is not plain text (PlainText:
// PostgreSQL refuses bytes that are not UTF-8, and NUL, outright).
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	if !PlainText(s) {
		return ""
	}
	return strings.ToLower(s)
}
