package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/op"
)

// openAPIFile describes the admin API (package admin serves it).
const openAPIFile = "internal/admin/openapi.yaml"

// apiResult is a fully read admin API response.
type apiResult struct {
	status int
	header http.Header
	body   string
}

// json decodes the body into v, failing the test if it is not JSON.
func (r apiResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("response %d is not JSON (%v):\n%s", r.status, err, r.body)
	}
}

// apiErr checks that r is a JSON error with status and error code.
func (r apiResult) wantError(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error with Content-Type %q, want application/json: %s", ct, r.body)
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	r.json(t, &e)
	if e.Error != code || e.Message == "" {
		t.Errorf("error body %+v, want error %q and a message", e, code)
	}
	biNoCrash(t, "error body", r.body)
}

// adminCall sends an admin API request with token ("" for none); a body
// is sent as JSON.
func adminCall(t *testing.T, g *gatehouse, token, method, path, body string) apiResult {
	t.Helper()
	return adminCallType(t, g, token, method, path, body, "application/json")
}

func adminCallType(t *testing.T, g *gatehouse, token, method, path, body, contentType string) apiResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, g.admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkAgainstSpec(t, g, req, resp, b)
	return apiResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// checkAgainstSpec validates a response of a route described in
// openapi.yaml against the document: its content type and body schema
// for the status (a status the document does not list is let through).
func checkAgainstSpec(t *testing.T, g *gatehouse, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openAPIFile)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: g.admin}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi.yaml router: %v", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return // an unknown route or method: not described
	}
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
	})
	if err != nil {
		t.Errorf("%s %s: the %d response does not match openapi.yaml: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
}

// clientCredentials asks the token endpoint for a client_credentials
// token with scope and returns the status and the decoded answer.
func clientCredentials(t *testing.T, g *gatehouse, c client, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token endpoint answered %d with no JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// adminToken returns a token with the admin scope for the admin client c.
func adminToken(t *testing.T, g *gatehouse, c client) string {
	t.Helper()
	status, out := clientCredentials(t, g, c, op.AdminScope)
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials with %s for an admin client: %d %v", op.AdminScope, status, out)
	}
	if out["scope"] != op.AdminScope {
		t.Errorf("token response scope %v, want %s", out["scope"], op.AdminScope)
	}
	return tok
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend,
				"GATEHOUSE_PASSWORD_MAX_ATTEMPTS=3", "GATEHOUSE_PASSWORD_IP_MAX_ATTEMPTS=2")
			ops := g.createClient("--name", "Operations", "--admin")
			app := g.createClient("--name", "App", "--redirect-uri", "https://app.example.com/cb", "--grant-type", allGrants)
			if ops.Secret == "" {
				t.Fatal("an admin client got no secret")
			}
			if out := g.cli("", "clients", "show", ops.ID); !strings.Contains(out, "admin:") || !strings.Contains(out, "true") {
				t.Errorf("clients show of the admin client does not say admin: true:\n%s", out)
			}
			token := adminToken(t, g, ops)

			t.Run("token endpoint", func(t *testing.T) {
				// Only confidential clients can be admin clients.
				if _, errOut, err := g.tryCLI("", "clients", "create", "--name", "X", "--admin", "--public"); err == nil || !strings.Contains(errOut, "must be confidential") {
					t.Errorf("clients create --admin --public: err %v, stderr %q", err, errOut)
				}
				// The admin scope is refused to other clients.
				status, out := clientCredentials(t, g, app, op.AdminScope)
				if status != http.StatusBadRequest || out["error"] != "invalid_scope" || out["access_token"] != nil {
					t.Errorf("admin scope for a plain client: %d %v, want 400 invalid_scope and no token", status, out)
				}
				status, out = clientCredentials(t, g, app, "openid "+op.AdminScope)
				if status != http.StatusBadRequest || out["error"] != "invalid_scope" {
					t.Errorf("admin scope among others for a plain client: %d %v, want 400 invalid_scope", status, out)
				}
				// A wrong secret gets nothing.
				status, out = clientCredentials(t, g, client{ID: ops.ID, Secret: app.Secret}, op.AdminScope)
				if status != http.StatusUnauthorized || out["access_token"] != nil {
					t.Errorf("admin client with a wrong secret: %d %v, want 401", status, out)
				}
			})

			t.Run("authentication", func(t *testing.T) {
				r := adminCall(t, g, "", http.MethodGet, "/api/clients", "")
				r.wantError(t, http.StatusUnauthorized, "unauthorized")
				if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, op.AdminScope) {
					t.Errorf("401 without token: WWW-Authenticate %q, want a Bearer challenge naming the scope", h)
				}
				r = adminCall(t, g, "not-a-token", http.MethodGet, "/api/clients", "")
				r.wantError(t, http.StatusUnauthorized, "invalid_token")
				if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
					t.Errorf("401 with a bad token: WWW-Authenticate %q", h)
				}
				// A tampered admin token is no token.
				r = adminCall(t, g, token[:len(token)-2]+"AA", http.MethodGet, "/api/clients", "")
				r.wantError(t, http.StatusUnauthorized, "invalid_token")
				// Basic is not Bearer.
				req, _ := http.NewRequest(http.MethodGet, g.admin+"/api/users", nil)
				req.SetBasicAuth(ops.ID, ops.Secret)
				if resp, err := http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				} else {
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("Basic credentials: %d, want 401", resp.StatusCode)
					}
				}

				// A plain client's token, and an admin client's token
				// without the scope: 403.
				for name, c := range map[string]client{"plain client": app, "admin client without the scope": ops} {
					status, out := clientCredentials(t, g, c, "")
					tok, _ := out["access_token"].(string)
					if status != http.StatusOK || tok == "" {
						t.Fatalf("%s: client_credentials: %d %v", name, status, out)
					}
					for _, path := range []string{"/api/clients", "/api/users", "/api/blocks", "/api/audit"} {
						r := adminCall(t, g, tok, http.MethodGet, path, "")
						r.wantError(t, http.StatusForbidden, "insufficient_scope")
					}
					r := adminCall(t, g, tok, http.MethodPost, "/api/users", `{"email":"mallory@example.com","password":"a long enough password"}`)
					r.wantError(t, http.StatusForbidden, "insufficient_scope")
				}
				if out := g.cli("", "users", "list"); strings.Contains(out, "mallory") {
					t.Errorf("a token without the admin scope created a user:\n%s", out)
				}

				// The description is public; everything else answers with
				// the admin token.
				r = adminCall(t, g, "", http.MethodGet, "/api/openapi.yaml", "")
				if r.status != http.StatusOK || !strings.Contains(r.body, "openapi: 3") {
					t.Errorf("GET /api/openapi.yaml = %d", r.status)
				}
				if r := adminCall(t, g, token, http.MethodGet, "/api/clients", ""); r.status != http.StatusOK {
					t.Errorf("admin token: GET /api/clients = %d %s", r.status, r.body)
				}
				// Not on the public listener.
				resp, err := http.Get(g.base + "/api/clients")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("public listener GET /api/clients = %d, want not served", resp.StatusCode)
				}
			})

			t.Run("clients", func(t *testing.T) {
				r := adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Portal","redirect_uris":["https://portal.example.com/cb"],"post_logout_redirect_uris":["https://portal.example.com/"],"require_mfa":true,"signing_algorithm":"ES256","access_token_format":"jwt","grant_types":["authorization_code","refresh_token","client_credentials"]}`)
				if r.status != http.StatusCreated {
					t.Fatalf("create client = %d %s", r.status, r.body)
				}
				var created admin.NewClientView
				r.json(t, &created)
				if created.ID == "" || created.Secret == "" || created.Type != "confidential" || !created.RequireMFA ||
					created.SigningAlgorithm != "ES256" || created.AccessTokenFormat != "jwt" || created.Admin {
					t.Fatalf("created client %+v", created)
				}
				if loc := r.header.Get("Location"); loc != "/api/clients/"+created.ID {
					t.Errorf("Location %q", loc)
				}
				// The new client works at the token endpoint, and the CLI
				// sees it: one store, one service.
				if status, _ := clientCredentials(t, g, client{ID: created.ID, Secret: created.Secret}, ""); status != http.StatusOK {
					t.Errorf("the created client's secret does not work: %d", status)
				}
				if out := g.cli("", "clients", "list"); !strings.Contains(out, created.ID) || !strings.Contains(out, "Portal") {
					t.Errorf("clients list lacks the client made through the API:\n%s", out)
				}

				var list struct{ Clients []admin.ClientView }
				adminCall(t, g, token, http.MethodGet, "/api/clients", "").json(t, &list)
				var ids []string
				for _, c := range list.Clients {
					ids = append(ids, c.ID)
				}
				for _, id := range []string{ops.ID, app.ID, created.ID} {
					if !slices.Contains(ids, id) {
						t.Errorf("list clients %q lacks %s", ids, id)
					}
				}
				// (token_endpoint_auth_method names methods such as
				// client_secret_basic: look for a secret's field.)
				if body := adminCall(t, g, token, http.MethodGet, "/api/clients", "").body; strings.Contains(body, `"client_secret"`) || strings.Contains(body, "secret_hash") {
					t.Errorf("client list shows secrets")
				}

				var shown admin.ClientView
				r = adminCall(t, g, token, http.MethodGet, "/api/clients/"+created.ID, "")
				r.json(t, &shown)
				if r.status != http.StatusOK || shown.Name != "Portal" || !slices.Equal(shown.RedirectURIs, []string{"https://portal.example.com/cb"}) {
					t.Errorf("show client = %d %+v", r.status, shown)
				}

				// Update the redirect URIs; the post-logout ones stay.
				r = adminCall(t, g, token, http.MethodPut, "/api/clients/"+created.ID+"/redirect-uris",
					`{"redirect_uris":["https://portal.example.com/new","http://127.0.0.1:8000/cb"]}`)
				var updated admin.ClientView
				r.json(t, &updated)
				if r.status != http.StatusOK || !slices.Equal(updated.RedirectURIs, []string{"https://portal.example.com/new", "http://127.0.0.1:8000/cb"}) ||
					!slices.Equal(updated.PostLogoutRedirectURIs, []string{"https://portal.example.com/"}) {
					t.Errorf("update redirect URIs = %d %+v", r.status, updated)
				}
				if out := g.cli("", "clients", "show", created.ID); !strings.Contains(out, "https://portal.example.com/new http://127.0.0.1:8000/cb") {
					t.Errorf("clients show after the update:\n%s", out)
				}
				// And both, clearing the post-logout list.
				r = adminCall(t, g, token, http.MethodPut, "/api/clients/"+created.ID+"/redirect-uris",
					`{"redirect_uris":["https://portal.example.com/cb2"],"post_logout_redirect_uris":[]}`)
				r.json(t, &updated)
				if r.status != http.StatusOK || !slices.Equal(updated.RedirectURIs, []string{"https://portal.example.com/cb2"}) || len(updated.PostLogoutRedirectURIs) != 0 {
					t.Errorf("update both lists = %d %+v", r.status, updated)
				}

				// Rotate the secret: the old one stops working.
				r = adminCall(t, g, token, http.MethodPost, "/api/clients/"+created.ID+"/secret", "")
				var rotated map[string]string
				r.json(t, &rotated)
				if r.status != http.StatusOK || rotated["client_secret"] == "" || rotated["client_secret"] == created.Secret {
					t.Fatalf("rotate secret = %d %v", r.status, rotated)
				}
				if status, _ := clientCredentials(t, g, client{ID: created.ID, Secret: created.Secret}, ""); status != http.StatusUnauthorized {
					t.Errorf("old secret after rotation: %d, want 401", status)
				}
				if status, _ := clientCredentials(t, g, client{ID: created.ID, Secret: rotated["client_secret"]}, ""); status != http.StatusOK {
					t.Errorf("new secret after rotation: %d, want 200", status)
				}
				// A public client has no secret to rotate.
				r = adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Native","public":true,"redirect_uris":["com.example.app:/cb"]}`)
				var native admin.NewClientView
				r.json(t, &native)
				if r.status != http.StatusCreated || native.Secret != "" || native.Type != "public" {
					t.Fatalf("create public client = %d %+v", r.status, native)
				}
				adminCall(t, g, token, http.MethodPost, "/api/clients/"+native.ID+"/secret", "").wantError(t, http.StatusConflict, "conflict")

				// Delete.
				r = adminCall(t, g, token, http.MethodDelete, "/api/clients/"+created.ID, "")
				if r.status != http.StatusNoContent {
					t.Errorf("delete client = %d %s", r.status, r.body)
				}
				adminCall(t, g, token, http.MethodGet, "/api/clients/"+created.ID, "").wantError(t, http.StatusNotFound, "not_found")
				adminCall(t, g, token, http.MethodDelete, "/api/clients/"+created.ID, "").wantError(t, http.StatusNotFound, "not_found")
				if status, _ := clientCredentials(t, g, client{ID: created.ID, Secret: rotated["client_secret"]}, ""); status != http.StatusUnauthorized {
					t.Errorf("deleted client at the token endpoint: %d, want 401", status)
				}

				// An admin client made through the API gets the scope.
				r = adminCall(t, g, token, http.MethodPost, "/api/clients", `{"name":"Robot","admin":true}`)
				var robot admin.NewClientView
				r.json(t, &robot)
				if r.status != http.StatusCreated || !robot.Admin {
					t.Fatalf("create admin client = %d %s", r.status, r.body)
				}
				robotToken := adminToken(t, g, client{ID: robot.ID, Secret: robot.Secret})
				if r := adminCall(t, g, robotToken, http.MethodGet, "/api/users", ""); r.status != http.StatusOK {
					t.Errorf("second admin client's token: GET /api/users = %d", r.status)
				}
				// Deleting an admin client kills its tokens.
				adminCall(t, g, token, http.MethodDelete, "/api/clients/"+robot.ID, "")
				adminCall(t, g, robotToken, http.MethodGet, "/api/users", "").wantError(t, http.StatusUnauthorized, "invalid_token")
			})

			t.Run("users", func(t *testing.T) {
				r := adminCall(t, g, token, http.MethodPost, "/api/users",
					`{"email":"Carol@Example.com","name":"Carol","password":"carol's long password"}`)
				if r.status != http.StatusCreated {
					t.Fatalf("create user = %d %s", r.status, r.body)
				}
				var carol admin.UserView
				r.json(t, &carol)
				if carol.ID == "" || carol.Email != "carol@example.com" || carol.Status != "active" || !carol.EmailVerified {
					t.Fatalf("created user %+v", carol)
				}
				if strings.Contains(r.body, "password") || strings.Contains(r.body, "argon2") {
					t.Errorf("the response shows the password or its hash: %s", r.body)
				}
				// She signs in with that password.
				rp := newRelyingParty(t, g)
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.61"), "carol@example.com", "carol's long password"); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("user made through the API cannot sign in: %d", resp.StatusCode)
				}

				var list struct{ Users []admin.UserView }
				adminCall(t, g, token, http.MethodGet, "/api/users", "").json(t, &list)
				if len(list.Users) != 1 || list.Users[0].Email != "carol@example.com" {
					t.Errorf("list users = %+v", list.Users)
				}
				for _, ref := range []string{carol.ID, "carol@example.com", "CAROL%40example.com"} {
					var u admin.UserView
					r := adminCall(t, g, token, http.MethodGet, "/api/users/"+ref, "")
					r.json(t, &u)
					if r.status != http.StatusOK || u.ID != carol.ID || u.Factors == nil || u.Factors.AuthenticatorApp || u.Factors.EmailCodes {
						t.Errorf("show user %s = %d %s", ref, r.status, r.body)
					}
				}

				// A user's sign-in cannot smuggle the admin scope in: it is
				// dropped at /authorize, and the user's token is refused.
				f := rp.newFlow(oauth2.SetAuthURLParam("scope", "openid "+op.AdminScope))
				userTok, _, _ := rp.exchange(rp.signIn(newBrowser(t).from("127.0.0.64"), f, "carol@example.com", "carol's long password"), f)
				if sc, _ := userTok.Extra("scope").(string); strings.Contains(sc, op.AdminScope) {
					t.Errorf("a user's token was granted %q", sc)
				}
				adminCall(t, g, userTok.AccessToken, http.MethodGet, "/api/users", "").wantError(t, http.StatusForbidden, "insufficient_scope")
				if active := rp.introspect(userTok.AccessToken)["active"]; active != true {
					t.Fatalf("carol's fresh access token introspects active=%v", active)
				}

				r = adminCall(t, g, token, http.MethodPost, "/api/users/carol@example.com/disable", "")
				var u admin.UserView
				r.json(t, &u)
				if r.status != http.StatusOK || u.Status != "disabled" {
					t.Errorf("disable = %d %s", r.status, r.body)
				}
				if out := g.cli("", "users", "show", "carol@example.com"); !strings.Contains(out, "disabled") {
					t.Errorf("users show after an API disable:\n%s", out)
				}
				// Disabling revoked her tokens.
				if active := rp.introspect(userTok.AccessToken)["active"]; active != false {
					t.Errorf("a disabled user's access token introspects active=%v", active)
				}
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.62"), "carol@example.com", "carol's long password"); resp.StatusCode == http.StatusSeeOther {
					t.Errorf("a disabled user signed in")
				}
				r = adminCall(t, g, token, http.MethodPost, "/api/users/"+carol.ID+"/enable", "")
				r.json(t, &u)
				if r.status != http.StatusOK || u.Status != "active" {
					t.Errorf("enable = %d %s", r.status, r.body)
				}
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.63"), "carol@example.com", "carol's long password"); resp.StatusCode != http.StatusSeeOther {
					t.Errorf("an enabled user cannot sign in: %d", resp.StatusCode)
				}

				r = adminCall(t, g, token, http.MethodPost, "/api/users/carol@example.com/reset-2fa", "")
				r.json(t, &u)
				if r.status != http.StatusOK || u.Factors == nil || u.Factors.AuthenticatorApp || u.Factors.EmailCodes || u.Factors.SecurityKeys != 0 {
					t.Errorf("reset-2fa = %d %s", r.status, r.body)
				}

				// The administrator role, and signing out everywhere.
				for _, tc := range []struct {
					method string
					admin  bool
				}{{http.MethodPut, true}, {http.MethodDelete, false}} {
					r = adminCall(t, g, token, tc.method, "/api/users/carol@example.com/admin", "")
					r.json(t, &u)
					if r.status != http.StatusOK || u.Admin != tc.admin {
						t.Errorf("%s admin = %d %s", tc.method, r.status, r.body)
					}
				}
				if show := g.cli("", "users", "show", "carol@example.com"); !regexp.MustCompile(`(?m)^admin:\s+false$`).MatchString(show) {
					t.Errorf("users show after the role was revoked:\n%s", show)
				}
				r = adminCall(t, g, token, http.MethodPost, "/api/users/"+carol.ID+"/sign-out", "")
				if r.status != http.StatusOK || !strings.Contains(r.body, `"sessions_ended"`) {
					t.Errorf("sign-out = %d %s", r.status, r.body)
				}

				// Conflicts, policy, unknown users.
				adminCall(t, g, token, http.MethodPost, "/api/users", `{"email":" carol@example.COM","password":"another long password"}`).
					wantError(t, http.StatusConflict, "conflict")
				adminCall(t, g, token, http.MethodPost, "/api/users", `{"email":"carol@example.com","password":"another long password"}`).
					wantError(t, http.StatusConflict, "conflict")
				adminCall(t, g, token, http.MethodPost, "/api/users", `{"email":"dave@example.com","password":"short"}`).
					wantError(t, http.StatusUnprocessableEntity, "unprocessable")
				adminCall(t, g, token, http.MethodPost, "/api/users", `{"email":"not an email","password":"a long enough password"}`).
					wantError(t, http.StatusBadRequest, "invalid_request")
				for _, p := range []string{"/api/users/nobody@example.com", "/api/users/no-such-id"} {
					adminCall(t, g, token, http.MethodGet, p, "").wantError(t, http.StatusNotFound, "not_found")
				}
				for _, action := range []string{"disable", "enable", "reset-2fa", "sign-out"} {
					adminCall(t, g, token, http.MethodPost, "/api/users/nobody@example.com/"+action, "").wantError(t, http.StatusNotFound, "not_found")
				}
			})

			t.Run("blocks", func(t *testing.T) {
				g.createUser("bob@example.com", "Bob", "bob's long password")
				rp := newRelyingParty(t, g)
				// Two failures from one IP block it; three on bob block
				// his account.
				for i := range 2 {
					tryPassword(t, rp, newBrowser(t).from("127.0.0.71"), "nobody"+string(rune('a'+i))+"@example.com", "wrong password")
				}
				for range 3 {
					tryPassword(t, rp, newBrowser(t).from("127.0.0.72"), "bob@example.com", "wrong password")
					tryPassword(t, rp, newBrowser(t).from("127.0.0.73"), "bob@example.com", "wrong password")
				}
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.71"), alice, "x"); resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("127.0.0.71 not blocked: %d", resp.StatusCode)
				}
				var list struct{ Blocks []admin.BlockView }
				r := adminCall(t, g, token, http.MethodGet, "/api/blocks", "")
				r.json(t, &list)
				has := func(kind, subject string) bool {
					for _, b := range list.Blocks {
						if b.Kind == kind && b.Subject == subject && !b.BlockedUntil.IsZero() && b.Failures > 0 {
							return true
						}
					}
					return false
				}
				if r.status != http.StatusOK || !has("ip", "127.0.0.71") || !has("account", "bob@example.com") {
					t.Fatalf("blocks = %d %+v, want ip 127.0.0.71 and account bob@example.com", r.status, list.Blocks)
				}

				r = adminCall(t, g, token, http.MethodDelete, "/api/blocks/127.0.0.71", "")
				var cleared struct{ Cleared int }
				r.json(t, &cleared)
				if r.status != http.StatusOK || cleared.Cleared < 1 {
					t.Errorf("clear IP = %d %s", r.status, r.body)
				}
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.71"), "bob2@example.com", "x"); resp.StatusCode == http.StatusTooManyRequests {
					t.Errorf("127.0.0.71 still blocked after the clear")
				}
				r = adminCall(t, g, token, http.MethodDelete, "/api/blocks/bob@example.com", "")
				r.json(t, &cleared)
				if r.status != http.StatusOK || cleared.Cleared < 1 {
					t.Errorf("clear account = %d %s", r.status, r.body)
				}
				if resp := tryPassword(t, rp, newBrowser(t).from("127.0.0.74"), "bob@example.com", "bob's long password"); resp.StatusCode != http.StatusSeeOther {
					t.Errorf("bob still blocked after the clear: %d", resp.StatusCode)
				}
				adminCall(t, g, token, http.MethodGet, "/api/blocks", "").json(t, &list)
				if has("ip", "127.0.0.71") || has("account", "bob@example.com") {
					t.Errorf("blocks after clearing: %+v", list.Blocks)
				}
				adminCall(t, g, token, http.MethodDelete, "/api/blocks/not-an-ip", "").wantError(t, http.StatusBadRequest, "invalid_request")
				adminCall(t, g, token, http.MethodDelete, "/api/blocks/nobody@example.com", "").wantError(t, http.StatusNotFound, "not_found")
			})

			t.Run("audit of admin actions", func(t *testing.T) {
				var out struct{ Events []admin.EventView }
				r := adminCall(t, g, token, http.MethodGet, "/api/audit?type=client.created&limit=1000", "")
				r.json(t, &out)
				if r.status != http.StatusOK || len(out.Events) < 4 {
					t.Fatalf("client.created events = %d %+v", r.status, out.Events)
				}
				byAPI, byCLI := 0, 0
				for _, e := range out.Events {
					if e.Type != "client.created" {
						t.Errorf("type filter let through %+v", e)
					}
					switch {
					case strings.Contains(e.Detail, "admin client "+ops.ID+" (API)") && e.IP == "127.0.0.1":
						byAPI++
					case strings.Contains(e.Detail, "(CLI)"):
						byCLI++
					}
				}
				if byAPI < 2 || byCLI < 2 {
					t.Errorf("client.created events: %d by the API (with its IP), %d by the CLI: %+v", byAPI, byCLI, out.Events)
				}
				for _, typ := range []string{"client.updated", "client.secret_rotated", "client.deleted", "user.created", "user.disabled", "user.enabled", "factor.reset", "block.cleared", "admin.granted", "admin.revoked", "user.signed_out"} {
					adminCall(t, g, token, http.MethodGet, "/api/audit?type="+typ, "").json(t, &out)
					if len(out.Events) == 0 {
						t.Errorf("no %s event after that action", typ)
					}
				}
			})

			t.Run("bad input", func(t *testing.T) {
				post := func(path, body string) apiResult { return adminCall(t, g, token, http.MethodPost, path, body) }
				for _, tc := range []struct {
					name   string
					r      apiResult
					status int
					code   string
				}{
					{"malformed JSON", post("/api/clients", `{"name":"x",`), 400, "invalid_request"},
					{"not an object", post("/api/clients", `["x"]`), 400, "invalid_request"},
					{"wrong type", post("/api/clients", `{"name":1}`), 400, "invalid_request"},
					{"unknown field", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"grant_types":["password"]}`), 400, "invalid_request"},
					{"trailing data", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"]} {}`), 400, "invalid_request"},
					{"empty body", post("/api/users", ""), 415, "unsupported_media_type"},
					{"form body", adminCallType(t, g, token, http.MethodPost, "/api/users", "email=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"},
					{"huge body", post("/api/users", `{"name":"`+strings.Repeat("a", admin.MaxAPIBody)+`"}`), 413, "too_large"},
					{"email not UTF-8", post("/api/users", "{\"email\":\"a\xffb@example.com\",\"password\":\"a long enough password\"}"), 400, "invalid_request"},
					{"email with a lone surrogate", post("/api/users", `{"email":"a\udc80b@example.com","password":"a long enough password"}`), 400, "invalid_request"},
					{"no name", post("/api/clients", `{"redirect_uris":["https://x.example/cb"]}`), 400, "invalid_request"},
					{"no redirect uri", post("/api/clients", `{"name":"x"}`), 400, "invalid_request"},
					{"redirect uri with fragment", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb#f"]}`), 400, "invalid_request"},
					{"wildcard redirect uri", post("/api/clients", `{"name":"x","redirect_uris":["https://*.example.com/cb"]}`), 400, "invalid_request"},
					{"http redirect uri", post("/api/clients", `{"name":"x","redirect_uris":["http://x.example.com/cb"]}`), 400, "invalid_request"},
					{"relative redirect uri", post("/api/clients", `{"name":"x","redirect_uris":["/cb"]}`), 400, "invalid_request"},
					{"bad post-logout uri", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"post_logout_redirect_uris":["javascript:alert(1)"]}`), 400, "invalid_request"},
					{"bad algorithm", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"signing_algorithm":"none"}`), 400, "invalid_request"},
					{"bad access token format", post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"access_token_format":"paseto"}`), 400, "invalid_request"},
					{"jwt access tokens for an admin client", post("/api/clients", `{"name":"x","admin":true,"access_token_format":"jwt"}`), 400, "invalid_request"},
					{"public admin", post("/api/clients", `{"name":"x","public":true,"admin":true}`), 400, "invalid_request"},
					{"update: bad uri", adminCall(t, g, token, http.MethodPut, "/api/clients/"+app.ID+"/redirect-uris", `{"redirect_uris":["https://app.example.com/cb#x"]}`), 400, "invalid_request"},
					{"update: empty list", adminCall(t, g, token, http.MethodPut, "/api/clients/"+app.ID+"/redirect-uris", `{"redirect_uris":[]}`), 400, "invalid_request"},
					{"update: missing list", adminCall(t, g, token, http.MethodPut, "/api/clients/"+app.ID+"/redirect-uris", `{}`), 400, "invalid_request"},
					{"update: unknown field", adminCall(t, g, token, http.MethodPut, "/api/clients/"+app.ID+"/redirect-uris", `{"redirect_uris":["https://app.example.com/cb"],"name":"y"}`), 400, "invalid_request"},
					{"update: unknown client", adminCall(t, g, token, http.MethodPut, "/api/clients/nope/redirect-uris", `{"redirect_uris":["https://app.example.com/cb"]}`), 404, "not_found"},
					{"show unknown client", adminCall(t, g, token, http.MethodGet, "/api/clients/nope", ""), 404, "not_found"},
					{"rotate unknown client", post("/api/clients/nope/secret", ""), 404, "not_found"},
					{"unknown route", adminCall(t, g, token, http.MethodGet, "/api/nothing", ""), 404, "not_found"},
					{"wrong method: PATCH client", adminCall(t, g, token, http.MethodPatch, "/api/clients/"+app.ID, `{}`), 405, "method_not_allowed"},
					{"wrong method: DELETE users", adminCall(t, g, token, http.MethodDelete, "/api/users", ""), 405, "method_not_allowed"},
					{"wrong method: GET disable", adminCall(t, g, token, http.MethodGet, "/api/users/carol@example.com/disable", ""), 405, "method_not_allowed"},
					{"wrong method: PUT audit", adminCall(t, g, token, http.MethodPut, "/api/audit", `{}`), 405, "method_not_allowed"},
					{"audit: bad ip", adminCall(t, g, token, http.MethodGet, "/api/audit?ip=300.1.1.1", ""), 400, "invalid_request"},
					{"audit: bad since", adminCall(t, g, token, http.MethodGet, "/api/audit?since=yesterday", ""), 400, "invalid_request"},
					{"audit: negative since", adminCall(t, g, token, http.MethodGet, "/api/audit?since=-1h", ""), 400, "invalid_request"},
					{"audit: bad limit", adminCall(t, g, token, http.MethodGet, "/api/audit?limit=lots", ""), 400, "invalid_request"},
					{"audit: zero limit", adminCall(t, g, token, http.MethodGet, "/api/audit?limit=0", ""), 400, "invalid_request"},
					{"audit: huge limit", adminCall(t, g, token, http.MethodGet, "/api/audit?limit=1000000", ""), 400, "invalid_request"},
					{"audit: unknown parameter", adminCall(t, g, token, http.MethodGet, "/api/audit?user_id=x", ""), 400, "invalid_request"},
					{"audit: unknown user", adminCall(t, g, token, http.MethodGet, "/api/audit?user=nobody@example.com", ""), 404, "not_found"},
				} {
					t.Run(tc.name, func(t *testing.T) { tc.r.wantError(t, tc.status, tc.code) })
				}
				// The message says what the field takes.
				if r := post("/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"access_token_format":"paseto"}`); !strings.Contains(r.body, `access token format \"paseto\": must be opaque or jwt`) {
					t.Errorf("bad access token format: %s", r.body)
				}
				r := adminCall(t, g, token, http.MethodDelete, "/api/users", "")
				if allow := r.header.Get("Allow"); allow != "GET, POST" {
					t.Errorf("405 Allow %q, want \"GET, POST\"", allow)
				}
				// Nothing of the refused requests was stored.
				var list struct{ Clients []admin.ClientView }
				adminCall(t, g, token, http.MethodGet, "/api/clients", "").json(t, &list)
				for _, c := range list.Clients {
					if c.Name == "x" {
						t.Errorf("a refused request created %+v", c)
					}
					if c.ID == app.ID && !slices.Equal(c.RedirectURIs, []string{"https://app.example.com/cb"}) {
						t.Errorf("a refused update changed the app: %+v", c)
					}
				}
				// No secret or token reached the log.
				logs := g.output()
				for _, s := range []string{token, ops.Secret, app.Secret, "carol's long password"} {
					if strings.Contains(logs, s) {
						t.Errorf("the log contains a secret or token %q", s[:6]+"…")
					}
				}
				biNoCrash(t, "server log", logs)
			})
		})
	}
}
