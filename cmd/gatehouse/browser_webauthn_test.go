package main

import (
	"context"
	"crypto/rand"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// conditionalRecorder is a script run in each page before the page's own:
// it sets window.gatehouseConditional once the page has asked for a
// credential with mediation 'conditional' (login's webauthn.js).
const conditionalRecorder = `(() => {
	const c = navigator.credentials;
	if (!c) return;
	const get = c.get.bind(c);
	c.get = (options) => {
		if (options && options.mediation === "conditional") window.gatehouseConditional = true;
		return get(options);
	};
})();`

// amrRP is a relying party whose callback page shows the verified ID
// token's amr and acr.
type amrRP struct {
	t        *testing.T
	srv      *httptest.Server
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	mu       sync.Mutex
	pending  map[string]string // state → PKCE verifier
}

func newAMRRP(t *testing.T, g *gatehouse) *amrRP {
	rp := &amrRP{t: t, pending: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /cb", rp.callback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	c := g.createClient("--name", "Key RP", "--redirect-uri", rp.srv.URL+"/cb")
	p, err := oidc.NewProvider(t.Context(), g.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.oauth = &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: p.Endpoint(),
		RedirectURL: rp.srv.URL + "/cb", Scopes: []string{oidc.ScopeOpenID}}
	rp.verifier = p.Verifier(&oidc.Config{ClientID: c.ID})
	return rp
}

func (rp *amrRP) login(w http.ResponseWriter, r *http.Request) {
	state, cv := rand.Text(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = cv
	rp.mu.Unlock()
	http.Redirect(w, r, rp.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(cv), oauth2.SetAuthURLParam("prompt", "login")), http.StatusFound)
}

var amrPage = template.Must(template.New("rp").Parse(`<!doctype html>
<html><head><title>Relying party</title></head>
<body><p>amr <span id="rp-amr">{{.AMR}}</span> acr <span id="rp-acr">{{.ACR}}</span></p></body></html>
`))

func (rp *amrRP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	cv := rp.pending[q.Get("state")]
	rp.mu.Unlock()
	tok, err := rp.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(cv))
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err == nil {
		raw, _ := tok.Extra("id_token").(string)
		var idt *oidc.IDToken
		if idt, err = rp.verifier.Verify(r.Context(), raw); err == nil {
			err = idt.Claims(&claims)
		}
	}
	if err != nil {
		http.Error(w, "sign-in failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	amrPage.Execute(w, map[string]string{"AMR": strings.Join(claims.AMR, " "), "ACR": claims.ACR})
}

// TestBrowserWebAuthn drives Chromium with DevTools virtual authenticators
// (WebAuthn.addVirtualAuthenticator) through templates/static/webauthn.js:
// it registers a security key (USB) on the security page and is shown its
// recovery codes, signs in with it as the second factor, then registers a
// platform passkey and signs in with it without a password: by conditional
// UI (passkey autofill) as the sign-in page opens, and with the "Sign in
// with a passkey" button.
//
// Chromium reports conditional mediation available only with a platform
// ("internal") authenticator, and its virtual one answers a conditional
// request at once with its discoverable credential (as if the user had
// picked it among the email field's suggestions) while presence
// simulation is on; with it off the request waits.
func TestBrowserWebAuthn(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startLocalGatehouse(t, backend)
			const email, password = "grace@example.com", "correct horse battery staple"
			g.createUser(email, "Grace Hopper", password)
			rp := newAMRRP(t, g)

			b := startChromium(t, chromium)
			ctx, cancel := context.WithTimeout(b.ctx, 2*browserTimeout)
			defer cancel()
			if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
				t.Fatalf("WebAuthn.enable: %v", err)
			}
			addAuthenticator := func(transport cdpwebauthn.AuthenticatorTransport) cdpwebauthn.AuthenticatorID {
				t.Helper()
				res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
					Options: &cdpwebauthn.VirtualAuthenticatorOptions{
						Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
						Transport: transport, HasResidentKey: true, HasUserVerification: true,
						IsUserVerified: true, AutomaticPresenceSimulation: true,
					}})
				if err != nil {
					t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
				}
				return res.AuthenticatorID
			}
			signedIn := func(step, wantAMR string) {
				t.Helper()
				b.do(ctx, step+": wait for the relying party", chromedp.WaitVisible(chromedp.CSS("#rp-amr")))
				if amr := browserRun(b, ctx, step+": read amr", chromedp.Text(chromedp.CSS("#rp-amr"))); amr != wantAMR {
					t.Errorf("%s: amr %q, want %q", step, amr, wantAMR)
				}
				if acr := browserRun(b, ctx, step+": read acr", chromedp.Text(chromedp.CSS("#rp-acr"))); wantAMR != "pwd" && acr != "urn:gatehouse:loa:3" {
					t.Errorf("%s: acr %q, want urn:gatehouse:loa:3", step, acr)
				}
			}
			clearCookies := func() {
				t.Helper()
				if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
					t.Fatal(err)
				}
			}
			withPassword := func(step string) {
				t.Helper()
				clearCookies()
				b.do(ctx, step+": password",
					chromedp.Navigate(rp.srv.URL+"/login"),
					chromedp.WaitVisible(chromedp.CSS("#email")),
					chromedp.SendKeys(chromedp.CSS("#email"), email),
					chromedp.SendKeys(chromedp.CSS("#password"), password),
					chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
				)
			}
			register := func(step, name string) {
				t.Helper()
				b.do(ctx, step,
					chromedp.Navigate(g.base+"/account/security"),
					chromedp.WaitVisible(chromedp.CSS("#webauthn-name")),
					chromedp.SendKeys(chromedp.CSS("#webauthn-name"), name),
					chromedp.Click(chromedp.CSS(`button[data-webauthn="register"]`)),
				)
			}
			added := func(step, name string) {
				t.Helper()
				b.do(ctx, step+": result", chromedp.WaitVisible(chromedp.CSS(".info")))
				if info := browserRun(b, ctx, step+": read the result", chromedp.Text(chromedp.CSS(".info"))); !strings.Contains(info, "was added") {
					t.Fatalf("%s: %q", step, info)
				}
				if body := browserRun(b, ctx, step+": read the page", chromedp.Text(chromedp.CSS("#webauthn"))); !strings.Contains(body, name) {
					t.Errorf("%s: the key is not listed: %q", step, body)
				}
			}

			// Password alone, then register a security key: the first
			// factor comes with recovery codes, shown once.
			usb := addAuthenticator(cdpwebauthn.AuthenticatorTransportUsb)
			withPassword("first sign-in")
			signedIn("first sign-in", "pwd")
			register("register a security key", "Virtual key")
			b.do(ctx, "recovery codes", chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
			codes := browserRun(b, ctx, "read the recovery codes", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recovery-codes code"), c => c.textContent)`))
			if len(codes) != 10 {
				t.Fatalf("%d recovery codes shown, want 10", len(codes))
			}
			b.do(ctx, "continue after the recovery codes", chromedp.Click(chromedp.CSS("a.button")))
			added("register a security key", "Virtual key")

			// The key as second factor: the password leads to the key step.
			withPassword("second factor")
			b.do(ctx, "second factor: the key step", chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="second"]`)))
			if os.Getenv(axeEnv) != "" && backend == "sqlite" {
				// axe on the key step, the one sign-in page the axe tests'
				// ways (without an authenticator) do not reach.
				(&newcomerBrowser{b, axeSource(t), t.ArtifactDir(), "webauthn"}).check("key-step")
			}
			b.do(ctx, "second factor: use the key", chromedp.Click(chromedp.CSS(`button[data-webauthn="second"]`)))
			signedIn("second factor", "pwd hwk mfa")

			// A passkey of this computer, added in the session that used
			// the key.
			if _, err := chromedp.Call(ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: usb}); err != nil {
				t.Fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
			}
			platform := addAuthenticator(cdpwebauthn.AuthenticatorTransportInternal)
			register("register a passkey", "Laptop passkey")
			added("register a passkey", "Laptop passkey")

			// Passwordless by conditional UI: the sign-in page offers the
			// passkey in the email field, and picking it (the virtual
			// authenticator does at once) signs in; nothing is clicked.
			clearCookies()
			b.do(ctx, "conditional UI", chromedp.Navigate(rp.srv.URL+"/login"))
			signedIn("conditional UI", "swk mfa")

			// Passwordless with the button while the conditional request
			// waits: the button takes over.
			clearCookies()
			presence := func(on bool) {
				t.Helper()
				if _, err := chromedp.Call(ctx, cdpwebauthn.SetAutomaticPresenceSimulation, cdpwebauthn.SetAutomaticPresenceSimulationParams{
					AuthenticatorID: platform, Enabled: on}); err != nil {
					t.Fatalf("WebAuthn.setAutomaticPresenceSimulation: %v", err)
				}
			}
			presence(false)
			// The page asks for its conditional request only once it has
			// the server's challenge: presence turned on before that would
			// let the conditional request sign in by itself, and the button
			// would be gone before the click. A script the test adds to every page records the
			// request when it is made (conditionalRecorder), and the test
			// waits for it.
			if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: conditionalRecorder}); err != nil {
				t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
			}
			b.do(ctx, "passkey button: the sign-in page",
				chromedp.Navigate(rp.srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="passkey"]`)),
			)
			browserRun(b, ctx, "passkey button: the conditional request waits", chromedp.Poll[bool](`window.gatehouseConditional === true`))
			if ac := browserRun(b, ctx, "read the email field's autocomplete", chromedp.AttributeValue(chromedp.CSS("#email"), "autocomplete")); ac.Value != "username webauthn" {
				t.Errorf("email autocomplete %q, want %q (conditional UI)", ac.Value, "username webauthn")
			}
			presence(true)
			b.do(ctx, "passkey button", chromedp.Click(chromedp.CSS(`button[data-webauthn="passkey"]`)))
			signedIn("passkey button", "swk mfa")

			// Removal: the passkey, confirmed with itself; then the
			// security key, lost (its authenticator is gone) and the last
			// factor, with a recovery code, after a wrong one.
			removeButton := func(name string) chromedp.Search {
				return chromedp.Search(`//li[strong[text()="` + name + `"]]//button`)
			}
			removed := func(step, name string) {
				t.Helper()
				b.do(ctx, step+": result", chromedp.WaitVisible(chromedp.CSS(".info")))
				if info := browserRun(b, ctx, step+": read the result", chromedp.Text(chromedp.CSS(".info"))); !strings.Contains(info, "was removed") {
					t.Fatalf("%s: %q", step, info)
				}
				if body := browserRun(b, ctx, step+": read the page", chromedp.Text(chromedp.CSS("#webauthn"))); strings.Contains(body, name) {
					t.Errorf("%s: the key is still listed: %q", step, body)
				}
			}
			b.do(ctx, "remove the passkey",
				chromedp.Navigate(g.base+"/account/security"),
				chromedp.Click(removeButton("Laptop passkey")),
				chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="remove"]`)),
				chromedp.Click(chromedp.CSS(`button[data-webauthn="remove"]`)),
			)
			removed("remove the passkey", "Laptop passkey")
			b.do(ctx, "remove the security key: a wrong recovery code",
				chromedp.Click(removeButton("Virtual key")),
				chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="remove"]`)),
				chromedp.Click(chromedp.Search(`//button[text()="Use a recovery code"]`)),
				chromedp.WaitVisible(chromedp.CSS("#code")),
				chromedp.SendKeys(chromedp.CSS("#code"), "aaaaa-bbbbb"),
				chromedp.Click(chromedp.CSS(`form[action="/account/security/webauthn/remove-confirm"] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(".alert")),
			)
			if alert := browserRun(b, ctx, "read the alert", chromedp.Text(chromedp.CSS(".alert"))); alert != "Invalid One Time Password! (Attempts left: 2)" {
				t.Errorf("wrong recovery code: alert %q", alert)
			}
			b.do(ctx, "remove the security key: a recovery code",
				chromedp.SendKeys(chromedp.CSS("#code"), codes[0]),
				chromedp.Click(chromedp.CSS(`form[action="/account/security/webauthn/remove-confirm"] button[type="submit"]`)),
			)
			removed("remove the security key", "Virtual key")
			if page := browserRun(b, ctx, "read the security page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(page, "Recovery codes") {
				t.Errorf("recovery codes are still offered without a factor")
			}
		})
	}
}
