package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func testSetClientMetadata(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := newClient("c1", epoch())
	check(t, s.CreateClient(ctx, c))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))

	later := epoch().Add(time.Hour)
	set := *c
	set.TokenEndpointAuthMethod = "private_key_jwt"
	set.JWKS = `{"keys":[]}`
	set.JWKSURI = "https://c1.example.com/jwks"
	set.RequirePAR = true
	set.BackchannelLogoutURI = "https://c1.example.com/logout"
	set.Consent = true
	set.DPoPBoundAccessTokens = true
	set.RequireMFA, set.SigningAlgorithm, set.AccessTokenFormat = true, "EdDSA", "jwt"
	set.GrantTypes = []string{"client_credentials"}
	set.Name = "ignored"
	set.RedirectURIs = []string{"https://ignored.example.com/"}
	check(t, s.SetClientMetadata(ctx, &set, later))

	got, err := s.ClientByID(ctx, "c1")
	check(t, err)
	want := *c
	want.TokenEndpointAuthMethod, want.JWKS, want.JWKSURI = set.TokenEndpointAuthMethod, set.JWKS, set.JWKSURI
	want.RequirePAR, want.BackchannelLogoutURI, want.Consent = true, set.BackchannelLogoutURI, true
	want.DPoPBoundAccessTokens, want.UpdatedAt = true, later
	want.RequireMFA, want.SigningAlgorithm, want.AccessTokenFormat = true, "EdDSA", "jwt"
	want.GrantTypes = []string{"client_credentials"}
	wantEqual(t, "ClientByID after SetClientMetadata", got, &want)

	other, err := s.ClientByID(ctx, "c2")
	check(t, err)
	wantEqual(t, "ClientByID(c2)", other, newClient("c2", epoch()))

	unknown := newClient("nope", epoch())
	wantErr(t, "SetClientMetadata of an unknown client", s.SetClientMetadata(ctx, unknown, later), storage.ErrNotFound)
}

func testUseJTI(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	check(t, s.UseJTI(ctx, "assertion:a", now.Add(time.Minute), now))
	wantErr(t, "a second use", s.UseJTI(ctx, "assertion:a", now.Add(time.Minute), now.Add(30*time.Second)), storage.ErrReplayed)
	// Another key is another identifier.
	check(t, s.UseJTI(ctx, "dpop:a", now.Add(time.Minute), now))
	// Once the first use has expired, the key may be used again (the JWT
	// it came in is expired too).
	check(t, s.UseJTI(ctx, "assertion:a", now.Add(3*time.Minute), now.Add(2*time.Minute)))
	wantErr(t, "a use after the renewal", s.UseJTI(ctx, "assertion:a", now.Add(3*time.Minute), now.Add(2*time.Minute)), storage.ErrReplayed)

	p, err := s.Purge(ctx, storage.PurgeRequest{Now: now.Add(4 * time.Minute)})
	check(t, err)
	if p.UsedJTIs != 2 {
		t.Errorf("Purge removed %d used jtis, want 2", p.UsedJTIs)
	}
}

func testUseJTIConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, replayed int
	for range 30 {
		wg.Go(func() {
			err := s.UseJTI(ctx, "assertion:race", now.Add(time.Minute), now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrReplayed):
				replayed++
			default:
				t.Errorf("UseJTI: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || replayed != 29 {
		t.Fatalf("30 parallel uses: %d succeeded, %d replayed; want 1 and 29", ok, replayed)
	}
}
