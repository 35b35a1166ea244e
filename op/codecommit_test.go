package op

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// lostAfterCodeUse is a store whose database goes away the moment a code's
// use commits, as in a failover: every read after it fails.
type lostAfterCodeUse struct{ *lostAfterRotation }

func (l lostAfterCodeUse) RedeemAuthCode(ctx context.Context, hash []byte, clientID string, now time.Time, issue func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error)) (*storage.AuthRequest, *storage.User, string, error) {
	ar, u, sid, err := l.Store.RedeemAuthCode(ctx, hash, clientID, now, issue)
	l.lost.Store(err == nil)
	return ar, u, sid, err
}

// TestCodeExchangeReadsNothingAfterItsCommit exchanges a code of a grant
// completed in a session while the database goes away as the code's use
// commits: the answer is still the tokens, with the ID token's sid and
// the user's claims. Had the exchange read the user or the grant's session
// after the commit, it would have answered 503 for a code that was used,
// and the client's retry would have been refused as a replay, revoking
// the grant.
func TestCodeExchangeReadsNothingAfterItsCommit(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			store := lostAfterCodeUse{&lostAfterRotation{Store: teststore.Open(t, backend)}}
			e := newBenchEnv(t, store)
			ctx := context.Background()
			client := e.clients[ES256]
			codes, verifier := e.pendingCodes(t, client, 1, "openid", "email", "offline_access")
			ar, err := store.CodeGrantID(ctx, codes[0])
			if err != nil {
				t.Fatal(err)
			}
			e.grantInSession(t, ar, client, "session-1")

			rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
			if !store.lost.Load() {
				t.Fatal("the exchange did not use the code")
			}
			var tok struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
				IDToken      string `json:"id_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
				t.Fatalf("exchange: %s (%v)", rec.Body, err)
			}
			var claims struct {
				SID   string `json:"sid"`
				Email string `json:"email"`
			}
			err = jwtClaims(tok.IDToken, &claims)
			if err != nil || claims.SID != e.st.sid("session-1") || claims.Email != "bench@example.com" {
				t.Errorf("the ID token's sid and email = %q, %q (%v), want the session's %q and the user's", claims.SID, claims.Email, err, e.st.sid("session-1"))
			}
		})
	}
}

// CodeGrantID returns the id of the grant (auth request) code starts.
func (l lostAfterCodeUse) CodeGrantID(ctx context.Context, code string) (string, error) {
	ar, _, _, err := l.CodeGrant(ctx, hashSecret(code))
	if err != nil {
		return "", err
	}
	return ar.ID, nil
}

// TestCodeOfAnotherClient presents a client's code with another client's
// credentials (a stolen code, RFC 6749 §4.1.3): it is refused, and the
// code stays as it was, so that its own client still exchanges it. Used
// up by the thief's try, the code would have been lost to its client, and
// the client's exchange taken for a replay. Once used, the thief's replay
// of it revokes nothing; the owner's revokes what it issued.
func TestCodeOfAnotherClient(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			owner, thief := e.clients[ES256], e.clients[RS256]
			codes, verifier := e.pendingCodes(t, owner, 1, "openid")
			form := url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
			for range 3 {
				rec := e.serve(t, tokenRequest(thief, form), http.StatusBadRequest)
				var out struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Error != "invalid_grant" {
					t.Fatalf("another client's exchange: %s (%v), want invalid_grant", rec.Body, err)
				}
			}
			rec := e.serve(t, tokenRequest(owner, form), http.StatusOK)
			if !strings.Contains(rec.Body.String(), `"id_token"`) {
				t.Errorf("the owner's exchange after the thief's: %s", rec.Body)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
				t.Fatalf("the owner's exchange: %s (%v)", rec.Body, err)
			}
			active := func() bool {
				t.Helper()
				req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect",
					strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(owner, benchSecret)
				return strings.Contains(e.serve(t, req, http.StatusOK).Body.String(), `"active":true`)
			}
			// The thief replays the used code: refused, and the owner's
			// tokens stay live (the thief could not have used the code).
			e.serve(t, tokenRequest(thief, form), http.StatusBadRequest)
			if !active() {
				t.Error("the owner's access token was revoked by another client's replay of the code")
			}
			// The owner's own replay revokes them, as ever.
			e.serve(t, tokenRequest(owner, form), http.StatusBadRequest)
			if active() {
				t.Error("the owner's access token is live after the owner's replay of the code")
			}
		})
	}
}

// TestRefusedExchangeKeepsTheCode presents a code with its own client's
// credentials but a wrong code_verifier or redirect_uri, in the body or,
// where zitadel reads them too, the query string: each try gets the
// error it always got, in zitadel's words, and the code stays unused, so
// that the right exchange still succeeds. Used up by a refused try, the
// code would have been lost to its client and the right exchange taken
// for a replay: whoever saw a code (a public client's id is no secret)
// could deny its sign-in.
func TestRefusedExchangeKeepsTheCode(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			client := e.clients[ES256]
			codes, verifier := e.pendingCodes(t, client, 1, "openid")
			right := url.Values{"grant_type": {"authorization_code"},
				"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
			with := func(key, value string) url.Values {
				form := cloneValues(right)
				if value == "" {
					form.Del(key)
				} else {
					form.Set(key, value)
				}
				return form
			}
			wrongVerifier := with("code_verifier", strings.Repeat("w", 43))
			otherRedirect := with("redirect_uri", benchRedirect+"/other")
			lastWrong := cloneValues(right)
			lastWrong.Add("code_verifier", strings.Repeat("w", 43))
			for _, tc := range []struct {
				name      string
				req       *http.Request
				wantError string
			}{
				{"a wrong code_verifier", tokenRequest(client, wrongVerifier), "invalid_grant"},
				{"no code_verifier", tokenRequest(client, with("code_verifier", "")), "invalid_request"},
				{"another redirect_uri", tokenRequest(client, otherRedirect), "invalid_grant"},
				{"no redirect_uri", tokenRequest(client, with("redirect_uri", "")), "invalid_grant"},
				{"the right verifier, then a wrong one (the last counts)", tokenRequest(client, lastWrong), "invalid_grant"},
				// zitadel reads every parameter from the body or the query.
				{"grant_type in the query, a wrong code_verifier", inQuery(client, wrongVerifier, "grant_type"), "invalid_grant"},
				{"grant_type in the query, no code_verifier", inQuery(client, with("code_verifier", ""), "grant_type"), "invalid_request"},
				{"grant_type in the query, another redirect_uri", inQuery(client, otherRedirect, "grant_type"), "invalid_grant"},
				{"grant_type and code in the query, a wrong code_verifier", inQuery(client, wrongVerifier, "grant_type", "code"), "invalid_grant"},
				{"a wrong code_verifier in the query", inQuery(client, wrongVerifier, "code_verifier"), "invalid_grant"},
				{"another redirect_uri in the query", inQuery(client, otherRedirect, "redirect_uri"), "invalid_grant"},
				{"everything in the query, a wrong code_verifier", inQuery(client, wrongVerifier, "grant_type", "code", "redirect_uri", "code_verifier"), "invalid_grant"},
			} {
				if got := tokenError(t, e.serve(t, tc.req, http.StatusBadRequest).Body.Bytes()); got != tc.wantError {
					t.Errorf("%s: %s, want %s", tc.name, got, tc.wantError)
				}
			}
			rec := e.serve(t, tokenRequest(client, right), http.StatusOK)
			if !strings.Contains(rec.Body.String(), `"id_token"`) {
				t.Errorf("the right exchange after the refused ones: %s", rec.Body)
			}
			e.serve(t, tokenRequest(client, right), http.StatusBadRequest) // and once only
		})
	}
}

// writesCounted is a store that counts the tokens it is asked to create.
type writesCounted struct {
	storage.Store
	created atomic.Int64
}

func (w *writesCounted) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	w.created.Add(1)
	return w.Store.CreateAccessToken(ctx, t)
}

func (w *writesCounted) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	w.created.Add(1)
	return w.Store.CreateRefreshToken(ctx, t)
}

// TestNothingIssuedFromAnUnusedCode asks for tokens from the request of a
// code whose exchange was to be refused, handed to zitadel without the
// code's use: none is issued, and none stored.
func TestNothingIssuedFromAnUnusedCode(t *testing.T) {
	t.Parallel()
	store := &writesCounted{Store: teststore.Open(t, "sqlite")}
	e := newBenchEnv(t, store)
	ctx := context.Background()
	codes, _ := e.pendingCodes(t, e.clients[ES256], 1, "openid", "offline_access")
	ar, _, _, err := store.CodeGrant(ctx, hashSecret(codes[0]))
	if err != nil {
		t.Fatal(err)
	}
	req := authRequest{r: ar, unused: true}
	if id, _, err := e.st.CreateAccessToken(ctx, req); err == nil {
		t.Errorf("CreateAccessToken of an unused code's request = %q, want an error", id)
	}
	if id, refresh, _, err := e.st.CreateAccessAndRefreshTokens(ctx, req, ""); err == nil {
		t.Errorf("CreateAccessAndRefreshTokens of an unused code's request = %q, %q, want an error", id, refresh)
	}
	if n := store.created.Load(); n != 0 {
		t.Errorf("%d tokens stored, want none", n)
	}
	// The same request, used, issues.
	if _, _, _, err := e.st.CreateAccessAndRefreshTokens(ctx, authRequest{r: ar}, ""); err != nil || store.created.Load() != 2 {
		t.Errorf("CreateAccessAndRefreshTokens of a used code's request: %v, %d tokens stored, want 2", err, store.created.Load())
	}
}
