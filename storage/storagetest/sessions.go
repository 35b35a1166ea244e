package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newSession(id, userID string, created time.Time) *storage.Session {
	return &storage.Session{
		ID:         id,
		UserID:     userID,
		AuthTime:   created,
		AMR:        []string{"pwd", "otp"},
		IP:         "192.0.2.1",
		UserAgent:  "Mozilla/5.0",
		CreatedAt:  created,
		LastSeenAt: created,
		ExpiresAt:  created.Add(24 * time.Hour),
		IdleUntil:  created.Add(time.Hour),
	}
}

func setupUsers(t *testing.T, s storage.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		check(t, s.CreateUser(t.Context(), newUser(id, id+"@example.com", epoch())))
	}
}

func testSessionRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	sess := &storage.Session{
		ID:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		UserID:     "u1",
		AuthTime:   epoch().Add(-time.Minute),
		AMR:        []string{"pwd", "otp", "mfa"},
		IP:         "2001:db8::1",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64)",
		CreatedAt:  epoch().Add(-time.Minute),
		LastSeenAt: epoch(),
		ExpiresAt:  epoch().Add(12 * time.Hour),
		IdleUntil:  epoch().Add(30 * time.Minute),
	}
	check(t, s.CreateSession(ctx, sess))
	got, err := s.SessionByID(ctx, sess.ID, epoch())
	check(t, err)
	wantEqual(t, "SessionByID", got, sess)
	_, err = s.SessionByID(ctx, "nope", epoch())
	wantErr(t, "SessionByID", err, storage.ErrNotFound)

	// A re-authentication is kept with the session, and a later one
	// replaces it.
	for _, at := range []time.Duration{time.Minute, 2 * time.Minute} {
		check(t, s.MarkReauthenticated(ctx, sess.ID, epoch().Add(at)))
		got, err = s.SessionByID(ctx, sess.ID, epoch().Add(at))
		check(t, err)
		sess.ReauthAt = epoch().Add(at)
		wantEqual(t, "session after MarkReauthenticated", got, sess)
		list, err := s.UserSessions(ctx, "u1", epoch().Add(at))
		check(t, err)
		if len(list) != 1 || !list[0].ReauthAt.Equal(sess.ReauthAt) {
			t.Errorf("UserSessions after MarkReauthenticated: %+v, want ReauthAt %v", list, sess.ReauthAt)
		}
	}
	err = s.MarkReauthenticated(ctx, "nope", epoch())
	wantErr(t, "MarkReauthenticated of an unknown session", err, storage.ErrNotFound)
	err = s.MarkReauthenticated(ctx, sess.ID, sess.IdleUntil)
	wantErr(t, "MarkReauthenticated of an idle session", err, storage.ErrNotFound)
	err = s.MarkReauthenticated(ctx, sess.ID, sess.ExpiresAt.Add(time.Hour))
	wantErr(t, "MarkReauthenticated of an expired session", err, storage.ErrNotFound)
}

func testSessionConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	err := s.CreateSession(ctx, newSession("s1", "u1", epoch()))
	wantErr(t, "CreateSession with a taken id", err, storage.ErrConflict)
	err = s.CreateSession(ctx, newSession("s2", "no-such-user", epoch()))
	wantErr(t, "CreateSession for an unknown user", err, storage.ErrNotFound)
}

func testSessionExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	sess := newSession("s1", "u1", epoch())
	sess.ExpiresAt = epoch().Add(2 * time.Hour)
	sess.IdleUntil = epoch().Add(time.Hour)
	check(t, s.CreateSession(ctx, sess))
	long := newSession("s2", "u1", epoch())
	long.ExpiresAt = epoch().Add(time.Hour)
	long.IdleUntil = epoch().Add(2 * time.Hour)
	check(t, s.CreateSession(ctx, long))

	for _, tt := range []struct {
		id    string
		at    time.Duration
		alive bool
	}{
		{"s1", 0, true},
		{"s1", time.Hour - time.Millisecond, true},
		{"s1", time.Hour, false}, // idle
		{"s2", time.Hour - time.Millisecond, true},
		{"s2", time.Hour, false}, // expired
	} {
		_, err := s.SessionByID(ctx, tt.id, epoch().Add(tt.at))
		if tt.alive {
			if err != nil {
				t.Errorf("SessionByID(%s) at +%v: %v", tt.id, tt.at, err)
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SessionByID(%s) at +%v: error %v, want %v", tt.id, tt.at, err, storage.ErrNotFound)
		}
	}
}

func testTouchSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	sess := newSession("s1", "u1", epoch()) // idle after 1h, expires after 24h
	check(t, s.CreateSession(ctx, sess))

	// Activity keeps the session from going idle.
	for i := 1; i <= 3; i++ {
		now := epoch().Add(time.Duration(i) * 50 * time.Minute)
		check(t, s.TouchSession(ctx, "s1", now, now.Add(time.Hour)))
		got, err := s.SessionByID(ctx, "s1", now)
		check(t, err)
		sess.LastSeenAt, sess.IdleUntil = now, now.Add(time.Hour)
		wantEqual(t, "session after TouchSession", got, sess)
	}

	// Once idle, it stays gone.
	idle := sess.IdleUntil
	err := s.TouchSession(ctx, "s1", idle, idle.Add(time.Hour))
	wantErr(t, "TouchSession of an idle session", err, storage.ErrNotFound)
	_, err = s.SessionByID(ctx, "s1", idle)
	wantErr(t, "SessionByID of an idle session", err, storage.ErrNotFound)

	err = s.TouchSession(ctx, "nope", epoch(), epoch().Add(time.Hour))
	wantErr(t, "TouchSession", err, storage.ErrNotFound)
}

func testEndSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s2", "u1", epoch())))
	check(t, s.EndSession(ctx, "s1", epoch()))
	_, err := s.SessionByID(ctx, "s1", epoch())
	wantErr(t, "SessionByID after EndSession", err, storage.ErrNotFound)
	err = s.EndSession(ctx, "s1", epoch())
	wantErr(t, "EndSession again", err, storage.ErrNotFound)
	_, err = s.SessionByID(ctx, "s2", epoch())
	check(t, err)
}

func testEndAllUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s2", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s3", "u2", epoch())))
	checkEnd(t, s, "u1")
	for _, id := range []string{"s1", "s2"} {
		_, err := s.SessionByID(ctx, id, epoch())
		wantErr(t, "SessionByID("+id+") after EndUserSessions", err, storage.ErrNotFound)
	}
	_, err := s.SessionByID(ctx, "s3", epoch())
	check(t, err)
	checkEnd(t, s, "u1")
	checkEnd(t, s, "nobody")
}

func testUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	sessions, err := s.UserSessions(ctx, "u1", epoch())
	check(t, err)
	if len(sessions) != 0 {
		t.Fatalf("UserSessions before any: %d sessions", len(sessions))
	}

	// Created in one order, seen in another.
	old := newSession("old", "u1", epoch().Add(-time.Hour))
	old.LastSeenAt, old.IdleUntil = epoch().Add(-time.Minute), epoch().Add(time.Hour)
	recent := newSession("recent", "u1", epoch().Add(-2*time.Hour))
	recent.LastSeenAt, recent.IdleUntil = epoch(), epoch().Add(time.Hour)
	fresh := newSession("fresh", "u1", epoch().Add(-30*time.Minute))
	fresh.LastSeenAt = epoch().Add(-30 * time.Minute)
	expired := newSession("expired", "u1", epoch().Add(-25*time.Hour))
	expired.LastSeenAt, expired.IdleUntil = epoch(), epoch().Add(time.Hour) // seen, but past its absolute end
	idle := newSession("idle", "u1", epoch().Add(-2*time.Hour))
	idle.LastSeenAt = epoch().Add(-time.Hour - time.Minute)
	idle.IdleUntil = epoch()
	other := newSession("other", "u2", epoch())
	for _, sess := range []*storage.Session{fresh, expired, old, other, idle, recent} {
		check(t, s.CreateSession(ctx, sess))
	}

	sessions, err = s.UserSessions(ctx, "u1", epoch())
	check(t, err)
	want := []*storage.Session{recent, old, fresh}
	if len(sessions) != len(want) {
		ids := make([]string, len(sessions))
		for i := range sessions {
			ids[i] = sessions[i].ID
		}
		t.Fatalf("UserSessions: %v, want recent, old, fresh", ids)
	}
	for i := range sessions {
		wantEqual(t, "UserSessions["+want[i].ID+"]", &sessions[i], want[i])
	}

	// Touching a session moves it to the front.
	check(t, s.TouchSession(ctx, "fresh", epoch().Add(time.Second), epoch().Add(time.Hour)))
	sessions, err = s.UserSessions(ctx, "u1", epoch().Add(time.Second))
	check(t, err)
	if len(sessions) != 3 || sessions[0].ID != "fresh" {
		t.Errorf("UserSessions after TouchSession: %d sessions, first %+v; want fresh first of 3", len(sessions), sessions)
	}

	sessions, err = s.UserSessions(ctx, "u2", epoch())
	check(t, err)
	if len(sessions) != 1 || sessions[0].ID != "other" {
		t.Errorf("UserSessions(u2): %+v, want [other]", sessions)
	}
	sessions, err = s.UserSessions(ctx, "nobody", epoch())
	check(t, err)
	if len(sessions) != 0 {
		t.Errorf("UserSessions(nobody): %+v, want none", sessions)
	}
}

func testEndUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	for _, sess := range []*storage.Session{
		newSession("s1", "u1", epoch()),
		newSession("s2", "u1", epoch()),
		newSession("s3", "u1", epoch()),
		newSession("s4", "u2", epoch()),
	} {
		check(t, s.CreateSession(ctx, sess))
	}
	// An expired session counts too: it is deleted as well.
	dead := newSession("dead", "u1", epoch().Add(-48*time.Hour))
	check(t, s.CreateSession(ctx, dead))

	n, err := s.EndUserSessions(ctx, "u1", "s2", epoch())
	check(t, err)
	if n != 3 {
		t.Errorf("EndUserSessions(u1, s2) = %d, want 3", n)
	}
	_, err = s.SessionByID(ctx, "s2", epoch())
	check(t, err)
	for _, id := range []string{"s1", "s3"} {
		_, err := s.SessionByID(ctx, id, epoch())
		wantErr(t, "SessionByID("+id+") after EndUserSessions", err, storage.ErrNotFound)
	}
	_, err = s.SessionByID(ctx, "s4", epoch())
	check(t, err)

	// Another user's session is no keeper.
	check(t, s.CreateSession(ctx, newSession("s5", "u1", epoch())))
	n, err = s.EndUserSessions(ctx, "u1", "s4", epoch())
	check(t, err)
	if n != 2 {
		t.Errorf("EndUserSessions(u1, s4) = %d, want 2", n)
	}
	_, err = s.SessionByID(ctx, "s4", epoch())
	check(t, err)

	// "" keeps none.
	check(t, s.CreateSession(ctx, newSession("s6", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s7", "u1", epoch())))
	n, err = s.EndUserSessions(ctx, "u1", "", epoch())
	check(t, err)
	if n != 2 {
		t.Errorf("EndUserSessions(u1, \"\") = %d, want 2", n)
	}
	sessions, err := s.UserSessions(ctx, "u1", epoch())
	check(t, err)
	if len(sessions) != 0 {
		t.Errorf("UserSessions after EndUserSessions(u1, \"\"): %d sessions", len(sessions))
	}

	n, err = s.EndUserSessions(ctx, "nobody", "", epoch())
	check(t, err)
	if n != 0 {
		t.Errorf("EndUserSessions(nobody) = %d, want 0", n)
	}
	_, err = s.SessionByID(ctx, "s4", epoch())
	check(t, err)
}

// checkEnd ends every session of userID.
func checkEnd(t *testing.T, s storage.Store, userID string) {
	t.Helper()
	_, err := s.EndUserSessions(t.Context(), userID, "", epoch())
	check(t, err)
}
