package main

import "testing"

// TestIssuerPathBackchannel ends a session with end_session under the
// issuer http://127.0.0.1:PORT/id and checks the back-channel logout
// token the relying party receives: signed with a key of /id/keys, its
// iss the issuer with its path (verifyLogoutToken).
func TestIssuerPathBackchannel(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := newGatehouse(t, databaseURL(t, backend))
			g.base += ipPrefix
			g.env = append(g.env, "GATEHOUSE_ISSUER="+g.base)
			g.start()
			g.createUser(alice, "Alice", alicePass)
			recv := newBCReceiver(t)
			rp := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/bc"))
			b := newBrowser(t)
			raw, sub, sid := bcSignIn(t, rp, b, alice, alicePass)
			endSession(t, g, b, raw)
			verifyLogoutToken(t, g, recv.wait("/bc", 1), rp.client.ID, sub, sid, 0)
		})
	}
}
