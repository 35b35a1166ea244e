package main

// Replays of the token endpoint's one-time secrets (OAU-04, OAU-05,
// REL-05): the authorization code and the rotating refresh token, each
// presented again in turn and 20–30 times at once, spread over two
// replicas on one PostgreSQL (on SQLite, over the one process). Whatever
// the first use issued must then be dead on every replica: the access
// token at userinfo and introspection, the refresh token at the token
// endpoint.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// replayServers returns the servers a replay test spreads its requests
// over: two replicas on one PostgreSQL schema, or one SQLite process
// (twice). The first is the issuer.
func replayServers(t *testing.T, backend string) (a, b *gatehouse) {
	t.Helper()
	if backend == "postgres" {
		return replicaPair(t)
	}
	g := startGatehouse(t, backend)
	return g, g
}

// replayAnswer is one answer of a JSON endpoint.
type replayAnswer struct {
	status int
	json   map[string]any
	raw    string
}

// replayPost posts form to u with basic credentials; safe in goroutines
// (it reports a transport error as status 0).
func replayPost(u string, form url.Values, user, pass string) replayAnswer {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return replayAnswer{raw: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	status, _, body, err := burstDo(http.DefaultClient, req)
	if err != nil {
		return replayAnswer{raw: err.Error()}
	}
	a := replayAnswer{status: status, raw: body}
	json.Unmarshal([]byte(body), &a.json)
	return a
}

// replayUserinfo returns the status of g's userinfo endpoint for the bearer
// token at.
func replayUserinfo(t *testing.T, g *gatehouse, at string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.base+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	status, _, _, err := burstDo(http.DefaultClient, req)
	if err != nil {
		t.Fatalf("userinfo at %s: %v", g.base, err)
	}
	return status
}

// wantDeadEverywhere checks that the access token at and the refresh
// token rt (if any) are refused at every server: userinfo 401,
// introspection inactive, refresh invalid_grant.
func wantDeadEverywhere(t *testing.T, rp *relyingParty, what, at, rt string, servers ...*gatehouse) {
	t.Helper()
	for i, g := range servers {
		if at != "" {
			if st := replayUserinfo(t, g, at); st != http.StatusUnauthorized {
				t.Errorf("%s: userinfo at replica %d with the access token = %d, want 401", what, i, st)
			}
			if a := replayPost(g.base+"/oauth/introspect", url.Values{"token": {at}}, rp.client.ID, rp.client.Secret); a.status != http.StatusOK || a.json["active"] != false {
				t.Errorf("%s: introspection at replica %d of the access token = %d %s, want active false", what, i, a.status, a.raw)
			}
		}
		if rt != "" {
			if a := replayPost(g.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, rp.client.ID, rp.client.Secret); a.status != http.StatusBadRequest || a.json["error"] != "invalid_grant" {
				t.Errorf("%s: refresh at replica %d = %d %s, want 400 invalid_grant", what, i, a.status, a.raw)
			}
		}
	}
}

// wantLiveEverywhere checks that the access token at works at every
// server's userinfo and introspection.
func wantLiveEverywhere(t *testing.T, rp *relyingParty, what, at string, servers ...*gatehouse) {
	t.Helper()
	for i, g := range servers {
		if st := replayUserinfo(t, g, at); st != http.StatusOK {
			t.Fatalf("%s: userinfo at replica %d = %d, want 200", what, i, st)
		}
		if a := replayPost(g.base+"/oauth/introspect", url.Values{"token": {at}}, rp.client.ID, rp.client.Secret); a.json["active"] != true {
			t.Fatalf("%s: introspection at replica %d = %d %s, want active", what, i, a.status, a.raw)
		}
	}
}

// replayBurst sends form to the token endpoints of servers, n times at
// once, in turn over the servers, as the client; it returns the 200
// answers and fails the test on any answer but 400 invalid_grant.
func replayBurst(t *testing.T, rp *relyingParty, form url.Values, n int, servers ...*gatehouse) []replayAnswer {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   []replayAnswer
		other []replayAnswer
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			a := replayPost(servers[i%len(servers)].base+"/oauth/token", form, rp.client.ID, rp.client.Secret)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case a.status == http.StatusOK:
				won = append(won, a)
			case a.status != http.StatusBadRequest || a.json["error"] != "invalid_grant":
				other = append(other, a)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, a := range other {
		t.Errorf("a parallel replay answered %d %s, want 200 or 400 invalid_grant", a.status, a.raw)
	}
	return won
}

// TestReplayCode: an authorization code redeemed at one replica and again
// at the other, and one redeemed 30 times at once over both: one exchange
// wins, and the replay revokes what it issued, on both replicas, for
// opaque and JWT access tokens.
func TestReplayCode(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a, b := replayServers(t, backend)
			a.createUser(alice, "Alice", alicePass)
			for _, format := range []string{"opaque", "jwt"} {
				t.Run(format, func(t *testing.T) {
					rp := newRelyingParty(t, a, "--access-token-format", format)
					exchange := func(f *flow, code string) url.Values {
						return url.Values{"grant_type": {"authorization_code"}, "code": {code},
							"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}
					}

					t.Run("sequential", func(t *testing.T) {
						f := rp.newFlow()
						code := rp.signIn(newBrowser(t), f, alice, alicePass)
						first := replayPost(a.base+"/oauth/token", exchange(f, code), rp.client.ID, rp.client.Secret)
						at, _ := first.json["access_token"].(string)
						rt, _ := first.json["refresh_token"].(string)
						if first.status != http.StatusOK || at == "" || rt == "" {
							t.Fatalf("exchange at A = %d %s", first.status, first.raw)
						}
						wantLiveEverywhere(t, rp, "before the replay", at, a, b)
						// The grant's refresh token rotated once, at B: the
						// replay revokes the successor too.
						next := replayPost(b.base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, rp.client.ID, rp.client.Secret)
						at2, _ := next.json["access_token"].(string)
						rt2, _ := next.json["refresh_token"].(string)
						if next.status != http.StatusOK || at2 == "" || rt2 == "" {
							t.Fatalf("refresh at B = %d %s", next.status, next.raw)
						}
						again := replayPost(b.base+"/oauth/token", exchange(f, code), rp.client.ID, rp.client.Secret)
						if again.status != http.StatusBadRequest || again.json["error"] != "invalid_grant" {
							t.Fatalf("the code again at B = %d %s, want 400 invalid_grant", again.status, again.raw)
						}
						wantDeadEverywhere(t, rp, "after the code's replay at B", at, rt, a, b)
						wantDeadEverywhere(t, rp, "the refreshed pair after the code's replay at B", at2, rt2, a, b)
					})

					t.Run("parallel", func(t *testing.T) {
						f := rp.newFlow()
						code := rp.signIn(newBrowser(t), f, alice, alicePass)
						won := replayBurst(t, rp, exchange(f, code), 30, a, b)
						if len(won) != 1 {
							t.Fatalf("%d of 30 parallel redemptions over two replicas succeeded, want 1", len(won))
						}
						at, _ := won[0].json["access_token"].(string)
						rt, _ := won[0].json["refresh_token"].(string)
						wantDeadEverywhere(t, rp, "after 29 replays", at, rt, a, b)
					})
				})
			}
		})
	}
}

// TestReplayRefresh: a refresh token rotated at one replica and presented
// again at the other, and one presented 20 times at once over both: one
// rotation wins, and the reuse of the rotated-away token revokes the whole
// family, its live successor and their access tokens included (OAU-05).
func TestReplayRefresh(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a, b := replayServers(t, backend)
			a.createUser(alice, "Alice", alicePass)
			for _, format := range []string{"opaque", "jwt"} {
				t.Run(format, func(t *testing.T) {
					rp := newRelyingParty(t, a, "--access-token-format", format)
					refresh := func(rt string) url.Values {
						return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
					}

					t.Run("sequential", func(t *testing.T) {
						f := rp.newFlow()
						tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
						second := replayPost(b.base+"/oauth/token", refresh(tok.RefreshToken), rp.client.ID, rp.client.Secret)
						at2, _ := second.json["access_token"].(string)
						rt2, _ := second.json["refresh_token"].(string)
						if second.status != http.StatusOK || at2 == "" || rt2 == "" || rt2 == tok.RefreshToken {
							t.Fatalf("refresh at B = %d %s", second.status, second.raw)
						}
						wantLiveEverywhere(t, rp, "the rotated pair", at2, a, b)
						reuse := replayPost(a.base+"/oauth/token", refresh(tok.RefreshToken), rp.client.ID, rp.client.Secret)
						if reuse.status != http.StatusBadRequest || reuse.json["error"] != "invalid_grant" {
							t.Fatalf("the rotated-away token again at A = %d %s, want 400 invalid_grant", reuse.status, reuse.raw)
						}
						wantDeadEverywhere(t, rp, "the first access token after the reuse", tok.AccessToken, "", a, b)
						wantDeadEverywhere(t, rp, "the successor after the reuse", at2, rt2, a, b)
					})

					t.Run("parallel", func(t *testing.T) {
						f := rp.newFlow()
						tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
						won := replayBurst(t, rp, refresh(tok.RefreshToken), 20, a, b)
						if len(won) != 1 {
							t.Fatalf("%d of 20 parallel refreshes over two replicas succeeded, want 1", len(won))
						}
						at2, _ := won[0].json["access_token"].(string)
						rt2, _ := won[0].json["refresh_token"].(string)
						if at2 == "" || rt2 == "" {
							t.Fatalf("the winning refresh = %s", won[0].raw)
						}
						// The 19 others used a token rotated away: the
						// family is revoked, the winner's pair with it.
						wantDeadEverywhere(t, rp, "after 19 reuses", tok.AccessToken, "", a, b)
						wantDeadEverywhere(t, rp, "the winner's pair after 19 reuses", at2, rt2, a, b)
					})

					t.Run("successor in parallel", func(t *testing.T) {
						// The successor presented at once at both replicas,
						// after one clean rotation: still one winner.
						f := rp.newFlow()
						tok, _, _ := rp.exchange(rp.signIn(newBrowser(t), f, alice, alicePass), f)
						second := replayPost(a.base+"/oauth/token", refresh(tok.RefreshToken), rp.client.ID, rp.client.Secret)
						rt2, _ := second.json["refresh_token"].(string)
						if second.status != http.StatusOK || rt2 == "" {
							t.Fatalf("refresh at A = %d %s", second.status, second.raw)
						}
						won := replayBurst(t, rp, refresh(rt2), 20, b, a)
						if len(won) != 1 {
							t.Fatalf("%d of 20 parallel refreshes of the successor succeeded, want 1", len(won))
						}
						at3, _ := won[0].json["access_token"].(string)
						rt3, _ := won[0].json["refresh_token"].(string)
						wantDeadEverywhere(t, rp, fmt.Sprintf("the third pair (%s) after reuses of the second", format), at3, rt3, a, b)
					})
				})
			}
		})
	}
}
