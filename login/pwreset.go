package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Password recovery: GET/POST /recover emails a single-use link to
// /recover/reset, valid 30 minutes, and answers the same whether or not the
// address has an account. Setting the new password ends every session and
// revokes every token of the account; the second factor is left as it is,
// so the next sign-in still asks for it.

const (
	msgRecoverSent = "If an account exists for %s, we sent a link to it to choose a new password. The link works once, for 30 minutes."
	msgResetDone   = "Your password was changed. Sign in with it now."
	msgResetUsed   = msgLinkUsed + " Ask for a new one with \"Forgot password?\" on the sign-in page."
	msgEnterEmail  = "Enter your email address."
)

// recoverPage is the form that asks for the address.
func (h *Handler) recoverPage(flow, authRequestID string) *selfPage {
	return h.addressPage("Forgot your password?", "recover", flow, authRequestID)
}

// showRecover shows the form that asks for the address.
func (h *Handler) showRecover(w http.ResponseWriter, r *http.Request) error {
	return h.showAddressForm(w, r, "forgot.html", h.recoverPage)
}

// submitRecover emails a reset link if the address has an account, under
// limits per client IP and per address, and answers the same either way.
func (h *Handler) submitRecover(w http.ResponseWriter, r *http.Request) error {
	st, err := h.addressForm(r, "recover")
	if err != nil {
		return err
	}
	r, ip, ctx, id, email := st.r, st.ip, st.r.Context(), st.id, st.email
	p := h.recoverPage(st.flow, id)
	p.Email = email
	blocked := func(until time.Time) error {
		p.Error = h.blockedMessage(ctx, until)
		h.render(w, r, http.StatusTooManyRequests, "forgot.html", p)
		return nil
	}
	if until, err := h.RecoverLimiter.Blocked(ctx, ip, ""); err != nil {
		return err
	} else if !until.IsZero() {
		return blocked(until)
	}
	if email == "" || len(email) > 320 {
		p.Error, p.Field = msgEnterEmail, "email"
		h.render(w, r, http.StatusBadRequest, "forgot.html", p)
		return nil
	}
	return h.sendCounted(w, r, h.RecoverLimiter, ip, email, "recovery email not sent: too many for this address", msgRecoverSent,
		func() error { return h.sendReset(ctx, email, id) }, blocked)
}

// sendReset emails a reset link to the account of email, if there is one
// that is not disabled.
func (h *Handler) sendReset(ctx context.Context, email, authRequestID string) error {
	u, err := h.Store.UserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		h.event(ctx, storage.EventPasswordResetRequested, "", "", "unknown account")
		return nil
	}
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		h.event(ctx, storage.EventPasswordResetRequested, u.ID, "", "disabled account: nothing sent")
		return nil
	}
	token, then, err := h.newResetToken(ctx, u, authRequestID)
	if err != nil {
		return err
	}
	h.event(ctx, storage.EventPasswordResetRequested, u.ID, "", "")
	h.mailLater(ctx, u, "reset-password", i18n.T(langOf(ctx), "Reset your Gatehouse password"),
		i18n.Tf(langOf(ctx), "Someone, hopefully you, asked to reset the password of your Gatehouse account.\n\n"+
			"To choose a new password, open this link (it works once, for 30 minutes):\n\n"+
			"%s\n\n"+
			"If you did not ask, ignore this email: your password stays as it is.\n", h.link("/recover/reset", token)), then)
	return nil
}

// newResetToken issues a reset token for u, and returns it with what its
// email does once sent or not (mailLater): sent, it retires the user's
// older reset tokens; not sent, it voids itself. The older links keep
// working until the new one is on its way, so that an email that is not
// sent leaves the last link that was sent working.
func (h *Handler) newResetToken(ctx context.Context, u *storage.User, authRequestID string) (string, func(context.Context, error) error, error) {
	token, t, err := h.issueActionToken(ctx, u.ID, purposeResetPassword, authRequestID, h.Now().Add(resetTTL))
	if err != nil {
		return "", nil, err
	}
	return token, func(ctx context.Context, sendErr error) error {
		if sendErr == nil {
			return h.Store.SupersedeActionTokens(ctx, t)
		}
		if _, err := h.Store.UseActionToken(ctx, t.Hash, t.Purpose, h.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("void the unsent reset token: %w", err)
		}
		return nil
	}, nil
}

func (h *Handler) resetPage(flow, token string) *selfPage {
	return &selfPage{page: page{Title: "Choose a new password", CSRF: h.csrfToken("reset", flow)}, Token: token}
}

// showReset is the page the reset link opens: the new-password form, which
// carries the token to the POST. Opening it does not use the link up.
func (h *Handler) showReset(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if !validToken(token) {
		return userError(http.StatusBadRequest, "Link not valid", msgResetUsed)
	}
	h.render(w, r, http.StatusOK, "reset.html", h.resetPage(h.flowValue(w, r), token))
	return nil
}

// submitReset consumes the token and sets the new password.
func (h *Handler) submitReset(w http.ResponseWriter, r *http.Request) error {
	st, err := h.selfForm(r, "reset")
	if err != nil {
		return err
	}
	r, ctx := st.r, st.r.Context()
	token := r.PostForm.Get("token")
	secret, again := r.PostForm.Get("password"), r.PostForm.Get("password2")
	p := h.resetPage(st.flow, token)
	fail := func(field, msg string) error {
		p.Error, p.Field = msg, field
		h.render(w, r, http.StatusBadRequest, "reset.html", p)
		return nil
	}
	if !validToken(token) {
		return userError(http.StatusBadRequest, "Link not valid", msgResetUsed)
	}
	// What can be checked without the account is checked before the
	// link is used up.
	if secret != again {
		return fail("password2", msgPasswordsDiffer)
	}
	if err := h.Passwords.Check(secret, "", ""); err != nil {
		return fail("password", err.Error())
	}

	t, err := h.useToken(ctx, token, purposeResetPassword, msgResetUsed)
	if err != nil {
		return err
	}
	u, err := h.Store.UserByID(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return userError(http.StatusBadRequest, "Link expired", msgResetUsed)
	}
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if err := h.Passwords.Check(secret, u.Email, u.Name); err != nil {
		// The password is the account's own address or name. The link is
		// used up: the form goes on with a new one that expires with it.
		next, err2 := h.issueToken(ctx, u.ID, purposeResetPassword, t.Data, t.ExpiresAt)
		if err2 != nil {
			return err2
		}
		p.Token = next
		return fail("password", err.Error())
	}

	now := h.Now()
	if err := h.Store.SetPasswordHash(ctx, u.ID, h.Passwords.Hash(secret), now); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	// The link proved the address: an account never confirmed is now.
	if !u.EmailVerified {
		if err := h.Store.SetEmailVerified(ctx, u.ID, now); err != nil {
			return fmt.Errorf("confirm email: %w", err)
		}
		if err := h.Store.DeleteActionTokens(ctx, u.ID, purposeConfirmEmail); err != nil {
			return fmt.Errorf("delete confirmation tokens: %w", err)
		}
	}
	n, err := h.endOldPassword(ctx, u.ID, "", now)
	if err != nil {
		return err
	}
	h.ClearSession(w)
	h.event(ctx, storage.EventPasswordReset, u.ID, "", fmt.Sprintf("by an emailed link; %d sessions ended, tokens revoked", n))
	h.notify(ctx, u, "Your Gatehouse password was changed",
		"The password of your Gatehouse account was reset with a link sent to this address. Every session was signed out, and applications must sign in again.\n\n"+
			"If this was not you, reset your password again with \"Forgot password?\" on the sign-in page and tell your administrator.\n")
	p = &selfPage{page: page{Title: "Password changed", Info: msgResetDone}}
	if err := h.continueLink(ctx, p, t.Data); err != nil {
		return err
	}
	return h.notice(w, r, http.StatusOK, p)
}

// endOldPassword ends what the user userID's old password let in, once the
// new one is set: the sign-ins in progress past the password step
// (EndPendingSignIns), every session but keep ("" for none), every token,
// earlier reset links, and email changes not yet confirmed, which a
// session that just ended (perhaps an intruder's) may have asked for. It
// returns the number of sessions ended.
func (h *Handler) endOldPassword(ctx context.Context, userID, keep string, now time.Time) (int, error) {
	for _, purpose := range []string{purposeResetPassword, purposeChangeEmail} {
		if err := h.Store.DeleteActionTokens(ctx, userID, purpose); err != nil {
			return 0, fmt.Errorf("delete %s tokens: %w", purpose, err)
		}
	}
	if err := h.Store.EndPendingSignIns(ctx, userID); err != nil {
		return 0, fmt.Errorf("end pending sign-ins: %w", err)
	}
	n, err := h.Store.EndUserSessions(ctx, userID, keep, now)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	if err := h.Store.RevokeUserTokens(ctx, userID, now); err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	return n, nil
}
