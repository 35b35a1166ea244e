package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// countingStore counts client and user lookups.
type countingStore struct {
	storage.Store
	clients, users atomic.Int64
}

func (c *countingStore) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	c.clients.Add(1)
	return c.Store.ClientByID(ctx, id)
}

func (c *countingStore) UserByID(ctx context.Context, id string) (*storage.User, error) {
	c.users.Add(1)
	return c.Store.UserByID(ctx, id)
}

func newFastEnv(t *testing.T) (*benchEnv, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: teststore.Open(t, "sqlite")}
	return newBenchEnv(t, cs), cs
}

func get(e *benchEnv, t *testing.T, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://id.example"+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.p.ServeHTTP(rec, req)
	return rec
}

// TestDocuments checks that discovery and the JWKS are served with an ETag
// and Cache-Control, answer 304 to a matching If-None-Match, keep their
// CORS headers when served from the cache, and that the JWKS follows a key
// rotation at once.
func TestDocuments(t *testing.T) {
	t.Parallel()
	e, _ := newFastEnv(t)
	for _, tc := range []struct {
		path, cacheControl string
	}{
		{"/.well-known/openid-configuration", "public, max-age=300"},
		{"/keys", "public, max-age=10"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			first := get(e, t, tc.path, http.Header{"Origin": {"https://app.example"}})
			second := get(e, t, tc.path, http.Header{"Origin": {"https://other.example"}})
			for i, rec := range []*httptest.ResponseRecorder{first, second} {
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("request %d: %d %q", i, rec.Code, rec.Header().Get("Content-Type"))
				}
				if got := rec.Header().Get("Cache-Control"); got != tc.cacheControl {
					t.Errorf("request %d: Cache-Control %q, want %q", i, got, tc.cacheControl)
				}
				if !json.Valid(rec.Body.Bytes()) {
					t.Errorf("request %d: body is not JSON: %s", i, rec.Body)
				}
			}
			if got := first.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example" {
				t.Errorf("first answer: Access-Control-Allow-Origin %q", got)
			}
			if got := second.Header().Get("Access-Control-Allow-Origin"); got != "https://other.example" {
				t.Errorf("cached answer: Access-Control-Allow-Origin %q, want the caller's origin", got)
			}
			etag := first.Header().Get("ETag")
			if etag == "" || second.Header().Get("ETag") != etag || first.Body.String() != second.Body.String() {
				t.Fatalf("ETags %q and %q, bodies equal: %v", etag, second.Header().Get("ETag"), first.Body.String() == second.Body.String())
			}
			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				rec := get(e, t, tc.path, http.Header{"If-None-Match": {inm}})
				if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
					t.Errorf("If-None-Match %s: %d with %d bytes, ETag %q; want 304, empty", inm, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
				}
			}
			if rec := get(e, t, tc.path, http.Header{"If-None-Match": {`"stale"`}}); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("stale If-None-Match: %d with %d bytes, want 200 with the document", rec.Code, rec.Body.Len())
			}
		})
	}

	var disc map[string]any
	json.Unmarshal(get(e, t, "/.well-known/openid-configuration", nil).Body.Bytes(), &disc)
	if _, ok := disc["device_authorization_endpoint"]; ok || disc["jwks_uri"] != "https://id.example/keys" {
		t.Errorf("discovery document: %v", disc)
	}

	// A rotation publishes new keys: the next JWKS has them, under a new tag.
	before := get(e, t, "/keys", nil)
	if _, err := e.p.storage.keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := get(e, t, "/keys", http.Header{"If-None-Match": {before.Header().Get("ETag")}})
	if after.Code != http.StatusOK || after.Header().Get("ETag") == before.Header().Get("ETag") {
		t.Fatalf("after a rotation: %d, ETag %q (was %q)", after.Code, after.Header().Get("ETag"), before.Header().Get("ETag"))
	}
	kidsOf := func(body []byte) []string {
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	old, now := kidsOf(before.Body.Bytes()), kidsOf(after.Body.Bytes())
	if len(now) != len(old)+len(algorithms) {
		t.Errorf("JWKS after rotation has %d keys, want %d", len(now), len(old)+len(algorithms))
	}
	for _, k := range old {
		if !slices.Contains(now, k) {
			t.Errorf("key %s left the JWKS at rotation", k)
		}
	}
}

// TestOneLookupPerRequest checks that a token request loads its client
// (and user) once however many checks need it, and that nothing is
// remembered from one request to the next.
func TestOneLookupPerRequest(t *testing.T) {
	t.Parallel()
	e, cs := newFastEnv(t)
	for _, alg := range algorithms {
		codes, verifier := e.pendingCodes(t, e.clients[alg], 1)
		cs.clients.Store(0)
		cs.users.Store(0)
		rec := e.serve(t, tokenRequest(e.clients[alg], url.Values{"grant_type": {"authorization_code"},
			"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"id_token"`) {
			t.Fatalf("%s code exchange: %s", alg, rec.Body)
		}
		if n, u := cs.clients.Load(), cs.users.Load(); n != 1 || u > 1 {
			t.Errorf("%s code exchange: %d client and %d user lookups, want 1 and at most 1", alg, n, u)
		}
	}
	// A refresh reads its user with the token (one join), and its ID token
	// still carries the user's claims.
	codes, verifier := e.pendingCodes(t, e.clients[ES256], 1, "openid", "email", "offline_access")
	rec := e.serve(t, tokenRequest(e.clients[ES256], url.Values{"grant_type": {"authorization_code"},
		"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
	var tok struct {
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("code exchange with offline_access: %s", rec.Body)
	}
	cs.clients.Store(0)
	cs.users.Store(0)
	rec = e.serve(t, tokenRequest(e.clients[ES256], url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}), http.StatusOK)
	tok.IDToken = ""
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("refresh: %s", rec.Body)
	}
	if n, u := cs.clients.Load(), cs.users.Load(); n != 1 || u != 0 {
		t.Errorf("refresh: %d client and %d separate user lookups, want 1 and 0", n, u)
	}
	if payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.IDToken, ".")[1]); err != nil ||
		!strings.Contains(string(payload), `"email":"bench@example.com"`) {
		t.Errorf("the refreshed ID token's claims: %s, %v; want the user's email", payload, err)
	}

	cs.clients.Store(0)
	cc := url.Values{"grant_type": {"client_credentials"}}
	e.serve(t, tokenRequest(e.clients[RS256], cc), http.StatusOK)
	if n := cs.clients.Load(); n != 1 {
		t.Errorf("client_credentials: %d client lookups, want 1", n)
	}

	// A new secret takes effect with the next request.
	if err := e.store.SetClientSecretHash(context.Background(), e.clients[RS256], hashSecret("another secret"), time.Now()); err != nil {
		t.Fatal(err)
	}
	e.serve(t, tokenRequest(e.clients[RS256], cc), http.StatusUnauthorized)
}

// TestServeDocument checks the server's early path for the documents: it
// answers GET and HEAD of discovery (once the first request has made it)
// and of the JWKS exactly as ServeHTTP does, CORS and 304 included, and
// leaves every other request to ServeHTTP.
func TestServeDocument(t *testing.T) {
	t.Parallel()
	e, _ := newFastEnv(t)
	early := func(method, path string, header http.Header) (*httptest.ResponseRecorder, bool) {
		req := httptest.NewRequest(method, "https://id.example"+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		status, ok := e.p.ServeDocument(rec, req)
		if ok && status != rec.Code {
			t.Errorf("%s %s: ServeDocument reports %d, answered %d", method, path, status, rec.Code)
		}
		return rec, ok
	}
	const disc = "/.well-known/openid-configuration"
	if rec, ok := early(http.MethodGet, disc, nil); ok || rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("discovery before its first request: served %v (%d, %d bytes), want left to ServeHTTP", ok, rec.Code, rec.Body.Len())
	}
	for _, path := range []string{disc, "/keys"} {
		full := get(e, t, path, http.Header{"Origin": {"https://app.example"}})
		rec, ok := early(http.MethodGet, path, http.Header{"Origin": {"https://app.example"}})
		if !ok {
			t.Fatalf("%s: not served", path)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control", "ETag", "Access-Control-Allow-Origin"} {
			if got, want := rec.Header().Get(h), full.Header().Get(h); got != want || got == "" && h != "Content-Length" {
				t.Errorf("%s: %s %q, ServeHTTP gives %q", path, h, got, want)
			}
		}
		if rec.Code != http.StatusOK || rec.Body.String() != full.Body.String() {
			t.Errorf("%s: %d, body equal to ServeHTTP's: %v", path, rec.Code, rec.Body.String() == full.Body.String())
		}
		if rec, ok := early(http.MethodGet, path, http.Header{"If-None-Match": {full.Header().Get("ETag")}}); !ok || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%s with its ETag: served %v, %d with %d bytes; want 304", path, ok, rec.Code, rec.Body.Len())
		}
		if rec, ok := early(http.MethodHead, path, nil); !ok || rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s: served %v, %d with %d bytes", path, ok, rec.Code, rec.Body.Len())
		}
		for _, m := range []string{http.MethodPost, http.MethodOptions} {
			if _, ok := early(m, path, nil); ok {
				t.Errorf("%s %s served early", m, path)
			}
		}
	}
	for _, path := range []string{"/userinfo", "/oauth/token", "/keys/", "/.well-known/openid-configuration/x"} {
		if _, ok := early(http.MethodGet, path, nil); ok {
			t.Errorf("GET %s served early", path)
		}
	}

	// A rotation shows at once on the early path too.
	before, _ := early(http.MethodGet, "/keys", nil)
	if _, err := e.p.storage.keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := early(http.MethodGet, "/keys", nil)
	if after.Header().Get("ETag") == before.Header().Get("ETag") || after.Body.Len() <= before.Body.Len() {
		t.Errorf("after a rotation: ETag %q (was %q), %d bytes (were %d)", after.Header().Get("ETag"), before.Header().Get("ETag"), after.Body.Len(), before.Body.Len())
	}
}

// TestExchangeRemovesAuthRequest checks that the code exchange removes its
// auth request in the commit that uses the code: the browser's callback
// URL cannot mint a second code for it, and the used code is still seen
// as a replay, which revokes what the exchange issued.
func TestExchangeRemovesAuthRequest(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			ctx := t.Context()
			client := e.clients[ES256]
			now := time.Now()
			const id = "ar-exchange"
			if err := e.store.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, ClientID: client, RedirectURI: benchRedirect,
				Scopes: []string{"openid"}, State: "s", Nonce: "n", ResponseType: "code",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := e.store.CompleteAuthRequest(ctx, id, e.user, now, []string{"pwd"}, ACRValues[0], now); err != nil {
				t.Fatal(err)
			}
			code := randomID(32)
			if err := e.st.SaveAuthCode(ctx, id, code); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {benchRedirect}}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(e.serve(t, tokenRequest(client, form), http.StatusOK).Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
				t.Fatalf("exchange: %v %+v", err, tok)
			}
			if _, err := e.store.AuthRequestByID(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("auth request after the exchange: %v, want it gone", err)
			}
			req := httptest.NewRequest(http.MethodGet, e.p.CallbackURL(ctx, id), nil)
			rec := httptest.NewRecorder()
			e.p.ServeHTTP(rec, req)
			if loc := rec.Header().Get("Location"); strings.Contains(loc, "code=") {
				t.Errorf("the callback of a used auth request minted a code: %d %s", rec.Code, loc)
			}
			// The code again: a replay, and the exchange's token is revoked.
			e.serve(t, tokenRequest(client, form), http.StatusBadRequest)
			introspect := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect",
				strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			introspect.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			introspect.SetBasicAuth(client, benchSecret)
			if body := e.serve(t, introspect, http.StatusOK).Body.String(); !strings.Contains(body, `"active":false`) {
				t.Errorf("introspection after the code's replay: %s, want inactive", body)
			}
		})
	}
}

// TestUnrecordedClientCredentials checks the client_credentials JWT access
// tokens that are not recorded when issued: no row is written, and
// introspection still tells a live token (with its scope and client), a
// revoked one (revocation records it) and another client's.
func TestUnrecordedClientCredentials(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			ctx := t.Context()
			grant := func() (raw, jti string) {
				rec := e.serve(t, tokenRequest(e.jwt, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				json.Unmarshal(rec.Body.Bytes(), &tok)
				parts := strings.Split(tok.AccessToken, ".")
				if len(parts) != 3 {
					t.Fatalf("client_credentials of a jwt client: %s", rec.Body)
				}
				var c struct {
					ID string `json:"jti"`
				}
				payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
				json.Unmarshal(payload, &c)
				return tok.AccessToken, c.ID
			}
			postStatus := func(path, client, token string, want int) string {
				req := httptest.NewRequest(http.MethodPost, "https://id.example"+path,
					strings.NewReader(url.Values{"token": {token}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(client, benchSecret)
				return e.serve(t, req, want).Body.String()
			}
			post := func(path, client, token string) string { return postStatus(path, client, token, http.StatusOK) }
			raw, jti := grant()
			other, _ := grant()
			if _, err := e.store.AccessTokenByID(ctx, jti); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the token %s was recorded (%v)", jti, err)
			}
			var in map[string]any
			json.Unmarshal([]byte(post("/oauth/introspect", e.jwt, raw)), &in)
			if in["active"] != true || in["client_id"] != e.jwt || in["sub"] != e.jwt || in["exp"] == nil {
				t.Fatalf("introspection of a live unrecorded token: %v", in)
			}
			if body := post("/oauth/introspect", e.clients[RS256], raw); !strings.Contains(body, `"active":false`) {
				t.Errorf("another client's introspection: %s, want inactive", body)
			}
			postStatus("/revoke", e.clients[RS256], raw, http.StatusUnauthorized) // not its client: refused, nothing recorded
			if body := post("/oauth/introspect", e.jwt, raw); !strings.Contains(body, `"active":true`) {
				t.Fatalf("after another client's revocation: %s, want still active", body)
			}
			if e.p.verified.hits.Load() == 0 {
				t.Error("introspecting one token again verified its signature again")
			}
			if e.p.verified.shortcuts.Load() == 0 {
				t.Error("introspecting one token again parsed it again")
			}
			post("/revoke", e.jwt, raw)
			if body := post("/oauth/introspect", e.jwt, raw); !strings.Contains(body, `"active":false`) {
				t.Errorf("introspection after revocation: %s, want inactive", body)
			}
			if tok, err := e.store.AccessTokenByID(ctx, jti); err != nil || tok.RevokedAt == nil || tok.ClientID != e.jwt {
				t.Errorf("the revoked token's record: %+v, %v", tok, err)
			}
			post("/revoke", e.jwt, raw) // again: nothing changes
			if body := post("/oauth/introspect", e.jwt, other); !strings.Contains(body, `"active":true`) {
				t.Errorf("a sibling token after the revocation: %s, want active", body)
			}
		})
	}
}

// refreshOutsideExchange fails every refresh token created outside a code
// exchange's commit.
type refreshOutsideExchange struct {
	storage.Store
	calls atomic.Int64
}

func (r *refreshOutsideExchange) CreateRefreshToken(context.Context, *storage.RefreshToken) error {
	r.calls.Add(1)
	return errors.New("refresh token created outside the exchange's commit")
}

// TestExchangeCreatesRefreshTokenInItsCommit checks that a code exchange
// with offline_access stores its refresh token in the commit that uses the
// code, with the access token: no second write can fail after the code is
// spent. The refresh token it hands out then works.
func TestExchangeCreatesRefreshTokenInItsCommit(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			store := &refreshOutsideExchange{Store: teststore.Open(t, backend)}
			e := newBenchEnv(t, store)
			client := e.clients[ES256]
			_, refresh := e.offlineTokens(t, client)
			if n := store.calls.Load(); n != 0 {
				t.Errorf("the exchange created its refresh token in a write of its own (%d calls)", n)
			}
			rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), http.StatusOK)
			if !strings.Contains(rec.Body.String(), `"refresh_token":"`) {
				t.Errorf("refresh with the exchange's refresh token: %s", rec.Body)
			}
		})
	}
}

// TestVerifiedJWTAccessToken checks a user's JWT access token once its
// signature is remembered: userinfo and introspection answer it without
// parsing it again, its revocation still takes effect at once, and the
// admin API's lookup, which takes opaque tokens, refuses it all along.
func TestVerifiedJWTAccessToken(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, teststore.Open(t, "sqlite"))
	at := e.accessToken(t, e.jwt)
	if strings.Count(at, ".") != 2 {
		t.Fatalf("the access token of a jwt client is %q", at)
	}
	bearer := http.Header{"Authorization": {"Bearer " + at}}
	introspect := func() string {
		req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect",
			strings.NewReader(url.Values{"token": {at}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.jwt, benchSecret)
		return e.serve(t, req, http.StatusOK).Body.String()
	}
	for i := range 3 {
		if rec := get(e, t, "/userinfo", bearer); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"sub":"`+e.user+`"`) {
			t.Fatalf("userinfo %d: %d %s", i, rec.Code, rec.Body)
		}
		if body := introspect(); !strings.Contains(body, `"active":true`) || !strings.Contains(body, `"sub":"`+e.user+`"`) {
			t.Fatalf("introspection %d: %s", i, body)
		}
		if _, err := e.p.AccessToken(t.Context(), at); !errors.Is(err, ErrInactiveToken) {
			t.Fatalf("the admin lookup of a JWT: %v, want ErrInactiveToken", err)
		}
	}
	if got := e.p.verified.shortcuts.Load(); got < 4 {
		t.Errorf("%d of 6 requests answered from the remembered token, want at least 4", got)
	}

	req := httptest.NewRequest(http.MethodPost, "https://id.example/revoke", strings.NewReader(url.Values{"token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.jwt, benchSecret)
	e.serve(t, req, http.StatusOK)
	if rec := get(e, t, "/userinfo", bearer); rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), e.user) {
		t.Errorf("userinfo after revocation: %d %s, want a refusal", rec.Code, rec.Body)
	}
	if body := introspect(); !strings.Contains(body, `"active":false`) {
		t.Errorf("introspection after revocation: %s, want inactive", body)
	}
}

// TestUserinfoErrors checks the userinfo endpoint's refusals (OpenID
// Connect Core §5.3.3, RFC 6750 §3.1): 401 with a Bearer challenge naming
// invalid_token for a token that is malformed, unknown, revoked or whose
// user is disabled, and no error code when there is no token; a good token,
// in the header or the form, still gets the claims.
func TestUserinfoErrors(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, teststore.Open(t, "sqlite"))
	ctx := t.Context()
	good := e.accessToken(t, e.clients[ES256])
	revoked := e.accessToken(t, e.clients[ES256])
	req := httptest.NewRequest(http.MethodPost, "https://id.example/revoke", strings.NewReader(url.Values{"token": {revoked}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clients[ES256], benchSecret)
	e.serve(t, req, http.StatusOK)

	userinfo := func(header http.Header, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://id.example/userinfo", nil)
		if form != nil {
			req = httptest.NewRequest(http.MethodPost, "https://id.example/userinfo", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		e.p.ServeHTTP(rec, req)
		return rec
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	const invalid = `Bearer error="invalid_token"`
	tests := []struct {
		name      string
		header    http.Header
		form      url.Values
		challenge string // the WWW-Authenticate prefix wanted; "" for 200
	}{
		{"good token", bearer(good), nil, ""},
		{"good token in the form", nil, url.Values{"access_token": {good}}, ""},
		{"no token", nil, nil, "Bearer"},
		{"empty form", nil, url.Values{}, "Bearer"},
		{"garbage", bearer("not-a-token"), nil, invalid},
		{"garbage in the form", nil, url.Values{"access_token": {"not-a-token"}}, invalid},
		// RFC 6750 §3.1: another scheme carries no token, no error code.
		{"Basic scheme", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, nil, "Bearer"},
		{"no token after the scheme", http.Header{"Authorization": {"Bearer"}}, nil, "Bearer"},
		{"revoked", bearer(revoked), nil, invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := userinfo(tt.header, tt.form)
			if tt.challenge == "" {
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"sub":"`+e.user+`"`) {
					t.Errorf("%d %s, want 200 with the user's claims", rec.Code, rec.Body)
				}
				return
			}
			got := rec.Header().Get("WWW-Authenticate")
			if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(got, tt.challenge) ||
				(tt.challenge == "Bearer" && got != "Bearer") {
				t.Errorf("%d, WWW-Authenticate %q; want 401 and %q", rec.Code, got, tt.challenge)
			}
			if tt.challenge == invalid && !strings.Contains(rec.Body.String(), `"error":"invalid_token"`) {
				t.Errorf("body %q, want the invalid_token error", rec.Body)
			}
			if strings.Contains(rec.Body.String(), e.user) {
				t.Errorf("a refusal told the user: %s", rec.Body)
			}
		})
	}

	// A disabled user's token is refused the same way, and introspection
	// reports it inactive, even where the revocation that goes with
	// disabling a user did not happen.
	if _, err := e.store.SetUserDisabled(ctx, e.user, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec := userinfo(bearer(good), nil); rec.Code != http.StatusUnauthorized ||
		!strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), invalid) {
		t.Errorf("a disabled user's token: %d %q, want 401 invalid_token", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	req = httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(url.Values{"token": {good}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clients[ES256], benchSecret)
	if body := e.serve(t, req, http.StatusOK).Body.String(); !strings.Contains(body, `"active":false`) {
		t.Errorf("introspection of a disabled user's token: %s, want inactive", body)
	}
}

// TestJSONEndpointsAnswerAsZitadel sends the same introspection and
// userinfo requests to the provider and to the provider's handler with
// zitadel's Introspect and Userinfo in place of jsonEndpoints, and
// requires the same status, headers and body from both: live tokens of
// each kind, another client's token, garbage, none, a wrong secret, an
// Origin, the userinfo token in the header in either case, in the form,
// missing.
func TestJSONEndpointsAnswerAsZitadel(t *testing.T) {
	t.Parallel()
	backends := teststore.Backends
	for _, name := range backends {
		t.Run(name, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, name))
			p := e.p
			zitadel := p.documents(p.cors, p.formPosts(p.authorizationResponses(withMemo(p.clientAuth(p.dpop(
				p.tokenClient(bearerErrors(asZitadelSaw(plainOAuth(p.zp))))))))))

			opaque := e.accessToken(t, e.clients[ES256])
			rec := e.serve(t, tokenRequest(e.jwt, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
			var cc struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &cc); err != nil || strings.Count(cc.AccessToken, ".") != 2 {
				t.Fatalf("client_credentials: %s", rec.Body)
			}
			userJWT := e.accessToken(t, e.jwt)

			introspect := func(client, token string, basic bool, origin string) func() *http.Request {
				return func() *http.Request {
					form := url.Values{"token": {token}}
					if !basic {
						form.Set("client_id", client)
						form.Set("client_secret", benchSecret)
					}
					r := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(form.Encode()))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if basic {
						r.SetBasicAuth(client, benchSecret)
					}
					if origin != "" {
						r.Header.Set("Origin", origin)
					}
					return r
				}
			}
			userinfo := func(method, authorization, form string) func() *http.Request {
				return func() *http.Request {
					r := httptest.NewRequest(method, "https://id.example/userinfo", strings.NewReader(form))
					if form != "" {
						r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					if authorization != "" {
						r.Header.Set("Authorization", authorization)
					}
					return r
				}
			}
			es, rs := e.clients[ES256], e.clients[RS256]
			for _, tc := range []struct {
				name string
				req  func() *http.Request
			}{
				{"introspect opaque", introspect(es, opaque, true, "")},
				{"introspect opaque, secret in the form", introspect(es, opaque, false, "")},
				{"introspect opaque, another client", introspect(rs, opaque, true, "")},
				{"introspect client_credentials JWT", introspect(e.jwt, cc.AccessToken, true, "https://rs.example")},
				{"introspect client_credentials JWT, another client", introspect(es, cc.AccessToken, true, "")},
				{"introspect a user's JWT", introspect(e.jwt, userJWT, true, "")},
				{"introspect garbage", introspect(es, "not-a-token", true, "")},
				{"introspect a tampered JWT", introspect(e.jwt, cc.AccessToken[:len(cc.AccessToken)-4]+"AAAA", true, "")},
				{"introspect nothing", introspect(es, "", true, "")},
				{"introspect, wrong secret", func() *http.Request {
					r := introspect(es, opaque, true, "")()
					r.SetBasicAuth(es, "wrong")
					return r
				}},
				{"userinfo", userinfo(http.MethodGet, "Bearer "+opaque, "")},
				{"userinfo, lower-case scheme", userinfo(http.MethodGet, "bearer "+opaque, "")},
				{"userinfo, POST form", userinfo(http.MethodPost, "", url.Values{"access_token": {opaque}}.Encode())},
				{"userinfo, user's JWT", userinfo(http.MethodGet, "Bearer "+userJWT, "")},
				{"userinfo, client_credentials JWT", userinfo(http.MethodGet, "Bearer "+cc.AccessToken, "")},
				{"userinfo, garbage", userinfo(http.MethodGet, "Bearer nope", "")},
				{"userinfo, other scheme", userinfo(http.MethodGet, "Basic Zm9vOmJhcg==", "")},
				{"userinfo, no token", userinfo(http.MethodGet, "", "")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, want := httptest.NewRecorder(), httptest.NewRecorder()
					p.ServeHTTP(got, tc.req())
					zitadel.ServeHTTP(want, tc.req())
					if live := []string{"introspect opaque", "introspect client_credentials JWT", "introspect a user's JWT"}; slices.Contains(live, tc.name) &&
						!strings.Contains(got.Body.String(), `"active":true`) {
						t.Errorf("a live token: %s", got.Body)
					}
					if got.Code != want.Code || got.Body.String() != want.Body.String() {
						t.Errorf("got %d %s\nzitadel %d %s", got.Code, got.Body, want.Code, want.Body)
					}
					for k := range want.Header() {
						if got.Header().Get(k) != want.Header().Get(k) {
							t.Errorf("header %s: got %q, zitadel %q", k, got.Header().Get(k), want.Header().Get(k))
						}
					}
					if len(got.Header()) != len(want.Header()) {
						t.Errorf("headers: got %v, zitadel %v", got.Header(), want.Header())
					}
				})
			}
		})
	}
}
