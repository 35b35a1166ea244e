package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// backchannelFixture creates user u1 with sessions s1 and s2, clients a
// and b with back-channel logout URIs and c without, and grants: a (twice)
// and c in s1, b in s2.
func backchannelFixture(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", now)))
	for _, id := range []string{"a", "b", "c"} {
		c := newClient(id, now)
		check(t, s.CreateClient(ctx, c))
		if id != "c" {
			c.BackchannelLogoutURI = "https://" + id + ".example.com/logout"
			check(t, s.SetClientMetadata(ctx, c, now))
		}
	}
	for _, id := range []string{"s1", "s2"} {
		check(t, s.CreateSession(ctx, newSession(id, "u1", now)))
	}
	for _, g := range []storage.SessionGrant{
		{GrantID: "g1", SessionID: "s1", ClientID: "a"},
		{GrantID: "g2", SessionID: "s1", ClientID: "a"},
		{GrantID: "g3", SessionID: "s1", ClientID: "c"},
		{GrantID: "g4", SessionID: "s2", ClientID: "b"},
	} {
		g.UserID, g.CreatedAt = "u1", now
		check(t, s.AddSessionGrant(ctx, &g))
	}
	// A second record of a grant changes nothing.
	check(t, s.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: "g1", SessionID: "s2", ClientID: "b", UserID: "u1", CreatedAt: now}))
}

// drain claims every due delivery at now and returns them by client.
func drain(t *testing.T, s storage.Store, now time.Time) map[string]storage.LogoutDelivery {
	t.Helper()
	got := map[string]storage.LogoutDelivery{}
	for {
		d, err := s.ClaimLogoutDelivery(t.Context(), now, time.Minute)
		if errors.Is(err, storage.ErrNotFound) {
			return got
		}
		check(t, err)
		got[d.ClientID] = *d
	}
}

func testBackchannelEndSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backchannelFixture(t, s)
	sid, err := s.GrantSession(ctx, "g1")
	check(t, err)
	if sid != "s1" {
		t.Fatalf("GrantSession(g1) = %q, want s1", sid)
	}
	_, err = s.GrantSession(ctx, "nope")
	wantErr(t, "GrantSession of an unknown grant", err, storage.ErrNotFound)
	wantErr(t, "AddSessionGrant in an unknown session", s.AddSessionGrant(ctx, &storage.SessionGrant{
		GrantID: "g9", SessionID: "nope", ClientID: "a", UserID: "u1", CreatedAt: epoch()}), storage.ErrNotFound)
	wantErr(t, "AddSessionGrant of an unknown client", s.AddSessionGrant(ctx, &storage.SessionGrant{
		GrantID: "g9", SessionID: "s1", ClientID: "nope", UserID: "u1", CreatedAt: epoch()}), storage.ErrNotFound)

	now := epoch().Add(time.Hour)
	check(t, s.EndSession(ctx, "s1", now))
	wantErr(t, "EndSession twice", s.EndSession(ctx, "s1", now), storage.ErrNotFound)
	_, err = s.SessionByID(ctx, "s1", now)
	wantErr(t, "SessionByID of an ended session", err, storage.ErrNotFound)
	_, err = s.GrantSession(ctx, "g1")
	wantErr(t, "GrantSession once the session ended", err, storage.ErrNotFound)
	n, err := s.CountLogoutDeliveries(ctx)
	check(t, err)
	if n != 1 {
		t.Fatalf("CountLogoutDeliveries = %d, want 1 (client a; c has no URI)", n)
	}
	if got := drain(t, s, now.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("deliveries due before they were queued: %v", got)
	}
	got := drain(t, s, now)
	wantEqual(t, "the delivery", got["a"], storage.LogoutDelivery{
		SessionID: "s1", ClientID: "a", UserID: "u1", Attempts: 1, NextAttemptAt: now, CreatedAt: now,
	})
	if len(got) != 1 {
		t.Fatalf("deliveries = %v, want a's alone", got)
	}
	// s2 is untouched.
	if _, err := s.SessionByID(ctx, "s2", epoch()); err != nil {
		t.Fatalf("s2: %v", err)
	}
}

func testBackchannelEndUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backchannelFixture(t, s)
	now := epoch().Add(time.Hour)
	n, err := s.EndUserSessions(ctx, "u1", "s2", now)
	check(t, err)
	if n != 1 {
		t.Fatalf("EndUserSessions keeping s2 = %d, want 1", n)
	}
	if got := drain(t, s, now); len(got) != 1 || got["a"].SessionID != "s1" {
		t.Fatalf("deliveries = %v, want a's for s1", got)
	}
	n, err = s.EndUserSessions(ctx, "u1", "", now)
	check(t, err)
	if n != 1 {
		t.Fatalf("EndUserSessions = %d, want 1", n)
	}
	if got := drain(t, s, now.Add(30*time.Second)); len(got) != 1 || got["b"].SessionID != "s2" {
		t.Fatalf("deliveries = %v, want b's for s2 (a's is leased)", got)
	}
	n, err = s.EndUserSessions(ctx, "u1", "", now)
	check(t, err)
	if n != 0 {
		t.Fatalf("EndUserSessions without sessions = %d, want 0", n)
	}
}

func testBackchannelReplaceSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backchannelFixture(t, s)
	now := epoch()
	wantGrant := func(grant, want string) {
		t.Helper()
		got, err := s.GrantSession(ctx, grant)
		check(t, err)
		if got != want {
			t.Fatalf("GrantSession(%s) = %q, want %q", grant, got, want)
		}
	}
	// A new sign-in of u1 in s1's browser: s4 continues s1, twice over.
	check(t, s.CreateSession(ctx, newSession("s4", "u1", now)))
	check(t, s.ReplaceSession(ctx, "s1", "s4", now))
	check(t, s.CreateSession(ctx, newSession("s5", "u1", now)))
	check(t, s.ReplaceSession(ctx, "s4", "s5", now))
	for _, id := range []string{"s1", "s4"} {
		_, err := s.SessionByID(ctx, id, now)
		wantErr(t, "SessionByID of a replaced session", err, storage.ErrNotFound)
	}
	wantGrant("g1", "s1")
	check(t, s.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: "g5", SessionID: "s5", ClientID: "b", UserID: "u1", CreatedAt: now}))
	wantGrant("g5", "s1")
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 0 {
		t.Fatalf("CountLogoutDeliveries after a continuation = %d, %v; want 0", n, err)
	}
	check(t, s.EndSession(ctx, "s5", now))
	got := drain(t, s, now)
	if len(got) != 2 || got["a"].SessionID != "s1" || got["b"].SessionID != "s1" {
		t.Fatalf("deliveries = %v, want a's and b's, both for s1's sid", got)
	}

	// Another user signs in in s2's browser: s2 ends.
	check(t, s.CreateUser(ctx, newUser("u2", "u2@example.com", now)))
	check(t, s.CreateSession(ctx, newSession("s6", "u2", now)))
	check(t, s.ReplaceSession(ctx, "s2", "s6", now))
	got = drain(t, s, now)
	if len(got) != 1 || got["b"].SessionID != "s2" || got["b"].UserID != "u1" {
		t.Fatalf("deliveries = %v, want b's for s2 of u1", got)
	}
	_, err := s.GrantSession(ctx, "g4")
	wantErr(t, "GrantSession of an ended session's grant", err, storage.ErrNotFound)
	// An old session already gone changes nothing.
	check(t, s.ReplaceSession(ctx, "gone", "s6", now))
	if _, err := s.SessionByID(ctx, "s6", now); err != nil {
		t.Fatalf("s6: %v", err)
	}
}

func testRotateSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backchannelFixture(t, s)
	now := epoch().Add(time.Minute)
	before, err := s.SessionByID(ctx, "s1", now)
	check(t, err)

	// A password change: the session takes a new id and keeps the rest.
	check(t, s.RotateSession(ctx, "s1", "s1b", now, time.Time{}))
	_, err = s.SessionByID(ctx, "s1", now)
	wantErr(t, "SessionByID of the rotated session's old id", err, storage.ErrNotFound)
	got, err := s.SessionByID(ctx, "s1b", now)
	check(t, err)
	want := *before
	want.ID = "s1b"
	wantEqual(t, "the rotated session", got, &want)
	// A re-authentication: and its ReauthAt.
	check(t, s.RotateSession(ctx, "s1b", "s1c", now, now))
	got, err = s.SessionByID(ctx, "s1c", now)
	check(t, err)
	want.ID, want.ReauthAt = "s1c", now
	wantEqual(t, "the session rotated by a re-authentication", got, &want)
	// Its grants and sid go with it, and nobody is told.
	for _, g := range []string{"g1", "g2", "g3"} {
		sid, err := s.GrantSession(ctx, g)
		check(t, err)
		if sid != "s1" {
			t.Fatalf("GrantSession(%s) = %q, want s1", g, sid)
		}
	}
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 0 {
		t.Fatalf("CountLogoutDeliveries after a rotation = %d, %v; want 0", n, err)
	}

	// An old id that is unknown, already rotated, idle or expired
	// changes nothing: no session is made from it.
	s2, err := s.SessionByID(ctx, "s2", now)
	check(t, err)
	for _, tt := range []struct {
		name, old string
		at        time.Time
	}{
		{"unknown", "nope", now},
		{"rotated", "s1b", now},
		{"idle", "s2", s2.IdleUntil},
		{"expired", "s2", s2.ExpiresAt.Add(time.Second)},
	} {
		err := s.RotateSession(ctx, tt.old, "new-"+tt.name, tt.at, time.Time{})
		wantErr(t, "RotateSession of an "+tt.name+" session", err, storage.ErrNotFound)
		_, err = s.SessionByID(ctx, "new-"+tt.name, now)
		wantErr(t, "SessionByID of a session rotated from an "+tt.name+" one", err, storage.ErrNotFound)
	}
	// The ended session is not made again by a rotation that comes after.
	check(t, s.EndSession(ctx, "s1c", now))
	wantErr(t, "RotateSession of an ended session", s.RotateSession(ctx, "s1c", "s1d", now, now), storage.ErrNotFound)
	if got := drain(t, s, now); len(got) != 1 || got["a"].SessionID != "s1" {
		t.Fatalf("deliveries = %v, want a's for s1's sid", got)
	}
}

// testRotateSessionConcurrent rotates one session many times at once: one
// rotation wins, and exactly one session is left.
func testRotateSessionConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.CreateSession(ctx, newSession("s0", "u1", epoch())))
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.RotateSession(ctx, "s0", "s0-"+string(rune('a'+i)), epoch(), time.Time{})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict):
			t.Fatalf("RotateSession: %v", err)
		}
	}
	list, err := s.UserSessions(ctx, "u1", epoch())
	check(t, err)
	if won != 1 || len(list) != 1 {
		t.Fatalf("%d rotations won, %d sessions left; want 1 and 1", won, len(list))
	}
}

func testBackchannelClaim(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backchannelFixture(t, s)
	now := epoch().Add(time.Hour)
	check(t, s.EndSession(ctx, "s1", now))

	d, err := s.ClaimLogoutDelivery(ctx, now, 30*time.Second)
	check(t, err)
	if d.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1", d.Attempts)
	}
	// Leased: nobody else gets it until the lease ends.
	_, err = s.ClaimLogoutDelivery(ctx, now.Add(29*time.Second), 30*time.Second)
	wantErr(t, "a claim during the lease", err, storage.ErrNotFound)
	// A crashed sender's lease runs out: the delivery is claimed again.
	d, err = s.ClaimLogoutDelivery(ctx, now.Add(30*time.Second), 30*time.Second)
	check(t, err)
	if d.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", d.Attempts)
	}
	next := now.Add(10 * time.Minute)
	check(t, s.RetryLogoutDelivery(ctx, d.SessionID, d.ClientID, next))
	_, err = s.ClaimLogoutDelivery(ctx, next.Add(-time.Millisecond), time.Minute)
	wantErr(t, "a claim before the retry is due", err, storage.ErrNotFound)
	d, err = s.ClaimLogoutDelivery(ctx, next, time.Minute)
	check(t, err)
	if d.Attempts != 3 || !d.NextAttemptAt.Equal(next) {
		t.Fatalf("claimed %+v, want attempt 3 due at %v", d, next)
	}
	check(t, s.DeleteLogoutDelivery(ctx, d.SessionID, d.ClientID))
	wantErr(t, "DeleteLogoutDelivery twice", s.DeleteLogoutDelivery(ctx, d.SessionID, d.ClientID), storage.ErrNotFound)
	wantErr(t, "RetryLogoutDelivery of a deleted one", s.RetryLogoutDelivery(ctx, d.SessionID, d.ClientID, next), storage.ErrNotFound)
	n, err := s.CountLogoutDeliveries(ctx)
	check(t, err)
	if n != 0 {
		t.Fatalf("CountLogoutDeliveries = %d, want 0", n)
	}

	// A deleted client's deliveries go with it.
	check(t, s.EndSession(ctx, "s2", now))
	check(t, s.DeleteClient(ctx, "b"))
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 0 {
		t.Fatalf("CountLogoutDeliveries after deleting the client = %d, %v; want 0", n, err)
	}
}

// testBackchannelClaimConcurrent claims from many goroutines: each
// delivery goes to exactly one.
func testBackchannelClaimConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	check(t, s.CreateUser(ctx, newUser("u1", "u1@example.com", now)))
	c := newClient("a", now)
	check(t, s.CreateClient(ctx, c))
	c.BackchannelLogoutURI = "https://a.example.com/logout"
	check(t, s.SetClientMetadata(ctx, c, now))
	const sessions = 20
	for i := range sessions {
		id := string(rune('A' + i))
		check(t, s.CreateSession(ctx, newSession(id, "u1", now)))
		check(t, s.AddSessionGrant(ctx, &storage.SessionGrant{GrantID: "g" + id, SessionID: id, ClientID: "a", UserID: "u1", CreatedAt: now}))
	}
	if _, err := s.EndUserSessions(ctx, "u1", "", now); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, 8)
		claims = 0
	)
	for range 8 {
		wg.Go(func() {
			for {
				d, err := s.ClaimLogoutDelivery(ctx, now, time.Minute)
				if errors.Is(err, storage.ErrNotFound) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[d.SessionID]++
				claims++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if claims != sessions || len(seen) != sessions {
		t.Fatalf("%d claims of %d deliveries, want each claimed once: %v", claims, len(seen), seen)
	}
}
