package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestQueryParametersKeepTheCode tries a public client's code as a
// stranger would, with the grant_type, and then every other parameter, in
// the token request's query string, which the provider reads as it reads
// the body: a wrong code_verifier or redirect_uri is refused, and the code
// stays unused for its client's exchange. Judged by the body's grant_type
// alone, such a try used the code up, and the client's exchange was
// refused as a replay.
func TestQueryParametersKeepTheCode(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			pub := newRelyingParty(t, g, "--public")
			f := pub.newFlow()
			code := pub.signIn(newBrowser(t), f, alice, alicePass)
			tokenURL := pub.provider.Endpoint().TokenURL
			for _, tc := range []struct {
				name        string
				query, body url.Values
			}{
				{"grant_type in the query, a stranger's verifier", url.Values{"grant_type": {"authorization_code"}},
					url.Values{"code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {oauth2.GenerateVerifier()}, "client_id": {pub.client.ID}}},
				{"grant_type in the query, another redirect_uri", url.Values{"grant_type": {"authorization_code"}},
					url.Values{"code": {code}, "redirect_uri": {rpRedirect + "/elsewhere"}, "code_verifier": {f.verifier}, "client_id": {pub.client.ID}}},
				{"all but client_id in the query", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {rpRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}, url.Values{"client_id": {pub.client.ID}}},
			} {
				resp, err := http.Post(tokenURL+"?"+tc.query.Encode(), "application/x-www-form-urlencoded", strings.NewReader(tc.body.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s = %d, want 400", tc.name, resp.StatusCode)
				}
			}
			tok, _, _ := pub.exchange(code, f)
			if tok.AccessToken == "" {
				t.Fatal("the client's own exchange after the strangers' got no access token")
			}
		})
	}
}
