package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds the checks of an authorization request that Gatehouse
// makes before the provider sees it, where zitadel accepts or words the
// request otherwise than RFC 6749 and OpenID Connect Core ask:
//
//   - a parameter without a value is omitted (RFC 6749 §3.1,
//     omitEmptyParameters); zitadel and the checks below would take it
//     for one;
//   - a parameter given more than once is invalid_request (RFC 6749 §3.1);
//     zitadel keeps the last value;
//   - request_uri is request_uri_not_supported (OIDC Core §3.1.2.6); zitadel
//     ignores it (request, without request object support, it answers
//     request_not_supported itself);
//   - a response_type other than code is unsupported_response_type
//     (RFC 6749 §4.1.2.1), a missing one invalid_request; zitadel answers
//     unauthorized_client, or for a confidential client with a loopback
//     http redirect_uri refuses the redirect_uri itself;
//   - a max_age that is not a non-negative integer is invalid_request;
//     zitadel cannot read the request then, and answers with a page.
//
// Such an error goes back to the client's redirect_uri, with the request's
// state, when client_id and redirect_uri are each given once and the
// redirect_uri is registered for the client; otherwise the user sees the
// error page (RFC 6749 §4.1.2.1, SECURITY.md OAU-02). The page says what is
// wrong in the product's words (pageReasons), never in the library's.

// pageTitle is the title of the error page of a refused sign-in request.
const pageTitle = "Sign-in request refused"

// The reasons the error page gives for a request that cannot be answered
// at the client's redirect_uri. Each is a whole sentence, translated by the
// page (login/i18n); i18n_test.go and badinput_test.go look for their start.
const (
	reasonNoClient          = "The application sent an invalid sign-in request (client_id is missing). Please contact the application's administrator."
	reasonUnknownClient     = "The application sent an invalid sign-in request (the application is not registered). Please contact the application's administrator."
	reasonRepeatedClient    = "The application sent an invalid sign-in request (client_id is given more than once). Please contact the application's administrator."
	reasonNoRedirect        = "The application sent an invalid sign-in request (redirect_uri is missing). Please contact the application's administrator."
	reasonBadRedirect       = "The application sent an invalid sign-in request (its redirect_uri is not registered for the application). Please contact the application's administrator."
	reasonRepeatedRedirect  = "The application sent an invalid sign-in request (redirect_uri is given more than once). Please contact the application's administrator."
	reasonUnreadable        = "The application sent an invalid sign-in request (its parameters could not be read). Please contact the application's administrator."
	reasonUnknown           = "The application sent an invalid sign-in request (it could not be processed). Please contact the application's administrator."
	reasonUnavailableTitle  = "Temporarily unavailable"
	reasonUnavailableDetail = "Sign-in is temporarily unavailable. Please try again in a moment."
)

// providerReasons maps the text of the provider's errors that cannot go
// back to the client (zitadel's, plain text) to a reason of the page.
// The first entry whose text occurs in the error wins.
var providerReasons = []struct{ text, reason string }{
	{"missing client_id", reasonNoClient},
	{"unable to retrieve client", reasonUnknownClient},
	{"unknown client", reasonUnknownClient},
	{"missing redirect_uri", reasonNoRedirect},
	{"redirect_uri is missing in the request", reasonNoRedirect},
	{"redirect_uri is missing in the client configuration", reasonBadRedirect},
	{"redirect_uri is http and is not allowed", reasonBadRedirect},
	{"redirect_uri is using a custom schema", reasonBadRedirect},
	{"cannot parse", reasonUnreadable},
}

// pageReason returns the error page's reason for the provider's error text.
func pageReason(providerText string) string {
	for _, p := range providerReasons {
		if strings.Contains(providerText, p.text) {
			return p.reason
		}
	}
	return reasonUnknown
}

// An authorizeError is an OAuth error of an authorization request
// (RFC 6749 §4.1.2.1).
type authorizeError struct {
	code        string // error
	description string // error_description: printable ASCII without " and \
}

// screenAuthorize returns the error Gatehouse answers for the
// authorization request r itself, or nil to pass r to the provider. A form
// that cannot be parsed is left to the provider, which reports it.
func screenAuthorize(r *http.Request) *authorizeError {
	if r.ParseForm() != nil {
		return nil
	}
	form := r.Form
	if name := op.RepeatedParameter(form); name != "" {
		return &authorizeError{"invalid_request", "the parameter " + name + " is included more than once"}
	}
	if form.Has("request_uri") {
		return &authorizeError{"request_uri_not_supported", "request_uri is not supported"}
	}
	switch rt := form.Get("response_type"); {
	case rt == "":
		return &authorizeError{"invalid_request", "response_type is missing"}
	case rt != "code":
		return &authorizeError{"unsupported_response_type", "only response_type code is supported"}
	}
	if e := screenResponseMode(form); e != nil {
		return e
	}
	return screenMaxAge(form.Get("max_age"))
}

// screenMaxAge returns the error of a max_age the provider cannot read
// (zitadel/schema parses it into a uint), or nil; "" is no max_age.
func screenMaxAge(v string) *authorizeError {
	if v == "" {
		return nil
	}
	_, err := strconv.ParseUint(v, 10, 0)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return &authorizeError{"invalid_request", "max_age is too large"}
	case err != nil:
		return &authorizeError{"invalid_request", "max_age must be a non-negative integer number of seconds"}
	}
	return nil
}

// parameterName matches the parameter names an error description may
// repeat: the description's characters are restricted (RFC 6749
// §4.1.2.1), and the name is the caller's.
var parameterName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// errNoRedirect reports that the request names no client and redirect_uri
// that an error may be sent to; its reason is for the error page.
type errNoRedirect struct{ reason string }

func (e errNoRedirect) Error() string { return e.reason }

// errorRedirectURI returns the registered redirect_uri of the request in
// form that an error may be sent to. It fails with errNoRedirect when there
// is none, and with another error when the client could not be loaded.
func errorRedirectURI(ctx context.Context, store storage.ClientStore, form url.Values) (string, error) {
	ids, uris := form["client_id"], form["redirect_uri"]
	switch {
	case len(ids) > 1:
		return "", errNoRedirect{reasonRepeatedClient}
	case len(ids) == 0 || ids[0] == "":
		return "", errNoRedirect{reasonNoClient}
	case len(uris) > 1:
		return "", errNoRedirect{reasonRepeatedRedirect}
	case len(uris) == 0 || uris[0] == "":
		return "", errNoRedirect{reasonNoRedirect}
	}
	c, err := store.ClientByID(ctx, ids[0])
	if errors.Is(err, storage.ErrNotFound) {
		return "", errNoRedirect{reasonUnknownClient}
	}
	if err != nil {
		return "", fmt.Errorf("load client: %w", err)
	}
	if !op.RedirectURIAllowed(c, uris[0]) {
		return "", errNoRedirect{reasonBadRedirect}
	}
	return uris[0], nil
}

// errorResponseURL returns redirectURI with e, the request's state and the
// issuer (RFC 9207), in the query, or in the fragment where the request's
// response_mode asks for it or its response_type is implicit (id_token,
// id_token token), as the provider places its own errors (zitadel's
// AuthResponseURL). A state given more than once is not echoed: which one
// is the client's is unknown.
func errorResponseURL(redirectURI, issuer string, form url.Values, e *authorizeError) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "", fmt.Errorf("parse redirect_uri: %w", err)
	}
	params := url.Values{"error": {e.code}, "error_description": {e.description}, op.IssuerParameter: {issuer}}
	if s := form["state"]; len(s) == 1 && s[0] != "" {
		params.Set("state", s[0])
	}
	if fragmentMode(form) {
		u.Fragment, u.RawFragment = "", ""
		return u.String() + "#" + params.Encode(), nil
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// fragmentMode reports whether an error response to the request in form
// goes in the fragment.
func fragmentMode(form url.Values) bool {
	if m := form["response_mode"]; len(m) == 1 && (m[0] == "query" || m[0] == "fragment") {
		return m[0] == "fragment"
	}
	rt := form["response_type"]
	return len(rt) == 1 && (rt[0] == "id_token" || rt[0] == "id_token token")
}

// refuseAuthorize answers the authorization request r itself when
// screenAuthorize finds an error in it, and reports whether it did: with a
// redirect of the error to the client, or with the error page.
func refuseAuthorize(lh *login.Handler, w http.ResponseWriter, r *http.Request) bool {
	e := screenAuthorize(r)
	if e == nil {
		return false
	}
	answerAuthorizeError(lh, w, r, e)
	return true
}

// answerAuthorizeError answers e, an error of the authorization request
// whose parameters r.Form holds: at the client's redirect_uri, or on the
// error page when the request names none that e may be sent to.
func answerAuthorizeError(lh *login.Handler, w http.ResponseWriter, r *http.Request, e *authorizeError) {
	ctx := r.Context()
	log := lh.Logger.With("error", e.code, "description", e.description, "client_id", clipValue(r.Form.Get("client_id")))
	target, err := errorRedirectURI(ctx, lh.Store, r.Form)
	var refused errNoRedirect
	switch {
	case errors.As(err, &refused):
		log.InfoContext(ctx, "authorize: request refused, not redirecting", "reason", refused.reason)
		lh.RenderError(w, r, http.StatusBadRequest, pageTitle, refused.reason)
		return
	case err != nil:
		log.ErrorContext(ctx, "authorize: request refused", "err", err)
		w.Header().Set("Retry-After", "5")
		lh.RenderError(w, r, http.StatusServiceUnavailable, reasonUnavailableTitle, reasonUnavailableDetail)
		return
	}
	loc, err := errorResponseURL(target, lh.BaseURL, r.Form, e)
	if err != nil {
		// A registered redirect_uri parses; this is a bug.
		log.ErrorContext(ctx, "authorize: error response", "err", err)
		lh.RenderError(w, r, http.StatusBadRequest, pageTitle, reasonBadRedirect)
		return
	}
	log.InfoContext(ctx, "authorize: request refused")
	w.Header().Set("Cache-Control", "no-store")
	if op.IsFormPost(r.Form) {
		if err := op.WriteFormPost(w, r, target, loc); err == nil {
			return
		}
	}
	http.Redirect(w, r, loc, http.StatusFound)
}

// omitEmptyParameters treats the parameters of an authorization request
// sent without a value as omitted (RFC 6749 §3.1), for Gatehouse's checks
// and the provider alike: it deletes the empty values from r.Form, which
// they all read. A form that cannot be parsed is left to the provider,
// which reports it.
func omitEmptyParameters(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() == nil {
			op.OmitEmptyParameters(r.Form)
		}
		next.ServeHTTP(w, r)
	})
}

// clipValue shortens a caller's value for the log.
func clipValue(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// authorizeErrors answers at /authorize the errors Gatehouse finds itself
// (refuseAuthorize), turns the provider's plain-text errors at /authorize
// and its callback (unknown client, bad redirect_uri: errors that must not
// redirect) into the error page, in the product's words, and storage
// failures into 503 or temporarily_unavailable. Pages the login rendered
// itself (the callback's guard) pass unchanged.
func authorizeErrors(lh *login.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, faulted := op.TrackFaults(r.Context())
		r = r.WithContext(ctx)
		if r.URL.Path == "/authorize" && refuseAuthorize(lh, w, r) {
			return
		}
		iw := &interceptWriter{ResponseWriter: w}
		next.ServeHTTP(iw, r)
		switch {
		case iw.redirect != "":
			loc := iw.redirect
			if faulted.Load() {
				loc = unavailableRedirect(loc)
			}
			w.Header().Set("Location", loc)
			w.WriteHeader(iw.status)
		case iw.intercepted && faulted.Load():
			w.Header().Set("Retry-After", "5")
			lh.RenderError(w, r, http.StatusServiceUnavailable, reasonUnavailableTitle, reasonUnavailableDetail)
		case iw.intercepted && strings.HasPrefix(w.Header().Get("Content-Type"), "text/html"):
			w.WriteHeader(iw.status)
			io.WriteString(w, iw.body.String())
		case iw.intercepted:
			lh.Logger.InfoContext(ctx, "authorize: the provider refused the request",
				"path", r.URL.Path, "provider_error", describe(iw.body.String()))
			lh.RenderError(w, r, http.StatusBadRequest, pageTitle, pageReason(iw.body.String()))
		}
	})
}

// unavailableRedirect turns the server_error of an error redirect to the
// client (its query, or its fragment with response_mode=fragment) that a
// database failure caused into temporarily_unavailable, which tells the
// client to try again, with op.UnavailableDescription in place of the
// description zitadel made of the database's error text.
func unavailableRedirect(loc string) string {
	base, fragment, inFragment := strings.Cut(loc, "#")
	params := fragment
	if !inFragment {
		base, params, _ = strings.Cut(loc, "?")
	}
	v, err := url.ParseQuery(params)
	if err != nil || v.Get("error") != "server_error" {
		return loc
	}
	v.Set("error", "temporarily_unavailable")
	v.Set("error_description", op.UnavailableDescription)
	if inFragment {
		return base + "#" + v.Encode()
	}
	return base + "?" + v.Encode()
}

// describe keeps a short summary of the provider's error text, for the
// log: the page gives the reason in the product's words (pageReason).
func describe(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		return "unknown error"
	}
	return s
}
