package login

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// keyName is the cleaned name of a new key, "Security key" in lang when
// none is given.
func keyName(lang i18n.Lang, s string) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = i18n.T(lang, "Security key")
	}
	return s, utf8.RuneCountInString(s) <= 64 && utf8.ValidString(s)
}

// beginRegister starts adding a key. A signed-in session is enough; when
// the user already has a second factor the session must have used one
// (amr "mfa"), so a password alone never adds a key to such an account.
// An account with maxKeys keys adds none.
func (h *Handler) beginRegister(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, status, reply, err := h.accountJSON(r, "/account/security")
	if st == nil {
		return status, reply, err
	}
	ctx, sess, u := st.r.Context(), st.sess, st.u
	name, ok := keyName(langOf(ctx), st.req.Name)
	if !ok {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNameLength}, nil
	}
	f, err := h.enrolled(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	if f.any() && !slices.Contains(sess.AMR, "mfa") {
		return http.StatusForbidden, &jsonReply{Error: msgKeyNeedMFA}, nil
	}
	if len(ku.keys) >= maxKeys {
		return http.StatusConflict, &jsonReply{Error: msgKeyLimit}, nil
	}
	creation, sd, err := h.WebAuthn.BeginRegistration(ku,
		webauthn.WithExclusions(webauthn.Credentials(ku.WebAuthnCredentials()).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}))
	if err != nil {
		return 0, nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	return h.ceremonyBegun(ctx, &ceremony{Kind: ceremonyRegister, Binding: sess.ID, UserID: u.ID, Name: name, Session: *sd}, creation.Response)
}

// finishRegister checks the attestation and stores the new key. A session
// that has not used a second factor stores it only as the user's first
// factor, as beginRegister allows, checked again at the store.
func (h *Handler) finishRegister(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, status, reply, err := h.accountJSON(r, "/account/security")
	if st == nil {
		return status, reply, err
	}
	ctx, req, sess, u := st.r.Context(), st.req, st.sess, st.u
	c, err := h.takeCeremony(ctx, req.Ceremony, ceremonyRegister, sess.ID)
	if err != nil {
		return 0, nil, err
	}
	if c == nil || c.UserID != u.ID {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyExpired}, nil
	}
	// Begin let a session without a second factor add a key only while the
	// user had none; another key or factor may have come since (ceremonies
	// begun in parallel, another tab), so finish asks again, and the store
	// asks once more with the insert (first), where two finishes at once
	// cannot both pass as the first factor.
	first := !slices.Contains(sess.AMR, "mfa")
	if first {
		f, err := h.enrolled(ctx, u)
		if err != nil {
			return 0, nil, err
		}
		if f.any() {
			return http.StatusForbidden, &jsonReply{Error: msgKeyNeedMFA}, nil
		}
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Credential)
	if err != nil {
		h.event(ctx, storage.EventWebAuthnRegisterFailed, u.ID, "", describeWebAuthnError(err))
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNotAdded}, nil
	}
	cred, err := h.WebAuthn.CreateCredential(ku, c.Session, parsed)
	if err != nil {
		h.event(ctx, storage.EventWebAuthnRegisterFailed, u.ID, "", describeWebAuthnError(err))
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNotAdded}, nil
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	err = h.Store.AddWebAuthnCredential(ctx, &storage.WebAuthnCredential{
		ID:              cred.ID,
		UserID:          u.ID,
		Name:            c.Name,
		PublicKey:       cred.PublicKey,
		SignCount:       cred.Authenticator.SignCount,
		BackupEligible:  cred.Flags.BackupEligible,
		BackupState:     cred.Flags.BackupState,
		Transports:      transports,
		AAGUID:          cred.Authenticator.AAGUID,
		AttestationType: cred.AttestationType,
		CreatedAt:       h.Now(),
	}, maxKeys, first)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return http.StatusConflict, &jsonReply{Error: msgKeyTaken}, nil
	case errors.Is(err, storage.ErrFull) && first:
		// A first factor came meanwhile (the store checks with the
		// insert).
		return http.StatusForbidden, &jsonReply{Error: msgKeyNeedMFA}, nil
	case errors.Is(err, storage.ErrFull):
		// Ceremonies begun below the cap filled it meanwhile (the store
		// counts with the insert).
		return http.StatusConflict, &jsonReply{Error: msgKeyLimit}, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store webauthn credential: %w", err)
	}
	h.event(ctx, storage.EventFactorEnabled, u.ID, "", fmt.Sprintf("%s: %q", factorWebAuthn, c.Name))
	h.notify(ctx, u, "Two-factor authentication changed",
		i18n.Tf(langOf(ctx), "The security key or passkey %q was added to your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n", c.Name))
	// Like the other factors, the first one comes with recovery codes,
	// shown once.
	next, err := h.issueFirstCodesToShow(ctx, u, sess.ID, "/account/security?done=webauthn-on")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: next}, nil
}
