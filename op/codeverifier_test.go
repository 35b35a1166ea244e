package op

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestCodeVerifierSyntax exchanges codes whose challenge is the S256 hash
// of a code_verifier that RFC 7636 §4.1 does not allow: shorter than 43
// characters, longer than 128, or with a character outside
// [A-Za-z0-9-._~]. Each is refused with invalid_grant, although it hashes
// to the challenge, and its code stays unused; verifiers of 43 and 128
// characters of the whole alphabet are accepted. A short verifier is
// guessable from the challenge, which the authorization request shows.
func TestCodeVerifierSyntax(t *testing.T) {
	t.Parallel()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, teststore.Open(t, backend))
			client := e.clients[ES256]
			exchange := func(code, verifier string) *http.Request {
				return tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
					"code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}})
			}
			for _, tc := range []struct {
				name, verifier string
				ok             bool
			}{
				{"43 characters", alphabet[:43], true},
				{"128 characters", strings.Repeat(alphabet, 2)[:128], true},
				{"42 characters", strings.Repeat("v", 42), false},
				{"one character", "v", false},
				{"129 characters", strings.Repeat("v", 129), false},
				{"a '+'", strings.Repeat("v", 42) + "+", false},
				{"a '/'", strings.Repeat("v", 42) + "/", false},
				{"a '='", strings.Repeat("v", 42) + "=", false},
				{"a space", strings.Repeat("v", 21) + " " + strings.Repeat("v", 21), false},
				{"a non-ASCII letter", strings.Repeat("v", 42) + "é", false},
			} {
				code := e.pendingCodesFor(t, client, tc.verifier, 1, "openid")[0]
				if tc.ok {
					e.serve(t, exchange(code, tc.verifier), http.StatusOK)
					continue
				}
				rec := e.serve(t, exchange(code, tc.verifier), http.StatusBadRequest)
				if got := tokenError(t, rec.Body.Bytes()); got != "invalid_grant" {
					t.Errorf("%s: error %s, want invalid_grant", tc.name, got)
				}
				// The code is not used: its replay would revoke a grant.
				if _, _, _, err := e.store.CodeGrant(t.Context(), hashSecret(code)); err != nil {
					t.Errorf("%s: the refused code's request: %v", tc.name, err)
				}
			}
		})
	}
}
