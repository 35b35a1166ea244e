package storagetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func pushedHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testPushedRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	check(t, s.CreateClient(ctx, newClient("c1", now)))
	check(t, s.CreateClient(ctx, newClient("c2", now)))
	r := &storage.PushedRequest{
		Hash: pushedHash("one"), ClientID: "c1", Params: "client_id=c1&response_type=code",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}
	check(t, s.CreatePushedRequest(ctx, r))
	wantErr(t, "CreatePushedRequest with a taken hash", s.CreatePushedRequest(ctx, r), storage.ErrConflict)
	orphan := *r
	orphan.Hash, orphan.ClientID = pushedHash("orphan"), "nope"
	wantErr(t, "CreatePushedRequest of an unknown client", s.CreatePushedRequest(ctx, &orphan), storage.ErrNotFound)

	// Another client cannot use it, nor learn that it exists, nor use it up.
	got, err := s.UsePushedRequest(ctx, r.Hash, "c2", now)
	wantErr(t, "UsePushedRequest by another client", err, storage.ErrNotFound)
	if got != nil {
		t.Errorf("UsePushedRequest by another client returned %+v", got)
	}
	_, err = s.UsePushedRequest(ctx, pushedHash("unknown"), "c1", now)
	wantErr(t, "UsePushedRequest of an unknown hash", err, storage.ErrNotFound)

	used := now.Add(10 * time.Second)
	got, err = s.UsePushedRequest(ctx, r.Hash, "c1", used)
	check(t, err)
	want := *r
	want.UsedAt = &used
	wantEqual(t, "UsePushedRequest", got, &want)

	got, err = s.UsePushedRequest(ctx, r.Hash, "c1", used.Add(time.Second))
	wantErr(t, "a second UsePushedRequest", err, storage.ErrReplayed)
	wantEqual(t, "UsePushedRequest replayed", got, &want)

	// Expiry is the caller's to judge: an expired request is returned.
	late := &storage.PushedRequest{Hash: pushedHash("late"), ClientID: "c1", Params: "x=1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	check(t, s.CreatePushedRequest(ctx, late))
	got, err = s.UsePushedRequest(ctx, late.Hash, "c1", now.Add(2*time.Minute))
	check(t, err)
	if !got.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Errorf("ExpiresAt = %v", got.ExpiresAt)
	}

	p, err := s.Purge(ctx, storage.PurgeRequest{Now: now.Add(59 * time.Second)})
	check(t, err)
	if p.PushedRequests != 0 {
		t.Errorf("Purge before expiry removed %d pushed requests", p.PushedRequests)
	}
	p, err = s.Purge(ctx, storage.PurgeRequest{Now: now.Add(time.Minute)})
	check(t, err)
	if p.PushedRequests != 2 {
		t.Errorf("Purge removed %d pushed requests, want 2", p.PushedRequests)
	}
	_, err = s.UsePushedRequest(ctx, r.Hash, "c1", now.Add(time.Minute))
	wantErr(t, "UsePushedRequest after the purge", err, storage.ErrNotFound)

	// Deleting the client deletes its pushed requests.
	gone := &storage.PushedRequest{Hash: pushedHash("gone"), ClientID: "c2", Params: "x=1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	check(t, s.CreatePushedRequest(ctx, gone))
	check(t, s.DeleteClient(ctx, "c2"))
	_, err = s.UsePushedRequest(ctx, gone.Hash, "c2", now)
	wantErr(t, "UsePushedRequest of a deleted client's request", err, storage.ErrNotFound)
}

func testPushedRequestConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := epoch()
	check(t, s.CreateClient(ctx, newClient("c1", now)))
	r := &storage.PushedRequest{Hash: pushedHash("race"), ClientID: "c1", Params: "x=1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	check(t, s.CreatePushedRequest(ctx, r))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, replayed int
	for range 30 {
		wg.Go(func() {
			_, err := s.UsePushedRequest(ctx, r.Hash, "c1", now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrReplayed):
				replayed++
			default:
				t.Errorf("UsePushedRequest: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || replayed != 29 {
		t.Fatalf("30 parallel uses: %d succeeded, %d replayed; want 1 and 29", ok, replayed)
	}
}
