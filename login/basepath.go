package login

import (
	"net/url"
	"strings"
)

// The issuer's path. With an issuer such as https://example.com/auth,
// Gatehouse serves everything under /auth: cmd strips the path from each
// request before routing, so the handlers see and build the site's paths
// ("/login/otp", "/account/security") as with an issuer at the root, and
// URL turns one into the path a browser follows ("/auth/login/otp") where
// it leaves the server: in pages (the templates' base and url functions),
// JSON replies, redirects (cmd rewrites a Location that is a site path)
// and cookie paths. Emailed links start with BaseURL, the issuer itself.

// BasePath returns the path of the issuer, "" when it is at the root; it
// never ends with a slash.
func (h *Handler) BasePath() string { return h.basePath }

// basePathOf returns the path of the base URL s, without its final slash.
func basePathOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// URL returns the path a browser follows for the site's path p: p under
// the issuer's path. Anything else (an absolute URL, a data: URL, "") is
// returned as it is.
func (h *Handler) URL(p string) string { return underBase(h.basePath, p) }

// underBase returns the site's path p under the issuer's path base, and
// anything else as it is.
func underBase(base, p string) string {
	if base == "" || !sitePath(p) {
		return p
	}
	return base + p
}

// sitePath reports whether s is a path on this site: it starts with one
// slash, not "//" or "/\", which browsers take for another host.
func sitePath(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, `/\`)
}

// CookiePath is the Path of the login's cookies: the issuer's path, or
// "/". A cookie for "/" under an issuer with a path would go to every other
// application of the host.
func (h *Handler) CookiePath() string {
	if h.basePath == "" {
		return "/"
	}
	return h.basePath
}

// CookieName is the name of the cookie base: with Secure, it carries the
// __Host- prefix (Secure, this host only, Path=/) when the issuer is at
// the root, and __Secure- under an issuer's path, since __Host- requires
// Path=/ and the cookies must stay under the issuer's path.
func (h *Handler) CookieName(base string) string {
	switch {
	case !h.Secure:
		return base
	case h.basePath == "":
		return "__Host-" + base
	default:
		return "__Secure-" + base
	}
}
