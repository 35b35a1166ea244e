package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestRefreshIDTokenClaims signs in with the password alone and with an
// authenticator app, then refreshes: the ID token of the refresh carries
// the sign-in's acr, amr and auth_time, as the code's did (OpenID Connect
// Core §12.2: the same rules as at the original authentication), and no
// nonce. Before, the refresh's ID token had no acr, and a relying party
// that checks the level of every ID token it gets took it for none.
func TestRefreshIDTokenClaims(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			rp := tfRP(t, e.rp)

			e.g.createUser(alice, "Alice", alicePass)
			u := e.newUser(t, "refresh-app@example.com")
			e.enableTOTP(t, e.session(t, u, "127.0.3.1"), u)
			for _, tc := range []struct {
				name   string
				signIn func(b *browser) (*flow, string) // the flow and its code
				amr    []string
				acr    string
			}{
				{"password", func(b *browser) (*flow, string) {
					f := rp.newFlow()
					return f, rp.signIn(b, f, alice, alicePass)
				}, []string{"pwd"}, tfACR1},
				{"authenticator app", func(b *browser) (*flow, string) {
					f, page := e.codePage(t, rp, b, u)
					resp := tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u))
					if resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("code step = %d, alert %q", resp.StatusCode, tfAlert(resp.body))
					}
					page, at := b.follow(redirectTarget(resp), rpRedirect)
					if page != nil {
						t.Fatalf("after the code, landed on %s (%d)", at, page.StatusCode)
					}
					return f, rp.codeFrom(at, f)
				}, tfAMRTOTP, tfACR2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f, code := tc.signIn(newBrowser(t).from("127.0.3.2"))
					tok, _, first := rp.exchange(code, f)
					if !slices.Equal(first.AMR, tc.amr) || first.ACR != tc.acr {
						t.Fatalf("code's ID token: amr %v acr %q, want %v %q", first.AMR, first.ACR, tc.amr, tc.acr)
					}
					status, body := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
					raw, _ := body["id_token"].(string)
					if status != http.StatusOK || raw == "" {
						t.Fatalf("refresh = %d %v, want 200 with an ID token", status, body)
					}
					idt, err := rp.verifier.Verify(t.Context(), raw)
					if err != nil {
						t.Fatalf("verify the refresh's ID token: %v", err)
					}
					var c idClaims
					if err := idt.Claims(&c); err != nil {
						t.Fatal(err)
					}
					if c.ACR != first.ACR || !slices.Equal(c.AMR, first.AMR) || c.AuthTime != first.AuthTime {
						t.Errorf("refresh's ID token: acr %q amr %v auth_time %d; the code's: %q %v %d",
							c.ACR, c.AMR, c.AuthTime, first.ACR, first.AMR, first.AuthTime)
					}
					if c.Nonce != "" {
						t.Errorf("refresh's ID token has nonce %q (Core §12.2: should not)", c.Nonce)
					}
				})
			}
		})
	}
}
