package login

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// keyStepURL is the page of the key step of auth request id.
func keyStepURL(id string) string { return "/login/webauthn?authRequestID=" + url.QueryEscape(id) }

// showKeyStep is the second-factor page with the security-key button.
func (h *Handler) showKeyStep(w http.ResponseWriter, r *http.Request) error {
	sr, err := h.openStep(w, r, onShowKey)
	if sr == nil {
		return err
	}
	ar := sr.ar
	v := &webauthnView{
		Mode: ceremonySecond, Begin: "/login/webauthn/begin", Finish: "/login/webauthn/finish",
		CSRF: h.csrfToken("login", sr.flow), AuthRequestID: ar.ID,
	}
	if sr.s.Factors.TOTP || sr.s.Factors.Email {
		v.CodeURL = "/login/otp?authRequestID=" + url.QueryEscape(ar.ID)
	}
	if !sr.s.Policy.KeyRequired {
		// A lost key: a recovery code stands in, under the same limits.
		v.RecoveryURL = "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar.ID)
	}
	h.render(w, sr.r, http.StatusOK, "webauthn.html", &page{
		Title:         "Two-factor authentication",
		Message:       "Use your security key or passkey to finish signing in.",
		AuthRequestID: ar.ID,
		CancelURL:     "/login?authRequestID=" + url.QueryEscape(ar.ID),
		WebAuthn:      v,
	})
	return nil
}

// keyStepView is the link from the code page of ar to the key step, or
// nil when the pending user has no key.
func keyStepView(ar *storage.AuthRequest, hasKeys bool) *webauthnView {
	if ar.UserID == "" || !hasKeys {
		return nil
	}
	return &webauthnView{StepURL: keyStepURL(ar.ID)}
}

// beginKeyStep starts the second-factor ceremony with the user's keys.
func (h *Handler) beginKeyStep(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, err := h.signInJSON(w, r, true)
	if err != nil {
		return 0, nil, err
	}
	return h.beginKeyCheck(st.r.Context(), st.ip, st.u, &ceremony{Kind: ceremonySecond, Binding: st.ar.ID})
}

// finishKeyStep checks the assertion of the second factor and completes
// the sign-in.
func (h *Handler) finishKeyStep(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, err := h.signInJSON(w, r, true)
	if err != nil {
		return 0, nil, err
	}
	r, ip, ctx, req, ar, u := st.r, st.ip, st.r.Context(), st.req, st.ar, st.u
	failed := func(attempt *lockout.Attempt, reason string) (int, *jsonReply, error) {
		return h.keyAttemptFailed(ctx, attempt, ar, u, ip, reason)
	}
	refused := func() {
		h.factorEvent(ctx, storage.EventSigninFailed, u.ID, ar.ClientID, factorWebAuthn, "refused key")
	}
	kc, status, reply, err := h.finishKeyCheck(ctx, ip, u, req.Ceremony, ceremonySecond, ar.ID, req.Credential, ar.ClientID, failed, refused)
	if kc == nil {
		return status, reply, err
	}
	amr := []string{"pwd", keyAMR(kc.cred, kc.parsed.AuthenticatorAttachment), "mfa"}
	if err := h.signInDone(w, r, ar, u, amr, factorWebAuthn); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: h.Callback(ctx, ar.ID)}, nil
}
