package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// fakeTokens verifies the tokens a test hands out; any other is inactive.
type fakeTokens map[string]*storage.AccessToken

func (f fakeTokens) AccessToken(_ context.Context, token string) (*storage.AccessToken, error) {
	if t, ok := f[token]; ok {
		return t, nil
	}
	return nil, op.ErrInactiveToken
}

// apiHarness is the admin listener's handler over a real SQLite store,
// with an admin client "ops" whose token is "admin-token". The emails
// that tell users of an administrator's change go to mail.
type apiHarness struct {
	t      *testing.T
	store  storage.Store
	tokens fakeTokens
	h      http.Handler
	mail   *mail.Outbox
}

func newAPIHarness(t *testing.T) *apiHarness {
	t.Helper()
	return newAPIHarnessOn(t, "sqlite")
}

// newAPIHarnessOn is newAPIHarness on backend (teststore.Backends); opts
// adjust the handler's Deps (e.g. wrap its Store).
func newAPIHarnessOn(t *testing.T, backend string, opts ...func(*Deps)) *apiHarness {
	t.Helper()
	store := teststore.Open(t, backend)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, c := range []storage.Client{
		{ID: "ops", Name: "Operations", Admin: true, SecretHash: []byte("x")},
		{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example.com/cb"}, SecretHash: []byte("y")},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := store.CreateClient(t.Context(), &c); err != nil {
			t.Fatal(err)
		}
	}
	tokens := fakeTokens{
		"admin-token": {ID: "t1", ClientID: "ops", Subject: "ops", Scopes: []string{op.AdminScope}, ExpiresAt: now.Add(time.Hour)},
	}
	hs := &apiHarness{t: t, store: store, tokens: tokens, mail: &mail.Outbox{}}
	d := Deps{
		Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tokens: tokens, Now: clock, Mailer: hs.mail,
		Passwords: password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}),
	}
	for _, o := range opts {
		o(&d)
	}
	hs.h = NewHandler(d)
	return hs
}

// call sends a request for target (a raw request target, escaped as a
// client escapes it) with the admin token, a body sent as JSON.
func (hs *apiHarness) call(method, target, body string) *httptest.ResponseRecorder {
	hs.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, req)
	return w
}

// TestAPIPathParameterDecodedOnce: a path parameter is decoded once, as
// the client escaped it: the email %61lice@example.com, escaped with
// url.PathEscape, names that user and not alice@example.com.
func TestAPIPathParameterDecodedOnce(t *testing.T) {
	hs := newAPIHarness(t)
	for _, email := range []string{"alice@example.com", "%61lice@example.com"} {
		if w := hs.call(http.MethodPost, "/api/users", `{"email":"`+email+`","password":"a long enough password"}`); w.Code != http.StatusCreated {
			t.Fatalf("create %s = %d %s", email, w.Code, w.Body)
		}
	}
	for _, tc := range []struct {
		name, method, path string
	}{
		{"show", http.MethodGet, "/api/users/%s"},
		{"grant admin", http.MethodPut, "/api/users/%s/admin"},
		{"disable", http.MethodPost, "/api/users/%s/disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := hs.call(tc.method, strings.Replace(tc.path, "%s", url.PathEscape("%61lice@example.com"), 1), "")
			var u UserView
			if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil || w.Code != http.StatusOK || u.Email != "%61lice@example.com" {
				t.Errorf("%s %s = %d %s, want the user %%61lice@example.com", tc.method, tc.path, w.Code, w.Body)
			}
		})
	}
	alice, err := hs.store.UserByEmail(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if alice.Admin || alice.Disabled {
		t.Errorf("a request for %%61lice@example.com changed alice@example.com: admin %v, disabled %v", alice.Admin, alice.Disabled)
	}
}

// TestAPIMethodNotAllowedAllow: a 405 names every method of the route,
// PATCH too.
func TestAPIMethodNotAllowedAllow(t *testing.T) {
	hs := newAPIHarness(t)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/api/clients/app/settings", "PATCH"},
		{http.MethodPost, "/api/clients/app/settings", "PATCH"},
		{http.MethodPatch, "/api/clients/app", "GET, DELETE"},
		{http.MethodDelete, "/api/users", "GET, POST"},
	} {
		w := hs.call(tc.method, tc.path, "")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q", tc.method, tc.path, w.Code, w.Header().Get("Allow"), tc.allow)
		}
	}
}

// TestAPIConcurrentCreate: of 20 requests creating the same user at once,
// one wins and the others are told of the conflict; none fails.
func TestAPIConcurrentCreate(t *testing.T) {
	hs := newAPIHarness(t)
	const n = 20
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = hs.call(http.MethodPost, "/api/users", `{"email":"dup@example.com","password":"a long enough password"}`).Code
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("a concurrent create answered %d, want 201 or 409", c)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d concurrent creates succeeded, want 1 (%v)", created, n, codes)
	}
}

// TestAPIAuthorization: every route refuses a request without a live
// admin token of a client that is an admin client now.
func TestAPIAuthorization(t *testing.T) {
	hs := newAPIHarness(t)
	exp := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	hs.tokens["plain"] = &storage.AccessToken{ID: "t2", ClientID: "app", Subject: "app", ExpiresAt: exp}
	hs.tokens["plain-with-scope"] = &storage.AccessToken{ID: "t3", ClientID: "app", Subject: "app", Scopes: []string{op.AdminScope}, ExpiresAt: exp}
	hs.tokens["user"] = &storage.AccessToken{ID: "t4", ClientID: "ops", Subject: "u1", GrantID: "g1", Scopes: []string{"openid", op.AdminScope}, ExpiresAt: exp}
	hs.tokens["user-as-client"] = &storage.AccessToken{ID: "t5", ClientID: "ops", Subject: "ops", GrantID: "g1", Scopes: []string{op.AdminScope}, ExpiresAt: exp}
	hs.tokens["gone"] = &storage.AccessToken{ID: "t6", ClientID: "deleted", Subject: "deleted", Scopes: []string{op.AdminScope}, ExpiresAt: exp}
	routes := []struct{ method, path string }{
		{"GET", "/api/clients"}, {"POST", "/api/clients"}, {"GET", "/api/clients/app"}, {"DELETE", "/api/clients/app"},
		{"PATCH", "/api/clients/app/settings"}, {"PUT", "/api/clients/app/redirect-uris"}, {"POST", "/api/clients/app/secret"},
		{"PUT", "/api/clients/app/authentication"}, {"POST", "/api/clients/app/disable"}, {"POST", "/api/clients/app/enable"},
		{"GET", "/api/users"}, {"POST", "/api/users"}, {"GET", "/api/users/x@example.com"},
		{"POST", "/api/users/x@example.com/disable"}, {"POST", "/api/users/x@example.com/enable"},
		{"POST", "/api/users/x@example.com/reset-2fa"}, {"POST", "/api/users/x@example.com/sign-out"},
		{"PUT", "/api/users/x@example.com/admin"}, {"DELETE", "/api/users/x@example.com/admin"},
		{"GET", "/api/blocks"}, {"DELETE", "/api/blocks/127.0.0.1"}, {"GET", "/api/audit"},
	}
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "Bearer nope", http.StatusUnauthorized},
		{"not bearer", "Basic b3BzOng=", http.StatusUnauthorized},
		{"plain client", "Bearer plain", http.StatusForbidden},
		{"plain client with the scope", "Bearer plain-with-scope", http.StatusForbidden},
		{"user token of the admin client", "Bearer user", http.StatusForbidden},
		{"grant token with the client as subject", "Bearer user-as-client", http.StatusForbidden},
		{"deleted client", "Bearer gone", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range routes {
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				w := httptest.NewRecorder()
				hs.h.ServeHTTP(w, req)
				if w.Code != tc.status {
					t.Errorf("%s %s = %d, want %d: %s", rt.method, rt.path, w.Code, tc.status, w.Body)
				}
			}
		})
	}
	// Disabled after the token was issued: refused at once, even with a
	// token that the disable's revocation did not reach (one issued while
	// it ran).
	if w := hs.call(http.MethodGet, "/api/clients", ""); w.Code != http.StatusOK {
		t.Fatalf("admin token = %d", w.Code)
	}
	if err := hs.store.SetClientDisabled(t.Context(), "ops", true, exp.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if w := hs.call(http.MethodGet, "/api/clients", ""); w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("token of a disabled admin client = %d %q, want 401 invalid_token", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// TestAPIOddInput: odd path parameters and bodies that try to set what
// the API does not let a caller set are refused, never a server error.
func TestAPIOddInput(t *testing.T) {
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newAPIHarnessOn(t, backend)
			long := strings.Repeat("a", 8000)
			for _, tc := range []struct {
				method, target, body string
				status               int
			}{
				{"GET", "/api/clients/%FF", "", 404},
				{"GET", "/api/clients/a%00b", "", 404},
				{"GET", "/api/clients/..%2F..%2Fusers", "", 404},
				{"GET", "/api/clients/" + long, "", 404},
				{"GET", "/api/users/%FF", "", 404},
				{"GET", "/api/users/a%00b", "", 404},
				{"GET", "/api/users/%FF@example.com", "", 404},
				{"GET", "/api/users/a%00@example.com", "", 404},
				{"GET", "/api/users/" + long + "@example.com", "", 404},
				{"POST", "/api/users/%FF/disable", "", 404},
				{"PUT", "/api/users/a%00@example.com/admin", "", 404},
				{"DELETE", "/api/blocks/%FF@example.com", "", 404},
				{"DELETE", "/api/blocks/a%00@example.com", "", 404},
				{"DELETE", "/api/blocks/%FF", "", 400},
				{"DELETE", "/api/clients/%FF", "", 404},
				{"PUT", "/api/clients/%FF/redirect-uris", `{"redirect_uris":["https://x.example/cb"]}`, 404},
				{"PATCH", "/api/clients/a%00b/settings", `{"consent":true}`, 404},
				{"GET", "/api/audit?user=%FF", "", 404},
				{"GET", "/api/audit?user=a%00@example.com", "", 404},
				{"GET", "/api/audit?type=%FF", "", 400},
				{"GET", "/api/audit?type=a%00b", "", 400},
				{"GET", "/api/audit?limit=-1", "", 400},
				{"GET", "/api/audit?limit=99999999999999999999", "", 400},
				// Names that are not plain text: refused, not a store failure.
				{"POST", "/api/clients", `{"name":"a\u0000b","redirect_uris":["https://x.example/cb"]}`, 400},
				{"POST", "/api/users", `{"email":"n@example.com","name":"a\u0000b","password":"a long enough password"}`, 400},
				{"POST", "/api/users", `{"email":"n@example.com","name":"a\nb","password":"a long enough password"}`, 400},
				// Mass assignment: what the API does not document is refused.
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"client_id":"ops2"}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"secret_hash":"AAAA"}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"client_secret":"chosen"}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"disabled":true}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb"],"ClientCredentialsOnly":true}`, 400},
				{"POST", "/api/users", `{"email":"m@example.com","password":"a long enough password","admin":true}`, 400},
				{"POST", "/api/users", `{"email":"m@example.com","password":"a long enough password","id":"u1"}`, 400},
				{"POST", "/api/users", `{"email":"m@example.com","password":"a long enough password","Invite":true}`, 400},
				{"PATCH", "/api/clients/app/settings", `{"admin":true}`, 400},
				{"PUT", "/api/clients/app/redirect-uris", `{"redirect_uris":["https://app.example.com/cb"],"admin":true}`, 400},
				{"PUT", "/api/users/m@example.com/admin", `{"admin":true}`, 404},
				// Redirect URIs a browser must never be sent to.
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["javascript:alert(1)"]}`, 400},
				{"POST", "/api/clients", `{"name":"x","public":true,"redirect_uris":["data:text/html,x"]}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https://x.example/cb#"]}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["http://localhost.evil.example/cb"]}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["http://127.0.0.1.evil.example/cb"]}`, 400},
				{"POST", "/api/clients", `{"name":"x","redirect_uris":["https:///cb"]}`, 400},
				{"PUT", "/api/clients/app/redirect-uris", `{"redirect_uris":["javascript://x.example/%0aalert(1)"]}`, 400},
				{"PATCH", "/api/clients/app/settings", `{"backchannel_logout_uri":"http://evil.example/bcl"}`, 400},
			} {
				w := hs.call(tc.method, tc.target, tc.body)
				if w.Code != tc.status {
					t.Errorf("%s %.80s %s = %d, want %d: %.300s", tc.method, tc.target, tc.body, w.Code, tc.status, w.Body)
				}
			}
			cs, err := hs.store.ListClients(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.Name == "x" || c.Admin && c.ID != "ops" {
					t.Errorf("a refused request stored %+v", c)
				}
			}
		})
	}
}

// TestAPIDuplicateMembers covers JSON bodies naming one member twice in an
// object, in any case: encoding/json keeps the last, so the request did
// what a reader of the first would not expect ({"email":"a","Email":"b"}
// created b). They are refused with 400, and nothing is created.
func TestAPIDuplicateMembers(t *testing.T) {
	hs := newAPIHarnessOn(t, teststore.Backends[0])
	for _, body := range []string{
		`{"email":"first@example.com","email":"second@example.com","password":"a long enough password"}`,
		`{"email":"first@example.com","Email":"second@example.com","password":"a long enough password"}`,
		`{"email":"first@example.com","password":"a long enough password","EMAIL":"second@example.com"}`,
	} {
		w := hs.call("POST", "/api/users", body)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "appears twice in one object") {
			t.Errorf("POST /api/users %s = %d %s, want 400 naming the member that appears twice", body, w.Code, w.Body)
		}
	}
	us, err := hs.store.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if strings.HasSuffix(u.Email, "@example.com") && (strings.HasPrefix(u.Email, "first") || strings.HasPrefix(u.Email, "second")) {
			t.Errorf("user %s created from a body with a member twice", u.Email)
		}
	}
}

// TestDuplicateKey covers the scan for members named twice: only names in
// one object count, at any depth; the same name in sibling or nested
// objects, or as a string value, does not.
func TestDuplicateKey(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":1,"A":2}`, "A"},
		{`{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, ""},
		{`{"a":{"b":1,"b":2}}`, "b"},
		{`{"x":[{"k":1,"k":2}]}`, "k"},
		{`{"a":"b","b":"a"}`, ""},
		{`{"a":[1,"a",{"a":"a"}],"c":{}}`, ""},
		{`{"a":{},"a":[]}`, "a"},
		{`{"a":[],"b":{},"a":1}`, "a"},
	} {
		if got := duplicateKey([]byte(tt.json)); got != tt.want {
			t.Errorf("duplicateKey(%s) = %q, want %q", tt.json, got, tt.want)
		}
	}
}
