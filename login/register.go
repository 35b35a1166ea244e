package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Registration: GET/POST /register creates an account whose address is
// not confirmed, and emails a link to /register/confirm; until it is
// opened, signing in fails like a wrong password. Registering an address
// that already has an account shows the same page and emails its owner a
// warning instead, so the form tells nobody which addresses have accounts.

const (
	msgRegistrationClosed = "Accounts are created by an administrator here. Ask yours for one."
	msgBadEmail           = "Enter a valid email address."
	msgBadName            = "Enter your name (at most 100 characters)."
	msgCheckEmail         = "Check your email to confirm your address. We sent a message to %s; open the link in it within 24 hours to finish creating your account."
	msgConfirmed          = "Your email is confirmed. You can now sign in."
	msgConfirmLinkUsed    = msgLinkUsed + " If your address is not confirmed yet, register again: we will email you what to do."
	maxNameLength         = 100
)

func (h *Handler) registrationClosed() error {
	return userError(http.StatusNotFound, "Registration closed", msgRegistrationClosed)
}

// registerPage is the registration form.
func (h *Handler) registerPage(flow, authRequestID string) *selfPage {
	return h.addressPage("Create an account", "register", flow, authRequestID)
}

// showRegister shows the registration form. A sign-in in progress
// (authRequestID) is kept, so that the confirmation can lead back to it.
func (h *Handler) showRegister(w http.ResponseWriter, r *http.Request) error {
	if !h.Registration {
		return h.registrationClosed()
	}
	return h.showAddressForm(w, r, "register.html", h.registerPage)
}

// submitRegister creates the account, or warns the owner of an existing
// one, and answers the same either way.
func (h *Handler) submitRegister(w http.ResponseWriter, r *http.Request) error {
	if !h.Registration {
		return h.registrationClosed()
	}
	st, err := h.addressForm(r, "register")
	if err != nil {
		return err
	}
	r, ip, ctx, id, email := st.r, st.ip, st.r.Context(), st.id, st.email
	name := strings.TrimSpace(r.PostForm.Get("name"))
	secret, again := r.PostForm.Get("password"), r.PostForm.Get("password2")
	p := h.registerPage(st.flow, id)
	p.Email, p.Name = email, name
	fail := func(status int, field, msg string) error {
		p.Error, p.Field = msg, field
		h.render(w, r, status, "register.html", p)
		return nil
	}

	blocked := func(until time.Time) error {
		return fail(http.StatusTooManyRequests, "", h.blockedMessage(ctx, until))
	}
	if until, err := h.RegLimiter.Blocked(ctx, ip, ""); err != nil {
		return err
	} else if !until.IsZero() {
		return blocked(until)
	}
	switch {
	case !validEmail(email):
		return fail(http.StatusBadRequest, "email", msgBadEmail)
	case name == "" || utf8.RuneCountInString(name) > maxNameLength || !PlainText(name):
		return fail(http.StatusBadRequest, "name", msgBadName)
	case secret != again:
		return fail(http.StatusBadRequest, "password2", msgPasswordsDiffer)
	}
	if err := h.Passwords.Check(secret, email, name); err != nil {
		return fail(http.StatusBadRequest, "password", err.Error())
	}

	// Every registration counts against the client IP and the address,
	// whether the address has an account or not. Hash first on both paths
	// (sent or not): they take the same time.
	hash := h.Passwords.Hash(secret)
	return h.sendCounted(w, r, h.RegLimiter, ip, email, "registration email not sent: too many for this address", msgCheckEmail,
		func() error { return h.register(ctx, email, name, hash, id) }, blocked)
}

// validEmail reports whether s, normalised, is a plain email address.
func validEmail(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return false
	}
	a, err := netmail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// register creates an unconfirmed account for email and emails the
// confirmation link, or warns the owner if the address has an account.
func (h *Handler) register(ctx context.Context, email, name, hash, authRequestID string) error {
	u, err := h.Store.UserByEmail(ctx, email)
	if err == nil {
		return h.registerExisting(ctx, u, authRequestID)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("load user: %w", err)
	}
	now := h.Now()
	u = &storage.User{ID: newUserID(), Email: email, Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := h.Store.CreateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
		// A parallel registration of the same address won.
		existing, err := h.Store.UserByEmail(ctx, email)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		return h.registerExisting(ctx, existing, authRequestID)
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	token, err := h.issueToken(ctx, u.ID, purposeConfirmEmail, authRequestID, now.Add(confirmTTL))
	if err != nil {
		return err
	}
	h.event(ctx, storage.EventUserRegistered, u.ID, "", "")
	h.mailLater(ctx, u, "confirm-email", i18n.T(langOf(ctx), "Confirm your email address for Gatehouse"),
		i18n.Tf(langOf(ctx), "Hello %s,\n\nTo finish creating your Gatehouse account, confirm your email address with this link (it works once, for 24 hours):\n\n%s\n\nIf you did not create an account, ignore this email: without confirmation the account cannot be used.\n",
			u.Name, h.link("/register/confirm", token)), nil)
	return nil
}

// registerExisting answers a registration of an address that has an
// account: its owner is warned. An account whose address was never
// confirmed cannot be taken over by confirming it with the password someone
// else chose (pre-hijacking): its owner gets a password reset link
// instead, which confirms the address with a password of their choosing.
func (h *Handler) registerExisting(ctx context.Context, u *storage.User, authRequestID string) error {
	h.event(ctx, storage.EventRegisterExisting, u.ID, "", "")
	lang := langOf(ctx)
	text := i18n.T(lang, "Someone tried to create a Gatehouse account with your email address, which already has one. Nothing was changed.\n\n"+
		"If it was you, sign in with your password; if you forgot it, use \"Forgot password?\" on the sign-in page.\n"+
		"If it was not you, you can ignore this email.\n")
	var then func(context.Context, error) error
	if !u.EmailVerified && !u.Disabled {
		token, after, err := h.newResetToken(ctx, u, authRequestID)
		if err != nil {
			return err
		}
		then = after
		text = i18n.Tf(lang, "Someone tried to create a Gatehouse account with your email address. An account with this address exists, but the address was never confirmed.\n\n"+
			"If you want this account, choose its password with this link, which also confirms your address (it works once, for 30 minutes):\n\n"+
			"%s\n\n"+
			"If it was not you, ignore this email: the account cannot be used until its address is confirmed.\n", h.link("/recover/reset", token))
	}
	h.mailLater(ctx, u, "register-existing", i18n.T(lang, "Someone tried to register with your address"), text, then)
	return nil
}

// confirmLink is the link that confirms a new account's address: its page
// asks to confirm, and the button does.
var confirmLink = emailedLink{path: "/register/confirm", csrf: "confirm", purpose: purposeConfirmEmail, used: msgConfirmLinkUsed,
	title: "Confirm your email", button: "Confirm my email",
	message: "Confirm your email address to finish creating your account."}

// confirmEmail confirms the address of the confirmation link's token t,
// which the link's form has used up.
func (h *Handler) confirmEmail(w http.ResponseWriter, r *http.Request, t *storage.ActionToken) error {
	ctx := r.Context()
	if err := h.Store.SetEmailVerified(ctx, t.UserID, h.Now()); errors.Is(err, storage.ErrNotFound) {
		return confirmLink.expired()
	} else if err != nil {
		return fmt.Errorf("confirm email: %w", err)
	}
	if err := h.Store.DeleteActionTokens(ctx, t.UserID, purposeConfirmEmail); err != nil {
		return fmt.Errorf("delete confirmation tokens: %w", err)
	}
	h.event(ctx, storage.EventEmailConfirmed, t.UserID, "", "registration")
	p := &selfPage{page: page{Title: "Email confirmed", Info: msgConfirmed}}
	if err := h.continueLink(ctx, p, t.Data); err != nil {
		return err
	}
	return h.notice(w, r, http.StatusOK, p)
}
