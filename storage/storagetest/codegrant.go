package storagetest

import (
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

	check(t, s.CompleteAuthRequest(ctx, "ar1", "u1", epoch(), []string{"pwd"}, "loa:1"))
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
