package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// The DPoP key thumbprints (RFC 9449) that access and refresh tokens are
// bound to: stored with the token, whichever way it is created.

func testDPoPTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	bound := newAccessToken("at-bound", "c1", "ar1", epoch())
	bound.DPoPJKT = "jkt-1"
	check(t, s.CreateAccessToken(ctx, bound))
	got, err := s.AccessTokenByID(ctx, "at-bound")
	check(t, err)
	wantEqual(t, "AccessTokenByID of a bound token", got, bound)
	got, _, err = s.AccessTokenAndUser(ctx, "at-bound")
	check(t, err)
	wantEqual(t, "AccessTokenAndUser of a bound token", got, bound)

	plain := newAccessToken("at-plain", "c1", "ar1", epoch())
	check(t, s.CreateAccessToken(ctx, plain))
	got, err = s.AccessTokenByID(ctx, "at-plain")
	check(t, err)
	if got.DPoPJKT != "" {
		t.Errorf("DPoPJKT of a bearer token = %q, want empty", got.DPoPJKT)
	}

	rt := newRefreshToken("rt-bound", "c1", "ar1", epoch())
	rt.DPoPJKT = "jkt-1"
	check(t, s.CreateRefreshToken(ctx, rt))
	gotRT, err := s.RefreshTokenByHash(ctx, hash("rt-bound"))
	check(t, err)
	wantEqual(t, "RefreshTokenByHash of a bound token", gotRT, rt)
	gotRT, _, err = s.RefreshTokenAndUser(ctx, hash("rt-bound"))
	check(t, err)
	wantEqual(t, "RefreshTokenAndUser of a bound token", gotRT, rt)
}

func testDPoPConsumeAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	access := newAccessToken("at-code", "c1", "ar1", epoch())
	access.DPoPJKT = "jkt-a"
	refresh := newRefreshToken("rt-code", "c1", "ar1", epoch())
	refresh.DPoPJKT = "jkt-a"
	_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken) {
		return access, refresh
	})
	check(t, err)
	got, err := s.AccessTokenByID(ctx, "at-code")
	check(t, err)
	wantEqual(t, "the bound token issued with the code", got, access)
	gotRT, err := s.RefreshTokenByHash(ctx, hash("rt-code"))
	check(t, err)
	wantEqual(t, "the bound refresh token issued with the code", gotRT, refresh)
}

func testDPoPRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt1 := newRefreshToken("rt1", "c1", "ar1", epoch())
	rt1.DPoPJKT = "jkt-a"
	check(t, s.CreateRefreshToken(ctx, rt1))
	at := epoch().Add(time.Minute)
	rt2 := newRefreshToken("rt2", "c1", "ar1", at)
	rt2.DPoPJKT = "jkt-a"
	access := newAccessToken("at2", "c1", "ar1", at)
	access.DPoPJKT = "jkt-b"
	check(t, s.RotateRefreshToken(ctx, hash("rt1"), rt2, access, at))
	got, err := s.RefreshTokenByHash(ctx, hash("rt2"))
	check(t, err)
	wantEqual(t, "the bound successor", got, rt2)
	gotAccess, err := s.AccessTokenByID(ctx, "at2")
	check(t, err)
	wantEqual(t, "the bound access token of the rotation", gotAccess, access)
}

func testDPoPAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	ar := newAuthRequest("ar1", "c1", epoch())
	ar.DPoPJKT = "jkt-a"
	check(t, s.CreateAuthRequest(ctx, ar))
	got, err := s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	wantEqual(t, "AuthRequestByID of a request bound to a DPoP key", got, ar)
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	got, err = s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
	check(t, err)
	wantEqual(t, "ConsumeAuthCode of a request bound to a DPoP key", got, ar)
}
