package main

// Revocation racing rotation across two replicas on one PostgreSQL: an
// attacker holding refresh tokens refreshes them in tight loops at both
// replicas while the administrator signs the user out everywhere (which
// revokes every token of the user, as a password reset does), or while
// the client presents the first refresh token of each chain again (a
// reuse, which revokes the family). No chain may outlive the revocation:
// a successor committed while it ran is revoked with the rest.

import (
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplayRevocationRacesRotation revokes while four refresh chains
// rotate as fast as they can, five times each way.
func TestReplayRevocationRacesRotation(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a)
	token := adminToken(t, a, a.createClient("--name", "Operations", "--admin"))
	signOut := func(t *testing.T, round int, _ []string) {
		if r := adminCall(t, []*gatehouse{a, b}[round%2], token, http.MethodPost, "/api/users/"+alice+"/sign-out", ""); r.status != http.StatusOK {
			t.Fatalf("sign-out = %d %s", r.status, r.body)
		}
	}
	reuse := func(t *testing.T, round int, first []string) {
		var wg sync.WaitGroup
		for i, rt := range first {
			wg.Go(func() {
				g := []*gatehouse{a, b}[(round+i)%2]
				if ans := replayPost(g.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, rp.client.ID, rp.client.Secret); ans.status != http.StatusBadRequest {
					t.Errorf("the first refresh token of chain %d again = %d %s, want 400", i, ans.status, ans.raw)
				}
			})
		}
		wg.Wait()
	}
	t.Run("sign-out everywhere", func(t *testing.T) { revocationRacesRotation(t, a, b, rp, signOut) })
	t.Run("reuse", func(t *testing.T) { revocationRacesRotation(t, a, b, rp, reuse) })
}

// revocationRacesRotation runs five rounds of four refresh chains rotating
// at a and b while revoke revokes them; revoke is given the chains' first
// refresh tokens.
func revocationRacesRotation(t *testing.T, a, b *gatehouse, rp *relyingParty, revoke func(t *testing.T, round int, first []string)) {
	for round := range 5 {
		const chains = 4
		rts := make([]string, chains)
		for i := range rts {
			f := rp.newFlow()
			tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
			rts[i] = tok.RefreshToken
		}
		first := slices.Clone(rts)
		var (
			wg        sync.WaitGroup
			signedOut atomic.Int64 // when the revocation returned, in UnixNano; 0 before
			mu        sync.Mutex
			survived  []int
			rotations atomic.Int64
		)
		for i := range chains {
			wg.Go(func() {
				for n := 0; ; n++ {
					g := []*gatehouse{a, b}[(i+n)%2]
					ans := replayPost(g.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rts[i]}}, rp.client.ID, rp.client.Secret)
					if ans.status != http.StatusOK {
						return
					}
					rotations.Add(1)
					rts[i], _ = ans.json["refresh_token"].(string)
					if at := signedOut.Load(); at != 0 && time.Since(time.Unix(0, at)) > time.Second {
						mu.Lock()
						survived = append(survived, i)
						mu.Unlock()
						return
					}
				}
			})
		}
		time.Sleep(300 * time.Millisecond)
		revoke(t, round, first)
		signedOut.Store(time.Now().UnixNano())
		wg.Wait()
		if len(survived) > 0 {
			t.Errorf("round %d: chains %v still refreshed a second after the revocation (%d rotations in all)", round, survived, rotations.Load())
		}
		for i, rt := range rts {
			if ans := replayPost(a.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, rp.client.ID, rp.client.Secret); ans.status == http.StatusOK {
				t.Errorf("round %d: chain %d's last refresh token works after the revocation", round, i)
			}
		}
		t.Logf("round %d: %d rotations", round, rotations.Load())
	}
}
