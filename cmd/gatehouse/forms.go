package main

import (
	"errors"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/login"
)

// formGuard reads the form of every POST (with everyMethod, of every
// request: the query of a GET) before next does. A body that is no
// well-formed form (a bad percent escape, a bad Content-Type, a bad query)
// is the client's mistake and gets 400, and one over http.max_body_bytes
// 413: the login pages take any error of theirs for a failure of the
// database and would answer 503 "temporarily unavailable", and the
// provider's end_session answers 500. The parsed form stays on the request
// for next.
func formGuard(lh *login.Handler, everyMethod bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if everyMethod || r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					lh.RenderError(w, r, http.StatusRequestEntityTooLarge, "Request too large", "The request was too large.")
					return
				}
				lh.RenderError(w, r, http.StatusBadRequest, "Request refused",
					"Your request could not be verified. Please reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
