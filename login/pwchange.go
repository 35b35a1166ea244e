package login

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Password change: GET/POST /account/password, for a signed-in user. It
// takes the current password (under the password limiter) and, when the
// user has a second factor, a code from it (under the code limiter): the
// authenticator app if enabled, else an emailed code that "Send me a code"
// (POST /account/password/code) sends for this session. Afterwards the
// user's other sessions end, their tokens are revoked and a security email
// goes out; the browser's own session goes on under a new id.

const (
	msgWrongCurrent   = "Your current password is not correct."
	msgPasswordChange = "Your password was changed. You were signed out everywhere else."
)

// passwordPage is the password-change form for u.
func (h *Handler) passwordPage(r *http.Request, u *storage.User) (*selfPage, error) {
	return h.factorPage(r, u, h.passwordFactor, page{Title: "Change your password"})
}

// passwordFactor is the code a password change of u asks for besides the
// current password: "totp", "email" or "" (never a security key).
func (h *Handler) passwordFactor(ctx context.Context, u *storage.User) (string, error) {
	f, err := h.enrolled(ctx, u)
	if err != nil {
		return "", err
	}
	return f.codeFactor(), nil
}

// showPasswordChange shows the password-change form.
func (h *Handler) showPasswordChange(w http.ResponseWriter, r *http.Request) error {
	return h.showAccountPage(w, r, "password.html", h.passwordPage)
}

// sendPasswordCode emails the code a password change of a user with email
// codes (and no authenticator app) asks for.
func (h *Handler) sendPasswordCode(w http.ResponseWriter, r *http.Request) error {
	return h.sendAccountCode(w, r, purposeChangePassword, "password.html", h.passwordPage,
		func(*selfPage) string { return "/account/password" })
}

// changePassword checks the current password and the second factor, then
// sets the new password.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	a, err := h.postedAccount(r)
	if err != nil {
		return err
	}
	r, ip, sess, u := a.r, a.ip, a.sess, a.u
	ctx := r.Context()
	p, err := h.passwordPage(r, u)
	if err != nil {
		return err
	}
	fail := func(status int, field, msg string) error {
		p.Error, p.Field = msg, field
		h.render(w, r, status, "password.html", p)
		return nil
	}
	current := r.PostForm.Get("current")
	secret, again := r.PostForm.Get("password"), r.PostForm.Get("password2")

	if secret != again {
		return fail(http.StatusBadRequest, "password2", msgPasswordsDiffer)
	}
	if err := h.Passwords.Check(secret, u.Email, u.Name); err != nil {
		return fail(http.StatusBadRequest, "password", err.Error())
	}

	// The current password, under the sign-in's password limiter.
	if status, msg, err := h.checkPassword(w, r, ip, u, current); err != nil {
		return err
	} else if status != 0 {
		field := ""
		if status == http.StatusUnauthorized {
			msg, field = msgWrongCurrent, "current"
		}
		if status != http.StatusServiceUnavailable {
			h.event(ctx, storage.EventPasswordChangeFailed, u.ID, "", "current password")
		}
		return fail(status, field, msg)
	}

	// The second factor, under the code limiter. A user whose only second
	// factor is keys confirms with a key: the change needs a recent
	// re-authentication, which asks for one (stepup.go).
	if p.Factor == "" {
		hasKeys, err := h.hasKeys(ctx, u.ID)
		if err != nil {
			return err
		}
		if hasKeys && h.stepUp(w, r, sess, "/account/password") {
			return nil
		}
	}
	if p.Factor != "" {
		res, err := h.checkCode(ctx, u, p.Factor, purposeChangePassword, sess.ID, r.PostForm.Get("code"), true, ip)
		if err != nil {
			return err
		}
		if !res.ok {
			h.event(ctx, storage.EventPasswordChangeFailed, u.ID, "", p.Factor)
			status, field := http.StatusUnauthorized, "code"
			if res.blocked {
				status, field = http.StatusTooManyRequests, ""
			}
			return fail(status, field, res.message)
		}
	}

	// The browser keeps its session, under a new id: whoever held the
	// old one (a stolen or fixed cookie) is signed out with the other
	// sessions.
	if r, err = h.rotateSession(w, r, sess, false); err != nil {
		return err
	}
	now := h.Now()
	if err := h.Store.SetPasswordHash(ctx, u.ID, h.Passwords.Hash(secret), now); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	n, err := h.endOldPassword(ctx, u.ID, sess.ID, now)
	if err != nil {
		return err
	}
	h.event(ctx, storage.EventPasswordChanged, u.ID, "", fmt.Sprintf("%d other sessions ended, tokens revoked", n))
	h.notify(ctx, u, "Your Gatehouse password was changed",
		"The password of your Gatehouse account was changed from the account page. Your other sessions were signed out, and applications must sign in again.\n\n"+
			"If this was not you, reset your password with \"Forgot password?\" on the sign-in page and tell your administrator.\n")
	return h.notice(w, r, http.StatusOK, &selfPage{
		page:     page{Title: "Password changed", Info: msgPasswordChange},
		LinkURL:  "/account",
		LinkText: "Back to your account",
	})
}
