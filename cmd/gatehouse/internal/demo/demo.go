// Package demo is the demo of gatehouse serve --demo: a demo user, a demo
// client and, at /demo on the same server, a tiny relying party that signs
// in through Gatehouse like any application would (authorization code with
// PKCE, ID token verified with go-oidc) and shows the verified claims.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/templates"
)

// The demo user and client that --demo creates when absent.
const (
	Email      = "demo@example.com"
	UserName   = "Demo User"
	ClientName = "Gatehouse demo"
)

// Cookies of the demo application, both sealed with the secrets key and
// scoped to /demo: the sign-in in progress (state, nonce, PKCE verifier)
// and the verified ID token.
const (
	flowCookie    = "gh_demo_flow"
	SessionCookie = "gh_demo_session"
	flowTTL       = 10 * time.Minute
)

// setup creates the demo client and the demo user unless they exist,
// and prints how to use them to w; a new user's random password is printed
// there once (it is stored only hashed). It returns the client's id.
func setup(ctx context.Context, store storage.Store, passwords *password.Hasher, issuer string, now func() time.Time,
	w io.Writer) (string, error) {
	svc := admin.NewService(store, passwords, now, "gatehouse serve --demo")
	redirect := issuer + "/demo/callback"
	clients, err := store.ListClients(ctx)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	clientID := ""
	for _, c := range clients {
		if c.Name == ClientName && c.Public && slices.Contains(c.RedirectURIs, redirect) {
			clientID = c.ID
			break
		}
	}
	if clientID == "" {
		c, err := svc.CreateClient(ctx, admin.ClientSpec{
			Name:                   ClientName,
			RedirectURIs:           []string{redirect},
			PostLogoutRedirectURIs: []string{issuer + "/demo"},
			Public:                 true, // PKCE, no secret to keep across restarts
		})
		if err != nil {
			return "", fmt.Errorf("demo: create the demo client: %w", err)
		}
		clientID = c.ID
	}

	password := ""
	switch _, err := store.UserByEmail(ctx, Email); {
	case errors.Is(err, storage.ErrNotFound):
		password = rand.Text()
		if _, err := svc.CreateUser(ctx, admin.UserSpec{Email: Email, Name: UserName, Password: password}); err != nil {
			return "", fmt.Errorf("demo: create the demo user: %w", err)
		}
	case err != nil:
		return "", fmt.Errorf("demo: %w", err)
	}

	fmt.Fprintf(w, "\nDemo: open %s/demo and sign in.\n", issuer)
	if password != "" {
		fmt.Fprintf(w, "  demo user:   %s  password: %s  (shown this once)\n", Email, password)
	} else {
		fmt.Fprintf(w, "  demo user:   %s  (its password was printed when it was created; lost, reset it with\n"+
			"               \"Forgot password?\" on the sign-in page: without SMTP the email is in the mail outbox)\n", Email)
	}
	fmt.Fprintf(w, "  demo client: %s  (public, PKCE; redirect URI %s)\n", clientID, redirect)
	fmt.Fprintf(w, "  Turn on a second factor at %s/account/security, then sign in again.\n\n", issuer)
	return clientID, nil
}

// An App is the demo relying party served at /demo. It talks to
// Gatehouse over HTTP at the issuer URL, as a separate application would,
// and keeps no state of its own: the sign-in in progress and the ID token
// live in sealed cookies, so any replica can serve any request.
type App struct {
	Issuer   string
	ClientID string
	Seal     *seal.Box
	Secure   bool // Secure cookies (https issuer)
	Client   *http.Client
	Logger   *slog.Logger
	Now      func() time.Time

	page *template.Template

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use
}

// basePath is the issuer's path ("" at the root), under which the demo
// is served.
func (d *App) basePath() string {
	u, err := url.Parse(d.Issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// init parses the page.
func (d *App) init() error {
	// {{base}}/demo: the demo's paths under the issuer's path.
	t, err := template.New("demo.html").Funcs(template.FuncMap{"base": d.basePath}).ParseFS(templates.FS, "demo.html")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.page = t
	return nil
}

// ServeHTTP serves /demo, /demo/login, /demo/callback and /demo/logout.
func (d *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/demo", "/demo/":
		d.home(w, r)
	case "/demo/login":
		d.login(w, r)
	case "/demo/callback":
		d.callback(w, r)
	case "/demo/logout":
		d.logout(w, r)
	default:
		http.NotFound(w, r)
	}
}

// discover returns the issuer's discovery document, fetched once.
func (d *App) discover(ctx context.Context) (*oidc.Provider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provider != nil {
		return d.provider, nil
	}
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), d.Client)
	p, err := oidc.NewProvider(ctx, d.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	d.provider = p
	return p, nil
}

// verifier checks ID tokens of the issuer for the demo client, with the
// keys the issuer publishes.
func (d *App) verifier(p *oidc.Provider) *oidc.IDTokenVerifier {
	return p.Verifier(&oidc.Config{ClientID: d.ClientID, Now: d.Now})
}

func (d *App) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    d.ClientID,
		Endpoint:    p.Endpoint(),
		RedirectURL: d.Issuer + "/demo/callback",
		Scopes:      []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// demoFlow is the sign-in in progress, kept in the flow cookie.
type demoFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"` // Unix seconds
}

// login starts a sign-in: new state, nonce and PKCE verifier, then off to
// Gatehouse's /authorize.
func (d *App) login(w http.ResponseWriter, r *http.Request) {
	p, err := d.discover(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusBadGateway, "Gatehouse could not be reached for discovery.", err)
		return
	}
	f := demoFlow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Expires: d.Now().Add(flowTTL).Unix()}
	data, _ := json.Marshal(f)
	d.setCookie(w, flowCookie, d.seal(data, flowCookie), flowTTL)
	u := d.oauth(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

// callback finishes a sign-in: it checks the state, redeems the code with
// the PKCE verifier, verifies the ID token and its nonce, and keeps the
// token in the session cookie.
func (d *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		d.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Gatehouse answered %s: %s", e, q.Get("error_description")), nil)
		return
	}
	var f demoFlow
	data, ok := d.cookie(r, flowCookie)
	if !ok || json.Unmarshal(data, &f) != nil || d.Now().Unix() > f.Expires {
		d.fail(w, r, http.StatusBadRequest, "This sign-in was not started here or has expired.", nil)
		return
	}
	d.setCookie(w, flowCookie, "", -1)
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		d.fail(w, r, http.StatusBadRequest, "The state does not match this sign-in.", nil)
		return
	}
	code := q.Get("code")
	if code == "" {
		d.fail(w, r, http.StatusBadRequest, "Gatehouse sent no authorization code.", nil)
		return
	}
	p, err := d.discover(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusBadGateway, "Gatehouse could not be reached for discovery.", err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), d.Client)
	tok, err := d.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		d.fail(w, r, http.StatusBadGateway, "The authorization code could not be exchanged for tokens.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := d.verifier(p).Verify(ctx, raw)
	if err != nil {
		d.fail(w, r, http.StatusBadGateway, "The ID token did not verify.", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		d.fail(w, r, http.StatusBadGateway, "The ID token's nonce does not match this sign-in.", nil)
		return
	}
	d.setCookie(w, SessionCookie, d.seal([]byte(raw), SessionCookie), idt.Expiry.Sub(d.Now()))
	http.Redirect(w, r, "/demo", http.StatusSeeOther)
}

// demoClaim is one claim of the ID token, for display.
type demoClaim struct{ Name, Value string }

// home shows the verified claims of the ID token in the session cookie, or
// the sign-in button.
func (d *App) home(w http.ResponseWriter, r *http.Request) {
	view := struct {
		Error           string
		Claims          []demoClaim
		Email, ACR, AMR string
		AuthTime        string
	}{}
	if raw, ok := d.cookie(r, SessionCookie); ok {
		claims, err := d.claims(r.Context(), string(raw))
		if err != nil {
			// Expired or signed with a key no longer published: sign in again.
			d.Logger.InfoContext(r.Context(), "demo: stored ID token no longer verifies", "err", err)
			d.setCookie(w, SessionCookie, "", -1)
		} else {
			view.Claims = claims.list
			view.Email, view.ACR, view.AMR = claims.Email, claims.ACR, strings.Join(claims.AMR, " ")
			if claims.AuthTime > 0 {
				view.AuthTime = time.Unix(claims.AuthTime, 0).UTC().Format("2 Jan 2006 15:04:05 UTC")
			}
		}
	}
	d.render(w, r, http.StatusOK, view)
}

// demoClaims are the verified claims of an ID token.
type demoClaims struct {
	Email    string   `json:"email"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
	list     []demoClaim
}

// claims verifies raw again (signature, issuer, audience, expiry) and
// returns its claims.
func (d *App) claims(ctx context.Context, raw string) (*demoClaims, error) {
	p, err := d.discover(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := d.verifier(p).Verify(oidc.ClientContext(ctx, d.Client), raw)
	if err != nil {
		return nil, err
	}
	var c demoClaims
	var all map[string]json.RawMessage
	if err := idt.Claims(&c); err != nil {
		return nil, err
	}
	if err := idt.Claims(&all); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c.list = append(c.list, demoClaim{Name: k, Value: string(all[k])})
	}
	return &c, nil
}

// logout forgets the demo's session and signs out at Gatehouse too
// (RP-initiated logout), which sends the browser back to /demo.
func (d *App) logout(w http.ResponseWriter, r *http.Request) {
	raw, ok := d.cookie(r, SessionCookie)
	d.setCookie(w, SessionCookie, "", -1)
	p, err := d.discover(r.Context())
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if !ok || err != nil || p.Claims(&meta) != nil || meta.EndSession == "" {
		http.Redirect(w, r, "/demo", http.StatusSeeOther)
		return
	}
	v := url.Values{
		"id_token_hint":            {string(raw)},
		"client_id":                {d.ClientID},
		"post_logout_redirect_uri": {d.Issuer + "/demo"},
	}
	http.Redirect(w, r, meta.EndSession+"?"+v.Encode(), http.StatusSeeOther)
}

// fail shows what went wrong; err, logged, may hold details the page
// leaves out.
func (d *App) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if err != nil {
		d.Logger.WarnContext(r.Context(), "demo: "+msg, "err", err)
	}
	d.render(w, r, status, struct{ Error string }{msg})
}

func (d *App) render(w http.ResponseWriter, r *http.Request, status int, view any) {
	var b strings.Builder
	if err := d.page.Execute(&b, view); err != nil {
		d.Logger.ErrorContext(r.Context(), "demo: render", "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, b.String())
}

// seal encrypts data for the cookie name.
func (d *App) seal(data []byte, name string) string {
	return base64.RawURLEncoding.EncodeToString(d.Seal.Seal(data, []byte("demo cookie "+name)))
}

// cookie returns the opened value of the cookie name, if it is there and
// was sealed by Gatehouse for that name.
func (d *App) cookie(r *http.Request, name string) ([]byte, bool) {
	c, err := r.Cookie(name)
	if err != nil {
		return nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, false
	}
	data, err := d.Seal.Open(sealed, []byte("demo cookie "+name))
	if err != nil {
		return nil, false
	}
	return data, true
}

// setCookie sets the cookie name for ttl, or deletes it when ttl ≤ 0.
func (d *App) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: d.basePath() + "/demo", HttpOnly: true, Secure: d.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ttl.Seconds())}
	if ttl <= 0 {
		c.Value, c.MaxAge = "", -1
	}
	http.SetCookie(w, c)
}

// New sets up the demo user and client (printing to w how to use them) and
// returns the demo application for issuer, running on the clock now.
// box seals its cookies.
func New(ctx context.Context, store storage.Store, passwords *password.Hasher, issuer string, box *seal.Box,
	now func() time.Time, w io.Writer, logger *slog.Logger) (*App, error) {
	clientID, err := setup(ctx, store, passwords, issuer, now, w)
	if err != nil {
		return nil, err
	}
	d := &App{
		Issuer:   issuer,
		ClientID: clientID,
		Seal:     box,
		Secure:   strings.HasPrefix(issuer, "https://"),
		Client:   &http.Client{Timeout: 10 * time.Second},
		Logger:   logger,
		Now:      now,
	}
	if err := d.init(); err != nil {
		return nil, err
	}
	logger.Info("demo application at /demo", "client_id", clientID)
	return d, nil
}
