package login

import (
	"net/http"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// msgBusy answers a password step when every argon2id slot stayed taken
// (password.ErrBusy): the password was not checked, so the attempt does
// not count against the limits.
const msgBusy = "Sign-in is busy, please try again in a moment."

// busyRetryAfter is the Retry-After of a busy answer, in seconds.
const busyRetryAfter = "2"

// busy answers the sign-in form again with 503, Retry-After and msgBusy.
func (h *Handler) busy(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, flow, email string) error {
	h.Logger.WarnContext(r.Context(), "password check refused: all hashing slots busy", "step", "password")
	w.Header().Set("Retry-After", busyRetryAfter)
	return h.showForm(w, r, ar, flow, http.StatusServiceUnavailable, email, msgBusy)
}

// inFlight answers a step refused with lockout.ErrBusy: the attempt limits
// stayed full of attempts still being checked (codes posted at once from
// one address), so nothing was counted and nothing is blocked. It is 429
// with Retry-After and msgBusy, never the block message.
func (h *Handler) inFlight(w http.ResponseWriter, r *http.Request) *pageError {
	h.Logger.InfoContext(r.Context(), "attempt refused: limit full of attempts in flight", "path", r.URL.Path, "err", lockout.ErrBusy)
	w.Header().Set("Retry-After", busyRetryAfter)
	return &pageError{status: http.StatusTooManyRequests, title: "Temporarily unavailable", message: msgBusy}
}
