package login

// Languages: every step runs with the language of its request (see
// login/i18n). serve works it out from the gh_lang cookie (the switcher)
// and Accept-Language, and the step refines it with the ui_locales of the
// auth request it loads. Messages with numbers or names are translated when
// they are built (langOf); fixed texts are translated by the templates' t.

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// langCookie holds the language chosen with the switcher.
const langCookie = "gh_lang"

// langCookieAge is how long the switcher's choice is kept.
const langCookieAge = 365 * 24 * time.Hour

// langState is the language of a request, held in its context; a step
// that loads its auth request refines it with the request's ui_locales.
type langState struct {
	lang     i18n.Lang
	explicit string // the switcher's choice, or ""
	accept   string // the Accept-Language header
}

type langKey struct{}

// explicitLang returns the language chosen with the switcher, or "".
func (h *Handler) explicitLang(r *http.Request) string {
	c, err := r.Cookie(h.CookieName(langCookie))
	if err != nil {
		return ""
	}
	if l, ok := i18n.Parse(c.Value); ok {
		return string(l)
	}
	return ""
}

// withLang puts the language of r, without an auth request yet, in its
// context.
func (h *Handler) withLang(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(langKey{}).(*langState); ok {
		return r
	}
	st := &langState{explicit: h.explicitLang(r), accept: r.Header.Get("Accept-Language")}
	st.lang = i18n.Match(st.explicit, nil, st.accept)
	return r.WithContext(context.WithValue(r.Context(), langKey{}, st))
}

// useRequestLang makes the language of the request in ctx the one for a
// page of ar: its ui_locales come after the switcher's choice and before
// Accept-Language.
func useRequestLang(ctx context.Context, ar *storage.AuthRequest) {
	if st, ok := ctx.Value(langKey{}).(*langState); ok && ar != nil {
		st.lang = i18n.Match(st.explicit, ar.UILocales, st.accept)
	}
}

// langOf returns the language of the request in ctx.
func langOf(ctx context.Context) i18n.Lang {
	if st, ok := ctx.Value(langKey{}).(*langState); ok {
		return st.lang
	}
	return i18n.Default
}

// switchLang is GET /lang?to=ru&back=/path: it keeps the choice in a
// cookie for a year and goes back to the page, a local path.
func (h *Handler) switchLang(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if l, ok := i18n.Parse(q.Get("to")); ok {
		http.SetCookie(w, &http.Cookie{
			Name:     h.CookieName(langCookie),
			Value:    string(l),
			Path:     h.CookiePath(),
			MaxAge:   int(langCookieAge / time.Second),
			HttpOnly: true,
			Secure:   h.Secure,
			SameSite: http.SameSiteLaxMode,
		})
	}
	back := q.Get("back")
	if !localPath(back) {
		back = "/account"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// localPath reports whether s is a path on this site: it starts with one
// "/" (not "//" or "/\", which browsers take for another host) and holds
// no backslash, control character or space.
func localPath(s string) bool {
	if len(s) == 0 || len(s) > 2048 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// backURL is where the switcher returns to from the page r shows: r's own
// URL for a GET, and for a POST the page that shows the same step again.
// The answers of /register and /recover go back to a bare form: they must
// not differ between two requests (which reveals nothing anyway, but keeps
// the answers byte for byte the same).
func backURL(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	path, keys := r.URL.Path, []string(nil)
	switch {
	case path == "/login":
		keys = []string{"authRequestID"}
	case strings.HasPrefix(path, "/login/otp"):
		path, keys = "/login/otp", []string{"authRequestID", "method"}
	case strings.HasPrefix(path, "/login/enroll"):
		path, keys = "/login/enroll", []string{"authRequestID", "method"}
	case path == "/register", path == "/recover":
	case path == "/register/confirm", path == "/recover/reset":
		keys = []string{"token"}
	case strings.HasPrefix(path, "/account/security"):
		path = "/account/security"
	case strings.HasPrefix(path, "/account/password"):
		path = "/account/password"
	default:
		path = "/account"
	}
	q := url.Values{}
	for _, k := range keys {
		if v := r.PostForm.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// langLink is one entry of the language switcher.
type langLink struct {
	Code string
	Name string
}

// templateFuncs are the functions the page templates use:
//
//	{{t .Lang "Sign in"}}                   a text in the page's language
//	{{tf .Lang "%d left" .RecoveryLeft}}    the same, formatted
//	{{date .Lang .Time}}                    a date and time
//	{{shortdate .Lang .Time}}               the same without the year
//	{{range langs}}                         the switcher's languages
var templateFuncs = template.FuncMap{
	"t": func(lang, s string) string { return i18n.T(i18n.Lang(lang), s) },
	"tf": func(lang, format string, args ...any) string {
		return i18n.Tf(i18n.Lang(lang), format, args...)
	},
	"date":      func(lang string, t time.Time) string { return i18n.FormatTime(i18n.Lang(lang), t) },
	"shortdate": func(lang string, t time.Time) string { return i18n.FormatTimeShort(i18n.Lang(lang), t) },
	"langs": func() []langLink {
		links := make([]langLink, len(i18n.Langs))
		for i, l := range i18n.Langs {
			links[i] = langLink{Code: string(l), Name: l.Name()}
		}
		return links
	},
}

// pageBase gives render the common part of a page's data.
type pageBase interface{ base() *page }

func (p *page) base() *page { return p }

// setPageLang fills in the language and the switcher's way back of the
// page data.
func setPageLang(r *http.Request, data any) {
	b, ok := data.(pageBase)
	if !ok {
		return
	}
	p := b.base()
	if p.Lang == "" {
		p.Lang = string(langOf(r.Context()))
	}
	if p.Back == "" {
		p.Back = backURL(r)
	}
}
