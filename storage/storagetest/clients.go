package storagetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newClient(id string, created time.Time) *storage.Client {
	return &storage.Client{
		ID:                id,
		Name:              "Client " + id,
		SecretHash:        hash("secret of " + id),
		RedirectURIs:      []string{"https://" + id + ".example.com/callback"},
		SigningAlgorithm:  "RS256",
		AccessTokenFormat: "opaque",
		GrantTypes:        storage.DefaultGrantTypes(),
		CreatedAt:         created,
		UpdatedAt:         created,
	}
}

func testClientRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, c := range []*storage.Client{
		{
			ID:                     "confidential",
			Name:                   "Datacenter",
			SecretHash:             hash("secret"),
			RedirectURIs:           []string{"https://dc.example.com/cb", "https://dc.example.com/cb2"},
			PostLogoutRedirectURIs: []string{"https://dc.example.com/"},
			RequireMFA:             true,
			SigningAlgorithm:       "ES256",
			AccessTokenFormat:      "jwt",
			GrantTypes:             []string{"authorization_code", "refresh_token", "client_credentials"},
			CreatedAt:              epoch(),
			UpdatedAt:              epoch().Add(time.Second),
		},
		{
			ID:                     "public",
			Name:                   "SPA",
			SecretHash:             nil,
			Public:                 true,
			RedirectURIs:           []string{"http://127.0.0.1:3000/cb"},
			PostLogoutRedirectURIs: nil,
			SigningAlgorithm:       "RS256",
			AccessTokenFormat:      "opaque",
			GrantTypes:             []string{"authorization_code"},
			CreatedAt:              epoch(),
			UpdatedAt:              epoch(),
		},
		{
			ID:                     "client-credentials",
			Name:                   "Batch job",
			SecretHash:             hash("batch"),
			RedirectURIs:           []string{},
			PostLogoutRedirectURIs: []string{},
			AccessTokenFormat:      "opaque",
			GrantTypes:             []string{"client_credentials"},
			CreatedAt:              epoch(),
			UpdatedAt:              epoch(),
		},
		{
			ID:                     "empty-lists",
			RedirectURIs:           []string{},
			PostLogoutRedirectURIs: []string{},
			AccessTokenFormat:      "opaque",
			GrantTypes:             storage.DefaultGrantTypes(),
			CreatedAt:              epoch(),
			UpdatedAt:              epoch(),
		},
	} {
		check(t, s.CreateClient(ctx, c))
		got, err := s.ClientByID(ctx, c.ID)
		check(t, err)
		wantEqual(t, "ClientByID("+c.ID+")", got, c)
	}

	// A client created without an access token format gets opaque tokens,
	// as every client did before the format could be chosen.
	c := newClient("default-format", epoch())
	c.AccessTokenFormat = ""
	check(t, s.CreateClient(ctx, c))
	got, err := s.ClientByID(ctx, c.ID)
	check(t, err)
	c.AccessTokenFormat = "opaque"
	wantEqual(t, "ClientByID of a client created without an access token format", got, c)

	// A client created without grant types gets the code flow and refresh
	// tokens, and no client_credentials.
	c = newClient("default-grants", epoch())
	c.GrantTypes = nil
	check(t, s.CreateClient(ctx, c))
	got, err = s.ClientByID(ctx, c.ID)
	check(t, err)
	c.GrantTypes = []string{"authorization_code", "refresh_token"}
	wantEqual(t, "ClientByID of a client created without grant types", got, c)
}

func testClientConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	err := s.CreateClient(ctx, newClient("c1", epoch().Add(time.Hour)))
	wantErr(t, "CreateClient with a taken id", err, storage.ErrConflict)
}

func testClientNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	_, err := s.ClientByID(ctx, "nope")
	wantErr(t, "ClientByID", err, storage.ErrNotFound)
	err = s.DeleteClient(ctx, "nope")
	wantErr(t, "DeleteClient", err, storage.ErrNotFound)
	err = s.SetClientSecretHash(ctx, "nope", hash("x"), epoch())
	wantErr(t, "SetClientSecretHash", err, storage.ErrNotFound)
}

func testListClients(t *testing.T, s storage.Store) {
	ctx := t.Context()
	clients, err := s.ListClients(ctx)
	check(t, err)
	if len(clients) != 0 {
		t.Fatalf("ListClients of an empty store: %d clients", len(clients))
	}
	want := []*storage.Client{
		newClient("y", epoch()),
		newClient("z", epoch()),
		newClient("x", epoch().Add(time.Millisecond)),
	}
	for _, i := range []int{2, 1, 0} {
		check(t, s.CreateClient(ctx, want[i]))
	}
	clients, err = s.ListClients(ctx)
	check(t, err)
	if len(clients) != len(want) {
		t.Fatalf("ListClients: %d clients, want %d", len(clients), len(want))
	}
	for i := range clients {
		wantEqual(t, "ListClients["+want[i].ID+"]", &clients[i], want[i])
	}
}

func testSetClientSecretHash(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := newClient("c1", epoch())
	check(t, s.CreateClient(ctx, c))
	check(t, s.SetClientSecretHash(ctx, "c1", hash("rotated"), epoch().Add(time.Minute)))
	got, err := s.ClientByID(ctx, "c1")
	check(t, err)
	if !bytes.Equal(got.SecretHash, hash("rotated")) {
		t.Errorf("SecretHash = %x, want %x", got.SecretHash, hash("rotated"))
	}
	c.SecretHash, c.UpdatedAt = hash("rotated"), epoch().Add(time.Minute)
	wantEqual(t, "client after SetClientSecretHash", got, c)
}

func testDeleteClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))
	check(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1", "c1", epoch())))
	check(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2", "c2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "ar1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "ar1", epoch())))

	check(t, s.DeleteClient(ctx, "c1"))
	_, err := s.ClientByID(ctx, "c1")
	wantErr(t, "ClientByID after DeleteClient", err, storage.ErrNotFound)
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantErr(t, "AuthRequestByID of the deleted client's request", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at1")
	wantErr(t, "AccessTokenByID of the deleted client's token", err, storage.ErrNotFound)
	_, err = s.RefreshTokenByHash(ctx, hash("rt1"))
	wantErr(t, "RefreshTokenByHash of the deleted client's token", err, storage.ErrNotFound)
	err = s.DeleteClient(ctx, "c1")
	wantErr(t, "DeleteClient again", err, storage.ErrNotFound)

	_, err = s.ClientByID(ctx, "c2")
	check(t, err)
	_, err = s.AuthRequestByID(ctx, "ar2")
	check(t, err)
}

func testSetClientDisabled(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at1", "c1", "g1", epoch())))
	check(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "c1", "g1", epoch())))
	check(t, s.CreateAccessToken(ctx, newAccessToken("at2", "c2", "g2", epoch())))

	later := epoch().Add(time.Minute)
	check(t, s.SetClientDisabled(ctx, "c1", true, later))
	c, err := s.ClientByID(ctx, "c1")
	check(t, err)
	if !c.Disabled || !c.UpdatedAt.Equal(later) {
		t.Errorf("after SetClientDisabled(true): disabled %v, updated %v", c.Disabled, c.UpdatedAt)
	}
	at, err := s.AccessTokenByID(ctx, "at1")
	check(t, err)
	rt, err := s.RefreshTokenByHash(ctx, hash("rt1"))
	check(t, err)
	if at.RevokedAt == nil || rt.RevokedAt == nil {
		t.Errorf("the disabled client's tokens are not revoked: access %v, refresh %v", at.RevokedAt, rt.RevokedAt)
	}
	if other, err := s.AccessTokenByID(ctx, "at2"); err != nil || other.RevokedAt != nil {
		t.Errorf("another client's token: %v, revoked %v", err, other)
	}
	if c2, err := s.ClientByID(ctx, "c2"); err != nil || c2.Disabled {
		t.Errorf("another client: %v, disabled %v", err, c2.Disabled)
	}

	check(t, s.SetClientDisabled(ctx, "c1", false, later.Add(time.Minute)))
	if c, err := s.ClientByID(ctx, "c1"); err != nil || c.Disabled {
		t.Errorf("after SetClientDisabled(false): %v, disabled %v", err, c.Disabled)
	}
	err = s.SetClientDisabled(ctx, "nope", true, later)
	wantErr(t, "SetClientDisabled of no client", err, storage.ErrNotFound)
}

// testClientChangesSeenAtOnce reads a client before and after each kind of
// change: a store that keeps clients in memory must answer the change at
// the next lookup.
func testClientChangesSeenAtOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := &storage.Client{ID: "kept", Name: "Kept", SecretHash: hash("one"), RedirectURIs: []string{"https://kept.example/cb"},
		SigningAlgorithm: "RS256", AccessTokenFormat: "opaque", CreatedAt: epoch(), UpdatedAt: epoch()}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	read := func() *storage.Client {
		t.Helper()
		got, err := s.ClientByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the second may come from memory.
		if again, err := s.ClientByID(ctx, c.ID); err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("ClientByID again = %+v, %v; want %+v", again, err, got)
		}
		return got
	}
	read()
	at := epoch().Add(time.Minute)
	if err := s.SetClientSecretHash(ctx, c.ID, hash("two"), at); err != nil {
		t.Fatal(err)
	}
	if got := read(); string(got.SecretHash) != string(hash("two")) {
		t.Errorf("after SetClientSecretHash: secret hash %x", got.SecretHash)
	}
	if err := s.SetClientDisabled(ctx, c.ID, true, at); err != nil {
		t.Fatal(err)
	}
	if got := read(); !got.Disabled {
		t.Error("after SetClientDisabled: not disabled")
	}
	if err := s.SetClientURIs(ctx, c.ID, []string{"https://moved.example/cb"}, nil, at); err != nil {
		t.Fatal(err)
	}
	if got := read(); !reflect.DeepEqual(got.RedirectURIs, []string{"https://moved.example/cb"}) {
		t.Errorf("after SetClientURIs: %q", got.RedirectURIs)
	}
	m := read()
	m.RequirePAR = true
	if err := s.SetClientMetadata(ctx, m, at); err != nil {
		t.Fatal(err)
	}
	if got := read(); !got.RequirePAR {
		t.Error("after SetClientMetadata: require_par off")
	}
	if err := s.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClientByID(ctx, c.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after DeleteClient: %v, want ErrNotFound", err)
	}
}
