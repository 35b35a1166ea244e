package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// keysView lists u's keys for the security page, with the register
// button; nil while keys are off.
func (h *Handler) keysView(r *http.Request, u *storage.User) (*webauthnView, error) {
	if h.WebAuthn == nil {
		return nil, nil
	}
	keys, err := h.Store.WebAuthnCredentials(r.Context(), u.ID)
	if err != nil {
		return nil, fmt.Errorf("load webauthn credentials: %w", err)
	}
	v := &webauthnView{
		Mode:  ceremonyRegister,
		Begin: "/account/security/webauthn/register/begin", Finish: "/account/security/webauthn/register/finish",
		CSRF: h.sessionCSRF(r),
	}
	for _, k := range keys {
		kv := keyView{
			ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name,
			Created: i18n.FormatTime(langOf(r.Context()), k.CreatedAt),
			Synced:  k.BackupEligible, Flagged: k.CloneWarning,
		}
		if !k.LastUsedAt.IsZero() {
			kv.LastUsed = i18n.FormatTime(langOf(r.Context()), k.LastUsedAt)
		}
		v.Keys = append(v.Keys, kv)
	}
	return v, nil
}

// removePage is the confirmation page of removing key id.
func (h *Handler) removePage(r *http.Request, id string) *page {
	return &page{
		Title:     "Remove a security key",
		CSRF:      h.sessionCSRF(r),
		Action:    "/account/security/webauthn/remove-confirm",
		Hidden:    map[string]string{"id": id},
		ShowForm:  true,
		CancelURL: "/account/security",
	}
}

// removeKey starts removing a key. Like disabling any factor it needs
// proof of a factor: a code of the authenticator app or email when the
// user has one, else (keys are the only factor) a check with one of the
// user's keys, which may be the key being removed.
func (h *Handler) removeKey(w http.ResponseWriter, r *http.Request) error {
	a, err := h.keyRemoval(w, r)
	if a == nil {
		return err
	}
	r, ctx, u, key, p := a.r, a.r.Context(), a.u, a.key, a.page
	if shown, err := h.codeBlocked(w, r, a.ip, u.ID, p); shown || err != nil {
		return err
	}
	status := http.StatusOK
	switch f := a.factors.codeFactor(); {
	case r.PostForm.Get("method") == factorRecovery:
		// The key may be lost: one of the recovery codes confirms too.
		p.Message, p.Recovery = "Enter one of your recovery codes. Each code works once.", true
		p.Hidden["method"] = factorRecovery
	case f == factorTOTP:
		p.Message = i18n.Tf(langOf(ctx), "To remove %q, enter the code your authenticator app shows now, then click Apply.", key.Name)
		p.Hidden["method"] = factorTOTP
	case f == factorEmail:
		p.Message = i18n.Tf(langOf(ctx), "To remove %q, enter the code we emailed you, then click Apply.", key.Name)
		p.Hidden["method"] = factorEmail
		p.ResendAction = "/account/security/webauthn/remove-resend"
		res, err := h.sendCode(ctx, u, purposeRemoveKey, a.sess.ID, r.URL.Path == "/account/security/webauthn/remove-resend", a.ip)
		if err != nil {
			return err
		}
		res.show(p)
		status = res.status()
	default:
		left, err := h.Store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		h.render(w, r, http.StatusOK, "webauthn.html", &page{
			Title:     "Remove a security key",
			Message:   i18n.Tf(langOf(ctx), "To remove %q, confirm with one of your security keys or passkeys.", key.Name),
			CancelURL: "/account/security",
			WebAuthn: &webauthnView{
				Mode: ceremonyRemove, Begin: "/account/security/webauthn/remove/begin",
				Finish: "/account/security/webauthn/remove/finish", CSRF: p.CSRF, KeyID: a.id,
				Recovery: left > 0,
			},
		})
		return nil
	}
	h.render(w, r, status, "code.html", p)
	return nil
}

// purposeRemoveKey is the purpose of emailed codes that remove a key.
const purposeRemoveKey = "remove-webauthn"

// removal is a posted form that removes one of the user's keys.
type removal struct {
	*accountStep
	id      string // the key's id, base64url
	key     *storage.WebAuthnCredential
	factors factorSet // the user's factors
	page    *page     // the confirmation page (removePage)
}

// keyRemoval reads a form that removes one of the signed-in user's keys:
// a sensitive form (sensitiveForm) naming a key of the user's (ownKey).
// It returns nil when it answered the browser.
func (h *Handler) keyRemoval(w http.ResponseWriter, r *http.Request) (*removal, error) {
	a, err := h.sensitiveForm(w, r, "/account/security")
	if a == nil {
		return nil, err
	}
	ctx := a.r.Context()
	id := a.r.PostForm.Get("id")
	key, err := h.ownKey(ctx, a.u, id)
	if err != nil {
		return nil, err
	}
	f, err := h.enrolled(ctx, a.u)
	if err != nil {
		return nil, err
	}
	return &removal{accountStep: a, id: id, key: key, factors: f, page: h.removePage(a.r, id)}, nil
}

// ownKey returns u's key with the base64url id; a not-found page error
// when u has none.
func (h *Handler) ownKey(ctx context.Context, u *storage.User, id string) (*storage.WebAuthnCredential, error) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return nil, userError(http.StatusNotFound, "Not found", "There is no such security key.")
	}
	key, err := h.Store.WebAuthnCredentialByID(ctx, raw)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && key.UserID != u.ID) {
		return nil, userError(http.StatusNotFound, "Not found", "There is no such security key.")
	}
	if err != nil {
		return nil, fmt.Errorf("load webauthn credential: %w", err)
	}
	return key, nil
}

// removeKeyConfirm checks the code and removes the key.
func (h *Handler) removeKeyConfirm(w http.ResponseWriter, r *http.Request) error {
	a, err := h.keyRemoval(w, r)
	if a == nil {
		return err
	}
	factor := a.factors.codeFactor()
	switch {
	case a.r.PostForm.Get("method") == factorRecovery:
		factor = factorRecovery
	case factor == "":
		// Keys are the only factor: the key check confirms instead.
		http.Redirect(w, a.r, "/account/security", http.StatusSeeOther)
		return nil
	}
	r, u, p := a.r, a.u, a.page
	p.Hidden["method"] = factor
	if factor == factorRecovery {
		p.Message, p.Recovery = "Enter one of your recovery codes. Each code works once.", true
	}
	res, err := h.checkCode(r.Context(), u, factor, purposeRemoveKey, a.sess.ID, r.PostForm.Get("code"), true, a.ip)
	if err != nil {
		return err
	}
	if !res.ok {
		p.Error = res.message
		status := http.StatusForbidden // refused to a signed-in user, as in security.go
		if res.blocked {
			status, p.ShowForm = http.StatusTooManyRequests, false
		} else if factor == factorEmail {
			p.ResendAction = "/account/security/webauthn/remove-resend"
		}
		h.render(w, r, status, "code.html", p)
		return nil
	}
	return h.deleteKey(w, r, u, a.key)
}

// deleteKey removes key, records it and tells the user.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, u *storage.User, key *storage.WebAuthnCredential) error {
	ctx := r.Context()
	if err := h.Store.DeleteWebAuthnCredential(ctx, u.ID, key.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete webauthn credential: %w", err)
	}
	if err := h.dropRecoveryCodes(ctx, u); err != nil {
		return err
	}
	h.event(ctx, storage.EventFactorDisabled, u.ID, "", fmt.Sprintf("%s: %q", factorWebAuthn, key.Name))
	h.notify(ctx, u, "Two-factor authentication changed",
		i18n.Tf(langOf(ctx), "The security key or passkey %q was removed from your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n", key.Name))
	if w != nil {
		http.Redirect(w, r, "/account/security?done=webauthn-off", http.StatusSeeOther)
	}
	return nil
}

// beginRemoveCheck starts the key check that confirms removing a key when
// keys are the user's only factor.
func (h *Handler) beginRemoveCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, status, reply, err := h.accountJSON(r, "/account/security")
	if st == nil {
		return status, reply, err
	}
	key, err := h.ownKey(st.r.Context(), st.u, st.req.Key)
	if err != nil {
		return 0, nil, err
	}
	return h.beginAccountCheck(st.r.Context(), st, &ceremony{Kind: ceremonyRemove, KeyID: key.ID})
}

// finishRemoveCheck checks the key and removes the key named at begin.
func (h *Handler) finishRemoveCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	chk, status, reply, err := h.finishAccountCheck(r, ceremonyRemove, "/account/security")
	if chk == nil {
		return status, reply, err
	}
	if key := chk.ku.key(chk.c.KeyID); key != nil {
		if err := h.deleteKey(nil, chk.r, chk.ku.u, key); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, &jsonReply{Redirect: "/account/security?done=webauthn-off"}, nil
}

// beginAccountCheck starts a check with one of the signed-in user's keys
// that confirms the account change c describes (its kind, and what it
// changes), under the attempt limits of every code.
func (h *Handler) beginAccountCheck(ctx context.Context, st *jsonStep, c *ceremony) (int, *jsonReply, error) {
	c.Binding = st.sess.ID
	return h.beginKeyCheck(ctx, st.ip, st.u, c)
}

// accountCheck is a passed key check of an account change.
type accountCheck struct {
	*jsonStep           // the request
	ku        *keyUser  // the user and their keys
	c         *ceremony // as begun
}

// finishAccountCheck checks the assertion of an account change of kind;
// with back, one that changes what protects the account, which a session
// that has not authenticated recently is sent to re-authenticate for
// (stepUpJSON), returning to back.
// It returns the passed check, or nil and the answer to give: a failure
// counts like a wrong code.
func (h *Handler) finishAccountCheck(r *http.Request, kind, back string) (*accountCheck, int, *jsonReply, error) {
	st, _, _, err := h.accountJSON(r, "")
	if err != nil {
		return nil, 0, nil, err
	}
	ctx, ip, req, sess, u := st.r.Context(), st.ip, st.req, st.sess, st.u
	failed := func(attempt *lockout.Attempt, reason string) (int, *jsonReply, error) {
		res, err := attempt.Failed(ctx)
		if err != nil {
			return 0, nil, err
		}
		h.factorEvent(ctx, storage.EventCodeFailed, u.ID, "", factorWebAuthn, reason)
		if !res.BlockedUntil.IsZero() {
			return http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, res.BlockedUntil)}, nil
		}
		return http.StatusUnauthorized, &jsonReply{Error: i18n.Tf(langOf(ctx), msgKeyFailed, res.Remaining)}, nil
	}
	kc, status, reply, err := h.finishKeyCheck(ctx, ip, u, req.Ceremony, kind, sess.ID, req.Credential, "", failed, nil)
	if kc == nil {
		return nil, status, reply, err
	}
	if back != "" {
		if status, reply := h.stepUpJSON(sess, back); reply != nil {
			return nil, status, reply, nil
		}
	}
	return &accountCheck{jsonStep: st, ku: kc.ku, c: kc.c}, 0, nil, nil
}
