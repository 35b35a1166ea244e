package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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

// doneRequest stores a request of client for u1, done and bound to
// binding.
func doneRequest(t *testing.T, s storage.Store, id, client string, binding []byte) *storage.AuthRequest {
	t.Helper()
	ctx := t.Context()
	ar := newAuthRequest(id, client, epoch())
	ar.BindingHash = binding
	check(t, s.CreateAuthRequest(ctx, ar))
	check(t, s.CompleteAuthRequest(ctx, id, "u1", epoch(), []string{"pwd"}, "urn:gatehouse:loa:1", epoch()))
	return ar
}

// testDenyAuthRequest: DenyAuthRequest takes a done request that is not
// consented once, for its user and browser only; taken, it can be neither
// consented, claimed nor denied again, and stays readable.
func testDenyAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	binding := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)

	doneRequest(t, s, "denied", "c1", binding)
	wantErr(t, "DenyAuthRequest from another browser", s.DenyAuthRequest(ctx, "denied", "u1", other), storage.ErrNotFound)
	wantErr(t, "DenyAuthRequest of another user", s.DenyAuthRequest(ctx, "denied", "u2", binding), storage.ErrNotFound)
	check(t, s.DenyAuthRequest(ctx, "denied", "u1", binding))
	if _, err := s.AuthRequestByID(ctx, "denied"); err != nil {
		t.Errorf("a denied request cannot be read for its error response: %v", err)
	}
	wantErr(t, "DenyAuthRequest again", s.DenyAuthRequest(ctx, "denied", "u1", binding), storage.ErrNotFound)
	wantErr(t, "ConsentAuthRequest of a denied request", s.ConsentAuthRequest(ctx, "denied", "u1", "c1", []string{"openid"}, epoch()), storage.ErrNotFound)
	if err := s.ClaimAuthRequest(ctx, "denied", binding); err == nil {
		t.Error("ClaimAuthRequest of a denied request succeeded")
	}
	if _, err := s.ConsentGrant(ctx, "u1", "c1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a denied request left a grant: %v", err)
	}

	doneRequest(t, s, "consented", "c1", binding)
	check(t, s.ConsentAuthRequest(ctx, "consented", "u1", "c1", []string{"openid"}, epoch()))
	wantErr(t, "DenyAuthRequest of a consented request", s.DenyAuthRequest(ctx, "consented", "u1", binding), storage.ErrNotFound)
	if ok, err := s.AuthRequestConsented(ctx, "consented"); err != nil || !ok {
		t.Errorf("the consented request after a refused denial: consented %t, %v", ok, err)
	}

	doneRequest(t, s, "claimed", "c1", binding)
	check(t, s.ClaimAuthRequest(ctx, "claimed", binding))
	wantErr(t, "DenyAuthRequest of a claimed request", s.DenyAuthRequest(ctx, "claimed", "u1", binding), storage.ErrNotFound)

	pending := newAuthRequest("pending", "c1", epoch())
	pending.BindingHash, pending.UserID = binding, "u1"
	check(t, s.CreateAuthRequest(ctx, pending))
	wantErr(t, "DenyAuthRequest of a request not done", s.DenyAuthRequest(ctx, "pending", "u1", binding), storage.ErrNotFound)
	wantErr(t, "DenyAuthRequest of an unknown request", s.DenyAuthRequest(ctx, "nope", "u1", binding), storage.ErrNotFound)
}

// testDenyAuthRequestRacesConsent runs 10 ConsentAuthRequest and 10
// DenyAuthRequest of one request at once, 10 times: either the denial
// took it, once, and no consent succeeded and no grant was stored, or a
// consent succeeded and no denial did.
func testDenyAuthRequestRacesConsent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", epoch())))
	binding := bytes.Repeat([]byte{9}, 32)
	for round := range 10 {
		client := fmt.Sprint("race", round)
		check(t, s.CreateClient(ctx, newClient(client, epoch())))
		ar := doneRequest(t, s, fmt.Sprint("race-ar", round), client, binding)
		var (
			wg               sync.WaitGroup
			denied, consents atomic.Int32
		)
		start := make(chan struct{})
		for i := range 20 {
			wg.Go(func() {
				<-start
				var err error
				if i%2 == 0 {
					if err = s.DenyAuthRequest(ctx, ar.ID, "u1", binding); err == nil {
						denied.Add(1)
					}
				} else if err = s.ConsentAuthRequest(ctx, ar.ID, "u1", client, ar.Scopes, epoch()); err == nil {
					consents.Add(1)
				}
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		_, grantErr := s.ConsentGrant(ctx, "u1", client)
		d, c := denied.Load(), consents.Load()
		switch {
		case d > 1 || (d == 1 && c != 0) || (d == 0 && c == 0):
			t.Errorf("round %d: %d denials and %d consents succeeded, want one denial or consents only", round, d, c)
		case d == 1 && grantErr == nil:
			t.Errorf("round %d: the denial took the request, and a grant was stored", round)
		case c > 0 && grantErr != nil:
			t.Errorf("round %d: consented, and no grant: %v", round, grantErr)
		}
	}
}
