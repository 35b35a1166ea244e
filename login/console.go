package login

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file is what the admin console (cmd/gatehouse/internal/console)
// needs of the login, which owns sessions: the signed-in user, whether
// they have a second factor, the re-authentication page and the language.

// SessionUser returns the browser's live session and its user, or nils
// when the browser is not signed in (no session, an unknown user or a
// disabled one); the error is a store's.
func (h *Handler) SessionUser(r *http.Request) (*storage.Session, *storage.User, error) {
	sess, u, err := h.signedIn(r)
	if _, ok := errors.AsType[*pageError](err); ok {
		return nil, nil, nil
	}
	return sess, u, err
}

// HasSecondFactor reports whether u has a second factor: an authenticator
// app, email codes or a security key.
func (h *Handler) HasSecondFactor(ctx context.Context, u *storage.User) (bool, error) {
	f, err := h.enrolled(ctx, u)
	return f.any(), err
}

// ReauthURL is the re-authentication page (password, then the second
// factor) that returns to back, a path of /account or /admin.
func ReauthURL(back string) string { return reauthURL(back) }

// Lang returns the language of r's pages: the switcher's choice, then
// Accept-Language.
func (h *Handler) Lang(r *http.Request) i18n.Lang { return langOf(h.withLang(r).Context()) }

// WritePage executes t with data into a buffer first, so that a template
// failure never sends half a page, and then sends it as HTML with status.
func WritePage(w http.ResponseWriter, status int, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// InvitationTTL is how long the link of an invitation works.
const InvitationTTL = 72 * time.Hour

// SendInvitation emails u a link to choose a password (the password reset
// page), which works once, for InvitationTTL; older links stop working.
// It returns once the message is handed over, or the error.
func (h *Handler) SendInvitation(ctx context.Context, u *storage.User) error {
	if err := h.Store.DeleteActionTokens(ctx, u.ID, purposeResetPassword); err != nil {
		return fmt.Errorf("delete reset tokens: %w", err)
	}
	token, err := h.issueToken(ctx, u.ID, purposeResetPassword, "", h.Now().Add(InvitationTTL))
	if err != nil {
		return err
	}
	lang := langOf(ctx)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return h.Mailer.Send(sctx, mail.Message{
		To:      u.Email,
		Subject: i18n.T(lang, "Your Gatehouse account"),
		Text: i18n.Tf(lang, "An administrator gave you a Gatehouse account, or asked that you choose a new password.\n\n"+
			"To choose your password, open this link (it works once, for 3 days):\n\n%s\n", h.link("/recover/reset", token)),
		Lang: string(lang),
	})
}
