package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newAccessToken(id, clientID, grantID string, created time.Time) *storage.AccessToken {
	return &storage.AccessToken{
		ID:        id,
		ClientID:  clientID,
		Subject:   "u1",
		Scopes:    []string{"openid"},
		Audience:  []string{clientID},
		GrantID:   grantID,
		ExpiresAt: created.Add(time.Hour),
		CreatedAt: created,
	}
}

// newRefreshToken returns a token whose hash is hash(id).
func newRefreshToken(id, clientID, familyID string, created time.Time) *storage.RefreshToken {
	return &storage.RefreshToken{
		ID:        id,
		Hash:      hash(id),
		FamilyID:  familyID,
		ClientID:  clientID,
		UserID:    "u1",
		Scopes:    []string{"openid", "offline_access"},
		Audience:  []string{clientID},
		AMR:       []string{"pwd"},
		AuthTime:  created.Add(-time.Minute),
		ExpiresAt: created.Add(24 * time.Hour),
		CreatedAt: created,
	}
}

// wantRevoked checks which tokens are revoked (at the given time) and which
// are not.
func wantRevoked(t *testing.T, s storage.Store, at time.Time, access, refresh map[string]bool) {
	t.Helper()
	for id, revoked := range access {
		tok, err := s.AccessTokenByID(t.Context(), id)
		check(t, err)
		switch {
		case revoked && tok.RevokedAt == nil:
			t.Errorf("access token %s is not revoked", id)
		case revoked && !tok.RevokedAt.Equal(at):
			t.Errorf("access token %s revoked at %v, want %v", id, tok.RevokedAt, at)
		case !revoked && tok.RevokedAt != nil:
			t.Errorf("access token %s is revoked", id)
		}
	}
	for id, revoked := range refresh {
		tok, err := s.RefreshTokenByHash(t.Context(), hash(id))
		check(t, err)
		switch {
		case revoked && tok.RevokedAt == nil:
			t.Errorf("refresh token %s is not revoked", id)
		case revoked && !tok.RevokedAt.Equal(at):
			t.Errorf("refresh token %s revoked at %v, want %v", id, tok.RevokedAt, at)
		case !revoked && tok.RevokedAt != nil:
			t.Errorf("refresh token %s is revoked", id)
		}
	}
}

// testConsumeAuthCodeIssueFails checks that an exchange whose token cannot
// be stored keeps nothing: the code stays unused and its request stays,
// so that the client may exchange it again.
func testConsumeAuthCodeIssueFails(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("taken", "c1", "other", epoch())))
	_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken) {
		return newAccessToken("at-code", "c1", "ar1", epoch()), newRefreshToken("taken", "c1", "ar1", epoch())
	})
	wantErr(t, "ConsumeAuthCode with a taken refresh token", err, storage.ErrConflict)
	_, err = s.AccessTokenByID(ctx, "at-code")
	wantErr(t, "the access token of the failed exchange", err, storage.ErrNotFound)
	got, err := s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	wantEqual(t, "the request after the failed exchange", got, ar)
	got, err = s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
	check(t, err)
	wantEqual(t, "ConsumeAuthCode after the failed exchange", got, ar)
}

func testConsumeAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	issued := newAccessToken("at-code", "c1", "ar1", epoch())
	issuedRefresh := newRefreshToken("rt-code", "c1", "ar1", epoch())
	var seen *storage.AuthRequest
	got, err := s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(59*time.Second), func(r *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken) {
		seen = r
		return issued, issuedRefresh
	})
	check(t, err)
	wantEqual(t, "ConsumeAuthCode", got, ar)
	wantEqual(t, "the request issue saw", seen, ar)
	tok, err := s.AccessTokenByID(ctx, "at-code")
	check(t, err)
	wantEqual(t, "the token issued with the code", tok, issued)
	rt, err := s.RefreshTokenByHash(ctx, hash("rt-code"))
	check(t, err)
	wantEqual(t, "the refresh token issued with the code", rt, issuedRefresh)
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantErr(t, "AuthRequestByID after ConsumeAuthCode", err, storage.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(59*time.Second), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken) {
		t.Error("issue called for a replayed code")
		return newAccessToken("at-replay", "c1", "ar1", epoch()), newRefreshToken("rt-replay", "c1", "ar1", epoch())
	})
	wantErr(t, "ConsumeAuthCode again", err, storage.ErrReplayed)
	_, err = s.AccessTokenByID(ctx, "at-replay")
	wantErr(t, "a token issued with a replayed code", err, storage.ErrNotFound)
	_, err = s.RefreshTokenByHash(ctx, hash("rt-replay"))
	wantErr(t, "a refresh token issued with a replayed code", err, storage.ErrNotFound)
	if tok, err := s.AccessTokenByID(ctx, "at-code"); err != nil || tok.RevokedAt == nil {
		t.Errorf("the first exchange's token after the replay: %+v, %v; want revoked", tok, err)
	}
	if rt, err := s.RefreshTokenByHash(ctx, hash("rt-code")); err != nil || rt.RevokedAt == nil {
		t.Errorf("the first exchange's refresh token after the replay: %+v, %v; want revoked", rt, err)
	}
	_, err = s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(time.Hour), nil)
	wantErr(t, "ConsumeAuthCode again after expiry", err, storage.ErrReplayed)
}

func testAuthCodeReplayRevokesGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
	check(t, err)

	// Tokens issued from the code, and from another grant.
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("other-at", "c1", "ar2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("cc-at", "c1", "", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("other-rt", "c1", "ar2", epoch())))

	replayAt := epoch().Add(10 * time.Second)
	_, err = s.ConsumeAuthCode(ctx, hash("code"), replayAt, nil)
	wantErr(t, "ConsumeAuthCode replayed", err, storage.ErrReplayed)
	wantRevoked(t, s, replayAt,
		map[string]bool{"at1": true, "at2": true, "other-at": false, "cc-at": false},
		map[string]bool{"rt1": true, "other-rt": false})
}

func testAuthCodeExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(time.Minute), nil)
	wantErr(t, "ConsumeAuthCode at its expiry", err, storage.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash("code"), epoch().Add(time.Hour), nil)
	wantErr(t, "ConsumeAuthCode after its expiry", err, storage.ErrNotFound)
	wantRevoked(t, s, time.Time{}, map[string]bool{"at1": false}, nil)
}

func testAuthCodeUnknown(t *testing.T, s storage.Store) {
	_, err := s.ConsumeAuthCode(t.Context(), hash("no such code"), epoch(), nil)
	wantErr(t, "ConsumeAuthCode", err, storage.ErrNotFound)
}

func testAuthCodeRequestDeleted(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.DeleteAuthRequest(ctx, "ar1"))
	_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
	wantErr(t, "ConsumeAuthCode of a deleted request", err, storage.ErrNotFound)
}

func testAuthCodeConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	c := &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}
	check(t, s.SaveAuthCode(ctx, c))
	wantErr(t, "SaveAuthCode with a taken hash", s.SaveAuthCode(ctx, c), storage.ErrConflict)
}

func testAuthCodeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code"), AuthRequestID: "ar1", ExpiresAt: epoch().Add(time.Minute)}))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	errs := concurrently(20, func() error {
		_, err := s.ConsumeAuthCode(ctx, hash("code"), epoch(), nil)
		return err
	})
	ok, failed := count(t, errs, storage.ErrReplayed, storage.ErrNotFound)
	if ok != 1 || failed != 19 {
		t.Fatalf("20 concurrent ConsumeAuthCode: %d succeeded and %d failed, want 1 and 19", ok, failed)
	}
	wantRevoked(t, s, epoch(), map[string]bool{"at1": true}, nil)
}

func testAccessTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	revoked := epoch().Add(time.Minute)
	for _, tok := range []*storage.AccessToken{
		newAccessToken("at1", "c1", "ar1", epoch()),
		{
			ID:        "at2",
			ClientID:  "c2",
			Subject:   "c2", // client credentials
			Scopes:    []string{},
			Audience:  nil,
			ExpiresAt: epoch().Add(-time.Hour),
			RevokedAt: &revoked,
			CreatedAt: epoch().Add(-2 * time.Hour),
		},
	} {
		check(t, s.CreateAccessToken(ctx, tok))
		got, err := s.AccessTokenByID(ctx, tok.ID)
		check(t, err)
		wantEqual(t, "AccessTokenByID("+tok.ID+")", got, tok)
	}
	err := s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar9", epoch()))
	wantErr(t, "CreateAccessToken with a taken id", err, storage.ErrConflict)
	_, err = s.AccessTokenByID(ctx, "nope")
	wantErr(t, "AccessTokenByID", err, storage.ErrNotFound)

	// With its user, in one read: a user's token only, while the user is.
	_, _, err = s.AccessTokenAndUser(ctx, "at1")
	wantErr(t, "AccessTokenAndUser before its user exists", err, storage.ErrNotFound)
	u := newUser("u1", "alice@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	tok, user, err := s.AccessTokenAndUser(ctx, "at1")
	check(t, err)
	wantEqual(t, "AccessTokenAndUser(at1) token", tok, newAccessToken("at1", "c1", "ar1", epoch()))
	wantEqual(t, "AccessTokenAndUser(at1) user", user, u)
	check(t, s.CreateUser(ctx, newUser("c2", "c2@example.com", epoch())))
	_, _, err = s.AccessTokenAndUser(ctx, "at2") // client credentials: no user, whatever its subject
	wantErr(t, "AccessTokenAndUser of a client_credentials token", err, storage.ErrNotFound)
	_, _, err = s.AccessTokenAndUser(ctx, "nope")
	wantErr(t, "AccessTokenAndUser", err, storage.ErrNotFound)
}

func testRevokeAccessToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c1", "ar1", epoch())))
	check(t, s.RevokeAccessToken(ctx, "at1", epoch().Add(time.Minute)))
	// Revoking again keeps the first time.
	check(t, s.RevokeAccessToken(ctx, "at1", epoch().Add(2*time.Minute)))
	wantRevoked(t, s, epoch().Add(time.Minute), map[string]bool{"at1": true, "at2": false}, nil)
	err := s.RevokeAccessToken(ctx, "nope", epoch())
	wantErr(t, "RevokeAccessToken", err, storage.ErrNotFound)
}

func testRefreshTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	used, revoked := epoch().Add(time.Minute), epoch().Add(2*time.Minute)
	for _, tok := range []*storage.RefreshToken{
		newRefreshToken("rt1", "c1", "ar1", epoch()),
		{
			ID:        "rt2",
			Hash:      hash("rt2"),
			FamilyID:  "ar1",
			ClientID:  "c1",
			UserID:    "u1",
			Scopes:    nil,
			Audience:  []string{},
			AMR:       []string{"pwd", "hwk"},
			AuthTime:  epoch().Add(-time.Hour),
			ExpiresAt: epoch().Add(-time.Minute),
			UsedAt:    &used,
			RevokedAt: &revoked,
			CreatedAt: epoch().Add(-time.Hour),
		},
	} {
		check(t, s.CreateRefreshToken(ctx, tok))
		got, err := s.RefreshTokenByHash(ctx, tok.Hash)
		check(t, err)
		wantEqual(t, "RefreshTokenByHash("+tok.ID+")", got, tok)
	}
	dup := newRefreshToken("rt1", "c1", "ar1", epoch())
	dup.Hash = hash("fresh")
	wantErr(t, "CreateRefreshToken with a taken id", s.CreateRefreshToken(ctx, dup), storage.ErrConflict)
	dup = newRefreshToken("rt3", "c1", "ar1", epoch())
	dup.Hash = hash("rt1")
	wantErr(t, "CreateRefreshToken with a taken hash", s.CreateRefreshToken(ctx, dup), storage.ErrConflict)
	_, err := s.RefreshTokenByHash(ctx, hash("nope"))
	wantErr(t, "RefreshTokenByHash", err, storage.ErrNotFound)

	// With its user, in one read, whatever the token's state, while the
	// user is.
	_, _, err = s.RefreshTokenAndUser(ctx, hash("rt1"))
	wantErr(t, "RefreshTokenAndUser before its user exists", err, storage.ErrNotFound)
	u := newUser("u1", "alice@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	for _, id := range []string{"rt1", "rt2"} {
		want, err := s.RefreshTokenByHash(ctx, hash(id))
		check(t, err)
		tok, user, err := s.RefreshTokenAndUser(ctx, hash(id))
		check(t, err)
		wantEqual(t, "RefreshTokenAndUser("+id+") token", tok, want)
		wantEqual(t, "RefreshTokenAndUser("+id+") user", user, u)
	}
	_, _, err = s.RefreshTokenAndUser(ctx, hash("nope"))
	wantErr(t, "RefreshTokenAndUser", err, storage.ErrNotFound)
}

func testRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt1 := newRefreshToken("rt1", "c1", "ar1", epoch())
	check(t, s.CreateRefreshToken(ctx, rt1))

	// The successor joins the old token's family whatever FamilyID it
	// carries.
	at := epoch().Add(time.Minute)
	rt2 := newRefreshToken("rt2", "c1", "somewhere-else", at)
	check(t, s.RotateRefreshToken(ctx, hash("rt1"), rt2, nil, at))
	if rt2.FamilyID != "ar1" {
		t.Errorf("next.FamilyID = %q after rotation, want %q", rt2.FamilyID, "ar1")
	}
	got, err := s.RefreshTokenByHash(ctx, hash("rt1"))
	check(t, err)
	rt1.UsedAt = &at
	wantEqual(t, "rotated token", got, rt1)
	got, err = s.RefreshTokenByHash(ctx, hash("rt2"))
	check(t, err)
	want := newRefreshToken("rt2", "c1", "ar1", at)
	wantEqual(t, "successor", got, want)

	// The access token issued with the successor goes in the same commit,
	// in the family's grant.
	at3 := epoch().Add(2 * time.Minute)
	access := newAccessToken("at3", "c1", "elsewhere", at3)
	check(t, s.RotateRefreshToken(ctx, hash("rt2"), newRefreshToken("rt3", "c1", "ar1", at3), access, at3))
	got, err = s.RefreshTokenByHash(ctx, hash("rt3"))
	check(t, err)
	if got.UsedAt != nil || got.RevokedAt != nil || got.FamilyID != "ar1" {
		t.Errorf("second successor: %+v", got)
	}
	gotAccess, err := s.AccessTokenByID(ctx, "at3")
	check(t, err)
	wantEqual(t, "access token issued with the rotation", gotAccess, newAccessToken("at3", "c1", "ar1", at3))

	err = s.RotateRefreshToken(ctx, hash("nope"), newRefreshToken("rt9", "c1", "ar1", at3), newAccessToken("at9", "c1", "ar1", at3), at3)
	wantErr(t, "RotateRefreshToken of an unknown token", err, storage.ErrNotFound)
	_, err = s.RefreshTokenByHash(ctx, hash("rt9"))
	wantErr(t, "successor of an unknown token", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at9")
	wantErr(t, "access token of an unknown token's rotation", err, storage.ErrNotFound)
}

func testRotateRefreshTokenReplay(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("other-rt", "c1", "ar2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("other-at", "c1", "ar2", epoch())))
	check(t, s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("rt2", "c1", "ar1", epoch()), nil, epoch()))

	replayAt := epoch().Add(time.Minute)
	err := s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("rt2b", "c1", "ar1", replayAt), newAccessToken("at2b", "c1", "ar1", replayAt), replayAt)
	wantErr(t, "RotateRefreshToken of a used token", err, storage.ErrReplayed)
	_, err = s.RefreshTokenByHash(ctx, hash("rt2b"))
	wantErr(t, "successor of a replayed token", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at2b")
	wantErr(t, "access token of a replayed token's rotation", err, storage.ErrNotFound)
	wantRevoked(t, s, replayAt,
		map[string]bool{"at1": true, "other-at": false},
		map[string]bool{"rt1": true, "rt2": true, "other-rt": false})

	// The revoked successor is replayed too, and keeps its revocation time.
	later := epoch().Add(2 * time.Minute)
	err = s.RotateRefreshToken(ctx, hash("rt2"), newRefreshToken("rt3", "c1", "ar1", later), nil, later)
	wantErr(t, "RotateRefreshToken of a revoked token", err, storage.ErrReplayed)
	wantRevoked(t, s, replayAt, nil, map[string]bool{"rt2": true})
}

func testRotateRefreshTokenExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt1 := newRefreshToken("rt1", "c1", "ar1", epoch())
	check(t, s.CreateRefreshToken(ctx, rt1))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	err := s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("rt2", "c1", "ar1", rt1.ExpiresAt), nil, rt1.ExpiresAt)
	wantErr(t, "RotateRefreshToken at its expiry", err, storage.ErrNotFound)
	got, err := s.RefreshTokenByHash(ctx, hash("rt1"))
	check(t, err)
	wantEqual(t, "expired token", got, rt1)
	_, err = s.RefreshTokenByHash(ctx, hash("rt2"))
	wantErr(t, "successor of an expired token", err, storage.ErrNotFound)
	wantRevoked(t, s, time.Time{}, map[string]bool{"at1": false}, nil)
}

func testRotateRefreshTokenConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt1 := newRefreshToken("rt1", "c1", "ar1", epoch())
	check(t, s.CreateRefreshToken(ctx, rt1))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("taken", "c1", "ar2", epoch())))
	// A successor whose id is taken fails the rotation as a whole: the old
	// token stays unused.
	err := s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("taken", "c1", "ar1", epoch()), newAccessToken("at-a", "c1", "ar1", epoch()), epoch())
	wantErr(t, "RotateRefreshToken to a taken id", err, storage.ErrConflict)
	got, err := s.RefreshTokenByHash(ctx, hash("rt1"))
	check(t, err)
	wantEqual(t, "token after a failed rotation", got, rt1)
	_, err = s.AccessTokenByID(ctx, "at-a")
	wantErr(t, "access token of a failed rotation", err, storage.ErrNotFound)
	// So does an access token whose id is taken: neither the successor
	// nor the use of the old token is kept.
	check(t, s.CreateAccessToken(ctx, newAccessToken("at-taken", "c1", "ar2", epoch())))
	err = s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("rt2", "c1", "ar1", epoch()), newAccessToken("at-taken", "c1", "ar1", epoch()), epoch())
	wantErr(t, "RotateRefreshToken with a taken access token id", err, storage.ErrConflict)
	got, err = s.RefreshTokenByHash(ctx, hash("rt1"))
	check(t, err)
	wantEqual(t, "token after a failed rotation", got, rt1)
	_, err = s.RefreshTokenByHash(ctx, hash("rt2"))
	wantErr(t, "successor of a failed rotation", err, storage.ErrNotFound)
	check(t, s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken("rt2", "c1", "ar1", epoch()), nil, epoch()))
}

func testRotateRefreshTokenConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	next := make(chan string, 5)
	for i := range 5 {
		next <- fmt.Sprintf("rt2-%d", i)
	}
	errs := concurrently(5, func() error {
		return s.RotateRefreshToken(ctx, hash("rt1"), newRefreshToken(<-next, "c1", "ar1", epoch()), nil, epoch())
	})
	ok, failed := count(t, errs, storage.ErrReplayed, storage.ErrNotFound)
	if ok != 1 || failed != 4 {
		t.Fatalf("5 concurrent RotateRefreshToken: %d succeeded and %d failed, want 1 and 4", ok, failed)
	}
}

func testRevokeGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("other-at", "c1", "ar2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("cc-at", "c1", "", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("other-rt", "c1", "ar2", epoch())))
	check(t, s.RevokeAccessToken(ctx, "at2", epoch()))

	at := epoch().Add(time.Minute)
	check(t, s.RevokeGrant(ctx, "ar1", at))
	wantRevoked(t, s, at,
		map[string]bool{"at1": true, "other-at": false, "cc-at": false},
		map[string]bool{"rt1": true, "other-rt": false})
	wantRevoked(t, s, epoch(), map[string]bool{"at2": true}, nil) // revoked before

	// An unknown grant is no error; the empty grant of client-credentials
	// tokens is no grant.
	check(t, s.RevokeGrant(ctx, "nope", at))
	check(t, s.RevokeGrant(ctx, "", at))
	wantRevoked(t, s, time.Time{}, map[string]bool{"cc-at": false}, nil)
}

func testRevokeUserTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// u1's tokens from two grants and two clients.
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c2", "ar2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at-earlier", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt2", "c2", "ar2", epoch())))
	check(t, s.RotateRefreshToken(ctx, hash("rt2"), newRefreshToken("rt3", "c2", "ar2", epoch()), nil, epoch()))
	check(t, s.RevokeAccessToken(ctx, "at-earlier", epoch()))
	// Another user's tokens.
	u2at := newAccessToken("u2-at", "c1", "ar3", epoch())
	u2at.Subject = "u2"
	check(t, s.CreateAccessToken(ctx, u2at))
	u2rt := newRefreshToken("u2-rt", "c1", "ar3", epoch())
	u2rt.UserID = "u2"
	check(t, s.CreateRefreshToken(ctx, u2rt))
	// A client-credentials token of a client whose id happens to be u1.
	cc := newAccessToken("cc-at", "u1", "", epoch())
	check(t, s.CreateAccessToken(ctx, cc))

	at := epoch().Add(time.Minute)
	check(t, s.RevokeUserTokens(ctx, "u1", at))
	wantRevoked(t, s, at,
		map[string]bool{"at1": true, "at2": true, "u2-at": false, "cc-at": false},
		map[string]bool{"rt1": true, "rt2": true, "rt3": true, "u2-rt": false})
	wantRevoked(t, s, epoch(), map[string]bool{"at-earlier": true}, nil) // revoked before

	// A revoked refresh token cannot be rotated; presenting it is a replay.
	err := s.RotateRefreshToken(ctx, hash("rt3"), newRefreshToken("rt4", "c2", "ar2", at), nil, at)
	wantErr(t, "RotateRefreshToken after RevokeUserTokens", err, storage.ErrReplayed)

	// Again, or for a user without tokens, is no error and keeps the times.
	check(t, s.RevokeUserTokens(ctx, "u1", at.Add(time.Minute)))
	wantRevoked(t, s, at, map[string]bool{"at1": true}, map[string]bool{"rt1": true})
	check(t, s.RevokeUserTokens(ctx, "nobody", at))
	check(t, s.RevokeUserTokens(ctx, "", at))
	wantRevoked(t, s, time.Time{}, map[string]bool{"u2-at": false, "cc-at": false}, map[string]bool{"u2-rt": false})
}
