package storagetest

import (
	"errors"
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

// testAuthRequestConsented: ConsentAuthRequest marks the request and
// stores the grant together, and neither when the request is gone.
func testAuthRequestConsented(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	for _, id := range []string{"ar1", "ar2", "ar3"} {
		ar := newAuthRequest(id, "c1", epoch())
		ar.UserID = "u1"
		check(t, s.CreateAuthRequest(ctx, ar))
	}
	ok, err := s.AuthRequestConsented(ctx, "ar1")
	check(t, err)
	if ok {
		t.Error("a new auth request is consented")
	}
	check(t, s.ConsentAuthRequest(ctx, "ar1", "u1", "c1", []string{"openid", "email"}, epoch()))
	if ok, err := s.AuthRequestConsented(ctx, "ar1"); err != nil || !ok {
		t.Errorf("AuthRequestConsented(ar1) = %t, %v after ConsentAuthRequest", ok, err)
	}
	if g, err := s.ConsentGrant(ctx, "u1", "c1"); err != nil || !slices.Equal(g.Scopes, []string{"openid", "email"}) {
		t.Errorf("ConsentGrant after ConsentAuthRequest = %v, %v; want openid email", g, err)
	}
	if ok, err := s.AuthRequestConsented(ctx, "ar2"); err != nil || ok {
		t.Errorf("AuthRequestConsented(ar2) = %t, %v", ok, err)
	}
	_, err = s.AuthRequestConsented(ctx, "nope")
	wantErr(t, "AuthRequestConsented of an unknown request", err, storage.ErrNotFound)

	// A request that is gone (a Deny ended it) grants nothing.
	wantErr(t, "ConsentAuthRequest of an unknown request",
		s.ConsentAuthRequest(ctx, "nope", "u1", "c1", []string{"offline_access"}, epoch()), storage.ErrNotFound)
	check(t, s.DeleteAuthRequest(ctx, "ar3"))
	wantErr(t, "ConsentAuthRequest of a deleted request",
		s.ConsentAuthRequest(ctx, "ar3", "u1", "c1", []string{"offline_access"}, epoch()), storage.ErrNotFound)
	// Nor does a request of another user.
	check(t, s.CreateUser(ctx, newUser("u2", "u2@example.com", epoch())))
	wantErr(t, "ConsentAuthRequest of another user's request",
		s.ConsentAuthRequest(ctx, "ar2", "u2", "c1", []string{"openid"}, epoch()), storage.ErrNotFound)
	if g, err := s.ConsentGrant(ctx, "u1", "c1"); err != nil || slices.Contains(g.Scopes, "offline_access") {
		t.Errorf("ConsentGrant after ConsentAuthRequest of requests that are gone = %v, %v; want no offline_access", g, err)
	}
	if _, err := s.ConsentGrant(ctx, "u2", "c1"); err == nil {
		t.Error("ConsentAuthRequest of another user's request granted that user")
	}
}

// testConsentAuthRequestRacesDelete runs ConsentAuthRequest and
// DeleteAuthRequest (Allow and Deny) at once, 20 times: the grant is
// stored exactly when the consent succeeded.
func testConsentAuthRequestRacesDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	for i := range 20 {
		client := fmt.Sprint("c", i)
		check(t, s.CreateClient(ctx, newClient(client, epoch())))
		ar := newAuthRequest(fmt.Sprint("ar", i), client, epoch())
		ar.UserID = "u1"
		check(t, s.CreateAuthRequest(ctx, ar))
		var wg sync.WaitGroup
		var consentErr error
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			consentErr = s.ConsentAuthRequest(ctx, ar.ID, "u1", client, ar.Scopes, epoch())
		})
		wg.Go(func() {
			<-start
			if err := s.DeleteAuthRequest(ctx, ar.ID); err != nil {
				t.Errorf("DeleteAuthRequest: %v", err)
			}
		})
		close(start)
		wg.Wait()
		_, grantErr := s.ConsentGrant(ctx, "u1", client)
		switch {
		case consentErr == nil && grantErr != nil:
			t.Errorf("round %d: ConsentAuthRequest succeeded, and no grant: %v", i, grantErr)
		case consentErr != nil && !errors.Is(consentErr, storage.ErrNotFound):
			t.Errorf("round %d: ConsentAuthRequest racing a delete: %v", i, consentErr)
		case consentErr != nil && grantErr == nil:
			t.Errorf("round %d: ConsentAuthRequest failed (%v), and the grant was stored", i, consentErr)
		}
	}
}
