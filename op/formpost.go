package op

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// This file delivers authorization responses in the Form Post Response
// Mode (OAuth 2.0 Form Post Response Mode): instead of a redirect to the
// client's redirect_uri with the response in the query, the browser gets a
// page whose form POSTs the response there, submitted by the page's one
// script, or by the user where scripts do not run. zitadel's own form_post
// page submits from an inline event handler that Gatehouse's content
// security policy forbids, carries no iss (RFC 9207), and is used for
// successful responses only; so the requests whose response_mode is
// form_post reach zitadel as query-mode ones (authRequest.GetResponseMode)
// and the redirects zitadel writes for them, the code and the errors, are
// turned into the page here, after the issuer is added (authresponse.go).

// ResponseModeFormPost is the response_mode of the Form Post Response Mode.
const ResponseModeFormPost = string(oidc.ResponseModeFormPost)

//go:embed formpost.html
var formPostSource string

// formPostPage is the page of a form_post response. It is a protocol
// artifact, like zitadel's form_post.html.tmpl, not a page of the login:
// it has no layout and is not translated.
var formPostPage = template.Must(template.New("formpost").Parse(formPostSource))

// formPostField is a parameter of a form_post response.
type formPostField struct{ Name, Value string }

// WriteFormPost answers with location, an authorization response that
// redirects to redirectURI (the request's registered redirect_uri, which
// location starts with), as a page that POSTs the response's parameters to
// redirectURI: those of location's query that are not redirectURI's own.
// The page's content security policy lets only its one script run and its
// form go only to redirectURI's origin; nothing may store it.
func WriteFormPost(w http.ResponseWriter, r *http.Request, redirectURI, location string) error {
	params, err := responseParams(redirectURI, location)
	if err != nil {
		return err
	}
	if faulted(r.Context()) && params.Get("error") == "server_error" {
		// As the HTTP layer does with the redirects: the database, not
		// the server, failed.
		params.Set("error", "temporarily_unavailable")
		params.Set("error_description", UnavailableDescription)
	}
	origin, err := formAction(redirectURI)
	if err != nil {
		return err
	}
	var nonce [18]byte
	rand.Read(nonce[:])
	// The action is the client's registered redirect_uri: a URL the
	// template would refuse for a private-use scheme is trusted as it is.
	data := struct {
		Action template.URL
		Fields []formPostField
		Nonce  string
	}{Action: template.URL(redirectURI), Nonce: base64.RawURLEncoding.EncodeToString(nonce[:])}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range params[name] {
			data.Fields = append(data.Fields, formPostField{name, v})
		}
	}
	var buf bytes.Buffer
	if err := formPostPage.Execute(&buf, data); err != nil {
		return fmt.Errorf("form post page: %w", err)
	}
	h := w.Header()
	h.Del("Location")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+data.Nonce+"'; form-action "+origin+
		"; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

// responseParams returns the parameters location adds to redirectURI.
func responseParams(redirectURI, location string) (url.Values, error) {
	base, err := url.Parse(redirectURI)
	if err != nil {
		return nil, fmt.Errorf("form post: redirect_uri: %w", err)
	}
	loc, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("form post: response: %w", err)
	}
	params := loc.Query()
	for name, own := range base.Query() {
		for _, v := range own {
			if i := slices.Index(params[name], v); i >= 0 {
				params[name] = slices.Delete(params[name], i, i+1)
			}
		}
		if len(params[name]) == 0 {
			delete(params, name)
		}
	}
	return params, nil
}

// cspHost matches the host (and port) of a URL that may stand in a content
// security policy as it is.
var cspHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// formAction returns the source expression of the content security
// policy's form-action for redirectURI: its origin, or its scheme for a
// URI without a host (a native app's private-use scheme).
func formAction(redirectURI string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" || strings.ContainsAny(u.Scheme, "; ,'\"") {
		return "", fmt.Errorf("form post: redirect_uri %q has no origin", redirectURI)
	}
	if u.Host == "" {
		return u.Scheme + ":", nil
	}
	if !cspHost.MatchString(u.Host) {
		return "", fmt.Errorf("form post: redirect_uri %q has no origin for a content security policy", redirectURI)
	}
	return u.Scheme + "://" + u.Host, nil
}

// faulted reports whether the request of ctx saw a database failure
// (TrackFaults).
func faulted(ctx context.Context) bool {
	f, ok := ctx.Value(faultKey{}).(*atomic.Bool)
	return ok && f.Load()
}

// IsFormPost reports whether the authorization request form asks, once,
// for its response in the form_post response mode.
func IsFormPost(form url.Values) bool {
	m := form["response_mode"]
	return len(m) == 1 && m[0] == ResponseModeFormPost
}

// formPostTarget is where a form_post response of one request goes: the
// auth request's redirect_uri. The callback learns it when the auth
// request is loaded (noteResponseMode).
type formPostTarget struct {
	redirectURI string
}

type formPostKey struct{}

// noteResponseMode records, for a request that formPosts watches, where
// ar's response goes when ar asks for form_post.
func noteResponseMode(ctx context.Context, redirectURI, mode string) {
	if t, ok := ctx.Value(formPostKey{}).(*formPostTarget); ok && mode == ResponseModeFormPost {
		t.redirectURI = redirectURI
	}
}

// formPosts turns the authorization responses of form_post requests that
// zitadel writes as redirects, at the authorization endpoint (errors) and
// at its callback (the code and errors), into form_post pages.
func (p *Provider) formPosts(next http.Handler) http.Handler {
	authorize := p.zp.AuthorizationEndpoint().Relative()
	callback := authorize + "/callback"
	login := p.storage.cfg.LoginURL("")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case authorize:
			// A form that cannot be parsed is zitadel's to report.
			if r.ParseForm() == nil && IsFormPost(r.Form) {
				if uris := r.Form["redirect_uri"]; len(uris) == 1 && uris[0] != "" {
					w = formPostWriter(w, r, &formPostTarget{redirectURI: uris[0]}, login)
				}
			}
		case callback:
			t := new(formPostTarget)
			r = r.WithContext(context.WithValue(r.Context(), formPostKey{}, t))
			w = formPostWriter(w, r, t, login)
		}
		next.ServeHTTP(w, r)
	})
}

// formPostFor returns w, which is to carry an authorization response to
// ar, as a writer that delivers it as a form_post page when ar asks for
// one.
func formPostFor(w http.ResponseWriter, r *http.Request, ar any) http.ResponseWriter {
	if a, ok := ar.(authRequest); ok && a.r.ResponseMode == ResponseModeFormPost {
		return formPostWriter(w, r, &formPostTarget{redirectURI: a.r.RedirectURI}, "")
	}
	return w
}

// formPostWriter returns w writing a redirect to target's redirect_uri as
// a form_post page instead (WriteFormPost); other answers, and redirects
// to the login's URL (login, when not empty), pass unchanged. The body
// written with a redirect it replaced is dropped.
func formPostWriter(w http.ResponseWriter, r *http.Request, target *formPostTarget, login string) http.ResponseWriter {
	return &statusWriter{ResponseWriter: w, onStatus: func(code int) bool {
		loc := w.Header().Get("Location")
		uri := target.redirectURI
		if code >= 300 && code < 400 && uri != "" && strings.HasPrefix(loc, uri) &&
			(login == "" || !strings.HasPrefix(loc, login)) {
			err := WriteFormPost(w, r, uri, loc)
			if err == nil {
				return true
			}
			slog.ErrorContext(r.Context(), "form_post response", "err", err)
		}
		w.WriteHeader(code)
		return false
	}}
}
