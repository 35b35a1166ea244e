package op

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// The benchmarks of the provider's hot paths run on real databases: SQLite
// always, PostgreSQL when GATEHOUSE_TEST_POSTGRES_DSN names one.

const benchRedirect = "https://rp.example/cb"

// benchEnv is a provider over a fresh store, with one user, a
// confidential client per signing algorithm and one (ES256) that gets JWT
// access tokens.
type benchEnv struct {
	store   storage.Store
	st      *Storage
	p       *Provider
	user    string
	clients map[string]string // algorithm → client id; the secret is benchSecret
	jwt     string            // the client id of the JWT access token client
}

const benchSecret = "bench-secret-bench-secret-bench-secret-0123"

func forBackends(b *testing.B, run func(b *testing.B, e *benchEnv)) {
	for _, backend := range teststore.Backends {
		b.Run(backend, func(b *testing.B) {
			store := teststore.Open(b, backend)
			run(b, newBenchEnv(b, store))
		})
	}
}

func newBenchEnv(b testing.TB, store storage.Store) *benchEnv {
	b.Helper()
	ctx := context.Background()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	keys := NewKeys(store, box, time.Now, time.Hour)
	keys.SetGenerator(testKeyGenerator) // RSA-3072 keys made once (keys_test.go)
	if err := keys.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{
		Issuer: "https://id.example", AccessTokenTTL: 15 * time.Minute, IDTokenTTL: time.Hour,
		RefreshTokenTTL: 24 * time.Hour, AuthCodeTTL: time.Minute, AuthRequestTTL: 30 * time.Minute,
		LoginURL:     func(id string) string { return "https://id.example/login?authRequestID=" + id },
		SignedOutURL: "https://id.example/signed-out",
	}, store, keys)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	e := &benchEnv{store: store, st: p.storage, p: p, user: "bench-user", clients: map[string]string{}}
	if err := store.CreateUser(ctx, &storage.User{ID: e.user, Email: "bench@example.com", Name: "Bench", PasswordHash: "x",
		EmailVerified: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for _, alg := range algorithms {
		id := "bench-" + alg
		if err := store.CreateClient(ctx, &storage.Client{ID: id, Name: id, SecretHash: hashSecret(benchSecret),
			RedirectURIs: []string{benchRedirect}, SigningAlgorithm: alg, GrantTypes: GrantTypes, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
		e.clients[alg] = id
	}
	e.jwt = "bench-jwt"
	if err := store.CreateClient(ctx, &storage.Client{ID: e.jwt, Name: e.jwt, SecretHash: hashSecret(benchSecret),
		RedirectURIs: []string{benchRedirect}, SigningAlgorithm: ES256, AccessTokenFormat: AccessTokenJWT,
		GrantTypes: GrantTypes, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	return e
}

// serve runs one request through the provider and checks its status.
func (e *benchEnv) serve(b testing.TB, req *http.Request, want int) *httptest.ResponseRecorder {
	b.Helper()
	rec := httptest.NewRecorder()
	e.p.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s = %d, want %d: %s", req.Method, req.URL.Path, rec.Code, want, rec.Body)
	}
	return rec
}

func tokenRequest(clientID string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, benchSecret)
	return req
}

// pendingCodes stores n auth requests done for the user, each with a code,
// ready for the exchange. Their scopes are "openid email profile" unless
// scopes are given.
func (e *benchEnv) pendingCodes(b testing.TB, clientID string, n int, scopes ...string) (codes []string, verifier string) {
	b.Helper()
	verifier = strings.Repeat("v", 43)
	return e.pendingCodesFor(b, clientID, verifier, n, scopes...), verifier
}

// pendingCodesFor is pendingCodes with the code_challenge of verifier.
func (e *benchEnv) pendingCodesFor(b testing.TB, clientID, verifier string, n int, scopes ...string) (codes []string) {
	b.Helper()
	for range n {
		code, _ := e.pendingCode(b, clientID, verifier, scopes...)
		codes = append(codes, code)
	}
	return codes
}

// pendingCode stores an auth request done for the user with the
// code_challenge of verifier and a code, and returns the code and the
// request's id. Its scopes are "openid email profile" unless scopes are
// given.
func (e *benchEnv) pendingCode(b testing.TB, clientID, verifier string, scopes ...string) (code, id string) {
	b.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	now := time.Now()
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "profile"}
	}
	id = "ar-" + clientID + "-" + randomID(9)
	if err := e.store.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, ClientID: clientID, RedirectURI: benchRedirect,
		Scopes: scopes, State: "s", Nonce: "n", ResponseType: "code",
		CodeChallenge: challenge, CodeChallengeMethod: "S256", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	if err := e.store.CompleteAuthRequest(ctx, id, e.user, now, []string{"pwd", "otp", "mfa"}, ACRValues[2], now); err != nil {
		b.Fatal(err)
	}
	code = randomID(32)
	if err := e.st.SaveAuthCode(ctx, id, code); err != nil {
		b.Fatal(err)
	}
	return code, id
}

// BenchmarkTokenIssuance measures the token endpoint end to end in the
// provider: the code exchange (an ID token signed with the client's
// algorithm, an access token stored) and client_credentials.
func BenchmarkTokenIssuance(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		for _, alg := range algorithms {
			b.Run("authorization_code/"+alg, func(b *testing.B) {
				codes, verifier := e.pendingCodes(b, e.clients[alg], b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					rec := e.serve(b, tokenRequest(e.clients[alg], url.Values{"grant_type": {"authorization_code"},
						"code": {codes[i]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
					if !strings.Contains(rec.Body.String(), `"id_token"`) {
						b.Fatalf("no id_token: %s", rec.Body)
					}
				}
			})
		}
		// Exchanges from 16 goroutines at once, as under load: the
		// writes of concurrent exchanges share SQLite's commits.
		b.Run("authorization_code/parallel/"+ES256, func(b *testing.B) {
			client := e.clients[ES256]
			codes, verifier := e.pendingCodes(b, client, b.N)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			cpu := processCPU()
			gc, _ := e.store.(interface{ GroupCommits() (int64, int64) })
			var commits, writes int64
			if gc != nil {
				commits, writes = gc.GroupCommits()
			}
			b.ResetTimer()
			defer func() {
				// The CPU the exchanges took, whatever else the machine ran.
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
				if gc != nil {
					c, w := gc.GroupCommits()
					b.ReportMetric(float64(w-writes)/float64(max(c-commits, 1)), "writes/commit")
				}
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					e.p.ServeHTTP(rec, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
						"code": {codes[next.Add(1)-1]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}))
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id_token"`) {
						b.Errorf("exchange = %d: %s", rec.Code, rec.Body)
					}
				}
			})
		})
		b.Run("client_credentials", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.serve(b, tokenRequest(e.clients[RS256], url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
			}
		})
		// A JWT access token: stored as before, then signed (ES256).
		b.Run("client_credentials/jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := e.serve(b, tokenRequest(e.jwt, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
				if !strings.Contains(rec.Body.String(), `"access_token":"eyJhbGciOiJFUzI1NiIs`) {
					b.Fatalf("no ES256 JWT access token: %s", rec.Body)
				}
			}
		})
	})
}

// processCPU returns the CPU time the process has used so far.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// BenchmarkClientAuthentication measures the client_secret_basic check of
// a confidential client (clientauth.go): one lookup, one SHA-256, a
// constant-time compare.
func BenchmarkClientAuthentication(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(e.clients[RS256], benchSecret)
		if err := r.ParseForm(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.st.authenticateRequest(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCodeCheck measures redeeming an authorization code: the atomic
// consume of its hash and the load of its auth request.
func BenchmarkCodeCheck(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		// The client that clientAuth authenticated, as on the token
		// endpoint: a code is redeemed only by its own client.
		ctx := withAuthenticatedClient(context.Background(), &storage.Client{ID: e.clients[ES256]})
		codes, _ := e.pendingCodes(b, e.clients[ES256], b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := e.st.AuthRequestByCode(ctx, codes[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDiscovery and BenchmarkJWKS measure rendering the two public
// documents every relying party fetches.
func BenchmarkDiscovery(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		b.ReportAllocs()
		for b.Loop() {
			e.serve(b, httptest.NewRequest(http.MethodGet, "https://id.example/.well-known/openid-configuration", nil), http.StatusOK)
		}
	})
}

func BenchmarkJWKS(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		b.ReportAllocs()
		for b.Loop() {
			e.serve(b, httptest.NewRequest(http.MethodGet, "https://id.example/keys", nil), http.StatusOK)
		}
	})
}

// accessToken returns an access token of the user, issued to clientID by
// a code exchange.
func (e *benchEnv) accessToken(b testing.TB, clientID string) string {
	b.Helper()
	codes, verifier := e.pendingCodes(b, clientID, 1)
	rec := e.serve(b, tokenRequest(clientID, url.Values{"grant_type": {"authorization_code"},
		"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil || t.AccessToken == "" {
		b.Fatalf("code exchange: %s", rec.Body)
	}
	return t.AccessToken
}

// clientCredentialsToken returns an access token of the client
// credentials grant of clientID: unrecorded for a client of JWT tokens.
func (e *benchEnv) clientCredentialsToken(b testing.TB, clientID string) string {
	b.Helper()
	rec := e.serve(b, tokenRequest(clientID, url.Values{"grant_type": {"client_credentials"}}), http.StatusOK)
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil || t.AccessToken == "" {
		b.Fatalf("client_credentials: %s", rec.Body)
	}
	return t.AccessToken
}

// BenchmarkIntrospection and BenchmarkUserinfo measure the two endpoints
// resource servers call with an access token. Introspecting a JWT
// access token verifies its signature before it reads the token's row;
// an unrecorded one (client_credentials) has none to read.
func BenchmarkIntrospection(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		for _, tc := range []struct {
			name, client string
			token        func(testing.TB, string) string
		}{
			{"opaque", e.clients[ES256], e.accessToken},
			{"jwt", e.jwt, e.accessToken},
			{"unrecorded_jwt", e.jwt, e.clientCredentialsToken},
		} {
			b.Run(tc.name, func(b *testing.B) {
				at := tc.token(b, tc.client)
				form := url.Values{"token": {at}}.Encode()
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(tc.client, benchSecret)
					if rec := e.serve(b, req, http.StatusOK); !strings.Contains(rec.Body.String(), `"active":true`) {
						b.Fatalf("introspection: %s", rec.Body)
					}
				}
			})
		}
		// The unrecorded JWT from 16 goroutines at once, as make bench's
		// connections, each request with a context that can end, as
		// net/http gives them (httptest.NewRequest's cannot): CPU per
		// introspection, whatever else the machine runs, and on SQLite the
		// reads of the generation counts per introspection (the Store
		// shares them between lookups that ask at once).
		b.Run("unrecorded_jwt/parallel", func(b *testing.B) {
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			form := url.Values{"token": {e.clientCredentialsToken(b, e.jwt)}}.Encode()
			cr, _ := e.store.(interface{ CountReads() (int64, int64) })
			var reads0 int64
			if cr != nil {
				reads0, _ = cr.CountReads()
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			cpu := processCPU()
			b.ResetTimer()
			defer func() {
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
				if cr != nil {
					reads, _ := cr.CountReads()
					b.ReportMetric(float64(reads-reads0)/float64(b.N), "count-reads/op")
				}
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequestWithContext(ctx, http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(e.jwt, benchSecret)
					rec := httptest.NewRecorder()
					e.p.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
						b.Errorf("introspection = %d: %s", rec.Code, rec.Body)
					}
				}
			})
		})
	})
}

func BenchmarkUserinfo(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		at := e.accessToken(b, e.clients[ES256])
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "https://id.example/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			e.serve(b, req, http.StatusOK)
		}
	})
}

// BenchmarkSigning measures signing an ID token's worth of claims with the
// current key of each algorithm, as the token endpoint does: the floor of
// a code exchange's CPU cost (RS256 is 3072-bit, ES256 P-256, EdDSA
// Ed25519).
func BenchmarkSigning(b *testing.B) {
	e := newBenchEnv(b, teststore.Open(b, "sqlite"))
	claims := []byte(`{"iss":"https://id.example","sub":"bench-user","aud":["bench-ES256"],"exp":1795000000,` +
		`"iat":1794996400,"auth_time":1794996400,"nonce":"n","acr":"loa:2","amr":["pwd","otp","mfa"],` +
		`"azp":"bench-ES256","at_hash":"0123456789abcdefghijkl","email":"bench@example.com","email_verified":true}`)
	for _, alg := range algorithms {
		b.Run(alg, func(b *testing.B) {
			signer := keySigner(b, e.st.keys, alg)
			b.ReportAllocs()
			for b.Loop() {
				jws, err := signer.Sign(claims)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
