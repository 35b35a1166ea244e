package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// purgeTests are the conformance tests of storage.PurgeStore.
var purgeTests = []struct {
	name string
	fn   func(*testing.T, storage.Store)
}{
	{"Purge", testPurge},
	{"PurgeEvents", testPurgeEvents},
	{"PurgeBatches", testPurgeBatches},
	{"PurgeConcurrent", testPurgeConcurrent},
}

// purgeRequest is the request the purge tests send at now.
func purgeRequest(now time.Time) storage.PurgeRequest {
	return storage.PurgeRequest{
		Now:            now,
		ResendCooldown: cooldown,
		CounterWindow:  time.Hour,
		KeyRetention:   time.Hour,
	}
}

// testPurge stores, for every kind of row, some that expired by now and
// some that did not (or that something still needs), purges at now, and
// checks that exactly the first went.
func testPurge(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	ms := time.Millisecond
	setupUsers(t, s, "u1")
	check(t, s.CreateClient(ctx, newClient("c1", now.Add(-48*time.Hour))))

	// Auth requests: expired exactly at now goes, a millisecond later stays.
	authRequest := func(id string, expires time.Time) {
		ar := newAuthRequest(id, "c1", now.Add(-time.Hour))
		ar.ExpiresAt = expires
		check(t, s.CreateAuthRequest(ctx, ar))
	}
	authRequest("ar-dead", now)
	authRequest("ar-live", now.Add(ms))
	for _, g := range []string{"g-refresh", "g-access", "g-dead", "g-unused", "g-live"} {
		authRequest(g, now.Add(time.Hour))
	}

	// Access tokens.
	access := func(id, grant string, expires time.Time) {
		tok := newAccessToken(id, "c1", grant, now.Add(-2*time.Hour))
		tok.ExpiresAt = expires
		check(t, s.CreateAccessToken(ctx, tok))
	}
	access("at-dead", "g-dead", now.Add(-time.Minute))
	access("at-cc-dead", "", now)
	access("at-live", "g-access", now.Add(ms))

	// Refresh tokens: a family lives while one of its tokens does.
	refresh := func(id, family string, expires time.Time) {
		tok := newRefreshToken(id, "c1", family, now.Add(-2*time.Hour))
		tok.ExpiresAt = expires
		check(t, s.CreateRefreshToken(ctx, tok))
	}
	refresh("rt-old", "g-refresh", now.Add(-time.Hour))
	refresh("rt-new", "g-refresh", now.Add(time.Hour))
	refresh("rt-dead1", "f-dead", now)
	refresh("rt-dead2", "f-dead", now.Add(-time.Hour))

	// Authorization codes, used (so that a replay tells a stored code from
	// a deleted one) except one: a used code stays while its grant has a
	// live token.
	code := func(name, grant string, expires time.Time, use bool) {
		check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash(name), AuthRequestID: grant, ExpiresAt: expires}))
		if use {
			_, err := s.ConsumeAuthCode(ctx, hash(name), expires.Add(-time.Second), nil)
			check(t, err)
		}
	}
	code("code-refresh", "g-refresh", now.Add(-time.Minute), true)
	code("code-access", "g-access", now.Add(-time.Minute), true)
	code("code-dead", "g-dead", now.Add(-time.Minute), true)
	code("code-unused", "g-unused", now, false)
	code("code-live", "g-live", now.Add(time.Minute), false)

	// Sessions: expired, idle, live.
	session := func(id string, expires, idle time.Time) {
		sess := newSession(id, "u1", now.Add(-24*time.Hour))
		sess.ExpiresAt, sess.IdleUntil = expires, idle
		check(t, s.CreateSession(ctx, sess))
	}
	session("s-expired", now, now.Add(time.Hour))
	session("s-idle", now.Add(time.Hour), now.Add(-time.Second))
	session("s-live", now.Add(time.Hour), now.Add(ms))

	// One-time codes, used: expired and older than the cooldown goes;
	// expired but newer than the cooldown stays, as does a live one.
	otc := func(id, binding string, created, expires time.Time, use bool) {
		c := newCode(id, created)
		c.Binding, c.ExpiresAt = binding, expires
		check(t, s.IssueCode(ctx, c, cooldown, created))
		if use {
			check(t, s.UseCode(ctx, id, created))
		}
	}
	otc("otc-dead", "b1", now.Add(-2*time.Minute), now.Add(-time.Minute), true)
	otc("otc-cooling", "b2", now.Add(-cooldown+time.Second), now.Add(-time.Second), true)
	otc("otc-live", "b3", now.Add(-time.Second), now.Add(time.Minute), false)

	// Action tokens.
	at := func(name string, expires time.Time) {
		tok := newActionToken(name, "reset-password", now.Add(-time.Hour))
		tok.ExpiresAt = expires
		check(t, s.CreateActionToken(ctx, tok))
	}
	at("action-dead", now)
	at("action-live", now.Add(ms))

	// WebAuthn ceremonies.
	check(t, s.PutWebAuthnSession(ctx, "wa-dead", []byte("data"), now))
	check(t, s.PutWebAuthnSession(ctx, "wa-live", []byte("data"), now.Add(ms)))

	// Attempt counters, under a limit whose window is the longest.
	l := storage.Limit{Max: 3, Window: time.Hour, Block: 10 * time.Minute}
	fail := func(key string, at time.Time, times int) {
		for range times {
			_, err := s.RecordFailure(ctx, key, l, at)
			check(t, err)
		}
	}
	fail("n:old", now.Add(-time.Hour), 1)            // window passed: goes
	fail("n:recent", now.Add(-59*time.Minute), 2)    // window running: stays
	fail("n:unblocked", now.Add(-10*time.Minute), 3) // block ended at now: goes
	fail("n:blocked", now.Add(-5*time.Minute), 3)    // blocked until now+5m: stays

	// Signing keys: RS256 k1 is replaced by k2, which has signed for the
	// retention period; k2 is replaced by k3, which has not; k4 is next.
	key := func(id, alg string, active, expires time.Time) {
		k := newSigningKey(id, active, expires)
		k.Algorithm = alg
		check(t, s.CreateSigningKey(ctx, k))
	}
	far := now.Add(100 * 365 * 24 * time.Hour)
	key("k1", "RS256", now.Add(-3*time.Hour), far)
	key("k2", "RS256", now.Add(-2*time.Hour), far)
	key("k3", "RS256", now.Add(-time.Hour+ms), far)
	key("k4", "RS256", now.Add(time.Minute), far)
	key("e1", "ES256", now.Add(-3*time.Hour), far) // alone of its algorithm: stays
	key("e-expired", "ES256", now.Add(-4*time.Hour), now)

	// An event: no retention is asked for, so it stays.
	check(t, s.AddEvent(ctx, &storage.Event{ID: "ev", Time: now.Add(-365 * 24 * time.Hour), Type: "signin.succeeded"}))

	p, err := s.Purge(ctx, purgeRequest(now))
	check(t, err)
	wantEqual(t, "purged", p, storage.Purged{
		AuthRequests:     1,
		AuthCodes:        2,
		AccessTokens:     2,
		RefreshTokens:    2,
		Sessions:         2,
		OneTimeCodes:     1,
		ActionTokens:     1,
		WebAuthnSessions: 1,
		Counters:         2,
		SigningKeys:      2,
	})

	// What went is gone, what stays is there.
	_, err = s.AuthRequestByID(ctx, "ar-dead")
	wantErr(t, "expired auth request", err, storage.ErrNotFound)
	_, err = s.AuthRequestByID(ctx, "ar-live")
	check(t, err)

	for id, gone := range map[string]bool{"at-dead": true, "at-cc-dead": true, "at-live": false} {
		_, err := s.AccessTokenByID(ctx, id)
		wantGone(t, "access token "+id, err, gone)
	}
	for id, gone := range map[string]bool{"rt-old": false, "rt-new": false, "rt-dead1": true, "rt-dead2": true} {
		_, err := s.RefreshTokenByHash(ctx, hash(id))
		wantGone(t, "refresh token "+id, err, gone)
	}

	// A stored used code is replayed; a deleted one is unknown.
	_, err = s.ConsumeAuthCode(ctx, hash("code-dead"), now, nil)
	wantErr(t, "code of a dead grant", err, storage.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash("code-refresh"), now, nil)
	wantErr(t, "code of a grant with a live refresh token", err, storage.ErrReplayed)
	_, err = s.ConsumeAuthCode(ctx, hash("code-access"), now, nil)
	wantErr(t, "code of a grant with a live access token", err, storage.ErrReplayed)
	ar, err := s.ConsumeAuthCode(ctx, hash("code-live"), now, nil)
	check(t, err)
	if ar.ID != "g-live" {
		t.Errorf("live code: auth request %q, want g-live", ar.ID)
	}

	for id, gone := range map[string]bool{"s-expired": true, "s-idle": true, "s-live": false} {
		wantGone(t, "session "+id, s.EndSession(ctx, id, epoch()), gone)
	}

	wantErr(t, "expired code", s.UseCode(ctx, "otc-dead", now), storage.ErrNotFound)
	wantErr(t, "code within the cooldown", s.UseCode(ctx, "otc-cooling", now), storage.ErrReplayed)
	check(t, s.UseCode(ctx, "otc-live", now))

	_, err = s.UseActionToken(ctx, hash("action-live"), "reset-password", now)
	check(t, err)

	// A ceremony key is free again once its data is gone.
	check(t, s.PutWebAuthnSession(ctx, "wa-dead", []byte("again"), now.Add(time.Minute)))
	wantErr(t, "live ceremony", s.PutWebAuthnSession(ctx, "wa-live", []byte("again"), now.Add(time.Minute)), storage.ErrConflict)

	for key, gone := range map[string]bool{"n:old": true, "n:recent": false, "n:unblocked": true, "n:blocked": false} {
		n, err := s.ClearBlocks(ctx, key)
		check(t, err)
		if gone != (n == 0) {
			t.Errorf("counter %s: ClearBlocks removed %d (gone: %v, want gone: %v)", key, n, n == 0, gone)
		}
	}

	keys, err := s.SigningKeys(ctx, now.Add(-24*time.Hour))
	check(t, err)
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	wantEqual(t, "signing keys left", ids, []string{"k4", "k3", "k2", "e1"})

	wantEvents(t, s, storage.EventFilter{}, "ev")
	if _, err := s.UserByID(ctx, "u1"); err != nil {
		t.Errorf("user: %v", err)
	}
	if _, err := s.ClientByID(ctx, "c1"); err != nil {
		t.Errorf("client: %v", err)
	}

	// Nothing left to purge.
	p, err = s.Purge(ctx, purgeRequest(now))
	check(t, err)
	if p.Total() != 0 || p.Skipped {
		t.Errorf("second purge: %+v, want nothing", p)
	}
}

// wantGone checks the error of a lookup: ErrNotFound when gone, nil when not.
func wantGone(t *testing.T, what string, err error, gone bool) {
	t.Helper()
	if gone {
		wantErr(t, what, err, storage.ErrNotFound)
	} else if err != nil {
		t.Errorf("%s: %v, want it kept", what, err)
	}
}

// testPurgeEvents checks audit retention: events before the cutoff go,
// the one at it stays.
func testPurgeEvents(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	cutoff := now.Add(-90 * 24 * time.Hour)
	for id, at := range map[string]time.Time{
		"old":    cutoff.Add(-time.Hour),
		"older":  cutoff.Add(-30 * 24 * time.Hour),
		"cutoff": cutoff,
		"recent": now.Add(-time.Minute),
	} {
		check(t, s.AddEvent(ctx, &storage.Event{ID: id, Time: at, Type: "signin.failed", IP: "192.0.2.1"}))
	}
	r := purgeRequest(now)
	r.EventsBefore = cutoff
	p, err := s.Purge(ctx, r)
	check(t, err)
	if p.Events != 2 || p.Total() != 2 {
		t.Errorf("purged %+v, want 2 events", p)
	}
	wantEvents(t, s, storage.EventFilter{}, "recent", "cutoff")
}

// testPurgeBatches purges more rows than one batch holds.
func testPurgeBatches(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	const n = 1234
	for i := range n {
		check(t, s.AddEvent(ctx, &storage.Event{ID: fmt.Sprintf("e%04d", i), Time: now.Add(-time.Hour), Type: "x"}))
	}
	check(t, s.AddEvent(ctx, &storage.Event{ID: "kept", Time: now, Type: "x"}))
	r := purgeRequest(now)
	r.EventsBefore = now
	p, err := s.Purge(ctx, r)
	check(t, err)
	if p.Events != n {
		t.Errorf("purged %d events, want %d", p.Events, n)
	}
	wantEvents(t, s, storage.EventFilter{}, "kept")
}

// testPurgeConcurrent runs purges at once on one store: none fails, and
// together they delete every expired row once.
func testPurgeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	setupUsers(t, s, "u1")
	const n = 1100
	for i := range n {
		sess := newSession(fmt.Sprintf("s%04d", i), "u1", now.Add(-48*time.Hour))
		check(t, s.CreateSession(ctx, sess))
	}
	live := newSession("live", "u1", now)
	check(t, s.CreateSession(ctx, live))

	results := make([]storage.Purged, 4)
	errs := make([]error, len(results))
	done := make(chan int)
	for i := range results {
		go func() {
			results[i], errs[i] = s.Purge(ctx, purgeRequest(now))
			done <- i
		}()
	}
	for range results {
		<-done
	}
	total := 0
	for i, p := range results {
		check(t, errs[i])
		total += p.Sessions
	}
	// A run that found the lock taken stopped early; one more finishes.
	p, err := s.Purge(ctx, purgeRequest(now))
	check(t, err)
	if total += p.Sessions; total != n {
		t.Errorf("sessions purged: %d in all, want %d", total, n)
	}
	got, err := s.UserSessions(ctx, "u1", now)
	check(t, err)
	if len(got) != 1 || got[0].ID != "live" {
		t.Errorf("sessions left: %v, want the live one", got)
	}
	wantGone(t, "live session", s.EndSession(ctx, "live", epoch()), false)
}
