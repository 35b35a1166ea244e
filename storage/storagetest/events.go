package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// wantEvents checks the ids of the events f selects, in order.
func wantEvents(t *testing.T, s storage.Store, f storage.EventFilter, want ...string) {
	t.Helper()
	events, err := s.Events(t.Context(), f)
	check(t, err)
	var ids []string
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Events(%+v) = %q, want %q", f, ids, want)
	}
}

func testEventRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	events, err := s.Events(ctx, storage.EventFilter{})
	check(t, err)
	if len(events) != 0 {
		t.Fatalf("Events of an empty store: %v", events)
	}

	e := &storage.Event{
		ID:       "e1",
		Time:     epoch().In(time.FixedZone("UTC-3", -3*60*60)),
		Type:     "signin.succeeded",
		UserID:   "u1",
		ClientID: "c1",
		IP:       "2001:db8::1",
		Detail:   "amr=pwd,otp",
	}
	check(t, s.AddEvent(ctx, e))
	// Events outlive users: the user need not exist, nor be known.
	anon := &storage.Event{Time: epoch().Add(time.Second), Type: "ip.blocked", IP: "192.0.2.1"}
	check(t, s.AddEvent(ctx, anon))
	if anon.ID == "" {
		t.Fatal("AddEvent left an empty id")
	}
	second := &storage.Event{Time: epoch().Add(time.Second), Type: "ip.blocked", IP: "192.0.2.1"}
	check(t, s.AddEvent(ctx, second))
	if second.ID == "" || second.ID == anon.ID {
		t.Fatalf("AddEvent set ids %q and %q, want two different ones", anon.ID, second.ID)
	}

	events, err = s.Events(ctx, storage.EventFilter{})
	check(t, err)
	if len(events) != 3 {
		t.Fatalf("Events: %d events, want 3", len(events))
	}
	// The two at the same time come by id, descending.
	newer, older := anon, second
	if older.ID > newer.ID {
		newer, older = older, newer
	}
	wantEqual(t, "Events[0]", &events[0], newer)
	wantEqual(t, "Events[1]", &events[1], older)
	wantEqual(t, "Events[2]", &events[2], e)

	wantErr(t, "AddEvent with a taken id", s.AddEvent(ctx, &storage.Event{ID: "e1", Time: epoch()}), storage.ErrConflict)
}

func testEventFields(t *testing.T, s storage.Store) {
	ctx := t.Context()
	failed := &storage.Event{ID: "e1", Time: epoch(), Type: storage.EventSigninFailed, UserID: "u1",
		Detail: "totp: blocked", Factor: "totp", Blocked: true}
	sent := &storage.Event{ID: "e2", Time: epoch().Add(time.Second), Type: storage.EventCodeSent, UserID: "u1",
		Detail: "enable-email", Purpose: "enable-email"}
	check(t, s.AddEvent(ctx, failed))
	check(t, s.AddEvent(ctx, sent))
	events, err := s.Events(ctx, storage.EventFilter{UserID: "u1"})
	check(t, err)
	if len(events) != 2 {
		t.Fatalf("Events: %d events, want 2", len(events))
	}
	wantEqual(t, "Events[0]", &events[0], sent)
	wantEqual(t, "Events[1]", &events[1], failed)
	wantEvents(t, s, storage.EventFilter{Type: storage.EventCodeSent}, "e2")
}

func testEventFilters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, e := range []storage.Event{
		{ID: "e1", Time: epoch(), Type: "signin.failed", UserID: "u1", IP: "192.0.2.1"},
		{ID: "e2", Time: epoch().Add(1 * time.Second), Type: "signin.succeeded", UserID: "u1", IP: "192.0.2.1"},
		{ID: "e3", Time: epoch().Add(2 * time.Second), Type: "signin.failed", UserID: "u2", IP: "192.0.2.2"},
		{ID: "e4", Time: epoch().Add(3 * time.Second), Type: "ip.blocked", IP: "192.0.2.1"},
		{ID: "e5", Time: epoch().Add(3 * time.Second), Type: "code.failed", UserID: "u1", IP: "192.0.2.22"},
		{ID: "e0", Time: epoch().Add(-time.Hour), Type: "signin.failed", UserID: "u10", IP: "192.0.2.10"},
	} {
		check(t, s.AddEvent(ctx, &e))
	}
	f := storage.EventFilter{}
	wantEvents(t, s, f, "e5", "e4", "e3", "e2", "e1", "e0")
	wantEvents(t, s, storage.EventFilter{UserID: "u1"}, "e5", "e2", "e1")
	wantEvents(t, s, storage.EventFilter{UserID: "u"})
	wantEvents(t, s, storage.EventFilter{IP: "192.0.2.1"}, "e4", "e2", "e1")
	wantEvents(t, s, storage.EventFilter{IP: "192.0.2.%"})
	wantEvents(t, s, storage.EventFilter{Type: "signin.failed"}, "e3", "e1", "e0")
	wantEvents(t, s, storage.EventFilter{Type: "signin"})
	wantEvents(t, s, storage.EventFilter{Since: epoch().Add(2 * time.Second)}, "e5", "e4", "e3")
	wantEvents(t, s, storage.EventFilter{Since: epoch().Add(2*time.Second + time.Millisecond)}, "e5", "e4")
	wantEvents(t, s, storage.EventFilter{Since: epoch().Add(time.Hour)})
	wantEvents(t, s, storage.EventFilter{Limit: 2}, "e5", "e4")
	wantEvents(t, s, storage.EventFilter{UserID: "u1", IP: "192.0.2.1"}, "e2", "e1")
	wantEvents(t, s, storage.EventFilter{UserID: "u1", Type: "signin.failed", Since: epoch()}, "e1")
	wantEvents(t, s, storage.EventFilter{IP: "192.0.2.1", Since: epoch().Add(time.Second), Limit: 1}, "e4")
	wantEvents(t, s, storage.EventFilter{UserID: "u2", Type: "signin.succeeded"})
	// Pages: the cursor is the last event shown; e4 and e5 share a time.
	wantEvents(t, s, storage.EventFilter{Before: epoch().Add(3 * time.Second), BeforeID: "e5", Limit: 2}, "e4", "e3")
	wantEvents(t, s, storage.EventFilter{Before: epoch().Add(2 * time.Second), BeforeID: "e3", Limit: 2}, "e2", "e1")
	wantEvents(t, s, storage.EventFilter{Before: epoch().Add(3 * time.Second)}, "e3", "e2", "e1", "e0")
	wantEvents(t, s, storage.EventFilter{UserID: "u1", Before: epoch().Add(3 * time.Second), BeforeID: "e5"}, "e2", "e1")
	wantEvents(t, s, storage.EventFilter{Before: epoch().Add(-time.Hour), BeforeID: "e0"})
}

func testEventLimit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 105 {
		check(t, s.AddEvent(ctx, &storage.Event{ID: fmt.Sprintf("e%03d", i),
			Time: epoch().Add(time.Duration(i) * time.Second), Type: "signin.failed", IP: "192.0.2.1"}))
	}
	var want []string
	for i := 104; i >= 5; i-- {
		want = append(want, fmt.Sprintf("e%03d", i))
	}
	wantEvents(t, s, storage.EventFilter{}, want...)
	wantEvents(t, s, storage.EventFilter{Limit: 105}, append(want, "e004", "e003", "e002", "e001", "e000")...)
	wantEvents(t, s, storage.EventFilter{Limit: 1000, Since: epoch().Add(102 * time.Second)}, "e104", "e103", "e102")
}
