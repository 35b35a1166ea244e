package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// offlineTokens exchanges a fresh code of client's with offline_access and
// returns the access and refresh tokens.
func (e *benchEnv) offlineTokens(t *testing.T, client string) (access, refresh string) {
	t.Helper()
	codes, verifier := e.pendingCodes(t, client, 1, "openid", "offline_access")
	rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
		"code": {codes[0]}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}), http.StatusOK)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("exchange with offline_access: %s (%v)", rec.Body, err)
	}
	return tok.AccessToken, tok.RefreshToken
}

// lostAfterRotation is a store whose database goes away the moment a
// refresh token's rotation commits, as in a failover: every read after it
// fails.
type lostAfterRotation struct {
	storage.Store
	lost atomic.Bool
}

var errLostDatabase = errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")

func (l *lostAfterRotation) RotateRefreshToken(ctx context.Context, oldHash []byte, next *storage.RefreshToken, access *storage.AccessToken, now time.Time) error {
	err := l.Store.RotateRefreshToken(ctx, oldHash, next, access, now)
	l.lost.Store(err == nil)
	return err
}

func (l *lostAfterRotation) GrantSession(ctx context.Context, grantID string) (string, error) {
	if l.lost.Load() {
		return "", errLostDatabase
	}
	return l.Store.GrantSession(ctx, grantID)
}

func (l *lostAfterRotation) UserByID(ctx context.Context, id string) (*storage.User, error) {
	if l.lost.Load() {
		return nil, errLostDatabase
	}
	return l.Store.UserByID(ctx, id)
}

func (l *lostAfterRotation) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	if l.lost.Load() {
		return nil, errLostDatabase
	}
	return l.Store.ClientByID(ctx, id)
}

func (l *lostAfterRotation) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	if l.lost.Load() {
		return nil, errLostDatabase
	}
	return l.Store.SigningKeys(ctx, now)
}

// TestRefreshReadsNothingAfterItsCommit refreshes a token of a grant
// completed in a session while the database goes away as the rotation
// commits: the answer is still the new tokens, with the ID token's sid.
// Had it read the grant's session after the commit, it would have answered
// 503 for a rotation that happened, and the client's retry with the token
// it holds would have revoked the family.
func TestRefreshReadsNothingAfterItsCommit(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			store := &lostAfterRotation{Store: teststore.Open(t, backend)}
			e := newBenchEnv(t, store)
			ctx := context.Background()
			client := e.clients[ES256]
			_, refresh := e.offlineTokens(t, client)
			rt, err := store.RefreshTokenByHash(ctx, hashSecret(refresh))
			if err != nil {
				t.Fatal(err)
			}
			e.grantInSession(t, rt.FamilyID, client, "session-1")

			rec := e.serve(t, tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), http.StatusOK)
			if !store.lost.Load() {
				t.Fatal("the refresh did not rotate the token")
			}
			var tok struct {
				RefreshToken string `json:"refresh_token"`
				IDToken      string `json:"id_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" || tok.IDToken == "" {
				t.Fatalf("refresh: %s (%v)", rec.Body, err)
			}
			var claims struct {
				SID string `json:"sid"`
			}
			err = jwtClaims(tok.IDToken, &claims)
			if err != nil || claims.SID != e.st.sid("session-1") {
				t.Errorf("the refreshed ID token's sid = %q (%v), want the session's %q", claims.SID, err, e.st.sid("session-1"))
			}
		})
	}
}

// grantInSession records that the grant of client was completed in a new
// session of the user, sessionID.
func (e *benchEnv) grantInSession(t *testing.T, grant, client, sessionID string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := e.store.CreateSession(ctx, &storage.Session{ID: sessionID, UserID: e.user, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleUntil: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: grant, SessionID: sessionID,
		ClientID: client, UserID: e.user, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// jwtClaims decodes the claims of the compact JWT token into v, unverified.
func jwtClaims(token string, v any) error {
	_, payload, _ := strings.Cut(token, ".")
	payload, _, _ = strings.Cut(payload, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
