package main

// OpenID Connect Back-Channel Logout 1.0 through the real binary: the sid
// of ID tokens, the logout tokens every way a session ends sends to the
// clients that signed in through it, verified as a relying party would,
// retries, a slow client, and a replica killed with a delivery in flight.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// bcEvent is the member of a logout token's events claim.
const bcEvent = "http://schemas.openid.net/event/backchannel-logout"

// bcReceiver is the back-channel logout endpoint of the test's relying
// parties, on loopback: each path is a client's endpoint. It records the
// logout_token of every request.
type bcReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	got      map[string][]string // path → tokens, in order of arrival
	failNext map[string]int      // path → requests still to answer 503
	hold     map[string]chan struct{}
	arrived  chan string // path of every request, as it arrives
}

func newBCReceiver(t *testing.T) *bcReceiver {
	r := &bcReceiver{t: t, got: map[string][]string{}, failNext: map[string]int{},
		hold: map[string]chan struct{}{}, arrived: make(chan string, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.mu.Lock()
		for _, c := range r.hold {
			close(c)
		}
		r.hold = map[string]chan struct{}{}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *bcReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got[req.URL.Path] = append(r.got[req.URL.Path], req.PostForm.Get("logout_token"))
	fail := r.failNext[req.URL.Path] > 0
	if fail {
		r.failNext[req.URL.Path]--
	}
	hold := r.hold[req.URL.Path]
	r.mu.Unlock()
	r.arrived <- req.URL.Path
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	if fail {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// url is the endpoint at path.
func (r *bcReceiver) url(path string) string { return r.srv.URL + path }

// tokens returns the tokens path received so far.
func (r *bcReceiver) tokens(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[path])
}

// wait waits until path has received n requests in all and returns the
// nth token.
func (r *bcReceiver) wait(path string, n int) string {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := r.tokens(path); len(got) >= n {
			return got[n-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s received %d logout requests in 20s, want %d", path, len(r.tokens(path)), n)
	return ""
}

// quiet checks that path receives nothing beyond its first n requests for
// a while (deliveries go out within a second or so).
func (r *bcReceiver) quiet(path string, n int) {
	r.t.Helper()
	time.Sleep(2500 * time.Millisecond)
	if got := r.tokens(path); len(got) != n {
		r.t.Errorf("%s received %d logout requests, want %d", path, len(got), n)
	}
}

// logoutClaims are the claims of a logout token.
type logoutClaims struct {
	Issuer   string                     `json:"iss"`
	Audience json.RawMessage            `json:"aud"`
	IssuedAt int64                      `json:"iat"`
	Expiry   int64                      `json:"exp"`
	ID       string                     `json:"jti"`
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    *string                    `json:"nonce"`
}

// verifyLogoutToken checks raw as a relying party must (Back-Channel
// Logout §2.6): its signature against the issuer's JWKS, typ logout+jwt,
// iss, aud, iat, exp, the event, sid and sub, and no nonce. ahead is how
// far the server's clock runs ahead of the real one.
func verifyLogoutToken(t *testing.T, g *gatehouse, raw, clientID, sub, sid string, ahead time.Duration) logoutClaims {
	t.Helper()
	return verifyLogoutTokenOf(t, g.base, g.base+"/keys", raw, clientID, sub, sid, ahead)
}

// verifyLogoutTokenOf is verifyLogoutToken for the issuer whose keys are
// published at jwksURL.
func verifyLogoutTokenOf(t *testing.T, issuer, jwksURL, raw, clientID, sub, sid string, ahead time.Duration) logoutClaims {
	t.Helper()
	if raw == "" {
		t.Fatal("a logout request without logout_token")
	}
	keys := oidc.NewRemoteKeySet(t.Context(), jwksURL)
	payload, err := keys.VerifySignature(t.Context(), raw)
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders["typ"].(string); typ != "logout+jwt" {
		t.Errorf("logout token typ = %q, want logout+jwt", typ)
	}
	var c logoutClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	switch {
	case c.Issuer != issuer:
		t.Errorf("iss = %q, want %q", c.Issuer, issuer)
	case string(c.Audience) != `"`+clientID+`"` && string(c.Audience) != `["`+clientID+`"]`:
		t.Errorf("aud = %s, want %s", c.Audience, clientID)
	case c.IssuedAt == 0 || time.Unix(c.IssuedAt, 0).After(now.Add(ahead+5*time.Second)):
		t.Errorf("iat = %d, not a time before now", c.IssuedAt)
	case !time.Unix(c.Expiry, 0).After(now) || c.Expiry-c.IssuedAt > 300:
		t.Errorf("exp = %d (iat %d): expired or too long", c.Expiry, c.IssuedAt)
	case c.ID == "":
		t.Error("no jti")
	case string(c.Events[bcEvent]) != "{}" || len(c.Events) != 1:
		t.Errorf("events = %v, want {%q: {}}", c.Events, bcEvent)
	case c.Nonce != nil:
		t.Error("a logout token with a nonce")
	case c.Subject != sub:
		t.Errorf("sub = %q, want %q", c.Subject, sub)
	case sid == "" || c.SID != sid:
		t.Errorf("sid = %q, want the ID token's %q", c.SID, sid)
	}
	return c
}

// waitSample waits until g's metric key has the value want.
func waitSample(t *testing.T, g *gatehouse, key string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _ := scrapeMetrics(t, g)
		if s[key] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 20s, want %v", key, s[key], want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bcSignIn signs email in at rp in b and returns the raw ID token, its sub
// and its sid (checked to be there).
func bcSignIn(t *testing.T, rp *relyingParty, b *browser, email, pass string, opts ...oauth2.AuthCodeOption) (raw, sub, sid string) {
	t.Helper()
	rp.t = t
	f := rp.newFlow(opts...)
	tok, idt, _ := rp.exchange(rp.signIn(b, f, email, pass), f)
	var c struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.SID == "" {
		t.Fatalf("the ID token has no sid")
	}
	raw, _ = tok.Extra("id_token").(string)
	return raw, idt.Subject, c.SID
}

// endSession runs end_session with the ID token as hint in b and checks
// that it signs b out at once.
func endSession(t *testing.T, g *gatehouse, b *browser, rawID string) time.Duration {
	t.Helper()
	start := time.Now()
	u := g.base + "/end_session?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"bc"}}.Encode()
	if _, at := b.follow(u, rpLogout); !strings.HasPrefix(at, rpLogout) {
		t.Fatalf("end_session landed at %s, want %s", at, rpLogout)
	}
	return time.Since(start)
}

func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := ssStart(t, databaseURL(t, backend))
			g := e.g
			recv := newBCReceiver(t)
			rpA := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/a"))
			rpB := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/b"))
			rpC := e.rp // no back-channel logout URI

			t.Run("discovery and client", func(t *testing.T) {
				resp, err := http.Get(g.base + "/.well-known/openid-configuration")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var doc map[string]any
				json.NewDecoder(resp.Body).Decode(&doc)
				if doc["backchannel_logout_supported"] != true || doc["backchannel_logout_session_supported"] != true {
					t.Errorf("discovery: backchannel_logout_supported %v, backchannel_logout_session_supported %v; want true, true",
						doc["backchannel_logout_supported"], doc["backchannel_logout_session_supported"])
				}
				if out := g.cli("", "clients", "show", rpA.client.ID); !strings.Contains(out, recv.url("/a")) {
					t.Errorf("clients show lacks the back-channel logout URI:\n%s", out)
				}
				for _, bad := range []string{"http://example.com/logout", "https://rp.example/logout#f", "not a uri"} {
					if _, stderr, err := g.tryCLI("", "clients", "create", "--name", "Bad", "--redirect-uri", rpRedirect,
						"--backchannel-logout-uri", bad); err == nil || !strings.Contains(stderr, "--backchannel-logout-uri") {
						t.Errorf("clients create --backchannel-logout-uri %q: err %v, stderr %q; want refused", bad, err, stderr)
					}
				}
			})

			t.Run("end_session", func(t *testing.T) {
				g.createUser("end@example.com", "End", alicePass)
				b, other := newBrowser(t), newBrowser(t)
				rawA, sub, sid := bcSignIn(t, rpA, b, "end@example.com", alicePass)
				// The same session at C (no URI): the same sid.
				if _, _, sidC := bcSignIn(t, rpC, b, "end@example.com", alicePass); sidC != sid {
					t.Errorf("sid at another client of the same session = %q, want %q", sidC, sid)
				}
				// Another session, at B: another sid, and B is not told.
				if _, _, sidB := bcSignIn(t, rpB, other, "end@example.com", alicePass); sidB == sid {
					t.Errorf("two sessions share the sid %q", sid)
				}
				nb := len(recv.tokens("/b"))
				if d := endSession(t, g, b, rawA); d > 2*time.Second {
					t.Errorf("end_session took %v", d)
				}
				verifyLogoutToken(t, g, recv.wait("/a", 1), rpA.client.ID, sub, sid, 0)
				recv.quiet("/b", nb)
				recv.quiet("/a", 1)
			})

			t.Run("a new sign-in in the browser continues the session", func(t *testing.T) {
				g.createUser("again@example.com", "Again", alicePass)
				b := newBrowser(t)
				_, sub, sid := bcSignIn(t, rpA, b, "again@example.com", alicePass)
				na, nb := len(recv.tokens("/a")), len(recv.tokens("/b"))
				cookie := func() string {
					u, _ := url.Parse(g.base)
					for _, c := range b.c.Jar.Cookies(u) {
						if c.Name == "gh_session" {
							return c.Value
						}
					}
					return ""
				}
				before := cookie()
				// prompt=login: the password again, and a new session
				// (no fixation) that keeps the sid.
				rawB, _, sidB := bcSignIn(t, rpB, b, "again@example.com", alicePass, oauth2.SetAuthURLParam("prompt", "login"))
				if after := cookie(); before == "" || after == "" || after == before {
					t.Fatalf("session cookie %q, then %q: want a new session", before, after)
				}
				if sidB != sid {
					t.Errorf("sid after a new sign-in in the same browser = %q, want %q", sidB, sid)
				}
				recv.quiet("/a", na)
				endSession(t, g, b, rawB)
				verifyLogoutToken(t, g, recv.wait("/a", na+1), rpA.client.ID, sub, sid, 0)
				verifyLogoutToken(t, g, recv.wait("/b", nb+1), rpB.client.ID, sub, sid, 0)
			})

			t.Run("confirmation page", func(t *testing.T) {
				g.createUser("confirm@example.com", "Confirm", alicePass)
				b := newBrowser(t)
				_, sub, sid := bcSignIn(t, rpA, b, "confirm@example.com", alicePass)
				n := len(recv.tokens("/a"))
				page, at := b.follow(g.base+"/end_session?client_id="+url.QueryEscape(rpA.client.ID), "")
				if page == nil || !strings.Contains(page.body, `action="/end_session/confirm"`) {
					t.Fatalf("end_session without a hint ended at %s, want the confirmation page", at)
				}
				if resp := b.post(g.base+"/end_session/confirm", formFields(page.body)); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("POST /end_session/confirm = %d", resp.StatusCode)
				}
				verifyLogoutToken(t, g, recv.wait("/a", n+1), rpA.client.ID, sub, sid, 0)
			})

			t.Run("account sign-out and sign out everywhere else", func(t *testing.T) {
				g.createUser("acct@example.com", "Acct", alicePass)
				laptop, phone := newBrowser(t), newBrowser(t)
				_, sub, sidA := bcSignIn(t, rpA, laptop, "acct@example.com", alicePass)
				_, _, sidB := bcSignIn(t, rpB, phone, "acct@example.com", alicePass)
				na, nb := len(recv.tokens("/a")), len(recv.tokens("/b"))
				page := laptop.get(g.base + "/account")
				tfRedirect(t, laptop.post(g.base+"/account/sessions/end-others", tfForm(t, page.body, "/account/sessions/end-others")), "/account?done=others")
				verifyLogoutToken(t, g, recv.wait("/b", nb+1), rpB.client.ID, sub, sidB, 0)
				recv.quiet("/a", na)

				page = laptop.get(g.base + "/account")
				tfRedirect(t, laptop.post(g.base+"/logout", tfForm(t, page.body, "/logout")), "/signed-out")
				verifyLogoutToken(t, g, recv.wait("/a", na+1), rpA.client.ID, sub, sidA, 0)
			})

			t.Run("password reset", func(t *testing.T) {
				g.createUser("reset@example.com", "Reset", alicePass)
				b := newBrowser(t)
				_, sub, sid := bcSignIn(t, rpA, b, "reset@example.com", alicePass)
				n := len(recv.tokens("/a"))
				other := e.browser(t)
				e.reset(t, other, e.askReset(t, other, "reset@example.com", 1), "a brand new password 123")
				verifyLogoutToken(t, g, recv.wait("/a", n+1), rpA.client.ID, sub, sid, 0)
			})

			t.Run("admin disables the user", func(t *testing.T) {
				g.createUser("disable@example.com", "Disable", alicePass)
				b := newBrowser(t)
				_, sub, sid := bcSignIn(t, rpB, b, "disable@example.com", alicePass)
				n := len(recv.tokens("/b"))
				g.cli("", "users", "disable", "disable@example.com")
				verifyLogoutToken(t, g, recv.wait("/b", n+1), rpB.client.ID, sub, sid, 0)
			})

			t.Run("admin API", func(t *testing.T) {
				token := adminToken(t, g, g.createClient("--name", "Admin", "--admin"))
				r := adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"API App","redirect_uris":["`+rpRedirect+`"],"backchannel_logout_uri":"`+recv.url("/api-old")+`"}`)
				var c struct {
					client
					BackchannelLogoutURI string `json:"backchannel_logout_uri"`
				}
				r.json(t, &c)
				if r.status != http.StatusCreated || c.BackchannelLogoutURI != recv.url("/api-old") {
					t.Fatalf("POST /api/clients = %d %s", r.status, r.body)
				}
				adminCall(t, g, token, http.MethodPost, "/api/clients",
					`{"name":"Bad","redirect_uris":["`+rpRedirect+`"],"backchannel_logout_uri":"http://rp.example/logout"}`).
					wantError(t, http.StatusBadRequest, "invalid_request")
				r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings",
					`{"backchannel_logout_uri":"`+recv.url("/api")+`"}`)
				r.json(t, &c)
				if r.status != http.StatusOK || c.BackchannelLogoutURI != recv.url("/api") {
					t.Fatalf("PATCH settings = %d %s", r.status, r.body)
				}
				out := g.cli("", "clients", "update", c.ID, "--backchannel-logout-uri", recv.url("/api"))
				if !strings.Contains(out, recv.url("/api")) {
					t.Errorf("clients update printed %q", out)
				}

				rp := newRelyingParty(t, g) // for its provider and verifier
				rp.client = c.client
				rp.oauth.ClientID, rp.oauth.ClientSecret = c.ID, c.Secret
				rp.verifier = rp.provider.Verifier(&oidc.Config{ClientID: c.ID})
				g.createUser("api@example.com", "API", alicePass)
				b := newBrowser(t)
				_, sub, sid := bcSignIn(t, rp, b, "api@example.com", alicePass)
				if r := adminCall(t, g, token, http.MethodPost, "/api/users/api@example.com/disable", ""); r.status != http.StatusOK {
					t.Fatalf("disable = %d %s", r.status, r.body)
				}
				verifyLogoutToken(t, g, recv.wait("/api", 1), c.ID, sub, sid, 0)
				if got := recv.tokens("/api-old"); len(got) != 0 {
					t.Errorf("the replaced URI received %d logout tokens", len(got))
				}
			})

			t.Run("retried until it succeeds", func(t *testing.T) {
				rpR := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/retry"))
				g.createUser("retry@example.com", "Retry", alicePass)
				b := newBrowser(t)
				raw, sub, sid := bcSignIn(t, rpR, b, "retry@example.com", alicePass)
				before, _ := scrapeMetrics(t, g)
				recv.mu.Lock()
				recv.failNext["/retry"] = 2
				recv.mu.Unlock()
				endSession(t, g, b, raw)
				retried := `gatehouse_backchannel_logout_deliveries_total{result="retried"}`
				recv.wait("/retry", 1)
				// Not before its back-off: 10s after the first failure.
				recv.quiet("/retry", 1)
				waitSample(t, g, retried, before[retried]+1)
				e.advance(11 * time.Second)
				recv.wait("/retry", 2)
				recv.quiet("/retry", 2) // then 30s
				waitSample(t, g, retried, before[retried]+2)
				e.advance(31 * time.Second)
				verifyLogoutToken(t, g, recv.wait("/retry", 3), rpR.client.ID, sub, sid, time.Until(e.now()))
				recv.quiet("/retry", 3)
				after, _ := scrapeMetrics(t, g)
				expectDeltas(t, "a delivery that failed twice", before, after, map[string]float64{
					`gatehouse_backchannel_logout_deliveries_total{result="sent"}`:    1,
					`gatehouse_backchannel_logout_deliveries_total{result="failed"}`:  2,
					`gatehouse_backchannel_logout_deliveries_total{result="retried"}`: 2,
					`gatehouse_backchannel_logout_deliveries_total{result="dropped"}`: 0,
					`gatehouse_backchannel_logout_queued`:                             0,
				})
			})

			t.Run("dropped after the last attempt", func(t *testing.T) {
				rpD := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/down"))
				recv.mu.Lock()
				recv.failNext["/down"] = 1000
				recv.mu.Unlock()
				g.createUser("down@example.com", "Down", alicePass)
				b := newBrowser(t)
				raw, _, _ := bcSignIn(t, rpD, b, "down@example.com", alicePass)
				before, _ := scrapeMetrics(t, g)
				endSession(t, g, b, raw)
				recv.wait("/down", 1)
				// 10s, 30s, 1.5m, 4.5m, 13.5m, 40.5m, 2h, then no more.
				retried := `gatehouse_backchannel_logout_deliveries_total{result="retried"}`
				for i, d := range []time.Duration{10, 30, 90, 270, 810, 2430, 7200} {
					// The clock moves once the failure is rescheduled.
					waitSample(t, g, retried, before[retried]+float64(i+1))
					e.advance(d*time.Second + time.Second)
					recv.wait("/down", i+2)
				}
				e.advance(3 * time.Hour)
				recv.quiet("/down", 8)
				after, _ := scrapeMetrics(t, g)
				expectDeltas(t, "a delivery that always fails", before, after, map[string]float64{
					`gatehouse_backchannel_logout_deliveries_total{result="sent"}`:    0,
					`gatehouse_backchannel_logout_deliveries_total{result="failed"}`:  8,
					`gatehouse_backchannel_logout_deliveries_total{result="retried"}`: 7,
					`gatehouse_backchannel_logout_deliveries_total{result="dropped"}`: 1,
					`gatehouse_backchannel_logout_queued`:                             0,
				})
				// The log line may follow the metrics a moment later (a pipe).
				infraWaitLog(t, g, 1, "back-channel logout dropped after its last attempt")
			})

			t.Run("a slow client does not hold up logout", func(t *testing.T) {
				rpS := newRelyingParty(t, g, "--backchannel-logout-uri", recv.url("/slow"))
				recv.mu.Lock()
				recv.hold["/slow"] = make(chan struct{})
				recv.mu.Unlock()
				g.createUser("slow@example.com", "Slow", alicePass)
				b := newBrowser(t)
				raw, _, _ := bcSignIn(t, rpS, b, "slow@example.com", alicePass)
				before, _ := scrapeMetrics(t, g)
				if d := endSession(t, g, b, raw); d > time.Second {
					t.Errorf("end_session took %v with a client that does not answer", d)
				}
				recv.wait("/slow", 1)
				// The request times out (5s): a failed attempt, retried.
				deadline := time.Now().Add(15 * time.Second)
				for {
					after, _ := scrapeMetrics(t, g)
					if after[`gatehouse_backchannel_logout_deliveries_total{result="retried"}`]-
						before[`gatehouse_backchannel_logout_deliveries_total{result="retried"}`] == 1 {
						if after[`gatehouse_backchannel_logout_queued`] != 1 {
							t.Errorf("gatehouse_backchannel_logout_queued = %v, want 1", after[`gatehouse_backchannel_logout_queued`])
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the slow delivery was not counted as failed and retried within 15s")
					}
					time.Sleep(200 * time.Millisecond)
				}
			})
		})
	}
}

// TestBackchannelReplicaCrash kills a replica (SIGKILL) while it sends a
// logout token; another replica on the same database sends it once the
// dead one's lease has run out.
func TestBackchannelReplicaCrash(t *testing.T) {
	t.Parallel()
	e := ssStart(t, databaseURL(t, "postgres"))
	a := e.g
	recv := newBCReceiver(t)
	rp := newRelyingParty(t, a, "--backchannel-logout-uri", recv.url("/crash"))
	a.createUser("crash@example.com", "Crash", alicePass)
	hold := make(chan struct{})
	recv.mu.Lock()
	recv.hold["/crash"] = hold
	recv.mu.Unlock()

	b := newBrowser(t)
	raw, sub, sid := bcSignIn(t, rp, b, "crash@example.com", alicePass)
	endSession(t, a, b, raw)
	recv.wait("/crash", 1) // A holds the delivery, in flight

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killErr := <-a.exited
	a.exited <- killErr
	recv.mu.Lock()
	delete(recv.hold, "/crash")
	recv.mu.Unlock()
	close(hold)

	// B: the same database, keys, issuer and clock.
	bg := newGatehouse(t, tfEnvValue(a, "GATEHOUSE_DATABASE_URL"),
		"GATEHOUSE_TEST_CLOCK_FILE="+e.clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
		"GATEHOUSE_ISSUER="+a.base,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"))
	bg.start()
	if s, _ := scrapeMetrics(t, bg); s[`gatehouse_backchannel_logout_queued`] != 1 {
		t.Errorf("queued on B = %v, want 1 (A's delivery)", s[`gatehouse_backchannel_logout_queued`])
	}
	recv.quiet("/crash", 1) // A's lease still runs
	e.advance(time.Minute)
	verifyLogoutTokenOf(t, a.base, bg.base+"/keys", recv.wait("/crash", 2), rp.client.ID, sub, sid, time.Minute)
	recv.quiet("/crash", 2)
	infraWaitLog(t, bg, 1, "back-channel logout sent") // B logged the delivery
	t.Logf("A killed (%v) while sending; B delivered after the lease", killErr)
}
