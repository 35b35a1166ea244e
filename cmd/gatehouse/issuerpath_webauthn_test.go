package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestIssuerPathWebAuthn registers a security key and signs in with it
// under the issuer http://localhost:PORT/id (WebAuthn needs a host name):
// the relying-party id is the host and the origin has no path, the pages'
// key buttons name their JSON endpoints under /id, the JSON answers
// redirect under /id, and the audit (ipAudit) checks every page, redirect
// and cookie as in TestIssuerPath.
func TestIssuerPathWebAuthn(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := newGatehouse(t, databaseURL(t, backend))
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.base, "http://"))
			origin := "http://localhost:" + port
			g.base = origin + ipPrefix
			g.env = append(g.env, "GATEHOUSE_ISSUER="+g.base)
			g.start()
			rp := newRelyingParty(t, g)
			g.createUser(alice, "Alice", alicePass)
			audit := &ipAudit{t: t, origin: origin}
			key := newSoftKey(t, origin) // the origin of WebAuthn: scheme and host, no path

			b := audit.browser()
			rp.signIn(b, rp.newFlow(), alice, alicePass)
			sec := ipPage(t, b, g.base+"/account/security")
			reg := keyButton(t, sec.body, "register")
			if !under(reg["begin"]) || !under(reg["finish"]) {
				t.Fatalf("the register button posts to %s and %s, outside %s", reg["begin"], reg["finish"], ipPrefix)
			}
			status, begun := b.postJSON(origin+reg["begin"], reg["csrf"], map[string]any{"name": "YubiKey"})
			if status != http.StatusOK {
				t.Fatalf("register/begin = %d %v", status, begun)
			}
			opts := begun["publicKey"].(map[string]any)
			if id := opts["rp"].(map[string]any)["id"]; id != "localhost" {
				t.Errorf("rp.id = %v, want localhost", id)
			}
			status, done := b.postJSON(origin+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key.create(opts)})
			show, _ := done["redirect"].(string)
			if status != http.StatusOK || !strings.HasPrefix(show, ipPrefix+"/account/security/recovery/show?c=") {
				t.Fatalf("register/finish = %d %v, want a redirect to %s/account/security/recovery/show", status, done, ipPrefix)
			}
			if codes, next, ok := tfRecovery(ipPage(t, b, origin+show)); !ok || len(codes) != 10 || next != ipPrefix+"/account/security?done=webauthn-on" {
				t.Fatalf("recovery codes page: %t, %d codes, continue to %q", ok, len(codes), next)
			}

			// A sign-in with the key as the second factor.
			b2 := audit.browser()
			f := rp.newFlow()
			login, at := b2.follow(f.authURL, rpRedirect)
			if login == nil || !strings.HasPrefix(at, g.base+"/login?") {
				t.Fatalf("the authorization request landed at %s", at)
			}
			form := ipForm(t, login.body, ipPrefix+"/login")
			form.Set("email", alice)
			form.Set("password", alicePass)
			resp := b2.post(origin+ipPrefix+"/login", form)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, ipPrefix+"/login/webauthn?authRequestID=") {
				t.Fatalf("password = %d %q, want 303 to %s/login/webauthn", resp.StatusCode, loc, ipPrefix)
			}
			btn := keyButton(t, ipPage(t, b2, redirectTarget(resp)).body, "second")
			status, begun = b2.postJSON(origin+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
			if status != http.StatusOK {
				t.Fatalf("webauthn/begin = %d %v", status, begun)
			}
			status, done = b2.postJSON(origin+btn["finish"], btn["csrf"], map[string]any{
				"authRequestID": btn["auth-request-id"], "ceremony": begun["ceremony"],
				"credential": key.get(begun["publicKey"].(map[string]any), origin, false)})
			if status != http.StatusOK {
				t.Fatalf("webauthn/finish = %d %v", status, done)
			}
			next, _ := done["redirect"].(string)
			if !strings.HasPrefix(next, g.base+"/") && !under(next) {
				t.Fatalf("webauthn/finish redirects to %q, outside %s", next, g.base)
			}
			final, at := b2.follow(next, rpRedirect)
			if final != nil {
				t.Fatalf("after the key, landed on %s (%d)", at, final.StatusCode)
			}
			_, _, c := rp.exchange(rp.codeFrom(at, f), f)
			tfClaims(t, c, []string{"pwd", "hwk", "mfa"}, "urn:gatehouse:loa:3")
		})
	}
}
