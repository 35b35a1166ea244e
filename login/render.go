package login

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

// pageNames are the pages every Pages FS must provide.
var pageNames = []string{"login.html", "error.html", "signedout.html", "account.html",
	"code.html", "enroll.html", "security.html", "recovery.html",
	"register.html", "notice.html", "forgot.html", "reset.html", "password.html",
	"webauthn.html", "reauth.html", "logout.html",
	"consent.html"}

type pages map[string]*template.Template

func parsePages(fsys fs.FS) (pages, error) {
	p := make(pages, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(fsys, "layout.html", name)
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
	if err := WritePage(w, status, h.pages[name], data); err != nil {
		h.Logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
	}
}
