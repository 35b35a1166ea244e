package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softKey is a software authenticator: one ES256 credential, "none"
// attestation, made and used by hand as a browser's authenticator would.
type softKey struct {
	t       *testing.T
	rpID    string
	origin  string
	id      []byte
	key     *ecdsa.PrivateKey
	handle  []byte // the user handle given at registration
	count   uint32
	backup  bool // a synced passkey (BE and BS set)
	noCount bool // never counts: the counter stays 0
}

func newSoftKey(t *testing.T, origin string) *softKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(origin)
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{t: t, rpID: u.Hostname(), origin: origin, id: id, key: k}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (k *softKey) flags(uv bool) byte {
	f := byte(flagUP)
	if uv {
		f |= flagUV
	}
	if k.backup {
		f |= flagBE | flagBS
	}
	return f
}

func (k *softKey) authData(flags byte, count uint32, attested []byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	b := append(rp[:], flags)
	b = bin.BigEndian.AppendUint32(b, count)
	return append(b, attested...)
}

func (k *softKey) clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// create answers creation options (the "publicKey" member of a begin
// reply) with an attestation, as navigator.credentials.create would.
func (k *softKey) create(options map[string]any) map[string]any {
	k.t.Helper()
	user := options["user"].(map[string]any)
	k.handle = unb64(k.t, user["id"].(string))
	point, err := k.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		k.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{
		1: 2, 3: -7, -1: 1,
		-2: point[1:33],
		-3: point[33:65],
	})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: zeros
	attested = bin.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(attested, k.id...)
	attested = append(attested, cose...)
	auth := k.authData(k.flags(true)|flagAT, k.count, attested)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(k.clientData("webauthn.create", options["challenge"].(string), k.origin)),
			"attestationObject": b64(att),
			"transports":        []string{"usb"},
		},
	}
}

// get answers request options with an assertion signed from origin, with
// user verification when uv; the counter goes up by one unless noCount.
func (k *softKey) get(options map[string]any, origin string, uv bool) map[string]any {
	k.t.Helper()
	if !k.noCount {
		k.count++
	}
	return k.sign(options["challenge"].(string), origin, uv, k.count)
}

func (k *softKey) sign(challenge, origin string, uv bool, count uint32) map[string]any {
	k.t.Helper()
	auth := k.authData(k.flags(uv), count, nil)
	cd := k.clientData("webauthn.get", challenge, origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(auth), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig), "userHandle": b64(k.handle),
		},
	}
}

// postJSON posts body as JSON with the CSRF header, from the page's origin.
func (b *browser) postJSON(u, csrf string, body any) (int, map[string]any) {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(string(raw)))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp := b.do(req)
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.body), &out); err != nil {
		b.t.Fatalf("POST %s = %d, not JSON: %s", u, resp.StatusCode, resp.body)
	}
	return resp.StatusCode, out
}

var dataAttrRE = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)

// keyButton returns the data attributes of the page's button for mode.
func keyButton(t *testing.T, page, mode string) map[string]string {
	t.Helper()
	for _, tag := range regexp.MustCompile(`<button[^>]*data-webauthn="[^"]*"[^>]*>`).FindAllString(page, -1) {
		attrs := map[string]string{}
		for _, m := range dataAttrRE.FindAllStringSubmatch(tag, -1) {
			attrs[m[1]] = strings.ReplaceAll(m[2], "&#43;", "+")
		}
		if attrs["webauthn"] == mode {
			return attrs
		}
	}
	t.Fatalf("no %s key button on the page:\n%s", mode, page)
	return nil
}

// startLocalGatehouse starts a gatehouse whose issuer is
// http://localhost:PORT: WebAuthn needs a host name, not an IP address.
func startLocalGatehouse(t *testing.T, backend string, extra ...string) *gatehouse {
	t.Helper()
	g := newGatehouse(t, databaseURL(t, backend), extra...)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.base, "http://"))
	g.base = "http://localhost:" + port
	g.env = append(g.env, "GATEHOUSE_ISSUER="+g.base)
	g.start()
	return g
}

func TestWebAuthn(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startLocalGatehouse(t, backend, "GATEHOUSE_LOCKOUT_MAX_ATTEMPTS=10", "GATEHOUSE_LOCKOUT_ACCOUNT_MAX_ATTEMPTS=50")
			testWebAuthn(t, g)
		})
	}
}

func testWebAuthn(t *testing.T, g *gatehouse) {
	rp := newRelyingParty(t, g)
	g.createUser(alice, "Alice", alicePass)
	key := newSoftKey(t, g.base)

	// Registration from the security page of a signed-in browser.
	b := newBrowser(t)
	rp.signIn(b, rp.newFlow(), alice, alicePass)
	sec := b.get(g.base + "/account/security")
	if sec.StatusCode != http.StatusOK {
		t.Fatalf("security page = %d", sec.StatusCode)
	}
	if csp := sec.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q lets no script of our own run", csp)
	}
	reg := keyButton(t, sec.body, "register")
	status, _ := b.postJSON(g.base+reg["begin"], "wrong", map[string]any{"name": "YubiKey"})
	if status != http.StatusForbidden {
		t.Errorf("register/begin with a wrong CSRF token = %d, want 403", status)
	}
	status, begun := b.postJSON(g.base+reg["begin"], reg["csrf"], map[string]any{"name": "YubiKey"})
	if status != http.StatusOK {
		t.Fatalf("register/begin = %d %v", status, begun)
	}
	opts := begun["publicKey"].(map[string]any)
	if rpEntity := opts["rp"].(map[string]any); rpEntity["id"] != "localhost" {
		t.Errorf("rp.id = %v, want localhost", rpEntity["id"])
	}
	if h := unb64(t, opts["user"].(map[string]any)["id"].(string)); len(h) != 64 {
		t.Errorf("user handle of %d bytes, want 64", len(h))
	}
	cred := key.create(opts)
	status, done := b.postJSON(g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": cred})
	if status != http.StatusOK {
		t.Fatalf("register/finish = %d %v", status, done)
	}
	waCodesShown(t, g, b, done, "/account/security?done=webauthn-on")
	// The ceremony was single use.
	status, _ = b.postJSON(g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": cred})
	if status != http.StatusBadRequest {
		t.Errorf("register/finish again = %d, want 400", status)
	}
	sec = b.get(g.base + "/account/security")
	if !strings.Contains(sec.body, "YubiKey") || !strings.Contains(sec.body, "never used") {
		t.Errorf("the security page does not list the new key:\n%s", sec.body)
	}

	// Second factor: the key is the only factor, so the password step
	// leads straight to it.
	signInWithKey := func(t *testing.T, origin string, uv bool) (int, map[string]any, *flow, *browser) {
		t.Helper()
		b := newBrowser(t)
		f, resp := tfPassword(t, rp, b, alice, alicePass)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/webauthn?authRequestID=") {
			t.Fatalf("password = %d %q, want 303 to /login/webauthn", resp.StatusCode, loc)
		}
		page := b.get(redirectTarget(resp))
		btn := keyButton(t, page.body, "second")
		status, begun := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
		if status != http.StatusOK {
			t.Fatalf("webauthn/begin = %d %v", status, begun)
		}
		assertion := key.get(begun["publicKey"].(map[string]any), origin, uv)
		status, done := b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{
			"authRequestID": btn["auth-request-id"], "ceremony": begun["ceremony"], "credential": assertion})
		return status, done, f, b
	}
	finish := func(t *testing.T, b *browser, f *flow, done map[string]any) idClaims {
		t.Helper()
		page, at := b.follow(done["redirect"].(string), rpRedirect)
		if page != nil {
			t.Fatalf("after the key, landed on %s (%d)", at, page.StatusCode)
		}
		_, _, c := rp.exchange(rp.codeFrom(at, f), f)
		return c
	}
	t.Run("SecondFactor", func(t *testing.T) {
		status, done, f, b := signInWithKey(t, g.base, false)
		if status != http.StatusOK {
			t.Fatalf("webauthn/finish = %d %v", status, done)
		}
		tfClaims(t, finish(t, b, f, done), []string{"pwd", "hwk", "mfa"}, "urn:gatehouse:loa:3")
	})
	t.Run("PhishingResistantACR", func(t *testing.T) {
		loa3 := oauth2.SetAuthURLParam("acr_values", "urn:gatehouse:loa:3")
		// A key user asked for loa:3 goes to the key; the token says loa:3.
		b := newBrowser(t)
		f, resp := tfPassword(t, rp, b, alice, alicePass, loa3)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/webauthn?authRequestID=") {
			t.Fatalf("password with acr loa:3 = %d %q, want 303 to /login/webauthn", resp.StatusCode, loc)
		}
		ar := tfQuery(t, redirectTarget(resp), "authRequestID")
		// The code page is not a way around the key.
		if r := b.get(g.base + "/login/otp?authRequestID=" + url.QueryEscape(ar)); r.StatusCode != http.StatusForbidden {
			t.Errorf("code page for a loa:3 request = %d, want 403", r.StatusCode)
		}
		page := b.get(redirectTarget(resp))
		btn := keyButton(t, page.body, "second")
		status, begun := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
		if status != http.StatusOK {
			t.Fatalf("webauthn/begin = %d %v", status, begun)
		}
		status, done := b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{
			"authRequestID": btn["auth-request-id"], "ceremony": begun["ceremony"],
			"credential": key.get(begun["publicKey"].(map[string]any), g.base, false)})
		if status != http.StatusOK {
			t.Fatalf("webauthn/finish = %d %v", status, done)
		}
		tfClaims(t, finish(t, b, f, done), []string{"pwd", "hwk", "mfa"}, "urn:gatehouse:loa:3")

		// A user without a key gets no token and no weaker factor.
		g.createUser("carol@example.com", "Carol", "carol's long password")
		_, resp = tfPassword(t, rp, newBrowser(t), "carol@example.com", "carol's long password", loa3)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, "accepts only a security key or passkey") {
			t.Errorf("loa:3 without a key = %d, want 403 with the explanation", resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("loa:3 without a key redirected to %s", loc)
		}
	})
	t.Run("WrongOrigin", func(t *testing.T) {
		status, done, _, _ := signInWithKey(t, "http://evil.example", false)
		if status != http.StatusUnauthorized || !strings.Contains(done["error"].(string), "Attempts left: 9") {
			t.Errorf("assertion from another origin = %d %v, want 401 with 9 attempts left", status, done)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		b := newBrowser(t)
		_, resp := tfPassword(t, rp, b, alice, alicePass)
		btn := keyButton(t, b.get(redirectTarget(resp)).body, "second")
		ar := btn["auth-request-id"]
		_, first := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": ar})
		assertion := key.get(first["publicKey"].(map[string]any), g.base, false)
		// A second challenge for the same sign-in; the first assertion
		// answers the first one only.
		_, second := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": ar})
		status, done := b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{"authRequestID": ar, "ceremony": second["ceremony"], "credential": assertion})
		if status != http.StatusUnauthorized {
			t.Errorf("assertion for another challenge = %d %v, want 401", status, done)
		}
		// The first challenge still works once…
		status, done = b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{"authRequestID": ar, "ceremony": first["ceremony"], "credential": assertion})
		if status != http.StatusOK {
			t.Fatalf("assertion = %d %v", status, done)
		}
		// …and never again, even for a sign-in still pending.
		b2 := newBrowser(t)
		_, resp = tfPassword(t, rp, b2, alice, alicePass)
		btn2 := keyButton(t, b2.get(redirectTarget(resp)).body, "second")
		status, done = b2.postJSON(g.base+btn2["finish"], btn2["csrf"], map[string]any{"authRequestID": btn2["auth-request-id"], "ceremony": first["ceremony"], "credential": assertion})
		if status != http.StatusUnauthorized {
			t.Errorf("replayed assertion and challenge = %d %v, want 401", status, done)
		}
	})
	t.Run("Passkey", func(t *testing.T) {
		b := newBrowser(t)
		f := rp.newFlow()
		page, _ := b.follow(f.authURL, rpRedirect)
		if page == nil || !strings.Contains(page.body, "Sign in with a passkey") {
			t.Fatalf("the sign-in page offers no passkey")
		}
		btn := keyButton(t, page.body, "passkey")
		try := func(uv bool) (int, map[string]any) {
			status, begun := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
			if status != http.StatusOK {
				t.Fatalf("passkey/begin = %d %v", status, begun)
			}
			opts := begun["publicKey"].(map[string]any)
			if opts["userVerification"] != "required" || opts["allowCredentials"] != nil {
				t.Errorf("passkey options %v: want user verification required and no allowed credentials", opts)
			}
			return b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{
				"authRequestID": btn["auth-request-id"], "ceremony": begun["ceremony"], "credential": key.get(opts, g.base, uv)})
		}
		if status, done := try(false); status != http.StatusUnauthorized {
			t.Errorf("passkey without user verification = %d %v, want 401", status, done)
		}
		status, done := try(true)
		if status != http.StatusOK {
			t.Fatalf("passkey/finish = %d %v", status, done)
		}
		tfClaims(t, finish(t, b, f, done), []string{"hwk", "mfa"}, "urn:gatehouse:loa:3")
	})
	t.Run("CounterRegression", func(t *testing.T) {
		key.count -= 2 // a clone that lags behind
		status, done, _, _ := signInWithKey(t, g.base, false)
		if status != http.StatusUnauthorized || !strings.Contains(done["error"].(string), "copied") {
			t.Errorf("assertion with a counter gone back = %d %v, want 401 (copied)", status, done)
		}
		// A security event the user sees on the account page.
		if acct := b.get(g.base + "/account"); !strings.Contains(acct.body, "Security key refused: it may have been copied") {
			t.Errorf("the account page does not show the clone warning")
		}
		key.count += 5
		// The key stays refused, and still counts as a factor: the
		// password alone does not sign in.
		b := newBrowser(t)
		_, resp := tfPassword(t, rp, b, alice, alicePass)
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/webauthn") {
			t.Fatalf("password after a clone warning = %d %q, want the key step", resp.StatusCode, loc)
		}
		btn := keyButton(t, b.get(redirectTarget(resp)).body, "second")
		status, begun := b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
		if status != http.StatusUnauthorized || !strings.Contains(begun["error"].(string), "copied") {
			t.Errorf("webauthn/begin with the flagged key = %d %v, want 401 (copied)", status, begun)
		}
		if !strings.Contains(g.output(), `"event":"webauthn.clone_warning"`) {
			t.Errorf("no webauthn.clone_warning event in the log")
		}
	})
	t.Run("Remove", func(t *testing.T) {
		// Bob adds a synced passkey and removes it: keys are his only
		// factor, so a key confirms the removal.
		key2 := newSoftKey(t, g.base)
		key2.backup = true
		b := newBrowser(t)
		g.createUser("bob@example.com", "Bob", alicePass)
		rp.signIn(b, rp.newFlow(), "bob@example.com", alicePass)
		sec := b.get(g.base + "/account/security")
		reg := keyButton(t, sec.body, "register")
		_, begun := b.postJSON(g.base+reg["begin"], reg["csrf"], map[string]any{"name": "Phone"})
		status, done := b.postJSON(g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key2.create(begun["publicKey"].(map[string]any))})
		if status != http.StatusOK {
			t.Fatalf("register/finish = %d %v", status, done)
		}
		waCodesShown(t, g, b, done, "/account/security?done=webauthn-on")
		sec = b.get(g.base + "/account/security")
		if !strings.Contains(sec.body, "(passkey)") {
			t.Errorf("a synced passkey is not marked as one")
		}
		form := tfForm(t, sec.body, "/account/security/webauthn/remove")
		confirm := b.post(g.base+"/account/security/webauthn/remove", form)
		if confirm.StatusCode != http.StatusOK {
			t.Fatalf("remove = %d", confirm.StatusCode)
		}
		btn := keyButton(t, confirm.body, "remove")
		_, begun = b.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"key": btn["key"]})
		status, done = b.postJSON(g.base+btn["finish"], btn["csrf"], map[string]any{"key": btn["key"], "ceremony": begun["ceremony"],
			"credential": key2.get(begun["publicKey"].(map[string]any), g.base, true)})
		if status != http.StatusOK || done["redirect"] != "/account/security?done=webauthn-off" {
			t.Fatalf("remove/finish = %d %v", status, done)
		}
		if sec = b.get(g.base + "/account/security"); strings.Contains(sec.body, "Phone") {
			t.Errorf("the removed key is still listed")
		}
	})
}

// waCodesShown checks the answer of the JSON step that issued recovery
// codes: it leads to a page that shows them once, then goes on to next. It
// returns the codes.
func waCodesShown(t *testing.T, g *gatehouse, b *browser, done map[string]any, next string) []string {
	t.Helper()
	show, _ := done["redirect"].(string)
	if !strings.HasPrefix(show, "/account/security/recovery/show?c=") {
		t.Fatalf("answer %v: want a redirect to the recovery codes page", done)
	}
	// Another browser cannot see them.
	if r := newBrowser(t).get(g.base + show); r.StatusCode == http.StatusOK {
		t.Errorf("the recovery codes page answers a browser without the session: %d", r.StatusCode)
	}
	codes, link, ok := tfRecovery(b.get(g.base + show))
	if !ok || len(codes) != 10 || link != next {
		t.Fatalf("recovery codes page: %t, %d codes, continue to %q (want %q)", ok, len(codes), link, next)
	}
	// Shown once.
	if r := b.get(g.base + show); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/security" {
		t.Errorf("the recovery codes page again = %d %q, want 303 to /account/security", r.StatusCode, r.Header.Get("Location"))
	}
	return codes
}

var waRecoveryLinkRE = regexp.MustCompile(`<a href="(/login/otp\?method=recovery&amp;authRequestID=[^"]+)">`)

// TestWebAuthnRecovery: a user whose only factor is a security key gets
// recovery codes with it; one signs in once in place of the key, wrong ones
// count toward the IP block like failed key checks, new codes need the
// key, and a code confirms removing a lost key (the last factor; the codes
// go with it).
func TestWebAuthnRecovery(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			// The IP limit stays at 3; the account cap is out of the way.
			g := startLocalGatehouse(t, backend, "GATEHOUSE_LOCKOUT_ACCOUNT_MAX_ATTEMPTS=50")
			testWebAuthnRecovery(t, g)
		})
	}
}

func testWebAuthnRecovery(t *testing.T, g *gatehouse) {
	rp := newRelyingParty(t, g)
	const email, pass = "kim@example.com", "kim's long password 123"
	g.createUser(email, "Kim", pass)
	key := newSoftKey(t, g.base)

	// The first key comes with recovery codes, shown once.
	b := newBrowser(t).from("127.0.0.80")
	rp.signIn(b, rp.newFlow(), email, pass)
	reg := keyButton(t, b.get(g.base+"/account/security").body, "register")
	_, begun := b.postJSON(g.base+reg["begin"], reg["csrf"], map[string]any{"name": "Kim's key"})
	status, done := b.postJSON(g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key.create(begun["publicKey"].(map[string]any))})
	if status != http.StatusOK {
		t.Fatalf("register/finish = %d %v", status, done)
	}
	codes := waCodesShown(t, g, b, done, "/account/security?done=webauthn-on")
	left := func() string {
		t.Helper()
		m := acLeftRE.FindStringSubmatch(b.get(g.base + "/account/security").body)
		if m == nil {
			return "none"
		}
		return m[1]
	}
	if got := left(); got != "10" {
		t.Fatalf("security page shows %s recovery codes left, want 10", got)
	}

	// recoveryPage signs in with the password from ip and opens the
	// recovery code page from the key step's link.
	recoveryPage := func(ip string) (*flow, *browser, *response) {
		t.Helper()
		b := newBrowser(t).from(ip)
		f, resp := tfPassword(t, rp, b, email, pass)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/webauthn?") {
			t.Fatalf("password = %d %q, want the key step", resp.StatusCode, loc)
		}
		m := waRecoveryLinkRE.FindStringSubmatch(b.get(redirectTarget(resp)).body)
		if m == nil {
			t.Fatalf("the key step offers no recovery code")
		}
		rec := b.get(g.base + html.UnescapeString(m[1]))
		if rec.StatusCode != http.StatusOK || !strings.Contains(rec.body, "Enter one of your recovery codes") {
			t.Fatalf("recovery code page = %d:\n%s", rec.StatusCode, rec.body)
		}
		if strings.Contains(rec.body, "Use a one-time password instead") || !strings.Contains(rec.body, "Use a security key or passkey") {
			t.Errorf("the recovery code page of a key-only user should lead back to the key, not to a one-time password")
		}
		return f, b, rec
	}
	post := func(b *browser, rec *response, code string) *response {
		t.Helper()
		return tfPostCode(b, g.base+"/login/otp", tfForm(t, rec.body, "/login/otp"), code)
	}

	// A wrong code counts; a right one signs in once.
	f, b1, rec := recoveryPage("127.0.0.81")
	tfExpect(t, post(b1, rec, "aaaaa-bbbbb"), http.StatusUnauthorized, "Invalid One Time Password! (Attempts left: 2)")
	c := tfFinish(t, rp, b1, f, post(b1, rec, strings.ToUpper(codes[0])))
	tfClaims(t, c, []string{"pwd", "otp", "mfa"}, "urn:gatehouse:loa:2")
	if got := left(); got != "9" {
		t.Errorf("after using one code, %s left, want 9", got)
	}

	// The used code again, and wrong ones: the third failure blocks the
	// IP, for the key too.
	_, b2, rec := recoveryPage("127.0.0.82")
	tfExpect(t, post(b2, rec, codes[0]), http.StatusUnauthorized, "Invalid One Time Password! (Attempts left: 2)")
	tfExpect(t, post(b2, rec, "zzzzz-zzzzz"), http.StatusUnauthorized, "Invalid One Time Password! (Attempts left: 1)")
	tfExpect(t, post(b2, rec, "yyyyy-yyyyy"), http.StatusTooManyRequests, "You have reached the limit of attempts. Please try again later in 10 minutes.")
	if page, _ := b2.follow(rp.newFlow().authURL, rpRedirect); page == nil || page.StatusCode != http.StatusTooManyRequests || strings.Contains(page.body, "data-webauthn") {
		t.Error("the blocked IP's sign-in page offers the passkey button")
	}
	_, page := blockedLoginPage(t, rp, b2)
	btn := keyButton(t, page.body, "passkey")
	if status, begun := b2.postJSON(g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]}); status != http.StatusTooManyRequests {
		t.Errorf("passkey/begin from an IP blocked by recovery codes = %d %v, want 429", status, begun)
	}

	// Failed key checks block the IP for the codes just the same.
	b3 := newBrowser(t).from("127.0.0.83")
	_, resp := tfPassword(t, rp, b3, email, pass)
	step := b3.get(redirectTarget(resp))
	second := keyButton(t, step.body, "second")
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		_, begun := b3.postJSON(g.base+second["begin"], second["csrf"], map[string]any{"authRequestID": second["auth-request-id"]})
		status, done := b3.postJSON(g.base+second["finish"], second["csrf"], map[string]any{"authRequestID": second["auth-request-id"],
			"ceremony": begun["ceremony"], "credential": key.get(begun["publicKey"].(map[string]any), "http://evil.example", false)})
		if status != want {
			t.Fatalf("wrong-origin assertion %d = %d %v, want %d", i+1, status, done, want)
		}
	}
	if page, _ := b3.follow(rp.newFlow().authURL, rpRedirect); page == nil || page.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(page.body, "You have reached the limit of attempts") {
		t.Errorf("sign-in page from an IP blocked by key failures: want 429 with the block message")
	}

	// New codes need the key; the old ones stop working.
	regen := b.post(g.base+"/account/security/recovery/regenerate", tfForm(t, b.get(g.base+"/account/security").body, "/account/security/recovery/regenerate"))
	check := keyButton(t, regen.body, "codes")
	_, begun = b.postJSON(g.base+check["begin"], check["csrf"], map[string]any{})
	status, done = b.postJSON(g.base+check["finish"], check["csrf"], map[string]any{"ceremony": begun["ceremony"],
		"credential": key.get(begun["publicKey"].(map[string]any), "http://evil.example", false)})
	if status != http.StatusUnauthorized {
		t.Errorf("new codes confirmed from another origin = %d %v, want 401", status, done)
	}
	_, begun = b.postJSON(g.base+check["begin"], check["csrf"], map[string]any{})
	status, done = b.postJSON(g.base+check["finish"], check["csrf"], map[string]any{"ceremony": begun["ceremony"],
		"credential": key.get(begun["publicKey"].(map[string]any), g.base, false)})
	if status != http.StatusOK {
		t.Fatalf("recovery/key/finish = %d %v", status, done)
	}
	fresh := waCodesShown(t, g, b, done, "/account/security?done=codes")
	_, b4, rec := recoveryPage("127.0.0.84")
	tfExpect(t, post(b4, rec, codes[1]), http.StatusUnauthorized, "Invalid One Time Password! (Attempts left: 2)")

	// The key is lost: removing it, the last factor, needs a code; the
	// codes go with it.
	sec := b.get(g.base + "/account/security")
	form := tfForm(t, sec.body, "/account/security/webauthn/remove")
	if r := b.post(g.base+"/account/security/webauthn/remove-confirm", form); r.StatusCode != http.StatusSeeOther ||
		!strings.Contains(b.get(g.base+"/account/security").body, "Kim&#39;s key") {
		t.Fatalf("remove-confirm without a code = %d, or the key is gone", r.StatusCode)
	}
	confirm := b.post(g.base+"/account/security/webauthn/remove", form)
	byCode := b.post(g.base+"/account/security/webauthn/remove", tfForm(t, confirm.body, "/account/security/webauthn/remove"))
	if byCode.StatusCode != http.StatusOK || !strings.Contains(byCode.body, "Enter one of your recovery codes") {
		t.Fatalf("remove with a recovery code = %d:\n%s", byCode.StatusCode, byCode.body)
	}
	codeForm := tfForm(t, byCode.body, "/account/security/webauthn/remove-confirm")
	tfExpect(t, tfPostCode(b, g.base+"/account/security/webauthn/remove-confirm", codeForm, "qqqqq-qqqqq"), http.StatusForbidden, "Invalid One Time Password! (Attempts left: 2)")
	if !strings.Contains(b.get(g.base+"/account/security").body, "Kim&#39;s key") {
		t.Fatalf("a wrong recovery code removed the key")
	}
	tfRedirect(t, tfPostCode(b, g.base+"/account/security/webauthn/remove-confirm", codeForm, fresh[0]), "/account/security?done=webauthn-off")
	if sec := b.get(g.base + "/account/security"); strings.Contains(sec.body, "Kim&#39;s key") {
		t.Errorf("the key is still listed after its removal")
	}
	if got := left(); got != "none" {
		t.Errorf("without a factor the security page still shows %s recovery codes", got)
	}
	// Without a factor the password alone signs in again.
	_, resp = tfPassword(t, rp, newBrowser(t).from("127.0.0.85"), email, pass)
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/login/") {
		t.Errorf("password without a factor led to %s", loc)
	}
	// The codes went with the last factor: a new first key comes with
	// new ones.
	key2 := newSoftKey(t, g.base)
	reg = keyButton(t, b.get(g.base+"/account/security").body, "register")
	_, begun = b.postJSON(g.base+reg["begin"], reg["csrf"], map[string]any{"name": "New key"})
	_, done = b.postJSON(g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key2.create(begun["publicKey"].(map[string]any))})
	if again := waCodesShown(t, g, b, done, "/account/security?done=webauthn-on"); slices.Contains(again, fresh[1]) {
		t.Errorf("the new codes repeat an old one")
	}
}

// TestWebAuthnCeremonies checks where a challenge lives: on the server, for
// ceremonyTTL (5 minutes) by the server's clock, and in the database, so
// that on PostgreSQL a ceremony begun on one replica finishes on another
// (once).
func TestWebAuthnCeremonies(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			clock := filepath.Join(t.TempDir(), "clock")
			setClock := func(d time.Duration) {
				t.Helper()
				if err := os.WriteFile(clock+".tmp", []byte(d.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(clock+".tmp", clock); err != nil {
					t.Fatal(err)
				}
			}
			setClock(0)
			extra := []string{"GATEHOUSE_TEST_CLOCK_FILE=" + clock, "GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off"}
			a := startLocalGatehouse(t, backend, extra...)
			rp := newRelyingParty(t, a)
			const email, pass = "lin@example.com", "lin's long password 123"
			a.createUser(email, "Lin", pass)
			key := newSoftKey(t, a.base)
			b := newBrowser(t)
			rp.signIn(b, rp.newFlow(), email, pass)
			reg := keyButton(t, b.get(a.base+"/account/security").body, "register")
			_, begun := b.postJSON(a.base+reg["begin"], reg["csrf"], map[string]any{"name": "Lin's key"})
			if status, done := b.postJSON(a.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key.create(begun["publicKey"].(map[string]any))}); status != http.StatusOK {
				t.Fatalf("register/finish = %d %v", status, done)
			}

			// keyStep signs in with the password and begins the key step on
			// begin; it returns the browser, the button and the ceremony.
			keyStep := func(begin string) (*browser, map[string]string, map[string]any) {
				t.Helper()
				b := newBrowser(t)
				_, resp := tfPassword(t, rp, b, email, pass)
				btn := keyButton(t, b.get(redirectTarget(resp)).body, "second")
				status, begun := b.postJSON(begin+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
				if status != http.StatusOK {
					t.Fatalf("webauthn/begin = %d %v", status, begun)
				}
				return b, btn, begun
			}
			finish := func(b *browser, at string, btn map[string]string, begun map[string]any) (int, map[string]any) {
				t.Helper()
				return b.postJSON(at+btn["finish"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"],
					"ceremony": begun["ceremony"], "credential": key.get(begun["publicKey"].(map[string]any), a.base, false)})
			}

			// A challenge outlives 4 minutes, not 5 (and the failure counts).
			b1, btn, begun := keyStep(a.base)
			setClock(4 * time.Minute)
			if status, done := finish(b1, a.base, btn, begun); status != http.StatusOK {
				t.Errorf("finish after 4 minutes = %d %v, want 200", status, done)
			}
			b2, btn, begun := keyStep(a.base)
			setClock(9*time.Minute + time.Second)
			if status, done := finish(b2, a.base, btn, begun); status != http.StatusUnauthorized || !strings.Contains(done["error"].(string), "Attempts left: 2") {
				t.Errorf("finish after 5 minutes = %d %v, want 401 with 2 attempts left", status, done)
			}

			if backend != "postgres" {
				return // one server per SQLite database
			}
			// Replica B: same database, key file, issuer and clock.
			other := newGatehouse(t, tfEnvValue(a, "GATEHOUSE_DATABASE_URL"), append(extra,
				"GATEHOUSE_ISSUER="+a.base,
				"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))...)
			other.start()
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(other.base, "http://"))
			onB := "http://localhost:" + port // the browser's cookies are localhost's
			b3, btn, begun := keyStep(a.base)
			if status, done := finish(b3, onB, btn, begun); status != http.StatusOK {
				t.Fatalf("finish on replica B of a ceremony begun on A = %d %v, want 200", status, done)
			}
			if status, done := finish(b3, a.base, btn, begun); status != http.StatusUnauthorized && status != http.StatusBadRequest {
				t.Errorf("the same ceremony again on A = %d %v, want it refused", status, done)
			}
		})
	}
}

// waTFStart is tfStart (SMTP sink, movable clock) with the issuer
// http://localhost:PORT, since WebAuthn needs a host name.
func waTFStart(t *testing.T, backend string) *tfEnv {
	t.Helper()
	e := &tfEnv{mail: tfNewSink(t), dsn: databaseURL(t, backend), clockFile: filepath.Join(t.TempDir(), "clock")}
	e.advance(0)
	e.extra = []string{
		"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
		"GATEHOUSE_MAIL_SMTP_PORT=" + strconv.Itoa(e.mail.port()),
		"GATEHOUSE_MAIL_SMTP_TLS=none",
		"GATEHOUSE_TEST_CLOCK_FILE=" + e.clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
	}
	e.g = newGatehouse(t, e.dsn, e.extra...)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.g.base, "http://"))
	e.g.base = "http://localhost:" + port
	e.g.env = append(e.g.env, "GATEHOUSE_ISSUER="+e.g.base)
	e.g.start()
	e.rp = newRelyingParty(t, e.g)
	return e
}

var waKeyLinkRE = regexp.MustCompile(`<a href="(/login/webauthn\?authRequestID=[^"]+)">Use a security key or passkey</a>`)

// TestWebAuthnWithTOTP: a key beside the authenticator app. Adding it needs
// a session that used the app; the code page links to the key step and
// back; removing the key needs the app's code (a wrong one counts) and
// leaves the recovery codes.
func TestWebAuthnWithTOTP(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := waTFStart(t, backend)
			u := e.newUser(t, "tom@example.com")
			old := e.session(t, u, "127.0.0.90") // the password alone, before the app
			e.enableTOTP(t, old, u)

			reg := keyButton(t, e.security(t, old).body, "register")
			if status, reply := old.postJSON(e.g.base+reg["begin"], reg["csrf"], map[string]any{"name": "Tom's key"}); status != http.StatusForbidden ||
				!strings.Contains(reply["error"].(string), "second factor first") {
				t.Errorf("register/begin in a session without the app = %d %v, want 403", status, reply)
			}

			rp := tfRP(t, e.rp)
			b := newBrowser(t).from("127.0.0.91")
			f, page := e.codePage(t, rp, b, u)
			tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.code(u)))
			key := newSoftKey(t, e.g.base)
			reg = keyButton(t, e.security(t, b).body, "register")
			_, begun := b.postJSON(e.g.base+reg["begin"], reg["csrf"], map[string]any{"name": "Tom's key"})
			status, done := b.postJSON(e.g.base+reg["finish"], reg["csrf"], map[string]any{"ceremony": begun["ceremony"], "credential": key.create(begun["publicKey"].(map[string]any))})
			if status != http.StatusOK || done["redirect"] != "/account/security?done=webauthn-on" {
				t.Fatalf("register/finish = %d %v, want the security page (the user has recovery codes)", status, done)
			}

			// The code page offers the key; the key step offers the code.
			b2 := newBrowser(t).from("127.0.0.92")
			f, page = e.codePage(t, rp, b2, u)
			m := waKeyLinkRE.FindStringSubmatch(page.body)
			if m == nil {
				t.Fatalf("the code page offers no security key:\n%s", page.body)
			}
			step := b2.get(e.g.base + html.UnescapeString(m[1]))
			if !strings.Contains(step.body, "Use a one-time password instead") {
				t.Errorf("the key step of a user with the app does not lead back to the code")
			}
			btn := keyButton(t, step.body, "second")
			_, begun = b2.postJSON(e.g.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"]})
			status, done = b2.postJSON(e.g.base+btn["finish"], btn["csrf"], map[string]any{"authRequestID": btn["auth-request-id"],
				"ceremony": begun["ceremony"], "credential": key.get(begun["publicKey"].(map[string]any), e.g.base, false)})
			if status != http.StatusOK {
				t.Fatalf("webauthn/finish = %d %v", status, done)
			}
			if page, at := b2.follow(done["redirect"].(string), rpRedirect); page != nil {
				t.Fatalf("after the key, landed on %s (%d)", at, page.StatusCode)
			} else {
				_, _, c := rp.exchange(rp.codeFrom(at, f), f)
				tfClaims(t, c, []string{"pwd", "hwk", "mfa"}, "urn:gatehouse:loa:3")
			}

			// Removing the key needs the app's code.
			confirm := b.post(e.g.base+"/account/security/webauthn/remove", tfForm(t, e.security(t, b).body, "/account/security/webauthn/remove"))
			form := tfForm(t, confirm.body, "/account/security/webauthn/remove-confirm")
			tfExpect(t, tfPostCode(b, e.g.base+"/account/security/webauthn/remove-confirm", form, e.wrongTOTP(u)), http.StatusForbidden, "Invalid One Time Password! (Attempts left: 2)")
			if !strings.Contains(e.security(t, b).body, "Tom&#39;s key") {
				t.Fatalf("a wrong code removed the key")
			}
			tfRedirect(t, tfPostCode(b, e.g.base+"/account/security/webauthn/remove-confirm", form, e.code(u)), "/account/security?done=webauthn-off")
			if sec := e.security(t, b).body; strings.Contains(sec, "Tom&#39;s key") {
				t.Errorf("the key is still listed after its removal")
			}
			if got := acLeft(t, e, b); got != "10" {
				t.Errorf("after removing the key beside the app, %s recovery codes left, want 10", got)
			}
		})
	}
}
