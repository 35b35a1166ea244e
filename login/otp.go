package login

import (
	"context"
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

// mfaRequired reports whether ar demands a second factor whatever the
// user's settings: the client was registered with --require-mfa or asks
// acr_values for it.
func (h *Handler) mfaRequired(r *http.Request, ar *storage.AuthRequest) (bool, error) {
	if secondFactorDemanded(ar) {
		return true, nil
	}
	c, err := h.Store.ClientByID(r.Context(), ar.ClientID)
	if err != nil {
		return false, fmt.Errorf("load client: %w", err)
	}
	return c.RequireMFA, nil
}

// afterPassword decides the step after a correct password: done, the code
// page, or enrolment of a first factor.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, u *storage.User) error {
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	required, err := h.mfaRequired(r, ar)
	if err != nil {
		return err
	}
	hasKey, err := h.hasKeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if !hasTOTP && !hasEmail && !hasKey && !required {
		sess, err := h.startSession(w, r, u, []string{"pwd"})
		if err != nil {
			return fmt.Errorf("start session: %w", err)
		}
		h.record(r.Context(), &storage.Event{Type: storage.EventSigninSucceeded, UserID: u.ID, ClientID: ar.ClientID, Detail: "pwd", Factor: "password"})
		return h.complete(w, r, ar, sess)
	}
	if err := h.Store.SetAuthRequestUser(r.Context(), ar.ID, u.ID); err != nil {
		return fmt.Errorf("record password step: %w", err)
	}
	next := "/login/otp"
	switch {
	case keyRequired(ar) && !hasKey:
		// Never a silent downgrade: without a key this request cannot be met.
		h.event(r.Context(), storage.EventSigninFailed, u.ID, ar.ClientID, "no security key for a phishing-resistant request")
		return userError(http.StatusForbidden, "Security key required", msgKeyRequired)
	case !emailAccepted(ar) && !hasTOTP && !hasKey && hasEmail:
		// Nor to email: enrolling an app here would skip the factor the user has.
		h.event(r.Context(), storage.EventSigninFailed, u.ID, ar.ClientID, "only email codes for a request that refuses them")
		return userError(http.StatusForbidden, "Authenticator app required", msgAppRequired)
	case keyRequired(ar), !hasTOTP && !hasEmail && hasKey:
		next = "/login/webauthn" // keys only: straight to the key step
	case !hasTOTP && !hasEmail:
		next = "/login/enroll"
	}
	http.Redirect(w, r, next+"?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
	return nil
}

// pendingUser loads the auth request of a code step and the user who
// passed its password step; without one the browser goes back to the
// password form.
func (h *Handler) pendingUser(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, string, *storage.User, error) {
	ar, flow, err := h.loadRequest(w, r, id)
	if err != nil {
		return nil, "", nil, err
	}
	if ar.UserID == "" {
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

// postedStep reads the form of a sign-in step after the password and
// checks its CSRF token. It returns the request (remembering its client
// IP), the auth request, the flow cookie and the user who passed the
// password step — nil when the browser must start again from the password.
func (h *Handler) postedStep(w http.ResponseWriter, r *http.Request) (*http.Request, netip.Addr, *storage.AuthRequest, string, *storage.User, error) {
	if err := r.ParseForm(); err != nil {
		return r, netip.Addr{}, nil, "", nil, err
	}
	r, ip := h.withIP(r)
	ar, flow, u, err := h.pendingUser(w, r, r.PostForm.Get("authRequestID"))
	if err != nil {
		return r, ip, nil, "", nil, err
	}
	if err := h.checkCSRF(r, "login", flow); err != nil {
		return r, ip, nil, "", nil, err
	}
	if keyRequired(ar) {
		return r, ip, nil, "", nil, userError(http.StatusForbidden, "Security key required", msgKeyRequired)
	}
	return r, ip, ar, flow, u, nil
}

// shownStep is postedStep for the GET of a step: it loads the auth
// request named by the query and the user who passed the password step
// (nil: start again from the password), refusing code steps where the
// client accepts only a security key.
func (h *Handler) shownStep(w http.ResponseWriter, r *http.Request) (*http.Request, netip.Addr, *storage.AuthRequest, string, *storage.User, error) {
	r, ip := h.withIP(r)
	ar, flow, u, err := h.pendingUser(w, r, r.URL.Query().Get("authRequestID"))
	if err != nil {
		return r, ip, nil, "", nil, err
	}
	if u != nil && keyRequired(ar) {
		return r, ip, nil, "", nil, userError(http.StatusForbidden, "Security key required", msgKeyRequired)
	}
	return r, ip, ar, flow, u, nil
}

func (h *Handler) toPassword(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest) error {
	http.Redirect(w, r, "/login?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
	return nil
}

// chooseFactor picks the factor the code page asks for: the authenticator
// by default when enrolled, email when asked for or the only one, a
// recovery code when asked for (callers check that the user has a factor).
func chooseFactor(asked string, hasTOTP, hasEmail bool) string {
	if asked == factorRecovery {
		return factorRecovery
	}
	if asked == factorEmail && hasEmail || !hasTOTP {
		return factorEmail
	}
	return factorTOTP
}

// codePage is the code page of the sign-in for factor.
func (h *Handler) codePage(ar *storage.AuthRequest, flow, factor string, hasTOTP, hasEmail bool) *page {
	p := &page{
		Title:         "Two-factor authentication",
		AuthRequestID: ar.ID,
		CSRF:          h.csrfToken("login", flow),
		Action:        "/login/otp",
		Hidden:        map[string]string{"authRequestID": ar.ID, "method": factor},
		ShowForm:      true,
		CancelURL:     "/login?authRequestID=" + url.QueryEscape(ar.ID),
	}
	switch factor {
	case factorTOTP:
		p.Message = "Enter the 6-digit code from your authenticator app."
		if hasEmail {
			p.SwitchURL = "/login/otp?method=email&authRequestID=" + url.QueryEscape(ar.ID)
			p.SwitchText = "Send a code to my email instead"
		}
	case factorEmail:
		p.Message = "Enter the 6-digit code we emailed you."
		p.ResendAction = "/login/otp/resend"
		if hasTOTP {
			p.SwitchURL = "/login/otp?method=totp&authRequestID=" + url.QueryEscape(ar.ID)
			p.SwitchText = "Use my authenticator app instead"
		}
	case factorRecovery:
		p.Message = "Enter one of your recovery codes. Each code works once."
		p.Recovery = true
		back := factorTOTP
		if !hasTOTP {
			back = factorEmail
		}
		if hasTOTP || hasEmail { // else keys only: the page links to the key step
			p.SwitchURL = "/login/otp?method=" + back + "&authRequestID=" + url.QueryEscape(ar.ID)
			p.SwitchText = "Use a one-time password instead"
		}
	}
	if factor != factorRecovery {
		p.AltURL = "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar.ID)
		p.AltText = "Use a recovery code"
	}
	return p
}

// showCode shows the code page; for email it sends a code as the page
// opens, unless one is still live.
func (h *Handler) showCode(w http.ResponseWriter, r *http.Request) error {
	r, ip, ar, flow, u, err := h.shownStep(w, r)
	if err != nil {
		return err
	}
	if u == nil {
		return h.toPassword(w, r, ar)
	}
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	hasEmail = hasEmail && emailAccepted(ar) // acr.go
	factor := chooseFactor(r.URL.Query().Get("method"), hasTOTP, hasEmail)
	if !hasTOTP && !hasEmail {
		if ok, err := h.hasKeys(r.Context(), u.ID); err != nil {
			return err
		} else if !ok {
			return h.toPassword(w, r, ar)
		} else if factor != factorRecovery {
			// Keys only: straight to the key step, or a recovery code.
			http.Redirect(w, r, keyStepURL(ar.ID), http.StatusSeeOther)
			return nil
		}
	}
	p := h.codePage(ar, flow, factor, hasTOTP, hasEmail)
	p.WebAuthn = h.keyStepView(r.Context(), ar)
	if until, err := h.OTPLimiter.Blocked(r.Context(), ip, u.ID); err != nil {
		return err
	} else if !until.IsZero() {
		p.Error, p.ShowForm, p.ResendAction = h.blockedMessage(r.Context(), until), false, ""
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return nil
	}
	status := http.StatusOK
	if factor == factorEmail {
		if _, err := h.Store.LatestCode(r.Context(), u.ID, purposeSignIn, ar.ID, h.Now()); errors.Is(err, storage.ErrNotFound) {
			res, err := h.sendCode(r.Context(), u, purposeSignIn, ar.ID, false, ip)
			if err != nil {
				return err
			}
			p.Info, p.Error, status = res.info, res.alert, res.status()
		} else if err != nil {
			return fmt.Errorf("load code: %w", err)
		} else {
			p.Info = "We already sent you a code. Check your email, or ask for a new one."
		}
	}
	h.render(w, r, status, "code.html", p)
	return nil
}

// submitCode checks the code of the sign-in's second step.
func (h *Handler) submitCode(w http.ResponseWriter, r *http.Request) error {
	r, ip, ar, flow, u, err := h.postedStep(w, r)
	if err != nil {
		return err
	}
	if u == nil {
		return h.toPassword(w, r, ar)
	}
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	hasEmail = hasEmail && emailAccepted(ar) // acr.go
	factor := chooseFactor(r.PostForm.Get("method"), hasTOTP, hasEmail)
	if (factor == factorTOTP && !hasTOTP) || (factor == factorEmail && !hasEmail) {
		return h.toPassword(w, r, ar)
	}
	if factor == factorRecovery && !hasTOTP && !hasEmail {
		// Recovery codes stand in for keys only when there are keys.
		ok, err := h.hasKeys(r.Context(), u.ID)
		if err != nil {
			return err
		}
		if !ok {
			return h.toPassword(w, r, ar)
		}
	}
	p := h.codePage(ar, flow, factor, hasTOTP, hasEmail)
	p.WebAuthn = h.keyStepView(r.Context(), ar)
	res, err := h.tryCode(r.Context(), u, factor, purposeSignIn, ar.ID, r.PostForm.Get("code"), true, ip, h.stillPending(ar.ID, u.ID))
	if err != nil {
		return err
	}
	switch {
	case res.blocked:
		// The pending sign-in ends: the user starts again from the password.
		if err := h.Store.SetAuthRequestUser(r.Context(), ar.ID, ""); err != nil {
			return fmt.Errorf("end pending sign-in: %w", err)
		}
		h.record(r.Context(), &storage.Event{Type: storage.EventSigninFailed, UserID: u.ID, ClientID: ar.ClientID, Detail: factor + ": blocked", Factor: factor, Blocked: true})
		p.Error, p.ShowForm, p.ResendAction, p.SwitchURL, p.Message = res.message, false, "", "", ""
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return nil
	case !res.ok:
		h.factorEvent(r.Context(), storage.EventSigninFailed, u.ID, ar.ClientID, factor, "")
		p.Error = res.message
		h.render(w, r, http.StatusUnauthorized, "code.html", p)
		return nil
	}
	sess, err := h.startSession(w, r, u, amrFor(factor))
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	h.factorEvent(r.Context(), storage.EventSigninSucceeded, u.ID, ar.ClientID, factor, "")
	// The request is done before the counters forget the failures: a
	// guess reserved after that finds the sign-in over (stillPending), so
	// a burst around the right code gets no fresh attempts from it.
	if err := h.markDone(r, ar, sess); err != nil {
		return err
	}
	if err := res.attempt.Succeeded(r.Context()); err != nil {
		return err
	}
	http.Redirect(w, r, h.Callback(r.Context(), ar.ID), http.StatusSeeOther)
	return nil
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
	r, ip, ar, flow, u, err := h.postedStep(w, r)
	if err != nil {
		return err
	}
	if u == nil || !u.EmailOTP || !emailAccepted(ar) {
		return h.toPassword(w, r, ar)
	}
	hasTOTP, _, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	p := h.codePage(ar, flow, factorEmail, hasTOTP, true)
	if until, err := h.OTPLimiter.Blocked(r.Context(), ip, u.ID); err != nil {
		return err
	} else if !until.IsZero() {
		p.Error, p.ShowForm, p.ResendAction = h.blockedMessage(r.Context(), until), false, ""
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return nil
	}
	res, err := h.sendCode(r.Context(), u, purposeSignIn, ar.ID, true, ip)
	if err != nil {
		return err
	}
	p.Info, p.Error = res.info, res.alert
	h.render(w, r, res.status(), "code.html", p)
	return nil
}

// enrollPage is the page that walks a user without a factor through
// enabling one during a sign-in that requires it.
func (h *Handler) enrollPage(ar *storage.AuthRequest, flow, factor string) *page {
	p := &page{
		Title:         "Set up two-factor authentication",
		AuthRequestID: ar.ID,
		CSRF:          h.csrfToken("login", flow),
		Action:        "/login/enroll",
		Hidden:        map[string]string{"authRequestID": ar.ID, "method": factor},
		ShowForm:      true,
		CancelURL:     "/login?authRequestID=" + url.QueryEscape(ar.ID),
	}
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
	r, ip, ar, flow, u, err := h.shownStep(w, r)
	if err != nil {
		return err
	}
	if u == nil {
		return h.toPassword(w, r, ar)
	}
	if done, err := h.hasFactorAlready(w, r, ar, u); done || err != nil {
		return err
	}
	factor := factorTOTP
	if r.URL.Query().Get("method") == factorEmail && emailAccepted(ar) {
		factor = factorEmail
	}
	p := h.enrollPage(ar, flow, factor)
	if until, err := h.OTPLimiter.Blocked(r.Context(), ip, u.ID); err != nil {
		return err
	} else if !until.IsZero() {
		p.Error, p.ShowForm, p.ResendAction = h.blockedMessage(r.Context(), until), false, ""
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return nil
	}
	if factor == factorEmail {
		res, err := h.sendCode(r.Context(), u, purposeEnableEmail, ar.ID, false, ip)
		if err != nil {
			return err
		}
		p.Info, p.Error = res.info, res.alert
		h.render(w, r, res.status(), "code.html", p)
		return nil
	}
	if err := h.newTOTP(r, u, p); err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "enroll.html", p)
	return nil
}

// submitEnroll confirms the first factor and finishes the sign-in.
func (h *Handler) submitEnroll(w http.ResponseWriter, r *http.Request) error {
	r, ip, ar, flow, u, err := h.postedStep(w, r)
	if err != nil {
		return err
	}
	if u == nil {
		return h.toPassword(w, r, ar)
	}
	if done, err := h.hasFactorAlready(w, r, ar, u); done || err != nil {
		return err
	}
	factor := factorTOTP
	purpose := ""
	if r.PostForm.Get("method") == factorEmail && emailAccepted(ar) {
		factor, purpose = factorEmail, purposeEnableEmail
	}
	p := h.enrollPage(ar, flow, factor)
	res, err := h.checkCode(r.Context(), u, factor, purpose, ar.ID, r.PostForm.Get("code"), false, ip)
	if err != nil {
		return err
	}
	if !res.ok {
		p.Error = res.message
		status := http.StatusUnauthorized
		if res.blocked {
			status, p.ShowForm, p.ResendAction = http.StatusTooManyRequests, false, ""
			if err := h.Store.SetAuthRequestUser(r.Context(), ar.ID, ""); err != nil {
				return fmt.Errorf("end pending sign-in: %w", err)
			}
		}
		if factor == factorTOTP && !res.blocked {
			if err := h.pendingTOTP(r, u, p); err != nil {
				return err
			}
			h.render(w, r, status, "enroll.html", p)
			return nil
		}
		h.render(w, r, status, "code.html", p)
		return nil
	}
	if factor == factorEmail {
		if err := h.Store.SetEmailOTP(r.Context(), u.ID, true, h.Now()); err != nil {
			return fmt.Errorf("enable email codes: %w", err)
		}
	}
	h.factorChanged(r, u, factor, true)
	sess, err := h.startSession(w, r, u, amrFor(factor))
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	h.factorEvent(r.Context(), storage.EventSigninSucceeded, u.ID, ar.ClientID, factor, "")
	if err := h.markDone(r, ar, sess); err != nil {
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
	r, ip, ar, flow, u, err := h.postedStep(w, r)
	if err != nil {
		return err
	}
	if u == nil {
		return h.toPassword(w, r, ar)
	}
	if done, err := h.hasFactorAlready(w, r, ar, u); done || err != nil {
		return err
	}
	p := h.enrollPage(ar, flow, factorEmail)
	res, err := h.sendCode(r.Context(), u, purposeEnableEmail, ar.ID, true, ip)
	if err != nil {
		return err
	}
	p.Info, p.Error = res.info, res.alert
	h.render(w, r, res.status(), "code.html", p)
	return nil
}

// hasFactorAlready sends a user who already has a second factor to the
// code page: enrolment during a sign-in is only for users with none, or the
// password alone could add a factor and pass.
func (h *Handler) hasFactorAlready(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, u *storage.User) (bool, error) {
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return false, err
	}
	if !hasTOTP && !hasEmail {
		// A key counts as a factor: its owner signs in with it.
		if ok, err := h.hasKeys(r.Context(), u.ID); err != nil || !ok {
			return false, err
		}
	}
	http.Redirect(w, r, "/login/otp?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
	return true, nil
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
	return h.showKey(p, key.Secret(), key.URL(), key)
}

// pendingTOTP puts the enrolment in progress back on p, after a wrong code.
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
	key, err := totp.FromSecret(h.TOTPIssuer, u.Email, string(secret))
	if err != nil {
		return err
	}
	return h.showKey(p, key.Secret(), key.URL(), key)
}

func (h *Handler) showKey(p *page, secret, link string, key *totp.Key) error {
	png, err := key.QRPNG(240)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	p.Secret = secret
	p.OTPAuthURL = template.URL(link)
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
