package storagetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// completedCode stores a code for the request id, completed for u1 in the
// session s1 (which continues s0), and returns the request as read back.
func completedCode(t *testing.T, s storage.Store, id, code string) *storage.AuthRequest {
	t.Helper()
	ctx := t.Context()
	setupAuthRequest(t, s, id)
	check(t, s.CompleteAuthRequest(ctx, id, "u1", epoch(), []string{"pwd", "otp"}, "loa:2", epoch()))
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash(code), AuthRequestID: id, ExpiresAt: epoch().Add(time.Minute)}))
	ar, err := s.AuthRequestByID(ctx, id)
	check(t, err)
	return ar
}

// testRedeemAuthCode checks the exchange's one call: it returns the code's
// request, its user and its session's sid source, read before the commit
// that uses the code, deletes the request and stores the tokens issue gave
// for it; a replay revokes them and issues nothing, unless another client
// replays it.
func testRedeemAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := completedCode(t, s, "ar1", "code")
	check(t, s.CreateSession(ctx, newSession("s0", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.ReplaceSession(ctx, "s0", "s1", epoch()))
	check(t, s.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: "ar1", SessionID: "s1", ClientID: "c1", UserID: "u1", CreatedAt: epoch()}))
	user, err := s.UserByID(ctx, "u1")
	check(t, err)

	issued := newAccessToken("at-code", "c1", "ar1", epoch())
	issuedRefresh := newRefreshToken("rt-code", "c1", "ar1", epoch())
	var seen *storage.AuthRequest
	got, u, sid, err := s.RedeemAuthCode(ctx, hash("code"), "c1", epoch().Add(59*time.Second), func(r *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		seen = r
		return issued, issuedRefresh, nil
	})
	check(t, err)
	wantEqual(t, "RedeemAuthCode's request", got, ar)
	wantEqual(t, "the request issue saw", seen, ar)
	wantEqual(t, "RedeemAuthCode's user", u, user)
	if sid != "s0" {
		t.Errorf("RedeemAuthCode's session = %q, want s0 (the first of the grant's session)", sid)
	}
	access, err := s.AccessTokenByID(ctx, "at-code")
	check(t, err)
	wantEqual(t, "the access token RedeemAuthCode stored", access, issued)
	refresh, err := s.RefreshTokenByHash(ctx, hash("rt-code"))
	check(t, err)
	wantEqual(t, "the refresh token RedeemAuthCode stored", refresh, issuedRefresh)
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantErr(t, "AuthRequestByID after RedeemAuthCode", err, storage.ErrNotFound)

	// Another client's replay is refused, and revokes nothing of c1's: it
	// could not have used the code.
	_, _, _, err = s.RedeemAuthCode(ctx, hash("code"), "c2", epoch().Add(58*time.Second), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		t.Error("issue called for another client's replay")
		return nil, nil, nil
	})
	wantErr(t, "RedeemAuthCode again by another client", err, storage.ErrReplayed)
	wantRevoked(t, s, time.Time{}, map[string]bool{"at-code": false}, map[string]bool{"rt-code": false})

	replayAt := epoch().Add(59 * time.Second)
	_, _, _, err = s.RedeemAuthCode(ctx, hash("code"), "c1", replayAt, func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		t.Error("issue called for a replayed code")
		return newAccessToken("at-replay", "c1", "ar1", epoch()), nil, nil
	})
	wantErr(t, "RedeemAuthCode again", err, storage.ErrReplayed)
	_, err = s.AccessTokenByID(ctx, "at-replay")
	wantErr(t, "a token issued with a replayed code", err, storage.ErrNotFound)
	wantRevoked(t, s, replayAt, map[string]bool{"at-code": true}, map[string]bool{"rt-code": true})
}

// testRedeemAuthCodeUnusable checks that a code RedeemAuthCode cannot use
// stays as it was, with no token and its request kept: expired, unknown,
// of a request without a user or deleted, or whose token cannot be
// stored, presented by another client, or refused by issue. Then it works
// once.
func testRedeemAuthCodeUnusable(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := completedCode(t, s, "ar1", "code")
	setupAuthRequest(t, s, "ar2") // no user yet
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code2"), AuthRequestID: "ar2", ExpiresAt: epoch().Add(time.Minute)}))
	completedCode(t, s, "ar3", "code3")
	check(t, s.DeleteAuthRequest(ctx, "ar3"))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("taken", "c1", "other", epoch())))
	for _, c := range []struct {
		name, code string
		at         time.Time
		refresh    *storage.RefreshToken
		want       error
	}{
		{"at its expiry", "code", epoch().Add(time.Minute), nil, storage.ErrNotFound},
		{"unknown", "no such code", epoch(), nil, storage.ErrNotFound},
		{"of a request without a user", "code2", epoch(), nil, storage.ErrNotFound},
		{"of a deleted request", "code3", epoch(), nil, storage.ErrNotFound},
		{"with a taken refresh token", "code", epoch(), newRefreshToken("taken", "c1", "ar1", epoch()), storage.ErrConflict},
	} {
		id := "at-" + c.code
		_, _, _, err := s.RedeemAuthCode(ctx, hash(c.code), "c1", c.at, func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
			return newAccessToken(id, "c1", "ar1", epoch()), c.refresh, nil
		})
		wantErr(t, "RedeemAuthCode "+c.name, err, c.want)
		_, err = s.AccessTokenByID(ctx, id)
		wantErr(t, "the access token of RedeemAuthCode "+c.name, err, storage.ErrNotFound)
	}
	// Another client's redemption, such as a thief's, uses nothing up.
	_, _, _, err := s.RedeemAuthCode(ctx, hash("code"), "c2", epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		t.Error("issue called for another client's code")
		return newAccessToken("at-thief", "c2", "ar1", epoch()), nil, nil
	})
	wantErr(t, "RedeemAuthCode by another client", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at-thief")
	wantErr(t, "the access token of another client's redemption", err, storage.ErrNotFound)
	got, err := s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	wantEqual(t, "the request after the failed redemptions", got, ar)
	// A redemption that issue refuses (a wrong code_verifier) writes
	// nothing, and returns issue's error.
	refusal := errors.New("refused")
	_, _, _, err = s.RedeemAuthCode(ctx, hash("code"), "c1", epoch(), func(r *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		wantEqual(t, "the request issue saw before refusing it", r, ar)
		return newAccessToken("at-refused", "c1", "ar1", epoch()), nil, refusal
	})
	if !errors.Is(err, refusal) {
		t.Errorf("RedeemAuthCode refused by issue = %v, want issue's error", err)
	}
	_, err = s.AccessTokenByID(ctx, "at-refused")
	wantErr(t, "the access token of a refused redemption", err, storage.ErrNotFound)
	got, err = s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	wantEqual(t, "the request after a refused redemption", got, ar)

	got, _, _, err = s.RedeemAuthCode(ctx, hash("code"), "c1", epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) { return nil, nil, nil })
	check(t, err)
	wantEqual(t, "RedeemAuthCode after the failed redemptions", got, ar)
}

// testRedeemAuthCodeConcurrent redeems one code 20 times at once: one
// succeeds, and the replays among the others revoke its token.
func testRedeemAuthCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	completedCode(t, s, "ar1", "code")
	var n atomic.Int64
	errs := concurrently(20, func() error {
		_, _, _, err := s.RedeemAuthCode(ctx, hash("code"), "c1", epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
			return newAccessToken(fmt.Sprint("at", n.Add(1)), "c1", "ar1", epoch()), nil, nil
		})
		return err
	})
	ok, failed := count(t, errs, storage.ErrReplayed, storage.ErrNotFound)
	if ok != 1 || failed != 19 {
		t.Fatalf("20 concurrent RedeemAuthCode: %d succeeded and %d failed, want 1 and 19", ok, failed)
	}
	for i := range int(n.Load()) {
		if tok, err := s.AccessTokenByID(ctx, fmt.Sprint("at", i+1)); err == nil && tok.RevokedAt == nil {
			t.Errorf("token %s of the one redemption that succeeded is not revoked after the replays", tok.ID)
		}
	}
}
