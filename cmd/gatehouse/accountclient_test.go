package main

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestHomeClient checks that serve's ensureAccountClient creates the
// account area's client once, puts it back when it drifted, follows the
// issuer, and that the admin service refuses to change or delete it.
func TestHomeClient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := teststore.Open(t, "sqlite")
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const issuer = "https://id.example"
	check := func(issuer string) {
		t.Helper()
		if err := ensureAccountClient(ctx, store, issuer, now); err != nil {
			t.Fatal(err)
		}
		c, err := store.ClientByID(ctx, login.AccountClientID)
		if err != nil {
			t.Fatal(err)
		}
		want := login.AccountClient(issuer, now)
		if !c.Public || c.SecretHash != nil || c.Consent || c.RequireMFA || c.Admin || c.RequirePAR ||
			c.BackchannelLogoutURI != "" || c.TokenEndpointAuthMethod != "none" ||
			!slices.Equal(c.RedirectURIs, want.RedirectURIs) || len(c.PostLogoutRedirectURIs) != 0 {
			t.Errorf("account client %+v, want %+v", c, want)
		}
	}
	check(issuer)
	check(issuer) // idempotent
	if cs, err := store.ListClients(ctx); err != nil || len(cs) != 1 {
		t.Fatalf("%d clients (%v), want 1", len(cs), err)
	}

	// Hand-edited: other URIs, consent, PAR.
	if err := store.SetClientURIs(ctx, login.AccountClientID, []string{"https://evil.example/cb"}, []string{"https://evil.example/"}, now); err != nil {
		t.Fatal(err)
	}
	edited := login.AccountClient(issuer, now)
	edited.Consent, edited.RequirePAR = true, true
	if err := store.SetClientMetadata(ctx, edited, now); err != nil {
		t.Fatal(err)
	}
	check(issuer)
	// Made confidential by hand: started over.
	if err := store.DeleteClient(ctx, login.AccountClientID); err != nil {
		t.Fatal(err)
	}
	bad := login.AccountClient(issuer, now)
	bad.Public, bad.SecretHash, bad.RequireMFA = false, []byte("hash"), true
	if err := store.CreateClient(ctx, bad); err != nil {
		t.Fatal(err)
	}
	check(issuer)
	// A new issuer.
	check("https://login.example")

	svc := admin.NewService(store, password.NewHasher(password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}),
		func() time.Time { return now }, "test")
	uris := []string{"https://evil.example/cb"}
	for name, err := range map[string]error{
		"delete": svc.DeleteClient(ctx, login.AccountClientID),
		"uris": func() error {
			_, err := svc.SetClientURIs(ctx, login.AccountClientID, admin.ClientURIs{RedirectURIs: uris})
			return err
		}(),
		"settings": func() error {
			_, err := svc.SetClientSettings(ctx, login.AccountClientID, admin.ClientSettings{})
			return err
		}(),
		"secret": func() error { _, err := svc.RotateSecret(ctx, login.AccountClientID); return err }(),
		"auth": func() error {
			_, err := svc.SetClientAuth(ctx, login.AccountClientID, admin.ClientAuthUpdate{})
			return err
		}(),
	} {
		if err == nil || admin.KindOf(err) != admin.Conflict {
			t.Errorf("%s of the account client: %v, want refused (conflict)", name, err)
		}
	}
	check("https://login.example")
}
