package main

import (
	"net/http"
	"net/url"
	"strings"
)

// underIssuerPath serves next under the issuer's path, prefix (such as
// "/auth" for the issuer https://example.com/auth; "" serves next as it
// is). A request for prefix or prefix/… reaches next with prefix taken off
// its path, so that the router, the provider and the login see the paths
// of an issuer at the root; on the way out a Location that is a site path
// goes back under prefix through siteURL (login's URL, the one place that
// builds the paths browsers follow), and the courtesy body of such a
// redirect is dropped. Outside prefix only the probes answer, /healthz and
// /readyz, for load balancers and orchestrators that probe the listener
// directly (they answer under prefix too); anything else is 404, with the
// headers of every answer.
func underIssuerPath(prefix string, siteURL func(string) string, https bool, next http.Handler) http.Handler {
	if prefix == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if path == "/healthz" || path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		rest, ok := cutBasePath(path, prefix)
		rawRest := ""
		if ok && r.URL.RawPath != "" {
			// The prefix holds no character that needs escaping (config
			// checks it), so an escaped path starts with it as it is.
			rawRest, ok = cutBasePath(r.URL.RawPath, prefix)
		}
		if !ok {
			setSecurityHeaders(w.Header(), https)
			http.NotFound(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path, r2.URL.RawPath = rest, rawRest
		next.ServeHTTP(&basePathWriter{ResponseWriter: w, siteURL: siteURL}, r2)
	})
}

// cutBasePath returns path without prefix ("/" for prefix itself) and
// whether path is prefix or under it.
func cutBasePath(path, prefix string) (string, bool) {
	switch {
	case path == prefix:
		return "/", true
	case strings.HasPrefix(path, prefix+"/"):
		return path[len(prefix):], true
	}
	return "", false
}

// basePathWriter puts a Location that is a site path under the issuer's
// path when the answer's header is written.
type basePathWriter struct {
	http.ResponseWriter
	siteURL  func(string) string
	wrote    bool
	skipBody bool // a redirect rewritten: its body names the old path
}

func (w *basePathWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		h := w.ResponseWriter.Header()
		if loc := h.Get("Location"); loc != "" {
			if u := w.siteURL(loc); u != loc {
				h.Set("Location", u)
				if code >= 300 && code < 400 {
					// http.Redirect's "<a href=…>See Other</a>".
					w.skipBody = true
					h.Del("Content-Length")
				}
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *basePathWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.skipBody {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *basePathWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
