package login

import (
	"cmp"
	"crypto/hmac"
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
// The callback also wants the session the sign-in left in the browser (a
// session of the request's user): the flow cookie is the browser's until
// the sign-in is done, and a browser that holds it alone — one an attacker
// planted it in, or the attacker's, who had the victim sign in to their
// request — gets no code.

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
// through only a GET with one id, from the browser the request is bound to
// and that holds a session of the request's user, and only once per
// request: the claim is one conditional UPDATE, so that
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
			// The retry of a callback whose claim lost its answer
			// claims the request again, once.
			if ok, rerr := h.reclaim(w, r, ids[0]); rerr != nil || !ok {
				return cmp.Or(rerr, err)
			}
			next.ServeHTTP(w, r)
			return nil
		}
		if !ar.Done {
			return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
		}
		if err := h.checkDoneSession(r, ar); err != nil {
			return err
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
			// The claim may have committed (its outcome unknown): the
			// browser's retry of this 503 may claim it again (reclaim).
			h.setClaimCookie(w, ar, flow)
			return fmt.Errorf("claim auth request: %w", err)
		}
		if h.hasClaimCookie(r, ar.ID, flow) {
			// An earlier try of this browser failed at its claim, which
			// did not commit after all: this claim did. Left as it is,
			// the claim could be taken once more with that try's cookie
			// by a replay, or a parallel tab, for a second code; claim it
			// again as reclaim does, which leaves nothing to reclaim, and
			// drop the cookie.
			switch err := h.Store.ClaimAuthRequest(r.Context(), ar.ID, storage.ClaimedBinding(bindingHash(flow))); {
			case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
				return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
			case err != nil:
				return fmt.Errorf("seal the claim of auth request: %w", err)
			}
			h.clearCookie(w, claimCookie)
		}
		next.ServeHTTP(&claimWriter{ResponseWriter: w, failed: func() { h.setClaimCookie(w, ar, flow) }}, r)
		return nil
	})
}

// checkDoneSession checks that the browser of r holds a session of the
// user who did the done sign-in ar. The sign-in left that session in the
// browser that passed it (its cookie is new: sessionCommitted), so a browser
// that holds the flow cookie alone — one whose flow cookie an attacker
// planted in the victim's, or the other way round — can neither answer
// the consent page of the victim's sign-in nor take its code; nor can a
// browser whose session ended, or changed user, since.
func (h *Handler) checkDoneSession(r *http.Request, ar *storage.AuthRequest) error {
	sess, err := h.currentSession(r)
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if sess == nil || sess.UserID != ar.UserID {
		h.Logger.InfoContext(r.Context(), "sign-in step refused: the browser has not the session of the sign-in",
			"client_id", ar.ClientID, "session", sess != nil)
		return userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	return nil
}

// claimCookie is set on an error answer (a 503) of a callback whose claim
// failed or whose provider failed after the claim. A claim that fails
// may have committed all the same (its answer lost with the database
// connection, and its outcome not resolved), and a provider that fails
// after the claim issued no code: either way the request is claimed with
// this browser's binding and no code reached the browser. The cookie lets
// this browser's retry claim it once more (reclaim).
const claimCookie = "gh_claim"

// setClaimCookie gives the browser the claim cookie for ar, until ar
// expires.
func (h *Handler) setClaimCookie(w http.ResponseWriter, ar *storage.AuthRequest, flow string) {
	h.setCookie(w, claimCookie, h.reclaimToken(ar.ID, flow), ar.ExpiresAt.Sub(h.Now()))
}

// claimWriter is the ResponseWriter of the provider's callback after the
// claim: an error answer (4xx or 5xx) carries no code, and gets the claim
// cookie (failed) before its header is written. A code leaves in a
// redirect or a form post (200).
type claimWriter struct {
	http.ResponseWriter
	failed func()
}

func (cw *claimWriter) WriteHeader(code int) {
	if code >= 400 {
		cw.failed()
	}
	cw.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (cw *claimWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// reclaimToken is the value of claimCookie for the request id and the
// flow cookie flow.
func (h *Handler) reclaimToken(id, flow string) string {
	return h.csrfToken("claim "+id, flow)
}

// hasClaimCookie reports whether r carries the claim cookie of the
// request id for the flow cookie flow.
func (h *Handler) hasClaimCookie(r *http.Request, id, flow string) bool {
	token := h.cookieValue(r, claimCookie)
	return token != "" && hmac.Equal([]byte(token), []byte(h.reclaimToken(id, flow)))
}

// reclaim lets the retry of a callback whose claim failed (claimCookie)
// go on when that claim did commit: the request, done and live, is
// claimed with this browser's binding (storage.ClaimedBinding). It claims
// it again, from that binding, so that of parallel retries one goes on.
// The first try issued no code (it answered 503 at its claim), so the
// retry's is the request's one authorization response. It reports
// whether the retry may go on; otherwise the caller refuses as before.
func (h *Handler) reclaim(w http.ResponseWriter, r *http.Request, id string) (bool, error) {
	flow := h.cookieValue(r, flowCookie)
	if flow == "" || !h.hasClaimCookie(r, id, flow) {
		return false, nil
	}
	ar, err := h.Store.AuthRequestByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load auth request: %w", err)
	}
	claimed := storage.ClaimedBinding(bindingHash(flow))
	if !ar.Done || !h.Now().Before(ar.ExpiresAt) || subtle.ConstantTimeCompare(ar.BindingHash, claimed) != 1 {
		return false, nil
	}
	switch err := h.Store.ClaimAuthRequest(r.Context(), id, claimed); {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claim auth request again: %w", err)
	}
	useRequestLang(r.Context(), ar)
	h.clearCookie(w, claimCookie)
	h.Logger.InfoContext(r.Context(), "callback retried after its claim failed: claimed again", "client_id", ar.ClientID)
	return true, nil
}
