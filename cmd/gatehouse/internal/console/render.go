package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// page is the data every console page receives; each uses its part.
type page struct {
	Lang    string
	Back    string // where the language switcher returns
	Title   string
	Area    string // the navigation's current area: clients, users, blocks, audit
	Admin   *storage.User
	CSRF    string
	Notice  string // what the last action did
	Message string // the error page's
	Link    string // the error page's way on

	Clients []admin.ClientView
	Client  *admin.ClientView
	Secret  string // a new client secret, shown once
	Users   []admin.UserView
	User    *admin.UserView
	Query   string // the users' search
	Events  []admin.EventView
	Blocks  []admin.BlockView
	Filter  auditFilter
	Next    string // the next page of the audit log

	Algorithms []string
	Formats    []string
	Grants     []string // the grant types a client may be allowed
	Once       string   // the one-time key of the page's form (newOnce): a new client, a secret rotation, a user's actions
}

// action is the data of a form of one button that posts an action on the
// page's client or user (client.html's client-action, user.html's
// user-action): the page, the action's path under the client or user, and
// the button's label.
type action struct {
	*page
	Path  string
	Label string
}

// funcs are the template functions: {{t .Lang "text"}}, {{tf .Lang
// "%d users" n}}, {{date .Lang t}}, {{join list}}, {{has list s}} and
// {{action . "path" "label"}}.
var funcs = template.FuncMap{
	"t": func(lang, s string) string { return tr(i18n.Lang(lang), s) },
	"tf": func(lang, format string, args ...any) string {
		return fmt.Sprintf(tr(i18n.Lang(lang), format), args...)
	},
	"date": func(lang string, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return i18n.FormatTime(i18n.Lang(lang), t)
	},
	"join":  func(l []string) string { return strings.Join(l, "\n") },
	"has":   func(l []string, s string) bool { return slices.Contains(l, s) },
	"langs": func() []i18n.Lang { return i18n.Langs },
	"query": url.QueryEscape,
	"action": func(p *page, path, label string) action {
		return action{page: p, Path: path, Label: label}
	},
}

// funcs are the template functions with the operator's brand: t and tf
// name it instead of Gatehouse (login.Brand).
func (h *Handler) funcs() template.FuncMap {
	f := maps.Clone(funcs)
	// {{base}}/admin and {{url .Link}}: the site's paths under the
	// issuer's path (login's URL).
	f["base"] = h.Login.BasePath
	f["url"] = h.Login.URL
	name := h.Login.Brand.Name
	if name == "" || name == mail.ProductName {
		return f
	}
	f["t"] = func(lang, s string) string {
		return strings.ReplaceAll(tr(i18n.Lang(lang), s), mail.ProductName, name)
	}
	f["tf"] = func(lang, format string, args ...any) string {
		return strings.ReplaceAll(fmt.Sprintf(tr(i18n.Lang(lang), format), args...), mail.ProductName, name)
	}
	return f
}

// render executes the page name into a buffer first, so a template failure
// never sends half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Lang = string(h.Login.Lang(r))
	p.Back = r.URL.RequestURI()
	if r.Method != http.MethodGet {
		p.Back = r.URL.Path
	}
	if c := callerOf(r.Context()); c != nil {
		p.Admin = c.user
		p.CSRF = h.csrf(c.sess.ID)
	}
	if p.Notice == "" {
		p.Notice = notices[r.URL.Query().Get("done")]
	}
	if err := login.WritePage(w, status, h.pages[name], p); err != nil {
		h.Logger.ErrorContext(r.Context(), "console: render page", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
	}
}

// renderError renders the error page with a way on (link, or none).
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, title, message, link string) {
	h.render(w, r, status, "error.html", &page{Title: title, Message: message, Link: link})
}

// serve adapts a page that returns an error, behind the guard: the
// service's errors (bad input, no such thing, a conflict) are shown with
// their message, any other is logged and answered 503.
func (h *Handler) serve(step func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		if err := step(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// fail answers err (see serve).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := map[admin.Kind]int{admin.Invalid: http.StatusBadRequest, admin.NotFound: http.StatusNotFound,
		admin.Conflict: http.StatusConflict, admin.Refused: http.StatusUnprocessableEntity}[admin.KindOf(err)]
	if status != 0 {
		back := r.URL.Path
		if r.Method != http.MethodGet {
			back = backPage(back)
		}
		h.renderError(w, r, status, "Not done", err.Error(), back)
		return
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		h.renderError(w, r, http.StatusRequestEntityTooLarge, "Request refused", "The request was too large.", "")
		return
	}
	h.Logger.ErrorContext(r.Context(), "console: request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	h.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database is not available. Please try again in a moment.", "")
}

// done redirects (303) to path with the notice key, once an action is
// done.
func done(w http.ResponseWriter, r *http.Request, path, notice string) {
	http.Redirect(w, r, path+"?done="+notice, http.StatusSeeOther)
}

// notices are the messages of the actions' keys (done).
var notices = map[string]string{
	"uris":            "The redirect URIs were saved.",
	"settings":        "The settings were saved.",
	"deleted":         "The client was deleted.",
	"client-disabled": "The client was disabled: it is refused everywhere and its tokens were revoked.",
	"client-enabled":  "The client was enabled.",
	"created":         "The user was created.",
	"disable":         "The user was disabled and signed out everywhere.",
	"enable":          "The user was enabled.",
	"reset-2fa":       "Every second factor of the user was removed.",
	"sign-out":        "The user was signed out everywhere.",
	"cleared":         "The block was cleared.",
}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, adminKey{}, c)
}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(adminKey{}).(*caller)
	return c
}
