package main

// DPoP proofs replayed across two replicas on one PostgreSQL (RFC 9449
// §11.1): a proof accepted at one replica's userinfo is refused at the
// other's, one proof sent 20 times at once over both is accepted once, a
// proof made for another request (htm, htu, or a replica's own address
// instead of the issuer's) is refused, and a request refused for its
// proof burns neither the code nor the refresh token it carried.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestReplayDPoPReplicas replays DPoP proofs between two replicas.
func TestReplayDPoPReplicas(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a, "--public", "--access-token-format", "jwt")
	key := newDPoPKey(t, jose.ES256)
	// A proof's htu is the issuer's URL of the endpoint, whichever replica
	// the load balancer sends the request to.
	tokenURL, userinfoURL := a.base+"/oauth/token", a.base+"/userinfo"
	atB := map[string]string{tokenURL: b.base + "/oauth/token", userinfoURL: b.base + "/userinfo"}
	exchangeForm := func(f *flow, code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}, "client_id": {rp.client.ID}}
	}
	refreshForm := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {rp.client.ID}}
	}

	// A code exchange refused for its proof (replayed, or made for
	// another request) leaves the code for the client's own exchange.
	f := rp.newFlow()
	code := rp.signIn(newBrowser(t), f, alice, alicePass)
	exchangeProof := key.proof(t, "POST", tokenURL, "")
	access, refresh := wantTokens(t, "the code exchanged at A with a proof",
		dpopCall(t, http.MethodPost, tokenURL, exchangeForm(f, code), "", nil, exchangeProof), "DPoP")
	rp.remember(access, refresh)
	f2 := rp.newFlow()
	code2 := rp.signIn(newBrowser(t), f2, alice, alicePass)
	for _, tc := range []struct{ name, proof string }{
		{"the first exchange's proof", exchangeProof},
		{"a proof for GET", key.proof(t, "GET", tokenURL, "")},
		{"a proof for the userinfo endpoint", key.proof(t, "POST", userinfoURL, "")},
		{"a proof for B's own address", key.proof(t, "POST", atB[tokenURL], "")},
	} {
		wantOAuthError(t, "another code exchanged at B with "+tc.name,
			dpopCall(t, http.MethodPost, atB[tokenURL], exchangeForm(f2, code2), "", nil, tc.proof),
			http.StatusBadRequest, "invalid_dpop_proof")
	}
	access2, refresh2 := wantTokens(t, "that code exchanged at B with a fresh proof after the refused ones",
		dpopCall(t, http.MethodPost, atB[tokenURL], exchangeForm(f2, code2), "", nil, key.proof(t, "POST", tokenURL, "")), "DPoP")
	rp.remember(access2, refresh2)

	// Userinfo: one proof, accepted at A, refused at B.
	proof := key.proof(t, "GET", userinfoURL, access)
	if ui := dpopCall(t, http.MethodGet, userinfoURL, nil, "DPoP "+access, nil, proof); ui.status != http.StatusOK {
		t.Fatalf("userinfo at A with a proof = %d %s", ui.status, ui.raw)
	}
	if ui := dpopCall(t, http.MethodGet, atB[userinfoURL], nil, "DPoP "+access, nil, proof); ui.status != http.StatusUnauthorized {
		t.Errorf("userinfo at B with A's proof = %d %s, want 401", ui.status, ui.raw)
	}
	for _, tc := range []struct{ name, proof string }{
		{"a proof for POST", key.proof(t, "POST", userinfoURL, access)},
		{"a proof for the token endpoint", key.proof(t, "GET", tokenURL, access)},
		{"a proof for B's own address", key.proof(t, "GET", atB[userinfoURL], access)},
		{"a proof for the other access token", key.proof(t, "GET", userinfoURL, access2)},
	} {
		if ui := dpopCall(t, http.MethodGet, atB[userinfoURL], nil, "DPoP "+access, nil, tc.proof); ui.status != http.StatusUnauthorized {
			t.Errorf("userinfo at B with %s = %d %s, want 401", tc.name, ui.status, ui.raw)
		}
	}

	// One fresh userinfo proof, 20 times at once over both replicas.
	proof = key.proof(t, "GET", userinfoURL, access)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		others []int
	)
	start := make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			u := userinfoURL
			if i%2 == 1 {
				u = atB[userinfoURL]
			}
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "DPoP "+access)
			req.Header.Set("DPoP", proof)
			status, _, _, err := burstDo(http.DefaultClient, req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("userinfo: %v", err)
			case status == http.StatusOK:
				ok++
			case status != http.StatusUnauthorized:
				others = append(others, status)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok != 1 || len(others) != 0 {
		t.Errorf("20 parallel userinfo requests with one proof over two replicas: %d answered 200, others %v; want 1 and only 401s", ok, others)
	}

	// A refresh refused for its proof leaves the refresh token unused:
	// neither rotated nor taken for a reuse, which would revoke the family.
	for _, tc := range []struct{ name, proof string }{
		{"the code exchange's proof", exchangeProof},
		{"a proof for the userinfo endpoint", key.proof(t, "POST", userinfoURL, "")},
		{"a proof for B's own address", key.proof(t, "POST", atB[tokenURL], "")},
	} {
		wantOAuthError(t, "refresh at B with "+tc.name,
			dpopCall(t, http.MethodPost, atB[tokenURL], refreshForm(refresh), "", nil, tc.proof),
			http.StatusBadRequest, "invalid_dpop_proof")
	}
	access3, refresh3 := wantTokens(t, "refresh at A after the refused ones",
		dpopCall(t, http.MethodPost, tokenURL, refreshForm(refresh), "", nil, key.proof(t, "POST", tokenURL, "")), "DPoP")
	rp.remember(access3, refresh3)
	if ui := dpopCall(t, http.MethodGet, atB[userinfoURL], nil, "DPoP "+access3, nil, key.proof(t, "GET", userinfoURL, access3)); ui.status != http.StatusOK {
		t.Errorf("userinfo at B with the refreshed token = %d %s", ui.status, ui.raw)
	}

	// The bound refresh token, 20 times at once over both replicas, each
	// with a fresh proof: one rotation, and the reuses revoke the family.
	proofs := make([]string, 20)
	for i := range proofs {
		proofs[i] = key.proof(t, "POST", tokenURL, "")
	}
	var won []dpopAnswer
	start = make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			u := tokenURL
			if i%2 == 1 {
				u = atB[tokenURL]
			}
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(refreshForm(refresh3).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", proofs[i])
			status, _, body, err := burstDo(http.DefaultClient, req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("refresh: %v", err)
			case status == http.StatusOK:
				won = append(won, dpopAnswer{status: status, raw: body})
			case status != http.StatusBadRequest:
				t.Errorf("a parallel refresh answered %d %s", status, body)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d of 20 parallel DPoP refreshes over two replicas succeeded, want 1", len(won))
	}
	if ui := dpopCall(t, http.MethodGet, atB[userinfoURL], nil, "DPoP "+access3, nil, key.proof(t, "GET", userinfoURL, access3)); ui.status != http.StatusUnauthorized {
		t.Errorf("userinfo at B with the family's token after 19 reuses = %d %s, want 401", ui.status, ui.raw)
	}
}
