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

func testDeleteSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1")
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s2", "u1", epoch())))
	check(t, s.DeleteSession(ctx, "s1"))
	_, err := s.SessionByID(ctx, "s1", epoch())
	wantErr(t, "SessionByID after DeleteSession", err, storage.ErrNotFound)
	err = s.DeleteSession(ctx, "s1")
	wantErr(t, "DeleteSession again", err, storage.ErrNotFound)
	_, err = s.SessionByID(ctx, "s2", epoch())
	check(t, err)
}

func testDeleteUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupUsers(t, s, "u1", "u2")
	check(t, s.CreateSession(ctx, newSession("s1", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s2", "u1", epoch())))
	check(t, s.CreateSession(ctx, newSession("s3", "u2", epoch())))
	check(t, s.DeleteUserSessions(ctx, "u1"))
	for _, id := range []string{"s1", "s2"} {
		_, err := s.SessionByID(ctx, id, epoch())
		wantErr(t, "SessionByID("+id+") after DeleteUserSessions", err, storage.ErrNotFound)
	}
	_, err := s.SessionByID(ctx, "s3", epoch())
	check(t, err)
	check(t, s.DeleteUserSessions(ctx, "u1"))
	check(t, s.DeleteUserSessions(ctx, "nobody"))
}
