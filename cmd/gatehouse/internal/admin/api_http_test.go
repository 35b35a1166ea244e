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
// with an admin client "ops" whose token is "admin-token".
type apiHarness struct {
	t      *testing.T
	store  storage.Store
	tokens fakeTokens
	h      http.Handler
}

func newAPIHarness(t *testing.T) *apiHarness {
	t.Helper()
	store := teststore.Open(t, "sqlite")
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
	hs := &apiHarness{t: t, store: store, tokens: tokens}
	hs.h = NewHandler(Deps{
		Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tokens: tokens, Now: clock,
		Passwords: password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}),
	})
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
