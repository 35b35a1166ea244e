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
			w = &issuerWriter{ResponseWriter: w, issuer: p.issuer(), skip: toLogin}
		case callback:
			w = &issuerWriter{ResponseWriter: w, issuer: p.issuer()}
		}
		next.ServeHTTP(w, r)
	})
}

// issuer is the provider's issuer, the value of the responses' issuer
// parameter.
func (p *Provider) issuer() string { return p.storage.cfg.Issuer }

// issuerWriter adds the issuer parameter to the Location of a redirect
// written to it (WithIssuer), unless skip says the redirect is not an
// authorization response. The body of a redirect it rewrote (http.Redirect's
// link to the old location) is dropped.
type issuerWriter struct {
	http.ResponseWriter
	issuer      string
	skip        func(location string) bool
	wroteHeader bool
	rewrote     bool
}

func (w *issuerWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.rewrite(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// rewrite adds the issuer to the Location of a redirect with status code.
func (w *issuerWriter) rewrite(code int) {
	if code < 300 || code >= 400 {
		return
	}
	h := w.Header()
	loc := h.Get("Location")
	if loc == "" || w.skip != nil && w.skip(loc) {
		return
	}
	with, err := WithIssuer(loc, w.issuer)
	if err != nil {
		// zitadel made the location from a parsed URL: this is a bug.
		slog.Error("authorization response without iss", "err", err)
		return
	}
	h.Set("Location", with)
	w.rewrote = true
}

func (w *issuerWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewrote {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *issuerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
