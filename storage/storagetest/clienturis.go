package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func testClientAdmin(t *testing.T, s storage.Store) {
	ctx := t.Context()
	admin := newClient("ops", epoch())
	admin.Admin = true
	admin.RedirectURIs = nil
	check(t, s.CreateClient(ctx, admin))
	check(t, s.CreateClient(ctx, newClient("app", epoch().Add(time.Second))))

	got, err := s.ClientByID(ctx, "ops")
	check(t, err)
	wantEqual(t, "ClientByID(ops)", got, admin)
	clients, err := s.ListClients(ctx)
	check(t, err)
	if len(clients) != 2 || !clients[0].Admin || clients[1].Admin {
		t.Fatalf("ListClients: admin flags %v, want [true false]", clients)
	}
}

func testSetClientURIs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := newClient("c1", epoch())
	check(t, s.CreateClient(ctx, c))
	check(t, s.CreateClient(ctx, newClient("c2", epoch())))

	later := epoch().Add(time.Hour)
	redirects := []string{"https://new.example.com/cb", "https://new.example.com/cb2"}
	logouts := []string{"https://new.example.com/"}
	check(t, s.SetClientURIs(ctx, "c1", redirects, logouts, later))
	got, err := s.ClientByID(ctx, "c1")
	check(t, err)
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.UpdatedAt = redirects, logouts, later
	wantEqual(t, "ClientByID after SetClientURIs", got, c)

	// The other client is untouched.
	other, err := s.ClientByID(ctx, "c2")
	check(t, err)
	wantEqual(t, "ClientByID(c2)", other, newClient("c2", epoch()))

	wantErr(t, "SetClientURIs of an unknown client", s.SetClientURIs(ctx, "nope", redirects, nil, later), storage.ErrNotFound)
}
