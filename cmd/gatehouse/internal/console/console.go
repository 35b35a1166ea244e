// Package console is the admin console at /admin: server-rendered pages
// for users with the administrator role (gatehouse users grant-admin) to
// manage clients, users and blocks and read the audit log. Every action
// goes through the admin service, as the CLI's and the admin API's do,
// and is audited as "admin <email> (console)" from the client's IP.
//
// The console asks more of a browser than the account pages do: the
// user must have a second factor and the session must have used it (its
// amr holds "mfa", or it re-authenticated, which asks for the factor);
// after Idle without a console request the user re-authenticates on the
// login's page (/account/reauth), which returns to the console. Every
// form carries a CSRF token bound to the session.
package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/templates"
)

//go:embed templates
var files embed.FS

// DefaultIdle is how long the console may go unused before it asks the
// administrator to re-authenticate.
const DefaultIdle = 15 * time.Minute

// activityCookie holds the time of the browser's last console request,
// bound to its session by an HMAC.
const activityCookie = "gh_console"

// Handler serves the console. Set the exported fields, then call Init
// once before Routes.
type Handler struct {
	Login     *login.Handler // owns sessions, the re-authentication and the language
	Store     admin.Store
	Passwords *password.Hasher
	Now       func() time.Time
	Logger    *slog.Logger
	ClientIP  func(*http.Request) netip.Addr
	// CSRFKey keys the forms' tokens and the activity cookie.
	CSRFKey [32]byte
	// Secure marks the activity cookie Secure, with the __Host- prefix
	// (__Secure- under an issuer's path, as the login's cookies).
	Secure bool
	// SealBox opens the secrets key (client_secret_jwt clients); nil
	// where there is none.
	SealBox func() (*seal.Box, error)
	// Idle is how long the console may go unused before it asks again; 0
	// means DefaultIdle.
	Idle time.Duration

	pages map[string]*template.Template
}

// pageNames are the console's pages, each with layout.html and the
// parts.html of the templates package.
var pageNames = []string{"home.html", "error.html", "clients.html", "client.html", "client_new.html",
	"secret.html", "client_delete.html", "users.html", "user.html", "blocks.html", "audit.html"}

// Init checks the dependencies and parses the pages.
func (h *Handler) Init() error {
	if h.Login == nil || h.Store == nil || h.Passwords == nil || h.Now == nil || h.Logger == nil || h.ClientIP == nil {
		return errors.New("console: Handler is missing a dependency")
	}
	h.pages = make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(h.funcs()).ParseFS(files, "templates/layout.html", "templates/"+name)
		if err == nil {
			t, err = t.ParseFS(templates.FS, "parts.html") // the login pages' shared parts
		}
		if err != nil {
			return fmt.Errorf("console: parse page %s: %w", name, err)
		}
		h.pages[name] = t
	}
	return nil
}

// Routes returns the console's routes, /admin and below. Every one but
// the static files passes the guard (serve).
func (h *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	r.Get("/admin/static/*", h.static)
	r.Get("/admin", h.serve(h.home))
	r.Get("/admin/clients", h.serve(h.listClients))
	r.Get("/admin/clients/new", h.serve(h.newClient))
	r.Post("/admin/clients", h.serve(h.createClient))
	r.Get("/admin/clients/{id}", h.serve(h.showClient))
	r.Post("/admin/clients/{id}/uris", h.serve(h.setClientURIs))
	r.Post("/admin/clients/{id}/settings", h.serve(h.setClientSettings))
	r.Post("/admin/clients/{id}/secret", h.serve(h.rotateSecret))
	r.Post("/admin/clients/{id}/disable", h.serve(h.setClientDisabled(true)))
	r.Post("/admin/clients/{id}/enable", h.serve(h.setClientDisabled(false)))
	r.Get("/admin/clients/{id}/delete", h.serve(h.confirmDelete))
	r.Post("/admin/clients/{id}/delete", h.serve(h.deleteClient))
	r.Get("/admin/users", h.serve(h.listUsers))
	r.Post("/admin/users", h.serve(h.createUser))
	r.Get("/admin/users/{id}", h.serve(h.showUser))
	r.Post("/admin/users/{id}/{action}", h.serve(h.userAction))
	r.Get("/admin/blocks", h.serve(h.listBlocks))
	r.Post("/admin/blocks/clear", h.serve(h.clearBlock))
	r.Get("/admin/audit", h.serve(h.audit))
	return r
}

// Mount registers each of the console's routes on r, its handler wrapped
// by wrap, so that the server's router needs no list of them.
func (h *Handler) Mount(r chi.Router, wrap func(http.Handler) http.Handler) error {
	return chi.Walk(h.Routes(), func(method, route string, handler http.Handler, _ ...func(http.Handler) http.Handler) error {
		r.Method(method, route, wrap(handler))
		return nil
	})
}

// static serves the console's stylesheet and script.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/admin/static/")
	if name != "console.css" && name != "console.js" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, files, "templates/static/"+name)
}

// idle is how long the console may go unused.
func (h *Handler) idle() time.Duration {
	if h.Idle > 0 {
		return h.Idle
	}
	return DefaultIdle
}

// adminKey carries the signed-in administrator of a console request.
type adminKey struct{}

// caller is the administrator of a console request and their session.
type caller struct {
	sess *storage.Session
	user *storage.User
}

// guard lets through the requests of a signed-in administrator whose
// session used a second factor and was active within Idle; the others get
// a page that says why, or the re-authentication page. A POST must carry
// the session's CSRF token.
func (h *Handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, u, err := h.Login.SessionUser(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if sess == nil && r.Method == http.MethodGet {
			// Sign in at Gatehouse's front door, then come back here.
			http.Redirect(w, r, "/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if sess == nil {
			h.renderError(w, r, http.StatusUnauthorized, "Not signed in",
				"Sign in to an application that uses Gatehouse (or to your account), then come back to the console.", "")
			return
		}
		if !u.Admin {
			h.renderError(w, r, http.StatusForbidden, "Not an administrator",
				"Your account does not have the administrator role. Ask an administrator to grant it.", "")
			return
		}
		has, err := h.Login.HasSecondFactor(r.Context(), u)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !has {
			h.renderError(w, r, http.StatusForbidden, "Turn on two-factor first",
				"The admin console needs a second factor: an authenticator app, email codes or a security key. Turn one on, then come back.", "/account/security")
			return
		}
		now := h.Now()
		strong := slices.Contains(sess.AMR, "mfa") || !sess.ReauthAt.IsZero()
		last := sess.AuthTime
		if sess.ReauthAt.After(last) {
			last = sess.ReauthAt
		}
		if t, ok := h.activity(r, sess.ID); ok && t.After(last) {
			last = t
		}
		if !strong || now.Sub(last) >= h.idle() {
			back := backPage(r.URL.Path)
			if r.Method == http.MethodGet {
				back = r.URL.RequestURI()
			}
			http.Redirect(w, r, login.ReauthURL(back), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				status := http.StatusBadRequest
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					status = http.StatusRequestEntityTooLarge
				}
				h.renderError(w, r, status, "Request refused", msgForbidden, "")
				return
			}
			if got := r.PostForm.Get("csrf"); got == "" || !hmac.Equal([]byte(got), []byte(h.csrf(sess.ID))) {
				h.renderError(w, r, http.StatusForbidden, "Request refused", msgForbidden, "")
				return
			}
		}
		h.setActivity(w, sess.ID, now)
		next(w, r.WithContext(withCaller(r.Context(), &caller{sess: sess, user: u})))
	}
}

// backPage is the page that shows the form a POST to path came from:
// the client's or the user's page, the list, or the new client form.
func backPage(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/admin/"), "/")
	switch area := parts[0]; {
	case area == "clients" && len(parts) == 1:
		return "/admin/clients/new"
	case (area == "clients" || area == "users") && len(parts) >= 2:
		return "/admin/" + area + "/" + parts[1]
	case area == "users" || area == "blocks":
		return "/admin/" + area
	}
	return "/admin"
}

// msgForbidden is the message of a refused form.
const msgForbidden = "Your request could not be verified. Please reload the page and try again."

// msgFormUsed is the message of a one-time form sent again (takeOnce).
const msgFormUsed = "This form was sent already, or it expired: nothing more was done. Check the list, then open the form again if you need to."

// mac is the HMAC of purpose and value under the CSRF key.
func (h *Handler) mac(purpose, value string) string {
	m := hmac.New(sha256.New, h.CSRFKey[:])
	m.Write([]byte("console " + purpose + ":" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrf is the form token of the session id.
func (h *Handler) csrf(sessionID string) string { return h.mac("csrf", sessionID) }

func (h *Handler) cookieName() string {
	switch {
	case !h.Secure:
		return activityCookie
	case h.Login.BasePath() == "":
		return "__Host-" + activityCookie
	default:
		return "__Secure-" + activityCookie
	}
}

// activity returns the time of the last console request of the session
// id from the browser's activity cookie.
func (h *Handler) activity(r *http.Request, sessionID string) (time.Time, bool) {
	c, err := r.Cookie(h.cookieName())
	if err != nil {
		return time.Time{}, false
	}
	ts, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(h.mac("activity", sessionID+":"+ts))) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// setActivity records now as the last console request of the session id.
func (h *Handler) setActivity(w http.ResponseWriter, sessionID string, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName(), Value: ts + "." + h.mac("activity", sessionID+":"+ts), Path: h.Login.CookiePath(),
		HttpOnly: true, Secure: h.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// service is the admin service acting as the request's administrator.
func (h *Handler) service(r *http.Request) *admin.Service {
	c := callerOf(r.Context())
	s := admin.NewService(h.Store, h.Passwords, h.Now, "admin "+c.user.Email+" (console)")
	s.Logger = h.Logger
	s.SealBox = h.SealBox
	s.Invite = h.Login.SendInvitation
	s.Mailer = h.Login.Mailer
	if ip := h.ClientIP(r); ip.IsValid() {
		s.IP = ip.String()
	}
	return s
}
