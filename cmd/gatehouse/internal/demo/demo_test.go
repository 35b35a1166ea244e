package demo

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestSetupOnce checks that the demo client and user are created on the
// first start only, the password printed that once, and the same client
// used again afterwards.
func TestSetupOnce(t *testing.T) {
	store, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	passwords := password.NewHasher(password.OWASP)
	now := func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }
	const issuer = "http://127.0.0.1:8080"

	var first, again bytes.Buffer
	id, err := setup(t.Context(), store, passwords, issuer, now, &first)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "password: ") || !strings.Contains(first.String(), id) {
		t.Errorf("first setup printed:\n%s\nwant the new user's password and the client id %s", first.String(), id)
	}
	id2, err := setup(t.Context(), store, passwords, issuer, now, &again)
	if err != nil {
		t.Fatal(err)
	}
	if id2 != id {
		t.Errorf("second setup used client %s, want %s", id2, id)
	}
	if strings.Contains(again.String(), "password: ") {
		t.Errorf("second setup printed a password:\n%s", again.String())
	}
	clients, err := store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 1 || clients[0].Name != ClientName || !clients[0].Public ||
		len(clients[0].RedirectURIs) != 1 || clients[0].RedirectURIs[0] != issuer+"/demo/callback" {
		t.Errorf("clients after two setups: %+v, want one public %q redirecting to /demo/callback", clients, ClientName)
	}
	if _, err := store.UserByEmail(t.Context(), Email); err != nil {
		t.Errorf("the demo user: %v", err)
	}
}

// TestAppRoutes checks the answers that need no provider: methods other
// than GET and HEAD, unknown paths, and no caching of any answer.
func TestAppRoutes(t *testing.T) {
	d := &App{Issuer: "http://127.0.0.1:1", Now: time.Now}
	if err := d.init(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, "/demo", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, "/demo/logout", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/demo/nope", http.StatusNotFound, ""},
	} {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
		if w.Code != tt.status || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d, Allow %q; want %d, Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), tt.status, tt.allow)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", tt.method, tt.path, cc)
		}
	}
}

// TestCookieSealed checks that the demo's cookies open only under the name
// they were sealed for, and only if untouched.
func TestCookieSealed(t *testing.T) {
	box, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	d := &App{Seal: box}
	value := d.seal([]byte("id token"), SessionCookie)
	read := func(name, value string) ([]byte, bool) {
		r := httptest.NewRequest(http.MethodGet, "/demo", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: value})
		return d.cookie(r, name)
	}
	if data, ok := read(SessionCookie, value); !ok || string(data) != "id token" {
		t.Errorf("cookie(%s) = %q, %t; want the sealed data", SessionCookie, data, ok)
	}
	if _, ok := read(flowCookie, value); ok {
		t.Error("the session cookie's value opened as the flow cookie")
	}
	b := []byte(value)
	b[len(b)/2] ^= 3 // another character: changed data, or no base64 at all
	if _, ok := read(SessionCookie, string(b)); ok {
		t.Error("a changed cookie opened")
	}
}
