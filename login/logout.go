package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ErrLogoutRefused marks the errors of a LogoutValidator that refuse the
// request (a bad hint, an unknown client, an unregistered
// post_logout_redirect_uri); its other errors are failures.
var ErrLogoutRefused = errors.New("logout request refused")

// LogoutValidator validates the end_session parameters of r (its parsed
// form) and ends nothing.
type LogoutValidator func(r *http.Request) (*storage.LogoutRequest, error)

// The paths of RP-initiated logout: the provider's end_session endpoint
// and the confirmation form's target.
const (
	EndSessionPath    = "/end_session"
	ConfirmLogoutPath = "/end_session/confirm"
)

const csrfEndSession = "end_session"

// EndSession serves end_session (GET or POST, from a relying party's
// page; r's form already parsed). A valid id_token_hint naming the user
// of the browser's session ends it and redirects; without one the user is
// asked to confirm, since any site can send a browser here. A request the
// validator refuses ends nothing and redirects nowhere.
func (h *Handler) EndSession(validate LogoutValidator) http.Handler {
	return h.serve(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			// RP-Initiated Logout §2: GET and POST only.
			w.Header().Set("Allow", "GET, POST")
			return userError(http.StatusMethodNotAllowed, "Request refused", msgForbidden)
		}
		req, sess, err := h.logoutRequest(r, validate)
		if err != nil {
			return err
		}
		switch {
		case sess == nil:
			// Nothing to end.
			http.Redirect(w, r, req.RedirectURI, http.StatusFound)
			return nil
		case hintsSession(req, sess):
			return h.endBrowserSession(w, r, sess, req)
		}
		return h.showLogoutConfirm(w, r, sess, req)
	})
}

// logoutRequest validates a logout request (validateLogout) and loads the
// browser's session, nil when it has none.
func (h *Handler) logoutRequest(r *http.Request, validate LogoutValidator) (*storage.LogoutRequest, *storage.Session, error) {
	req, err := h.validateLogout(r, validate)
	if err != nil {
		return nil, nil, err
	}
	sess, err := h.currentSession(r)
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	return req, sess, nil
}

// hintsSession reports whether the request's id_token_hint was issued for
// the browser's session: its user, and its sign-in (auth_time, to the
// second). Any other ID token of the user — an old one, from another
// browser or an earlier sign-in — asks for confirmation.
func hintsSession(req *storage.LogoutRequest, sess *storage.Session) bool {
	return req.Subject != "" && req.Subject == sess.UserID &&
		!req.AuthTime.IsZero() && req.AuthTime.Unix() == sess.AuthTime.Unix()
}

// ConfirmLogout serves the POST of the confirmation page: with the page's
// CSRF token it ends the browser's session and redirects as end_session
// would have.
func (h *Handler) ConfirmLogout(validate LogoutValidator) http.Handler {
	return h.serve(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return userError(http.StatusMethodNotAllowed, "Request refused", msgForbidden)
		}
		if err := r.ParseForm(); err != nil {
			return err
		}
		if err := h.checkCSRF(r, csrfEndSession, h.cookieValue(r, sessionCookie)); err != nil {
			return err
		}
		req, sess, err := h.logoutRequest(r, validate)
		if err != nil {
			return err
		}
		if sess == nil {
			// It ended meanwhile (elsewhere, or it expired).
			h.ClearSession(w)
			http.Redirect(w, r, req.RedirectURI, http.StatusSeeOther)
			return nil
		}
		return h.endBrowserSession(w, r, sess, req)
	})
}

// validateLogout runs validate and turns a refusal into the error page.
func (h *Handler) validateLogout(r *http.Request, validate LogoutValidator) (*storage.LogoutRequest, error) {
	req, err := validate(r)
	if errors.Is(err, ErrLogoutRefused) {
		h.Logger.InfoContext(r.Context(), "logout request refused", "err", err)
		return nil, userError(http.StatusBadRequest, "Sign-out request refused",
			"The application sent an invalid sign-out request. Nothing was changed. Please contact the application's administrator.")
	}
	if err != nil {
		return nil, fmt.Errorf("validate logout request: %w", err)
	}
	return req, nil
}

// endBrowserSession deletes sess, clears its cookie and sends the browser
// on to req.RedirectURI.
func (h *Handler) endBrowserSession(w http.ResponseWriter, r *http.Request, sess *storage.Session, req *storage.LogoutRequest) error {
	if err := h.Store.EndSession(r.Context(), sess.ID, h.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	h.ClearSession(w)
	h.Logger.InfoContext(r.Context(), "session ended by logout request", "user_id", sess.UserID, "client_id", req.ClientID)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, req.RedirectURI, status)
	return nil
}

// showLogoutConfirm asks the user whether to sign out; the form carries
// the validated parameters, which ConfirmLogout validates again.
func (h *Handler) showLogoutConfirm(w http.ResponseWriter, r *http.Request, sess *storage.Session, req *storage.LogoutRequest) error {
	u, err := h.Store.UserByID(r.Context(), sess.UserID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("load user: %w", err)
	}
	var name string
	if req.ClientID != "" {
		c, err := h.Store.ClientByID(r.Context(), req.ClientID)
		switch {
		case err == nil:
			name = c.Name
		case errors.Is(err, storage.ErrNotFound):
			name = req.ClientID
		default:
			return fmt.Errorf("load client: %w", err)
		}
	}
	hidden := map[string]string{}
	for k, v := range map[string]string{
		"client_id":                req.ClientID,
		"post_logout_redirect_uri": req.PostLogoutRedirectURI,
		"state":                    req.State,
	} {
		if v != "" {
			hidden[k] = v
		}
	}
	h.render(w, r, http.StatusOK, "logout.html", &page{
		Title:      "Sign out",
		ClientName: name,
		User:       u,
		Action:     ConfirmLogoutPath,
		Hidden:     hidden,
		CSRF:       h.csrfToken(csrfEndSession, h.cookieValue(r, sessionCookie)),
		CancelURL:  "/account",
	})
	return nil
}
