package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/gatehouse-idp/gatehouse/login/totp"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// afterPassword takes the step that nextStep names after a correct
// password: done, the code page, the key step, enrolment of a first
// factor, or a refusal.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, u *storage.User) error {
	s, err := h.signInState(r.Context(), onPassword, ar, u, "")
	if err != nil {
		return err
	}
	n := nextStep(s)
	if n.Step == stepDone {
		if err := h.signInDone(w, r, ar, u, []string{"pwd"}, "password"); err != nil {
			return err
		}
		http.Redirect(w, r, h.Callback(r.Context(), ar.ID), http.StatusSeeOther)
		return nil
	}
	if err := h.Store.SetAuthRequestUser(r.Context(), ar.ID, u.ID); err != nil {
		return fmt.Errorf("record password step: %w", err)
	}
	h.setCookie(w, pendingCookie, h.pendingToken(ar.ID, u.ID, h.cookieValue(r, flowCookie)), ar.ExpiresAt.Sub(h.Now()))
	switch n.Step {
	case stepNeedKey:
		h.event(r.Context(), storage.EventSigninFailed, u.ID, ar.ClientID, "no security key for a phishing-resistant request")
	case stepNeedApp:
		h.event(r.Context(), storage.EventSigninFailed, u.ID, ar.ClientID, "only email codes for a request that refuses them")
	}
	return h.goTo(w, r, ar, n)
}

// pendingCookie holds, after the password step, proof that this browser
// passed it (pendingToken): the flow cookie alone, which the browser
// had before the step (and which an attacker may have planted in it),
// does not carry the user's password to the later steps. One at a time:
// a browser that passes the password step of another sign-in meanwhile
// goes back to the password form of the first.
const pendingCookie = "gh_pending"

// pendingToken is the value of pendingCookie once the user userID passed
// the password step of the auth request id in the browser with the flow
// cookie flow.
func (h *Handler) pendingToken(id, userID, flow string) string {
	return h.csrfToken("pending "+id+" "+userID, flow)
}

// pendingUser loads the auth request of a code step and the user who
// passed its password step in this browser (pendingCookie); without one
// the browser goes back to the password form.
func (h *Handler) pendingUser(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, string, *storage.User, error) {
	ar, flow, err := h.loadRequest(w, r, id)
	if err != nil {
		return nil, "", nil, err
	}
	if ar.UserID == "" {
		return ar, flow, nil, nil
	}
	if got := h.cookieValue(r, pendingCookie); got == "" || !hmac.Equal([]byte(got), []byte(h.pendingToken(ar.ID, ar.UserID, flow))) {
		h.Logger.InfoContext(r.Context(), "sign-in step without the password step's cookie: back to the password",
			"client_id", ar.ClientID, "pending_cookie", got != "")
		return ar, flow, nil, nil
	}
	u, err := h.Store.UserByID(r.Context(), ar.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return ar, flow, nil, nil
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return ar, flow, nil, nil
	}
	return ar, flow, u, nil
}

// stepPage is the form of a step of the sign-in ar that posts a code for
// factor to action; cancelling starts again from the password.
func (h *Handler) stepPage(ar *storage.AuthRequest, flow, title, action, factor string) *page {
	return &page{
		Title:         title,
		AuthRequestID: ar.ID,
		CSRF:          h.csrfToken("login", flow),
		Action:        action,
		Hidden:        map[string]string{"authRequestID": ar.ID, "method": factor},
		ShowForm:      true,
		CancelURL:     "/login?authRequestID=" + url.QueryEscape(ar.ID),
	}
}

// codePage is the code page of the sign-in for factor.
func (h *Handler) codePage(ar *storage.AuthRequest, flow, factor string, hasTOTP, hasEmail bool) *page {
	p := h.stepPage(ar, flow, "Two-factor authentication", "/login/otp", factor)
	// method is the code page of this sign-in for another factor.
	method := func(other string) string {
		return "/login/otp?method=" + other + "&authRequestID=" + url.QueryEscape(ar.ID)
	}
	switch factor {
	case factorTOTP:
		p.Message = "Enter the 6-digit code from your authenticator app."
		if hasEmail {
			p.SwitchURL, p.SwitchText = method(factorEmail), "Send a code to my email instead"
		}
	case factorEmail:
		p.Message = "Enter the 6-digit code we emailed you."
		p.ResendAction = "/login/otp/resend"
		if hasTOTP {
			p.SwitchURL, p.SwitchText = method(factorTOTP), "Use my authenticator app instead"
		}
	case factorRecovery:
		p.Message = "Enter one of your recovery codes. Each code works once."
		p.Recovery = true
		back := factorTOTP
		if !hasTOTP {
			back = factorEmail
		}
		if hasTOTP || hasEmail { // else keys only: the page links to the key step
			p.SwitchURL, p.SwitchText = method(back), "Use a one-time password instead"
		}
	}
	if factor != factorRecovery {
		p.AltURL, p.AltText = method(factorRecovery), "Use a recovery code"
	}
	return p
}

// showCode shows the code page; for email it sends a code as the page
// opens, unless one is still live.
func (h *Handler) showCode(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onShowCode)
	if sr == nil {
		return err
	}
	r, ip, ar, u := sr.r, sr.ip, sr.ar, sr.u
	p := h.codeStepPage(sr)
	if shown, err := h.codeBlocked(w, r, ip, u.ID, p); shown || err != nil {
		return err
	}
	status := http.StatusOK
	if sr.n.Factor == factorEmail {
		if _, err := h.Store.LatestCode(r.Context(), u.ID, purposeSignIn, ar.ID, h.Now()); errors.Is(err, storage.ErrNotFound) {
			res, err := h.sendCode(r.Context(), u, purposeSignIn, ar.ID, false, ip)
			if err != nil {
				return err
			}
			res.show(p)
			status = res.status()
		} else if err != nil {
			return fmt.Errorf("load code: %w", err)
		} else {
			p.Info = "We already sent you a code. Check your email, or ask for a new one."
			if err := h.codeTimes(r.Context(), u.ID, purposeSignIn, ar.ID, p); err != nil {
				return err
			}
		}
	}
	h.render(w, r, status, "code.html", p)
	return nil
}

// codeStepPage is the code page of sr, for the factor nextStep chose.
func (h *Handler) codeStepPage(sr *stepRequest) *page {
	f := sr.s.Factors
	p := h.codePage(sr.ar, sr.flow, sr.n.Factor, f.TOTP, f.Email && sr.s.Policy.EmailAccepted)
	p.WebAuthn = keyStepView(sr.ar, f.Keys)
	return p
}

// codeBlocked shows p (code.html) with the block message and no controls
// (blockedPage), 429, when the code limiter blocks ip or the user; it
// reports whether it did.
func (h *Handler) codeBlocked(w http.ResponseWriter, r *http.Request, ip netip.Addr, userID string, p *page) (bool, error) {
	until, err := h.OTPLimiter.Blocked(r.Context(), ip, userID)
	if err != nil || until.IsZero() {
		return false, err
	}
	blockedPage(p, h.blockedMessage(r.Context(), until))
	h.render(w, r, http.StatusTooManyRequests, "code.html", p)
	return true, nil
}

// blockedPage makes p, a code page, show the block message and only the
// way back: no form, nor Resend, nor the other factors, which the block
// refuses as well.
func blockedPage(p *page, message string) {
	p.Error, p.Blocked, p.ShowForm, p.ResendAction, p.Message = message, true, false, "", ""
}

// outcome is what the check came to, for nextStep.
func (c codeCheck) outcome() outcome {
	switch {
	case c.blocked:
		return blocked
	case !c.ok:
		return failed
	}
	return passed
}

// stepBlocked answers a code check that blocked the client IP or the
// account: the pending sign-in of sr ends (the user starts again from the
// password) and p shows the block message, without the form, 429.
func (h *Handler) stepBlocked(w http.ResponseWriter, sr *stepRequest, p *page, message string) error {
	if err := h.endPending(sr.r.Context(), sr.ar); err != nil {
		return err
	}
	blockedPage(p, message)
	h.render(w, sr.r, http.StatusTooManyRequests, "code.html", p)
	return nil
}

// submitCode checks the code of the sign-in's second step.
func (h *Handler) submitCode(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onPostCode)
	if sr == nil {
		return err
	}
	r, ip, ar, u, factor := sr.r, sr.ip, sr.ar, sr.u, sr.n.Factor
	p := h.codeStepPage(sr)
	ctx := r.Context()
	res, err := h.tryCode(ctx, u, factor, purposeSignIn, ar.ID, r.PostForm.Get("code"), true, ip, h.stillPending(ar.ID, u.ID))
	if err != nil {
		return err
	}
	to := sr.checked(res.outcome())
	if to == stepDone {
		// The code's use and the sign-in's end commit together. The
		// request is done before the counters forget the failures: a
		// guess reserved after that finds the sign-in over
		// (stillPending), so a burst around the right code gets no fresh
		// attempts from it.
		err := h.codeSignInDone(w, r, ar, u, factor, res.use)
		switch {
		case errors.Is(err, errCodeUsed):
			// Another request used the code first: a wrong code.
			if res, err = h.codeFailed(ctx, u, factor, purposeSignIn, ar.ID, ip, res.attempt); err != nil {
				return err
			}
			to = sr.checked(res.outcome())
		case err != nil:
			// Not signed in, or not known to be: the attempt is given
			// back, and the code is left for the retry.
			return errors.Join(err, res.attempt.Cancel(ctx))
		default:
			if err := res.attempt.Succeeded(ctx); err != nil {
				return err
			}
			http.Redirect(w, r, h.Callback(ctx, ar.ID), http.StatusSeeOther)
			return nil
		}
	}
	switch to {
	case stepPassword:
		h.record(ctx, &storage.Event{Type: storage.EventSigninFailed, UserID: u.ID, ClientID: ar.ClientID, Detail: factor + ": blocked", Factor: factor, Blocked: true})
		return h.stepBlocked(w, sr, p, res.message)
	case stepCode, stepRecovery:
		h.factorEvent(ctx, storage.EventSigninFailed, u.ID, ar.ClientID, factor, "")
		if factor == factorEmail {
			if err := h.codeTimes(ctx, u.ID, purposeSignIn, ar.ID, p); err != nil {
				return err
			}
		}
		p.Error = res.message
		h.render(w, r, http.StatusUnauthorized, "code.html", p)
		return nil
	}
	return fmt.Errorf("code step: nextStep went to %q", to)
}

// stillPending returns the check tryCode makes after reserving an attempt
// at a sign-in's code: the request is live and not done. (A block may have
// ended the pending sign-in meanwhile; an attempt granted before it is
// still checked, as its place was counted.)
func (h *Handler) stillPending(id, userID string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		ar, err := h.Store.AuthRequestByID(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("load auth request: %w", err)
		}
		return !ar.Done && (ar.UserID == userID || ar.UserID == "") && h.Now().Before(ar.ExpiresAt), nil
	}
}

// resendCode emails a new sign-in code; the old one stops working.
func (h *Handler) resendCode(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onResendCode)
	if sr == nil {
		return err
	}
	r, ip, ar, u := sr.r, sr.ip, sr.ar, sr.u
	p := h.codePage(ar, sr.flow, factorEmail, sr.s.Factors.TOTP, true)
	if shown, err := h.codeBlocked(w, r, ip, u.ID, p); shown || err != nil {
		return err
	}
	res, err := h.sendCode(r.Context(), u, purposeSignIn, ar.ID, true, ip)
	if err != nil {
		return err
	}
	res.show(p)
	h.render(w, r, res.status(), "code.html", p)
	return nil
}

// enrollPage is the page that walks a user without a factor through
// enabling one during a sign-in that requires it.
func (h *Handler) enrollPage(ar *storage.AuthRequest, flow, factor string) *page {
	p := h.stepPage(ar, flow, "Set up two-factor authentication", "/login/enroll", factor)
	if factor == factorEmail {
		p.Message = "This application requires two-factor authentication. Enter the code we emailed you to turn on email codes."
		p.ResendAction = "/login/enroll/resend"
		p.SwitchURL, p.SwitchText = "/login/enroll?method=totp&authRequestID="+url.QueryEscape(ar.ID), "Use an authenticator app instead"
	} else {
		p.Message = "This application requires two-factor authentication. Add this account to your authenticator app, then enter the code it shows."
		p.SwitchURL, p.SwitchText = "/login/enroll?method=email&authRequestID="+url.QueryEscape(ar.ID), "Receive codes by email instead"
	}
	if !emailAccepted(ar) && factor != factorEmail {
		p.SwitchURL, p.SwitchText = "", "" // acr_values refuse email codes
	}
	return p
}

// showEnroll starts enrolling a first factor within a sign-in.
func (h *Handler) showEnroll(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onShowEnroll)
	if sr == nil {
		return err
	}
	r, ip, u := sr.r, sr.ip, sr.u
	p := h.enrollPage(sr.ar, sr.flow, sr.n.Factor)
	if shown, err := h.codeBlocked(w, r, ip, u.ID, p); shown || err != nil {
		return err
	}
	if sr.n.Factor == factorEmail {
		return h.sendEnrollCode(w, sr, p, false)
	}
	if err := h.newTOTP(r, u, p); err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "enroll.html", p)
	return nil
}

// sendEnrollCode emails (again, with resend) the code that turns on email
// codes within the sign-in of sr, and shows p with what came of it.
func (h *Handler) sendEnrollCode(w http.ResponseWriter, sr *stepRequest, p *page, resend bool) error {
	res, err := h.sendCode(sr.r.Context(), sr.u, purposeEnableEmail, sr.ar.ID, resend, sr.ip)
	if err != nil {
		return err
	}
	res.show(p)
	h.render(w, sr.r, res.status(), "code.html", p)
	return nil
}

// submitEnroll confirms the first factor and finishes the sign-in.
func (h *Handler) submitEnroll(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onPostEnroll)
	if sr == nil {
		return err
	}
	r, ar, u, factor := sr.r, sr.ar, sr.u, sr.n.Factor
	purpose := ""
	if factor == factorEmail {
		purpose = purposeEnableEmail
	}
	p := h.enrollPage(ar, sr.flow, factor)
	res, err := h.checkCode(r.Context(), u, factor, purpose, ar.ID, r.PostForm.Get("code"), false, sr.ip)
	if err != nil {
		return err
	}
	switch sr.checked(res.outcome()) {
	case stepPassword:
		return h.stepBlocked(w, sr, p, res.message)
	case stepEnroll:
		p.Error = res.message
		if factor == factorTOTP {
			if err := h.pendingTOTP(r, u, p); err != nil {
				return err
			}
			h.render(w, r, http.StatusUnauthorized, "enroll.html", p)
			return nil
		}
		if err := h.codeTimes(r.Context(), u.ID, purpose, ar.ID, p); err != nil {
			return err
		}
		h.render(w, r, http.StatusUnauthorized, "code.html", p)
		return nil
	}
	if factor == factorEmail {
		if err := h.Store.SetEmailOTP(r.Context(), u.ID, true, h.Now()); err != nil {
			return fmt.Errorf("enable email codes: %w", err)
		}
	}
	h.factorChanged(r, u, factor, true)
	if err := h.signInDone(w, r, ar, u, amrFor(factor), factor); err != nil {
		return err
	}
	// The first factor comes with recovery codes, shown once before the
	// browser goes on to the application.
	next := h.Callback(r.Context(), ar.ID)
	if shown, err := h.offerRecoveryCodes(w, r, u, next); shown || err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// resendEnroll emails a new enrolment code within a sign-in.
func (h *Handler) resendEnroll(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onResendEnroll)
	if sr == nil {
		return err
	}
	return h.sendEnrollCode(w, sr, h.enrollPage(sr.ar, sr.flow, sr.n.Factor), true)
}

// newTOTP creates a fresh enrolment secret for u and puts its QR code,
// text and link on p.
func (h *Handler) newTOTP(r *http.Request, u *storage.User, p *page) error {
	key, err := totp.Generate(h.TOTPIssuer, u.Email)
	if err != nil {
		return fmt.Errorf("generate totp secret: %w", err)
	}
	err = h.Store.PutTOTP(r.Context(), &storage.TOTP{
		UserID: u.ID, Secret: h.Seal.Seal([]byte(key.Secret()), totpAAD(u.ID)),
		LastStep: -1, CreatedAt: h.Now(),
	})
	if errors.Is(err, storage.ErrConflict) {
		return userError(http.StatusConflict, "Already enabled", "The authenticator app is already enabled for this account.")
	}
	if err != nil {
		return fmt.Errorf("store totp secret: %w", err)
	}
	return h.showKey(p, u.ID, key.Secret(), key.URL(), key)
}

// setupTag names the enrolment of secret for the user userID in the form
// that shows its key (the hidden field "setup"), without revealing it.
func (h *Handler) setupTag(userID, secret string) string {
	m := hmac.New(sha256.New, h.CodeKey[:])
	fmt.Fprintf(m, "totp-setup\x00%s\x00%s", userID, secret)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// pendingTOTP puts the enrolment in progress back on p, after a wrong code,
// provided the form posted (r) is the one that showed its key: another
// browser's setup, begun since, is not shown to this one.
func (h *Handler) pendingTOTP(r *http.Request, u *storage.User, p *page) error {
	t, err := h.Store.TOTPByUser(r.Context(), u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		// A code posted with no setup begun (or one removed meanwhile).
		return userError(http.StatusConflict, "Start again", msgNoTOTPSetup)
	}
	if err != nil {
		return fmt.Errorf("load totp: %w", err)
	}
	if t.Confirmed {
		return userError(http.StatusConflict, "Already enabled", "The authenticator app is already enabled for this account.")
	}
	secret, err := h.Seal.Open(t.Secret, totpAAD(u.ID))
	if err != nil {
		return fmt.Errorf("open totp secret: %w", err)
	}
	if !hmac.Equal([]byte(r.PostForm.Get("setup")), []byte(h.setupTag(u.ID, string(secret)))) {
		return userError(http.StatusConflict, "Start again", msgNoTOTPSetup)
	}
	key, err := totp.FromSecret(h.TOTPIssuer, u.Email, string(secret))
	if err != nil {
		return err
	}
	return h.showKey(p, u.ID, key.Secret(), key.URL(), key)
}

// showKey puts the key of the enrolment of secret for the user userID on
// p: QR code, text, link and the form's setup tag.
func (h *Handler) showKey(p *page, userID, secret, link string, key *totp.Key) error {
	png, err := key.QRPNG(240)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	p.Secret, p.SecretKey = groupKey(secret), secret
	p.OTPAuthURL = template.URL(link)
	if p.Hidden == nil {
		p.Hidden = map[string]string{}
	}
	p.Hidden["setup"] = h.setupTag(userID, secret)
	return nil
}

// factorChanged records and announces that a factor was turned on or off.
func (h *Handler) factorChanged(r *http.Request, u *storage.User, factor string, on bool) {
	typ := storage.EventFactorEnabled
	if !on {
		typ = storage.EventFactorDisabled
	}
	h.event(r.Context(), typ, u.ID, "", factor)
	h.notify(r.Context(), u, "Two-factor authentication changed", factorChangedText[factor][on])
}

// factorChangedText is the security email's text when a factor is turned
// on (true) or off (false); whole sentences, so that they translate.
var factorChangedText = map[string]map[bool]string{
	factorTOTP: {
		true:  "The authenticator app was enabled as a second factor for your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n",
		false: "The authenticator app was disabled as a second factor for your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n",
	},
	factorEmail: {
		true:  "Email codes were enabled as a second factor for your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n",
		false: "Email codes were disabled as a second factor for your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n",
	},
}
