package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func testConsentGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	check(t, s.CreateUser(ctx, newUser("u2", "u2@example.com", epoch())))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))

	_, err := s.ConsentGrant(ctx, "u1", "c1")
	wantErr(t, "ConsentGrant before any", err, storage.ErrNotFound)
	list, err := s.ConsentGrants(ctx, "u1")
	check(t, err)
	if len(list) != 0 {
		t.Fatalf("ConsentGrants before any = %v", list)
	}

	check(t, s.GrantConsent(ctx, "u1", "c1", []string{"openid", "email"}, epoch()))
	later := epoch().Add(time.Hour)
	// More scopes add to the grant; those allowed already stay once.
	check(t, s.GrantConsent(ctx, "u1", "c1", []string{"email", "offline_access"}, later))
	got, err := s.ConsentGrant(ctx, "u1", "c1")
	check(t, err)
	wantEqual(t, "ConsentGrant", got, &storage.ConsentGrant{UserID: "u1", ClientID: "c1",
		Scopes: []string{"openid", "email", "offline_access"}, CreatedAt: epoch(), UpdatedAt: later})

	check(t, s.GrantConsent(ctx, "u1", "c2", []string{"openid"}, later.Add(time.Minute)))
	check(t, s.GrantConsent(ctx, "u2", "c1", []string{"openid"}, epoch()))
	list, err = s.ConsentGrants(ctx, "u1")
	check(t, err)
	var ids []string
	for _, g := range list {
		ids = append(ids, g.ClientID)
	}
	if !slices.Equal(ids, []string{"c2", "c1"}) {
		t.Errorf("ConsentGrants(u1) clients = %v, want [c2 c1] (newest first)", ids)
	}

	wantErr(t, "GrantConsent for an unknown user", s.GrantConsent(ctx, "nobody", "c1", []string{"openid"}, epoch()), storage.ErrNotFound)
	wantErr(t, "GrantConsent for an unknown client", s.GrantConsent(ctx, "u1", "nope", []string{"openid"}, epoch()), storage.ErrNotFound)

	// Deleting the client deletes its grants.
	check(t, s.DeleteClient(ctx, "c2"))
	_, err = s.ConsentGrant(ctx, "u1", "c2")
	wantErr(t, "ConsentGrant of a deleted client", err, storage.ErrNotFound)
}

func testGrantConsentConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.GrantConsent(ctx, "u1", "c1", []string{fmt.Sprintf("s%d", i)}, epoch())
		})
	}
	wg.Wait()
	for _, err := range errs {
		check(t, err)
	}
	g, err := s.ConsentGrant(ctx, "u1", "c1")
	check(t, err)
	if len(g.Scopes) != n {
		t.Errorf("after %d concurrent grants, scopes = %v", n, g.Scopes)
	}
}

func testRevokeConsent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))
	check(t, s.GrantConsent(ctx, "u1", "c1", []string{"openid"}, epoch()))
	check(t, s.GrantConsent(ctx, "u1", "c2", []string{"openid"}, epoch()))

	// u1's tokens at c1 and c2, another user's at c1, and a
	// client-credentials token of c1 whose subject happens to be u1.
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c2", "ar2", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt2", "c2", "ar2", epoch())))
	u2at := newAccessToken("u2-at", "c1", "ar3", epoch())
	u2at.Subject = "u2"
	check(t, s.CreateAccessToken(ctx, u2at))
	u2rt := newRefreshToken("u2-rt", "c1", "ar3", epoch())
	u2rt.UserID = "u2"
	check(t, s.CreateRefreshToken(ctx, u2rt))
	check(t, s.CreateAccessToken(ctx, newAccessToken("cc-at", "c1", "", epoch())))

	at := epoch().Add(time.Minute)
	found, err := s.RevokeConsent(ctx, "u1", "c1", at)
	check(t, err)
	if !found {
		t.Error("RevokeConsent found no grant")
	}
	_, err = s.ConsentGrant(ctx, "u1", "c1")
	wantErr(t, "ConsentGrant after RevokeConsent", err, storage.ErrNotFound)
	if _, err := s.ConsentGrant(ctx, "u1", "c2"); err != nil {
		t.Errorf("the grant to c2 is gone: %v", err)
	}
	wantRevoked(t, s, at,
		map[string]bool{"at1": true, "at2": false, "u2-at": false, "cc-at": false},
		map[string]bool{"rt1": true, "rt2": false, "u2-rt": false})

	// Again: no grant, and no error.
	found, err = s.RevokeConsent(ctx, "u1", "c1", at.Add(time.Minute))
	check(t, err)
	if found {
		t.Error("RevokeConsent found a grant twice")
	}
	wantRevoked(t, s, at, map[string]bool{"at1": true}, map[string]bool{"rt1": true})

	check(t, s.RevokeUserClientTokens(ctx, "u1", "c2", at))
	wantRevoked(t, s, at, map[string]bool{"at2": true}, map[string]bool{"rt2": true})
	if _, err := s.ConsentGrant(ctx, "u1", "c2"); err != nil {
		t.Errorf("RevokeUserClientTokens deleted the grant: %v", err)
	}
}

func testAuthRequestConsented(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1", "c1", epoch())))
	check(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2", "c1", epoch())))
	ok, err := s.AuthRequestConsented(ctx, "ar1")
	check(t, err)
	if ok {
		t.Error("a new auth request is consented")
	}
	check(t, s.SetAuthRequestConsented(ctx, "ar1"))
	if ok, err := s.AuthRequestConsented(ctx, "ar1"); err != nil || !ok {
		t.Errorf("AuthRequestConsented(ar1) = %t, %v after SetAuthRequestConsented", ok, err)
	}
	if ok, err := s.AuthRequestConsented(ctx, "ar2"); err != nil || ok {
		t.Errorf("AuthRequestConsented(ar2) = %t, %v", ok, err)
	}
	wantErr(t, "SetAuthRequestConsented of an unknown request", s.SetAuthRequestConsented(ctx, "nope"), storage.ErrNotFound)
	_, err = s.AuthRequestConsented(ctx, "nope")
	wantErr(t, "AuthRequestConsented of an unknown request", err, storage.ErrNotFound)
}
