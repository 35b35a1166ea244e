package login

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Consent. A third-party client (storage.Client.Consent) gets its
// authorization response only after the user has allowed it the scopes it
// asks for. The sign-in steps end as for any client, with the auth request
// done and the browser sent to the provider's callback; CallbackGuard then
// asks consentGate, which lets the response out only when the request was
// consented on the consent page or a remembered grant covers its scopes
// (never with prompt=consent). Otherwise the browser goes to the consent
// page, or, with prompt=none, the client gets consent_required. The page
// and its answer are bound to the browser's flow cookie like every other
// step, and Allow and Deny are CSRF-protected forms. Allow remembers the
// grant (user, client, scopes), which the account page lists and revokes.

// ConsentPath is the consent page.
const ConsentPath = "/login/consent"

// consentView is the consent page's part of a page.
type consentView struct {
	Scopes []string // what the application asks for, in words
}

// grantView is one application on the account page.
type grantView struct {
	ClientID string
	Name     string
	Scopes   string // in words
	Time     time.Time
}

// consentGate decides, for the done auth request ar at the callback,
// whether the authorization response may be issued (nextStep at
// onCallback). When it may not, it answers the browser (the consent page,
// or consent_required to the client) and returns true.
func (h *Handler) consentGate(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest) (bool, error) {
	c, err := h.consentState(r, ar)
	if err != nil {
		return false, err
	}
	switch nextStep(signIn{On: onCallback, Policy: policyOf(ar, false), Consent: c}).Step {
	case stepError:
		r, _ = h.withIP(r)
		h.event(r.Context(), storage.EventConsentRequired, ar.UserID, ar.ClientID, "prompt=none")
		h.Fail(w, r, ar.ID, "consent_required", "the user has not allowed this application")
		return true, nil
	case stepConsent:
		http.Redirect(w, r, ConsentPath+"?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
		return true, nil
	}
	return false, nil
}

// consentState loads what decides whether the done auth request ar still
// needs the user's consent: whether its client is a third-party one, the
// request was consented on the page, prompt=consent asks for it, and the
// user's remembered grant covers its scopes.
func (h *Handler) consentState(r *http.Request, ar *storage.AuthRequest) (consentState, error) {
	ctx := r.Context()
	var st consentState
	c, err := h.Store.ClientByID(ctx, ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return st, userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	if err != nil {
		return st, fmt.Errorf("load client: %w", err)
	}
	if st.ThirdParty = c.Consent; !st.ThirdParty {
		return st, nil // nothing else counts
	}
	if st.Consented, err = h.Store.AuthRequestConsented(ctx, ar.ID); err != nil {
		return st, fmt.Errorf("load consent of auth request: %w", err)
	}
	st.PromptConsent = slices.Contains(ar.Prompt, "consent")
	g, err := h.Store.ConsentGrant(ctx, ar.UserID, ar.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return st, fmt.Errorf("load consent grant: %w", err)
	default:
		st.Remembered = true
		for _, s := range ar.Scopes {
			if !slices.Contains(g.Scopes, s) {
				st.Remembered = false
			}
		}
	}
	return st, nil
}

// consentRequest loads the auth request of the consent page: live, bound
// to this browser, and done (the user is signed in), for a client that
// asks for consent.
func (h *Handler) consentRequest(r *http.Request, id string) (*storage.AuthRequest, *storage.Client, string, error) {
	ar, flow, err := h.boundRequest(r, id)
	if err != nil {
		if h.answeredHere(r, id) {
			err = userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		}
		return nil, nil, "", err
	}
	if !ar.Done || ar.UserID == "" {
		return nil, nil, "", userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	if err := h.checkDoneSession(r, ar); err != nil {
		return nil, nil, "", err
	}
	c, err := h.Store.ClientByID(r.Context(), ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, "", userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("load client: %w", err)
	}
	return ar, c, flow, nil
}

// answeredHere reports, for a consent form that boundRequest refused,
// whether the auth request id has had its answer: it is claimed with this
// browser's binding (storage.ClaimedBinding: a code or a denial went to
// this browser), or gone since boundRequest read it (a denial, deleted
// once answered). The sign-in is over then, not another browser's.
func (h *Handler) answeredHere(r *http.Request, id string) bool {
	flow := h.cookieValue(r, flowCookie)
	if flow == "" || id == "" || len(id) > 64 {
		return false
	}
	ar, err := h.Store.AuthRequestByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return true
	}
	return err == nil && subtle.ConstantTimeCompare(ar.BindingHash, storage.ClaimedBinding(bindingHash(flow))) == 1
}

// showConsent is GET /login/consent: the application's name and the
// scopes it asks for, with Allow and Deny.
func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request) error {
	ar, c, flow, err := h.consentRequest(r, r.URL.Query().Get("authRequestID"))
	if err != nil {
		return err
	}
	if !c.Consent {
		http.Redirect(w, r, h.Callback(r.Context(), ar.ID), http.StatusSeeOther)
		return nil
	}
	u, err := h.Store.UserByID(r.Context(), ar.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	lang := langOf(r.Context())
	v := &consentView{}
	for _, s := range ar.Scopes {
		v.Scopes = append(v.Scopes, scopeText(lang, s, c.Name))
	}
	h.render(w, r, http.StatusOK, "consent.html", &page{
		Title:         "Allow access",
		ClientName:    c.Name,
		AuthRequestID: ar.ID,
		CSRF:          h.csrfToken("consent", flow),
		User:          u,
		Consent:       v,
	})
	return nil
}

// submitConsent is POST /login/consent: Allow remembers the grant and
// sends the browser on to the callback; Deny sends access_denied to the
// client.
func (h *Handler) submitConsent(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	ar, c, flow, err := h.consentRequest(r, r.PostForm.Get("authRequestID"))
	if err != nil {
		return err
	}
	if err := h.checkCSRF(r, "consent", flow); err != nil {
		return err
	}
	r, _ = h.withIP(r)
	ctx := r.Context()
	switch r.PostForm.Get("decision") {
	case "allow":
		// The request and the grant in one step: a Deny of the same form,
		// posted at once (another tab, another replica), may have ended
		// the request since it was read, and then nothing is granted and
		// the page says so.
		err := h.Store.ConsentAuthRequest(ctx, ar.ID, ar.UserID, c.ID, ar.Scopes, h.Now())
		if errors.Is(err, storage.ErrNotFound) {
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		}
		if err != nil {
			return fmt.Errorf("consent auth request: %w", err)
		}
		h.event(ctx, storage.EventConsentGranted, ar.UserID, c.ID, strings.Join(ar.Scopes, " "))
		http.Redirect(w, r, h.Callback(ctx, ar.ID), http.StatusSeeOther)
		return nil
	case "deny":
		// The denial is the request's one answer only if it takes the
		// request first: after an Allow finished (the client has its
		// code, or the browser is on its way to get it), or another Deny,
		// the client is told nothing more, and the page says the sign-in
		// is over. Taken, the request can no longer be allowed or give a
		// code.
		switch err := h.Store.DenyAuthRequest(ctx, ar.ID, ar.UserID, bindingHash(flow)); {
		case errors.Is(err, storage.ErrNotFound):
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		case err != nil:
			return fmt.Errorf("deny auth request: %w", err)
		}
		h.event(ctx, storage.EventConsentDenied, ar.UserID, c.ID, strings.Join(ar.Scopes, " "))
		h.Fail(w, r, ar.ID, "access_denied", "the user denied access")
		// The request has had its answer: no code may follow it.
		if err := h.Store.DeleteAuthRequest(ctx, ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.Logger.WarnContext(ctx, "delete denied auth request", "err", err)
		}
		return nil
	default:
		return userError(http.StatusBadRequest, "Request refused", msgForbidden)
	}
}

// scopeText describes scope in lang, as the consent and account pages
// show it; app is the application's name. A scope without a description
// shows as itself.
func scopeText(lang i18n.Lang, scope, app string) string {
	switch scope {
	case "openid":
		return i18n.T(lang, "Sign you in and know who you are")
	case "profile":
		return i18n.T(lang, "Your name")
	case "email":
		return i18n.T(lang, "Your email address")
	case "offline_access":
		return i18n.Tf(lang, "Stay signed in to %s while you are away", app)
	}
	return scope
}

// appGrants lists the applications u has allowed, for the account page.
func (h *Handler) appGrants(r *http.Request, u *storage.User) ([]grantView, error) {
	ctx := r.Context()
	gs, err := h.Store.ConsentGrants(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list consent grants: %w", err)
	}
	lang := langOf(ctx)
	var out []grantView
	for _, g := range gs {
		c, err := h.Store.ClientByID(ctx, g.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load client: %w", err)
		}
		var words []string
		for _, s := range g.Scopes {
			words = append(words, scopeText(lang, s, c.Name))
		}
		out = append(out, grantView{ClientID: c.ID, Name: c.Name, Scopes: strings.Join(words, "; "), Time: g.UpdatedAt})
	}
	return out, nil
}

// revokeApp is POST /account/apps/revoke: it forgets the user's grant to
// the application and revokes the application's tokens for the user, so
// that its next sign-in asks again.
func (h *Handler) revokeApp(w http.ResponseWriter, r *http.Request) error {
	_, u, err := h.accountForm(r)
	if err != nil {
		return err
	}
	id := r.PostForm.Get("client")
	if id == "" || len(id) > 200 {
		return userError(http.StatusBadRequest, "Request refused", msgForbidden)
	}
	r, _ = h.withIP(r)
	found, err := h.Store.RevokeConsent(r.Context(), u.ID, id, h.Now())
	if err != nil {
		return fmt.Errorf("revoke consent: %w", err)
	}
	if found {
		h.event(r.Context(), storage.EventConsentRevoked, u.ID, id, "")
	}
	return h.accountDone(w, r, "app-revoked")
}
