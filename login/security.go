package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// done messages of the security page, by the "done" query value.
var securityDone = map[string]string{
	"email-on":  "Email codes are enabled.",
	"email-off": "Email codes are disabled.",
	"totp-on":   "The authenticator app is enabled.",
	"totp-off":  "The authenticator app is disabled.",
	"codes":     "Your recovery codes were replaced.",

	"webauthn-on":  "The security key or passkey was added.",
	"webauthn-off": "The security key or passkey was removed.",
}

// signedIn returns the browser's session and user, or an error page.
// Without a session, a GET of the page signs in first (home.go).
func (h *Handler) signedIn(r *http.Request) (*storage.Session, *storage.User, error) {
	sess, err := h.currentSession(r)
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	if sess == nil {
		// A GET signs in and comes back (serve); a form posted without a
		// session gets this page.
		return nil, nil, &pageError{status: http.StatusUnauthorized, title: "Not signed in",
			message: "You are not signed in. Sign in again, then come back here.", signIn: true}
	}
	u, err := h.Store.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, userError(http.StatusUnauthorized, "Not signed in", "You are not signed in.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return nil, nil, userError(http.StatusUnauthorized, "Not signed in", "You are not signed in.")
	}
	if err := h.keepAlive(r.Context(), sess); err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// keepAliveEvery is how often the account pages move a session's idle
// deadline: browsing them costs a write at most once a minute.
const keepAliveEvery = time.Minute

// keepAlive moves the idle deadline of sess, which the account pages use
// as a sign-in at a client does: a session ends when it is unused
// (SessionIdle), and using the account is a use.
func (h *Handler) keepAlive(ctx context.Context, sess *storage.Session) error {
	now := h.Now()
	if now.Sub(sess.LastSeenAt) < keepAliveEvery {
		return nil
	}
	err := h.Store.TouchSession(ctx, sess.ID, now, now.Add(h.SessionIdle))
	if errors.Is(err, storage.ErrNotFound) {
		// Ended, or given a new id (another tab), since it was loaded.
		return userError(http.StatusUnauthorized, "Not signed in", "You are not signed in.")
	}
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// showSecurity shows the two-factor settings.
func (h *Handler) showSecurity(w http.ResponseWriter, r *http.Request) error {
	_, u, err := h.signedIn(r)
	if err != nil {
		return err
	}
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	left, err := h.Store.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("count recovery codes: %w", err)
	}
	keys, err := h.keysView(r, u)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "security.html", &page{
		Title: "Two-factor authentication", User: u, HasTOTP: hasTOTP, HasEmail: hasEmail, RecoveryLeft: left, WebAuthn: keys,
		Info: securityDone[r.URL.Query().Get("done")],
		// A factor turned off: perhaps a lost device, or someone else's
		// doing; offer to end the other sessions (SECURITY.md OTP-04).
		OfferEndOthers: slices.Contains([]string{"totp-off", "email-off", "webauthn-off"}, r.URL.Query().Get("done")),
		CSRF:           h.sessionCSRF(r),
	})
	return nil
}

// factorSwitch is the data of security.html's factor-switch: a second
// factor's state and the form that turns it on or off.
type factorSwitch struct {
	Lang, CSRF string
	Factor     string // the factor's part of the form's path: "totp" or "email"
	On         bool
}

// FactorSwitch is the data of the security page's switch for factor,
// which is on or off.
func (p *page) FactorSwitch(factor string, on bool) factorSwitch {
	return factorSwitch{Lang: p.Lang, CSRF: p.CSRF, Factor: factor, On: on}
}

// securityPage is the code or enrolment page of an account action.
func (h *Handler) securityPage(r *http.Request, factor, op string) *page {
	p := &page{
		Title:     "Two-factor authentication",
		CSRF:      h.sessionCSRF(r),
		Action:    "/account/security/" + factor + "/" + op,
		Hidden:    map[string]string{},
		ShowForm:  true,
		CancelURL: "/account/security",
	}
	switch factor + "/" + op {
	case "email/enable", "email/enable-confirm":
		p.Message = "Enter the confirmation code we emailed you, then click Apply."
		p.Action, p.ResendAction = "/account/security/email/enable-confirm", "/account/security/email/enable-resend"
	case "email/disable", "email/disable-confirm":
		p.Message = "To turn off email codes, enter the code we emailed you, then click Apply."
		p.Action, p.ResendAction = "/account/security/email/disable-confirm", "/account/security/email/disable-resend"
	case "totp/enable", "totp/enable-confirm":
		p.Message = "Add this account to your authenticator app (Microsoft Authenticator, Google Authenticator, 1Password…): scan the QR code, or enter the key by hand. Then enter the code the app shows and click Apply."
		p.Action = "/account/security/totp/enable-confirm"
	case "totp/disable", "totp/disable-confirm":
		p.Message = "To turn off the authenticator app, enter the code it shows now, then click Apply."
		p.Action = "/account/security/totp/disable-confirm"
	case "recovery/regenerate", "recovery/regenerate-confirm", "recovery/regenerate-resend":
		p.Message = "To get new recovery codes, enter a code from your authenticator app, or the one we emailed you, then click Apply. The old codes stop working."
		p.Action = "/account/security/recovery/regenerate-confirm"
	}
	return p
}

// securityAction runs one step of enabling or disabling a factor:
//
//	email/enable, email/disable          send a code, show the code form
//	email/*-resend                       send a new code
//	email/*-confirm                      check the code, switch email codes
//	totp/enable                          new secret: QR code, key, link
//	totp/enable-confirm                  check the app's code, enable
//	totp/disable, totp/disable-confirm   ask for and check the app's code
func (h *Handler) securityAction(w http.ResponseWriter, a *accountStep) error {
	r, ip, sess, u := a.r, a.ip, a.sess, a.u
	ctx := r.Context()
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return err
	}
	factor, op := chi.URLParam(r, "factor"), chi.URLParam(r, "op")
	p := h.securityPage(r, factor, op)
	blocked := func() (bool, error) {
		until, err := h.OTPLimiter.Blocked(ctx, ip, u.ID)
		if err != nil || until.IsZero() {
			return false, err
		}
		p.Error, p.ShowForm, p.ResendAction = h.blockedMessage(ctx, until), false, ""
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return true, nil
	}
	done := func(key string) error {
		http.Redirect(w, r, "/account/security?done="+key, http.StatusSeeOther)
		return nil
	}
	// failed shows the result of a wrong or blocked code: the change is
	// refused (403) to a user who is signed in.
	failed := func(res codeCheck, page string) error {
		p.Error = res.message
		status := http.StatusForbidden
		if res.blocked {
			status, p.ShowForm, p.ResendAction, page = http.StatusTooManyRequests, false, "", "code.html"
		}
		h.render(w, r, status, page, p)
		return nil
	}

	switch factor + "/" + op {
	case "email/enable", "email/disable", "email/enable-resend", "email/disable-resend":
		enable := op == "enable" || op == "enable-resend"
		if enable == hasEmail {
			return done(map[bool]string{true: "email-on", false: "email-off"}[hasEmail])
		}
		if b, err := blocked(); b || err != nil {
			return err
		}
		purpose := purposeDisableEmail
		if enable {
			purpose = purposeEnableEmail
		}
		res, err := h.sendCode(ctx, u, purpose, sess.ID, op == "enable-resend" || op == "disable-resend", ip)
		if err != nil {
			return err
		}
		res.show(p)
		h.render(w, r, res.status(), "code.html", p)
		return nil

	case "email/enable-confirm", "email/disable-confirm":
		enable := op == "enable-confirm"
		if enable == hasEmail {
			return done(map[bool]string{true: "email-on", false: "email-off"}[hasEmail])
		}
		purpose := purposeDisableEmail
		if enable {
			purpose = purposeEnableEmail
		}
		res, err := h.checkCode(ctx, u, factorEmail, purpose, sess.ID, r.PostForm.Get("code"), false, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			return failed(res, "code.html")
		}
		if err := h.Store.SetEmailOTP(ctx, u.ID, enable, h.Now()); err != nil {
			return fmt.Errorf("switch email codes: %w", err)
		}
		h.factorChanged(r, u, factorEmail, enable)
		if enable {
			if shown, err := h.offerRecoveryCodes(w, r, u, "/account/security?done=email-on"); shown || err != nil {
				return err
			}
		} else if err := h.dropRecoveryCodes(ctx, u); err != nil {
			return err
		}
		return done(map[bool]string{true: "email-on", false: "email-off"}[enable])

	case "totp/enable":
		if hasTOTP {
			return done("totp-on")
		}
		if b, err := blocked(); b || err != nil {
			return err
		}
		if err := h.newTOTP(r, u, p); err != nil {
			return err
		}
		h.render(w, r, http.StatusOK, "enroll.html", p)
		return nil

	case "totp/enable-confirm":
		if hasTOTP {
			return done("totp-on")
		}
		res, err := h.checkCode(ctx, u, factorTOTP, "", "", r.PostForm.Get("code"), false, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			if !res.blocked {
				if err := h.pendingTOTP(r, u, p); err != nil {
					return err
				}
			}
			return failed(res, "enroll.html")
		}
		h.factorChanged(r, u, factorTOTP, true)
		if shown, err := h.offerRecoveryCodes(w, r, u, "/account/security?done=totp-on"); shown || err != nil {
			return err
		}
		return done("totp-on")

	case "totp/disable":
		if !hasTOTP {
			return done("totp-off")
		}
		if b, err := blocked(); b || err != nil {
			return err
		}
		h.render(w, r, http.StatusOK, "code.html", p)
		return nil

	case "totp/disable-confirm":
		if !hasTOTP {
			return done("totp-off")
		}
		res, err := h.checkCode(ctx, u, factorTOTP, "", "", r.PostForm.Get("code"), true, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			return failed(res, "code.html")
		}
		if err := h.Store.DeleteTOTP(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete totp: %w", err)
		}
		h.factorChanged(r, u, factorTOTP, false)
		if err := h.dropRecoveryCodes(ctx, u); err != nil {
			return err
		}
		return done("totp-off")

	case "recovery/regenerate", "recovery/regenerate-resend":
		if !hasTOTP && !hasEmail {
			return h.codesKeyCheck(w, r, u) // keys only: a key confirms
		}
		if b, err := blocked(); b || err != nil {
			return err
		}
		p.Hidden["method"] = factorTOTP
		status := http.StatusOK
		if !hasTOTP {
			p.Hidden["method"] = factorEmail
			p.ResendAction = "/account/security/recovery/regenerate-resend"
			res, err := h.sendCode(ctx, u, purposeRegenerate, sess.ID, op == "regenerate-resend", ip)
			if err != nil {
				return err
			}
			res.show(p)
			status = res.status()
		}
		h.render(w, r, status, "code.html", p)
		return nil

	case "recovery/regenerate-confirm":
		if !hasTOTP && !hasEmail {
			return done("totp-off")
		}
		factor := factorTOTP
		if !hasTOTP {
			factor = factorEmail
		}
		p.Hidden["method"] = factor
		res, err := h.checkCode(ctx, u, factor, purposeRegenerate, sess.ID, r.PostForm.Get("code"), true, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			return failed(res, "code.html")
		}
		codes, err := h.issueRecoveryCodes(ctx, u)
		if err != nil {
			return err
		}
		h.notify(ctx, u, "New recovery codes", "New recovery codes were created for your Gatehouse account; the old ones no longer work.\n\nIf this was not you, change your password and contact your administrator.\n")
		h.renderRecoveryCodes(w, r, codes, "/account/security?done=codes")
		return nil
	}
	return userError(http.StatusNotFound, "Not found", "There is no such page.")
}
