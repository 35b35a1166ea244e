package login

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// pageNames are the pages every Pages FS must provide, besides layout.html
// and parts.html, which every page is parsed with.
var pageNames = []string{"login.html", "error.html", "signedout.html", "account.html",
	"code.html", "enroll.html", "security.html", "recovery.html",
	"register.html", "notice.html", "forgot.html", "reset.html", "password.html",
	"webauthn.html", "reauth.html", "logout.html",
	"consent.html"}

type pages map[string]*template.Template

// parsePages parses every page of fsys with the layout and parts, for
// brand b, with the site's paths under basePath.
func parsePages(fsys fs.FS, b Brand, basePath string) (pages, error) {
	p := make(pages, len(pageNames))
	funcs := brandFuncs(b)
	// {{base}}/account and {{url .Action}}: the site's paths under the
	// issuer's path (basepath.go).
	funcs["base"] = func() string { return basePath }
	funcs["url"] = func(p string) string { return underBase(basePath, p) }
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "layout.html", "parts.html", name)
		if err != nil {
			return nil, fmt.Errorf("login: parse page %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}

// render executes page into a buffer first, so a template failure never
// sends half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	setPageLang(r, data)
	if b, ok := data.(pageBase); ok {
		p := b.base()
		p.SignedIn = !p.sessionGone && h.cookieValue(r, sessionCookie) != ""
		p.Registration = p.Registration || h.Registration
	}
	if err := WritePage(w, status, h.pages[name], data); err != nil {
		h.Logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
	}
}

// countdown is a time left that a page shows as m:ss, rendered by the
// server; pages.js (templates/static) ticks it down where scripts run.
type countdown struct {
	Seconds int
}

// newCountdown is the countdown of d, in whole seconds rounded up; nil
// when nothing is left.
func newCountdown(d time.Duration) *countdown {
	if d <= 0 {
		return nil
	}
	return &countdown{Seconds: int((d + time.Second - 1) / time.Second)}
}

// String is the time left as m:ss.
func (c countdown) String() string {
	return fmt.Sprintf("%d:%02d", c.Seconds/60, c.Seconds%60)
}

// groupKey writes a key for manual entry in groups of four characters,
// as authenticator apps show and accept it.
func groupKey(key string) string {
	var b strings.Builder
	n := 0
	for _, r := range key {
		if n > 0 && n%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// FieldError is the page's error when it is about field (Field), for the
// page to show next to it; "" otherwise.
func (p *page) FieldError(field string) string {
	if p.Field != field {
		return ""
	}
	return p.Error
}
