package login

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
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
			case errors.Is(err, lockout.ErrBusy):
				pe = h.inFlight(w, r)
				fallthrough
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
			// The page follows the redirect as it is: a site path goes
			// under the issuer's path.
			reply.Redirect = h.URL(reply.Redirect)
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

// jsonStep is a JSON POST of a ceremony: of a sign-in (ar, and u, the
// user who passed its password step, for the key step) or of a signed-in
// user (sess and u).
type jsonStep struct {
	r    *http.Request // with its client IP remembered (withIP)
	ip   netip.Addr
	req  *jsonRequest
	ar   *storage.AuthRequest
	sess *storage.Session
	u    *storage.User
}

// signInJSON reads a JSON POST of a sign-in's ceremony: its body, the
// auth request it names (live, bound to this browser) and its CSRF token.
// With pending (the key step) the user who passed the password step must
// be there; without (a passkey) there is none yet.
func (h *Handler) signInJSON(w http.ResponseWriter, r *http.Request, pending bool) (*jsonStep, error) {
	r, ip := h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return nil, err
	}
	st := &jsonStep{r: r, ip: ip, req: req}
	var flow string
	if pending {
		st.ar, flow, st.u, err = h.pendingUser(w, r, req.AuthRequestID)
	} else {
		st.ar, flow, err = h.loadRequest(w, r, req.AuthRequestID)
	}
	if err != nil {
		return nil, err
	}
	if err := h.checkCSRFHeader(r, "login", flow); err != nil {
		return nil, err
	}
	if pending && st.u == nil {
		return nil, userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	return st, nil
}

// accountJSON reads a JSON POST of a signed-in user's ceremony: its body,
// its CSRF token and the session's user. With back, the ceremony changes
// what protects the account: a session that has not authenticated
// recently gets the answer that sends webauthn.js to re-authenticate and
// return to back (stepUpJSON), and the step is nil.
func (h *Handler) accountJSON(r *http.Request, back string) (*jsonStep, int, *jsonReply, error) {
	r, ip := h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := h.checkCSRFHeader(r, "session", h.cookieValue(r, sessionCookie)); err != nil {
		return nil, 0, nil, err
	}
	sess, u, err := h.signedIn(r)
	if err != nil {
		return nil, 0, nil, err
	}
	if back != "" {
		if status, reply := h.stepUpJSON(sess, back); reply != nil {
			return nil, status, reply, nil
		}
	}
	return &jsonStep{r: r, ip: ip, req: req, sess: sess, u: u}, 0, nil, nil
}

// ceremonyBegun stores the ceremony c that begins with the options and
// answers with both: the ceremony's key and the options for the browser.
func (h *Handler) ceremonyBegun(ctx context.Context, c *ceremony, options any) (int, *jsonReply, error) {
	key, err := h.putCeremony(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Ceremony: key, PublicKey: options}, nil
}
