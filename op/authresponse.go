package op

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// This file puts the issuer into every authorization response, as RFC 9207
// has it, so that a client talking to several authorization servers can
// tell which one answered (a mix-up attack). zitadel writes the responses
// itself (the code, and the errors of /authorize, of its callback and of
// AuthRequestError) and has no hook for extra parameters, so the
// redirects it writes are rewritten on their way out.

// IssuerParameter is the name of the authorization response parameter
// that carries the issuer (RFC 9207 §2).
const IssuerParameter = "iss"

// WithIssuer returns location, an authorization response to a client's
// redirect_uri, with the issuer parameter set to issuer, among the
// response's other parameters: in the fragment when the response is there
// (the fragment response mode), in the query otherwise. A registered
// redirect_uri has no fragment (RFC 6749 §3.1.2, and clients are
// registered so), so a fragment is the response's.
func WithIssuer(location, issuer string) (string, error) {
	u, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("authorization response: %w", err)
	}
	if u.Fragment != "" {
		params, err := url.ParseQuery(u.EscapedFragment())
		if err != nil {
			return "", fmt.Errorf("authorization response fragment: %w", err)
		}
		params.Set(IssuerParameter, issuer)
		// As zitadel sets the fragment: the encoded form is the one
		// written, so that it is not escaped twice.
		u.RawFragment = params.Encode()
		u.Fragment, _ = url.PathUnescape(u.RawFragment)
		return u.String(), nil
	}
	q := u.Query()
	q.Set(IssuerParameter, issuer)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// authorizationResponses puts the issuer into the authorization responses
// that zitadel writes at the authorization endpoint and its callback: at
// the callback every redirect is one (the code, or an error); at the
// authorization endpoint every redirect but the one to the login is (an
// error).
func (p *Provider) authorizationResponses(next http.Handler) http.Handler {
	authorize := p.zp.AuthorizationEndpoint().Relative()
	callback := authorize + "/callback"
	login := p.storage.cfg.LoginURL("")
	toLogin := func(location string) bool { return strings.HasPrefix(location, login) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case authorize:
			w = issuerWriter(w, p.issuer(), toLogin)
		case callback:
			w = issuerWriter(w, p.issuer(), nil)
		}
		next.ServeHTTP(w, r)
	})
}

// issuer is the provider's issuer, the value of the responses' issuer
// parameter.
func (p *Provider) issuer() string { return p.storage.cfg.Issuer }

// issuerWriter returns w adding the issuer parameter to the Location of a
// redirect written to it (WithIssuer), unless skip says the redirect is not
// an authorization response. The body of a redirect it rewrote
// (http.Redirect's link to the old location) is dropped.
func issuerWriter(w http.ResponseWriter, issuer string, skip func(location string) bool) http.ResponseWriter {
	return &statusWriter{ResponseWriter: w, onStatus: func(code int) bool {
		rewrote := addIssuer(w.Header(), code, issuer, skip)
		w.WriteHeader(code)
		return rewrote
	}}
}

// addIssuer adds the issuer to the Location in h of a redirect with status
// code, and reports whether it did.
func addIssuer(h http.Header, code int, issuer string, skip func(location string) bool) bool {
	if code < 300 || code >= 400 {
		return false
	}
	loc := h.Get("Location")
	if loc == "" || skip != nil && skip(loc) {
		return false
	}
	with, err := WithIssuer(loc, issuer)
	if err != nil {
		// zitadel made the location from a parsed URL: this is a bug.
		slog.Error("authorization response without iss", "err", err)
		return false
	}
	h.Set("Location", with)
	return true
}

// statusWriter lets a wrapper answer in a handler's place: onStatus sees
// the handler's first status before anything is written, writes a status
// itself, and reports whether the handler's body no longer fits the answer
// and is to be dropped.
type statusWriter struct {
	http.ResponseWriter
	onStatus    func(code int) (drop bool)
	wroteHeader bool
	drop        bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.drop = w.onStatus(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.drop {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
