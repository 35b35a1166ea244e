package storagetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// testCodeGrant checks that CodeGrant reads a code's request, its user and
// its session's sid source (as GrantSession, a continued session's first)
// while the request is there, and finds nothing for an unknown code, a
// request without a user, or a used code.
func testCodeGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	_, _, _, err := s.CodeGrant(ctx, hash("code"))
	wantErr(t, "CodeGrant of a request without a user", err, storage.ErrNotFound)

	check(t, s.CompleteAuthRequest(ctx, "ar1", "u1", epoch(), []string{"pwd"}, "loa:1", epoch()))
	ar.UserID, ar.AuthTime, ar.AMR, ar.ACR, ar.Done = "u1", epoch(), []string{"pwd"}, "loa:1", true
	user, err := s.UserByID(ctx, "u1")
	check(t, err)
	got, u, sid, err := s.CodeGrant(ctx, hash("code"))
	check(t, err)
	wantEqual(t, "CodeGrant's request", got, ar)
	wantEqual(t, "CodeGrant's user", u, user)
	if sid != "" {
		t.Errorf("CodeGrant's session of a grant without one = %q, want none", sid)
	}

	// A grant of s2, which continues s1: the sid is s1's.
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s2", "u1", epoch())))
	check(t, s.ReplaceSession(ctx, "s1", "s2", epoch()))
	check(t, s.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: "ar1", SessionID: "s2", ClientID: "c1", UserID: "u1", CreatedAt: epoch()}))
	_, _, sid, err = s.CodeGrant(ctx, hash("code"))
	check(t, err)
	if want, err := s.GrantSession(ctx, "ar1"); err != nil || sid != want || sid != "s1" {
		t.Errorf("CodeGrant's session = %q, want GrantSession's %q (%v), s1", sid, want, err)
	}

	_, _, _, err = s.CodeGrant(ctx, hash("no such code"))
	wantErr(t, "CodeGrant of an unknown code", err, storage.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
	check(t, err)
	_, _, _, err = s.CodeGrant(ctx, hash("code"))
	wantErr(t, "CodeGrant of a used code", err, storage.ErrNotFound)
}

// testUseAuthCode checks UseAuthCode as testConsumeAuthCode checks
// ConsumeAuthCode: the code's use, its request's deletion and the tokens
// in one commit, then a replay that revokes them.
func testUseAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	issued := newAccessToken("at-code", "c1", "ar1", epoch())
	issuedRefresh := newRefreshToken("rt-code", "c1", "ar1", epoch())
	check(t, s.UseAuthCode(ctx, hash("code"), "ar1", epoch().Add(59*time.Second), issued, issuedRefresh))
	access, err := s.AccessTokenByID(ctx, "at-code")
	check(t, err)
	refresh, err := s.RefreshTokenByHash(ctx, hash("rt-code"))
	check(t, err)
	wantEqual(t, "the access token UseAuthCode stored", access, issued)
	wantEqual(t, "the refresh token UseAuthCode stored", refresh, issuedRefresh)
	if _, err := s.AuthRequestByID(ctx, "ar1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("AuthRequestByID after UseAuthCode: %v, want it gone", err)
	}

	replayAt := epoch().Add(59 * time.Second)
	err = s.UseAuthCode(ctx, hash("code"), "ar1", replayAt, newAccessToken("at-replay", "c1", "ar1", epoch()), nil)
	wantErr(t, "UseAuthCode again", err, storage.ErrReplayed)
	_, err = s.AccessTokenByID(ctx, "at-replay")
	wantErr(t, "a token issued with a replayed code", err, storage.ErrNotFound)
	wantRevoked(t, s, replayAt, map[string]bool{"at-code": true}, map[string]bool{"rt-code": true})
	_, err = s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(time.Hour), nil)
	wantErr(t, "ConsumeAuthCode after UseAuthCode", err, storage.ErrReplayed)
}

// testUseAuthCodeUnusable checks that a code UseAuthCode cannot use stays
// as it was, with no token: another request's, expired, unknown, of a
// deleted request, or whose token cannot be stored.
func testUseAuthCodeUnusable(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	setupAuthRequest(t, s, "ar2")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code2"), AuthRequestID: "ar2", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("taken", "c1", "other", epoch())))
	for _, c := range []struct {
		name, code, request string
		at                  time.Time
		refresh             *storage.RefreshToken
		want                error
	}{
		{"of another request", "code", "ar2", epoch(), nil, storage.ErrNotFound},
		{"at its expiry", "code", "ar1", epoch().Add(time.Minute), nil, storage.ErrNotFound},
		{"unknown", "no such code", "ar1", epoch(), nil, storage.ErrNotFound},
		{"with a taken refresh token", "code", "ar1", epoch(), newRefreshToken("taken", "c1", "ar1", epoch()), storage.ErrConflict},
	} {
		err := s.UseAuthCode(ctx, hash(c.code), c.request, c.at, newAccessToken("at-"+c.request, "c1", c.request, epoch()), c.refresh)
		wantErr(t, "UseAuthCode "+c.name, err, c.want)
		_, err = s.AccessTokenByID(ctx, "at-"+c.request)
		wantErr(t, "the access token of UseAuthCode "+c.name, err, storage.ErrNotFound)
	}
	check(t, s.DeleteAuthRequest(ctx, "ar2"))
	err := s.UseAuthCode(ctx, hash("code2"), "ar2", epoch(), newAccessToken("at-ar2", "c1", "ar2", epoch()), nil)
	wantErr(t, "UseAuthCode of a deleted request", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at-ar2")
	wantErr(t, "the access token of a deleted request's code", err, storage.ErrNotFound)

	// Still unused: the code works once.
	check(t, s.UseAuthCode(ctx, hash("code"), "ar1", epoch(), nil, nil))
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantErr(t, "AuthRequestByID after UseAuthCode", err, storage.ErrNotFound)
}

// testUseAuthCodeConcurrent uses one code 20 times at once: one succeeds,
// and the replays among the others revoke its token.
func testUseAuthCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	var n atomic.Int64
	errs := concurrently(20, func() error {
		return s.UseAuthCode(ctx, hash("code"), "ar1", epoch(), newAccessToken(fmt.Sprint("at", n.Add(1)), "c1", "ar1", epoch()), nil)
	})
	ok, failed := count(t, errs, storage.ErrReplayed, storage.ErrNotFound)
	if ok != 1 || failed != 19 {
		t.Fatalf("20 concurrent UseAuthCode: %d succeeded and %d failed, want 1 and 19", ok, failed)
	}
	for i := range 20 {
		if tok, err := s.AccessTokenByID(ctx, fmt.Sprint("at", i+1)); err == nil && tok.RevokedAt == nil {
			t.Errorf("token %s of the one exchange that succeeded is not revoked after the replays", tok.ID)
		}
	}
}
