package op

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// lostAfterCodeUse is a store whose database goes away the moment a code's
// use commits, as in a failover: every read after it fails.
type lostAfterCodeUse struct{ *lostAfterRotation }

func (l lostAfterCodeUse) RedeemAuthCode(ctx context.Context, hash []byte, clientID string, now time.Time, issue func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken)) (*storage.AuthRequest, *storage.User, string, error) {
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
// code stays as it was, so that its own client still exchanges it.
// Used up by the thief's try, the code would have been lost to its
// client, and the client's exchange taken for a replay.
func TestCodeOfAnotherClient(t *testing.T) {
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
		})
	}
}
