package login

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A sign-in belongs to the browser that started it. /authorize sets the
// flow cookie (FlowBinding) and the auth request stores the cookie's hash;
// every login step (loadRequest) and the provider's callback
// (CallbackGuard) compare the cookie the request carries with that hash. An
// auth request id in a URL is therefore never enough: a link to
// /login?authRequestID=… opened in another browser, or a callback fetched
// by anyone else, is refused, whether or not that browser has a session.

// FlowBinding makes sure the browser has a flow cookie, setting one on w if
// it has none, and returns the hash that binds an auth request to it. The
// HTTP layer calls it at /authorize, before the request is stored.
func (h *Handler) FlowBinding(w http.ResponseWriter, r *http.Request) []byte {
	return bindingHash(h.flowValue(w, r))
}

// boundRequest loads the live auth request id and checks that the flow
// cookie of r is the one it was bound to at /authorize. It returns the
// request and the cookie's value, the key of the steps' CSRF tokens.
func (h *Handler) boundRequest(r *http.Request, id string) (*storage.AuthRequest, string, error) {
	if id == "" || len(id) > 64 {
		return nil, "", userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	ar, err := h.Store.AuthRequestByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	if err != nil {
		return nil, "", fmt.Errorf("load auth request: %w", err)
	}
	useRequestLang(r.Context(), ar)
	if !h.Now().Before(ar.ExpiresAt) {
		return nil, "", userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	flow := h.cookieValue(r, flowCookie)
	if flow == "" || len(ar.BindingHash) == 0 || subtle.ConstantTimeCompare(ar.BindingHash, bindingHash(flow)) != 1 {
		h.Logger.InfoContext(r.Context(), "sign-in step refused: not the browser that started it",
			"client_id", ar.ClientID, "flow_cookie", flow != "")
		return nil, "", userError(http.StatusForbidden, "Sign-in refused", msgOtherBrowser)
	}
	return ar, flow, nil
}

// CallbackGuard wraps the provider's /authorize/callback, which issues the
// authorization response (the code) of a done auth request. It lets
// through only a GET with one id, from the browser the request is bound to,
// and only once per request: the claim is one conditional UPDATE, so that
// neither a replayed callback nor parallel ones on several replicas get a
// second code. Anything else gets an error page and no code.
func (h *Handler) CallbackGuard(next http.Handler) http.Handler {
	return h.serve(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return userError(http.StatusMethodNotAllowed, "Sign-in refused", msgExpired)
		}
		// The provider reads the id from the parsed form; for a GET that
		// is the query. One id only, so that both read the same one.
		ids := r.URL.Query()["id"]
		if len(ids) != 1 {
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		}
		ar, flow, err := h.boundRequest(r, ids[0])
		if err != nil {
			return err
		}
		if !ar.Done {
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		}
		// A third-party client's response waits for the user's consent.
		if answered, err := h.consentGate(w, r, ar); answered || err != nil {
			return err
		}
		switch err := h.Store.ClaimAuthRequest(r.Context(), ar.ID, bindingHash(flow)); {
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
			// Claimed already: this sign-in has had its response.
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		case err != nil:
			return fmt.Errorf("claim auth request: %w", err)
		}
		next.ServeHTTP(w, r)
		return nil
	})
}
