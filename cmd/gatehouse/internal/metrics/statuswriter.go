package metrics

import "net/http"

// A StatusWriter records the status code written through it: Instrument
// counts requests by it, and package main's request log reports it.
type StatusWriter struct {
	http.ResponseWriter
	// Status is the code written so far, 0 before the header.
	Status int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Code is the status the client received: a handler that wrote neither a
// header nor a body (a HEAD, say) answered 200.
func (w *StatusWriter) Code() int {
	if w.Status == 0 {
		return http.StatusOK
	}
	return w.Status
}
