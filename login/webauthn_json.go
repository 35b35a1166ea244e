package login

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// jsonReply is the body of every JSON answer.
type jsonReply struct {
	Ceremony  string `json:"ceremony,omitempty"`
	PublicKey any    `json:"publicKey,omitempty"` // creation or request options
	Redirect  string `json:"redirect,omitempty"`  // where the page goes next
	Error     string `json:"error,omitempty"`
}

// jsonRequest is the body of every JSON POST.
type jsonRequest struct {
	AuthRequestID string          `json:"authRequestID"`
	Ceremony      string          `json:"ceremony"`
	Name          string          `json:"name"` // register: the key's name
	Key           string          `json:"key"`  // remove: the key's id, base64url
	Credential    json.RawMessage `json:"credential"`
}

// serveJSON adapts a JSON step: page errors become {"error": …} with
// their status; anything else is logged and answered 503.
func (h *Handler) serveJSON(step func(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r = h.withLang(r)
		status, reply, err := step(w, r)
		if err != nil {
			var pe *pageError
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &pe):
				status, reply = pe.status, &jsonReply{Error: pe.message}
			case errors.As(err, &tooLarge):
				status, reply = http.StatusRequestEntityTooLarge, &jsonReply{Error: msgTooLarge}
			default:
				h.Logger.ErrorContext(r.Context(), "webauthn step failed", "path", r.URL.Path, "err", err)
				w.Header().Set("Retry-After", "5")
				status, reply = http.StatusServiceUnavailable, &jsonReply{Error: msgUnavailable}
			}
		}
		if reply != nil {
			// Fixed messages are translated here; formatted ones were
			// built in the request's language.
			reply.Error = i18n.T(langOf(r.Context()), reply.Error)
		}
		b, _ := json.Marshal(reply)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	}
}

// readJSON decodes the body of a JSON POST. Only application/json is
// accepted, which no cross-site form can send.
func (h *Handler) readJSON(r *http.Request) (*jsonRequest, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, userError(http.StatusUnsupportedMediaType, "Request refused", msgForbidden)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	var req jsonRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, userError(http.StatusBadRequest, "Request refused", msgForbidden)
	}
	return &req, nil
}

// checkCSRFHeader checks the CSRF token of a JSON POST, sent in the
// X-CSRF-Token header.
func (h *Handler) checkCSRFHeader(r *http.Request, purpose, cookie string) error {
	got := r.Header.Get("X-CSRF-Token")
	if cookie == "" || got == "" || !hmac.Equal([]byte(got), []byte(h.csrfToken(purpose, cookie))) {
		return userError(http.StatusForbidden, "Request refused", msgForbidden)
	}
	return nil
}

// signedInJSON loads the signed-in user of a JSON step and checks its
// CSRF token.
func (h *Handler) signedInJSON(r *http.Request) (*storage.Session, *storage.User, error) {
	if err := h.checkCSRFHeader(r, "session", h.cookieValue(r, sessionCookie)); err != nil {
		return nil, nil, err
	}
	return h.signedIn(r)
}
