package console

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// home is GET /admin: the console's areas.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) error {
	h.render(w, r, http.StatusOK, "home.html", &page{Title: "Admin console"})
	return nil
}

// ---- Clients ----

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.service(r).ListClients(r.Context())
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "clients.html", &page{Title: "Clients", Area: "clients", Clients: cs})
	return nil
}

func (h *Handler) newClient(w http.ResponseWriter, r *http.Request) error {
	once, err := h.newOnce(r, "create client")
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "client_new.html", &page{Title: "New client", Area: "clients",
		Algorithms: algorithms, Formats: formats, Grants: op.GrantTypes, Once: once})
	return nil
}

// onceTTL is how long a one-time form (newOnce) may wait to be sent.
const onceTTL = time.Hour

// newOnce returns the one-time key of a form for purpose, shown to the
// request's session, for takeOnce. It is kept with the ceremonies of
// security keys (storage's WebAuthn sessions), which are one-time data
// under a random key, until onceTTL.
func (h *Handler) newOnce(r *http.Request, purpose string) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	key := base64.RawURLEncoding.EncodeToString(b)
	data := []byte("console " + purpose + ":" + callerOf(r.Context()).sess.ID)
	if err := h.Store.PutWebAuthnSession(r.Context(), key, data, h.Now().Add(onceTTL)); err != nil {
		return "", fmt.Errorf("store one-time form key: %w", err)
	}
	return key, nil
}

// takeOnce takes the posted form's one-time key (newOnce) for purpose:
// false when it is missing, unknown, taken before (the form sent again),
// expired, or another session's.
func (h *Handler) takeOnce(r *http.Request, purpose string) (bool, error) {
	key := r.PostForm.Get("once")
	if key == "" || len(key) > 64 {
		return false, nil
	}
	data, err := h.Store.TakeWebAuthnSession(r.Context(), key, h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take one-time form key: %w", err)
	}
	return hmac.Equal(data, []byte("console "+purpose+":"+callerOf(r.Context()).sess.ID)), nil
}

var (
	algorithms = []string{op.RS256, "ES256", "EdDSA"}
	formats    = []string{op.AccessTokenOpaque, op.AccessTokenJWT}
)

// formGrants returns the grant types checked in a client form, or nil
// when the form has no grant type boxes (its grant_types_shown field):
// then the client's grants are its defaults, or stay as they are. Boxes
// shown and none checked give an empty list, which is refused.
func formGrants(f url.Values) []string {
	if !f.Has("grant_types_shown") {
		return nil
	}
	return append([]string{}, f["grant_types"]...)
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// createClient is POST /admin/clients; the page shows the secret once.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request) error {
	// The form creates one client: sent again (a double click, a reload,
	// a replay), it creates none.
	if ok, err := h.takeOnce(r, "create client"); err != nil || !ok {
		if err == nil {
			h.renderError(w, r, http.StatusConflict, "Not done", msgFormUsed, "/admin/clients")
		}
		return err
	}
	f := r.PostForm
	c, err := h.service(r).CreateClient(r.Context(), admin.ClientSpec{
		Name:                   f.Get("name"),
		RedirectURIs:           lines(f.Get("redirect_uris")),
		PostLogoutRedirectURIs: lines(f.Get("post_logout_redirect_uris")),
		Public:                 f.Get("type") == "public",
		RequireMFA:             f.Get("require_mfa") == "on",
		SigningAlgorithm:       f.Get("signing_algorithm"),
		AccessTokenFormat:      f.Get("access_token_format"),
		GrantTypes:             formGrants(f),
	})
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusCreated, "secret.html", &page{Title: "Client created", Area: "clients",
		Client: &c.ClientView, Secret: c.Secret})
	return nil
}

func (h *Handler) showClient(w http.ResponseWriter, r *http.Request) error {
	c, err := h.service(r).Client(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	once, err := h.newOnce(r, "rotate secret "+c.ID)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "client.html", &page{Title: c.Name, Area: "clients", Client: c,
		Algorithms: algorithms, Formats: formats, Grants: op.GrantTypes, Once: once})
	return nil
}

func clientPath(id string) string { return "/admin/clients/" + url.PathEscape(id) }

func (h *Handler) setClientURIs(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	logouts := lines(r.PostForm.Get("post_logout_redirect_uris"))
	_, err := h.service(r).SetClientURIs(r.Context(), id, admin.ClientURIs{
		RedirectURIs: lines(r.PostForm.Get("redirect_uris")), PostLogoutRedirectURIs: &logouts})
	if err != nil {
		return err
	}
	done(w, r, clientPath(id), "uris")
	return nil
}

func (h *Handler) setClientSettings(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	f := r.PostForm
	mfa := f.Get("require_mfa") == "on"
	alg, format := f.Get("signing_algorithm"), f.Get("access_token_format")
	set := admin.ClientSettings{RequireMFA: &mfa, SigningAlgorithm: &alg, AccessTokenFormat: &format}
	if g := formGrants(f); g != nil {
		set.GrantTypes = &g
	}
	_, err := h.service(r).SetClientSettings(r.Context(), id, set)
	if err != nil {
		return err
	}
	done(w, r, clientPath(id), "settings")
	return nil
}

// rotateSecret is POST /admin/clients/{id}/secret; the page shows the new
// secret once.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	s := h.service(r)
	id := chi.URLParam(r, "id")
	// One rotation a page: sent again, the form would void the secret
	// the first one showed.
	if ok, err := h.takeOnce(r, "rotate secret "+id); err != nil || !ok {
		if err == nil {
			h.renderError(w, r, http.StatusConflict, "Not done", msgFormUsed, clientPath(id))
		}
		return err
	}
	secret, err := s.RotateSecret(r.Context(), id)
	if err != nil {
		return err
	}
	c, err := s.Client(r.Context(), id)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "secret.html", &page{Title: "New client secret", Area: "clients", Client: c, Secret: secret})
	return nil
}

// setClientDisabled is POST /admin/clients/{id}/disable or /enable.
func (h *Handler) setClientDisabled(disabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "id")
		if _, err := h.service(r).SetClientDisabled(r.Context(), id, disabled); err != nil {
			return err
		}
		done(w, r, "/admin/clients/"+url.PathEscape(id), map[bool]string{true: "client-disabled", false: "client-enabled"}[disabled])
		return nil
	}
}

func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request) error {
	c, err := h.service(r).Client(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "client_delete.html", &page{Title: "Delete client", Area: "clients", Client: c})
	return nil
}

func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request) error {
	if err := h.service(r).DeleteClient(r.Context(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	done(w, r, "/admin/clients", "deleted")
	return nil
}

// ---- Users ----

// listUsers is GET /admin/users?q=: the users whose email holds q.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var (
		us  []admin.UserView
		err error
	)
	if q == "" {
		us, err = h.service(r).ListUsers(r.Context())
	} else {
		us, err = h.service(r).SearchUsers(r.Context(), q)
	}
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "users.html", &page{Title: "Users", Area: "users", Users: us, Query: q})
	return nil
}

// createUser is POST /admin/users: a user with the password the
// administrator gives them or, without one, invited by email to choose
// theirs.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	pw := f.Get("password")
	u, err := h.service(r).CreateUser(r.Context(), admin.UserSpec{Email: f.Get("email"), Name: f.Get("name"), Password: pw, Invite: pw == ""})
	if err != nil {
		return err
	}
	done(w, r, userPath(u.ID), pick(pw == "", "invited", "created"))
	return nil
}

// pick returns yes if b, else no.
func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func userPath(id string) string { return "/admin/users/" + url.PathEscape(id) }

// recentEvents is how many events a user's page shows.
const recentEvents = 20

func (h *Handler) showUser(w http.ResponseWriter, r *http.Request) error {
	s := h.service(r)
	u, err := s.User(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	events, err := s.Events(r.Context(), admin.AuditQuery{User: u.ID, Limit: recentEvents})
	if err != nil {
		return err
	}
	once, err := h.newOnce(r, "user action "+u.ID)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "user.html", &page{Title: u.Email, Area: "users", User: u, Events: events, Once: once})
	return nil
}

// oneTimeUserActions are the actions of a user's page that its forms do
// once (takeOnce): sent again (a double click, a reload, a replay), each
// would email the user again, and a second set-password link voids the
// first. Their forms share the page's key, so one page does one of them;
// the page done redirects to has a new key. Enabling and signing out do
// nothing more the second time, and are not one-time.
var oneTimeUserActions = map[string]bool{"disable": true, "reset-2fa": true, "password-link": true}

// userAction is POST /admin/users/{id}/{action}: disable, enable,
// reset-2fa, sign-out or password-link.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request) error {
	s, ctx := h.service(r), r.Context()
	id, action := chi.URLParam(r, "id"), chi.URLParam(r, "action")
	if oneTimeUserActions[action] {
		if ok, err := h.takeOnce(r, "user action "+id); err != nil || !ok {
			if err == nil {
				h.renderError(w, r, http.StatusConflict, "Not done", msgFormUsed, userPath(id))
			}
			return err
		}
	}
	var err error
	switch action {
	case "disable", "enable":
		_, err = s.SetUserDisabled(ctx, id, action == "disable")
	case "reset-2fa":
		_, err = s.ResetTwoFactor(ctx, id)
	case "sign-out":
		_, err = s.SignOutEverywhere(ctx, id)
	case "password-link":
		_, err = s.SendPasswordLink(ctx, id)
	default:
		http.NotFound(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	done(w, r, userPath(id), action)
	return nil
}

// ---- Blocks ----

func (h *Handler) listBlocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.service(r).Blocks(r.Context())
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "blocks.html", &page{Title: "Blocks", Area: "blocks", Blocks: bs})
	return nil
}

func (h *Handler) clearBlock(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.service(r).ClearBlocks(r.Context(), r.PostForm.Get("subject")); err != nil {
		return err
	}
	done(w, r, "/admin/blocks", "cleared")
	return nil
}

// ---- Audit log ----

// auditFilter is the audit page's form.
type auditFilter struct {
	User, IP, Type, Since string
}

// auditPage is how many events a page of the audit log shows.
const auditPage = 50

// audit is GET /admin/audit?user=&ip=&type=&since=&before=&after_id=:
// events newest first, auditPage at a time; the next page starts after
// the last event shown (before, after_id).
func (h *Handler) audit(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	f := auditFilter{User: strings.TrimSpace(v.Get("user")), IP: strings.TrimSpace(v.Get("ip")),
		Type: strings.TrimSpace(v.Get("type")), Since: strings.TrimSpace(v.Get("since"))}
	s := h.service(r)
	since, err := admin.ParseSince(f.Since, h.Now())
	if err != nil {
		return err
	}
	q := admin.AuditQuery{User: f.User, IP: f.IP, Type: f.Type, Since: since, Limit: auditPage + 1}
	if b := v.Get("before"); b != "" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err != nil {
			return admin.Errorf(admin.Invalid, "before %q: not an RFC 3339 time", b)
		}
		q.Before, q.BeforeID = t, v.Get("after_id")
	}
	events, err := s.Events(r.Context(), q)
	if err != nil {
		return err
	}
	p := &page{Title: "Audit log", Area: "audit", Filter: f}
	if len(events) > auditPage {
		events = events[:auditPage]
		last := events[len(events)-1]
		next := url.Values{}
		for k, val := range map[string]string{"user": f.User, "ip": f.IP, "type": f.Type, "since": f.Since} {
			if val != "" {
				next.Set(k, val)
			}
		}
		next.Set("before", last.Time.Format(time.RFC3339Nano))
		next.Set("after_id", last.ID)
		p.Next = "/admin/audit?" + next.Encode()
	}
	p.Events = events
	h.render(w, r, http.StatusOK, "audit.html", p)
	return nil
}
