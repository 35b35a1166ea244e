package main

// The recovery codes that come with a user's first factor, when several
// factors are enabled at once over two replicas on one PostgreSQL: one set
// is issued and shown, never two sets of which only the one stored last
// works.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestReplayFirstFactorCodes registers a user's first keys at once over
// two replicas (ceremonies begun while the user had no factor, by a
// password-only session), three times with a new user: one key is added,
// as the first factor, and one recovery codes page shown each time.
func TestReplayFirstFactorCodes(t *testing.T) {
	t.Parallel()
	a, b := localReplicaPair(t)
	rp := newRelyingParty(t, a)
	for round := range 3 {
		email := fmt.Sprintf("first-factor-%d@example.com", round)
		a.createUser(email, "First Factor", alicePass)
		br := newBrowser(t)
		rp.signIn(br, rp.newFlow(), email, alicePass)
		reg := keyButton(t, br.get(a.base+"/account/security").body, "register")
		const n = 4
		bodies := make([]map[string]any, n)
		for i := range n {
			status, begun := br.postJSON(a.base+reg["begin"], reg["csrf"], map[string]any{"name": fmt.Sprintf("Key %d", i)})
			if status != http.StatusOK {
				t.Fatalf("register/begin %d = %d %v", i, status, begun)
			}
			bodies[i] = map[string]any{"ceremony": begun["ceremony"], "credential": newSoftKey(t, a.base).create(begun["publicKey"].(map[string]any))}
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			added int
			shows []string
		)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				got, won := keyFinishBurst(t, br, reg["csrf"], reg["finish"], bodies[i], 1, []*gatehouse{a, b}[i%2])
				mu.Lock()
				defer mu.Unlock()
				added += got[http.StatusOK]
				for _, w := range won {
					if show, _ := w["redirect"].(string); strings.HasPrefix(show, "/account/security/recovery/show") {
						shows = append(shows, show)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		// The session used no second factor: one key is added, as the
		// first factor, and the others are refused at their finish.
		if added != 1 {
			t.Errorf("round %d: %d of %d keys begun without a factor and finished at once by a password-only session were added, want 1",
				round, added, n)
		}
		if len(shows) != 1 {
			t.Errorf("round %d: %d keys registered at once as first factors led to %d recovery code pages, want 1 (two sets shown, and only the one stored last works)",
				round, n, len(shows))
			continue
		}
		if codes, _, ok := tfRecovery(br.get(b.base + shows[0])); !ok || len(codes) != 10 {
			t.Errorf("round %d: the recovery codes page at B showed %d codes", round, len(codes))
		}
	}
}
