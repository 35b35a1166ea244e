package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// beginPasskey starts a passwordless sign-in with a discoverable
// credential; the user must be verified (PIN, biometrics).
func (h *Handler) beginPasskey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, err := h.signInJSON(w, r, false)
	if err != nil {
		return 0, nil, err
	}
	ctx := st.r.Context()
	if reply, err := h.keyBlocked(ctx, st.ip, ""); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	assertion, sd, err := h.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return 0, nil, fmt.Errorf("begin passkey login: %w", err)
	}
	return h.ceremonyBegun(ctx, &ceremony{Kind: ceremonyPasskey, Binding: st.ar.ID, Session: *sd}, assertion.Response)
}

// finishPasskey checks a passkey's assertion and completes the sign-in. A
// verified passkey is two factors in one (possession and the PIN or
// biometrics that unlocked it), so it counts as MFA.
func (h *Handler) finishPasskey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, err := h.signInJSON(w, r, false)
	if err != nil {
		return 0, nil, err
	}
	r, ip, ctx, req, ar := st.r, st.ip, st.r.Context(), st.req, st.ar
	if reply, err := h.keyBlocked(ctx, ip, ""); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	c, err := h.takeCeremony(ctx, req.Ceremony, ceremonyPasskey, ar.ID)
	if err != nil {
		return 0, nil, err
	}
	if c == nil {
		return h.keyFailed(ctx, ar, nil, ip, "no such challenge (expired or used)")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return h.keyFailed(ctx, ar, nil, ip, "bad assertion: "+describeWebAuthnError(err))
	}
	var ku *keyUser
	var lookupErr error
	find := func(rawID, userHandle []byte) (webauthn.User, error) {
		u, err := h.Store.UserByWebAuthnHandle(ctx, userHandle)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		ku, err = h.keyUserOf(ctx, u)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return ku, nil
	}
	_, cred, err := h.WebAuthn.ValidatePasskeyLogin(find, c.Session, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, storage.ErrNotFound) {
		return 0, nil, lookupErr
	}
	var u *storage.User
	if ku != nil {
		u = ku.u
	}
	if err != nil {
		return h.keyFailed(ctx, ar, u, ip, describeWebAuthnError(err))
	}
	if u.Disabled || !u.EmailVerified {
		return h.keyFailed(ctx, ar, u, ip, "account disabled or not confirmed")
	}
	if reply, err := h.keyBlocked(ctx, ip, u.ID); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	if ok, err := h.recordUse(ctx, ku, cred, ar.ClientID); err != nil {
		return 0, nil, err
	} else if !ok {
		h.factorEvent(ctx, storage.EventSigninFailed, u.ID, ar.ClientID, "passkey", "refused key")
		return http.StatusUnauthorized, &jsonReply{Error: msgKeyRefused}, nil
	}
	if err := h.OTPLimiter.Succeed(ctx, ip, u.ID); err != nil {
		return 0, nil, err
	}
	if err := h.signInDone(w, r, ar, u, []string{keyAMR(cred, parsed.AuthenticatorAttachment), "mfa"}, "passkey"); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: h.Callback(ctx, ar.ID)}, nil
}

// passkeyView is the "Sign in with a passkey" button of the sign-in page,
// or nil while keys are off.
func (h *Handler) passkeyView(authRequestID, flow string) *webauthnView {
	if h.WebAuthn == nil {
		return nil
	}
	return &webauthnView{
		Mode: ceremonyPasskey, Begin: "/login/passkey/begin", Finish: "/login/passkey/finish",
		CSRF: h.csrfToken("login", flow), AuthRequestID: authRequestID,
	}
}
