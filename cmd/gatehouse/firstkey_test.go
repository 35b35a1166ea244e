package main

// A security key added by a session that has used no second factor is
// allowed only as the user's first factor: registration ceremonies begun
// while the user had none are refused at their finish once a factor
// exists, one after the other (both backends) and at once over two
// replicas (TestReplayFirstFactorCodes).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestFirstKeyOnlyOnce begins two key registrations from a password-only
// session of a user without a second factor, finishes one, then the
// other: the second is refused and adds no key.
func TestFirstKeyOnlyOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startLocalGatehouse(t, backend)
			rp := newRelyingParty(t, g)
			g.createUser(alice, "Alice", alicePass)
			br := newBrowser(t)
			rp.signIn(br, rp.newFlow(), alice, alicePass)
			reg := keyButton(t, br.get(g.base+"/account/security").body, "register")
			var bodies []map[string]any
			for i := range 2 {
				status, begun := br.postJSON(g.base+reg["begin"], reg["csrf"], map[string]any{"name": fmt.Sprintf("Key %d", i)})
				if status != http.StatusOK {
					t.Fatalf("register/begin %d = %d %v", i, status, begun)
				}
				bodies = append(bodies, map[string]any{"ceremony": begun["ceremony"],
					"credential": newSoftKey(t, g.base).create(begun["publicKey"].(map[string]any))})
			}
			if status, done := br.postJSON(g.base+reg["finish"], reg["csrf"], bodies[0]); status != http.StatusOK {
				t.Fatalf("register/finish of the first key = %d %v", status, done)
			}
			if status, done := br.postJSON(g.base+reg["finish"], reg["csrf"], bodies[1]); status != http.StatusForbidden {
				t.Errorf("register/finish of a second key, begun before the first existed, from a session without a second factor = %d %v, want 403",
					status, done)
			}
			if sec := br.get(g.base + "/account/security").body; strings.Contains(sec, "Key 1") || !strings.Contains(sec, "Key 0") {
				t.Errorf("the security page lists Key 0: %t, Key 1: %t; want only Key 0", strings.Contains(sec, "Key 0"), strings.Contains(sec, "Key 1"))
			}
		})
	}
}
