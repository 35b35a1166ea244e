package main

// WebAuthn ceremonies replayed across two replicas on one PostgreSQL: a
// registration response and an assertion, each for one challenge, finished
// at the other replica, again after success, and 20 times at once over
// both; and the one-time page that shows a new key's recovery codes,
// opened at both replicas at once.

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// localReplicaPair starts two replicas on one PostgreSQL schema whose
// issuer is A's address spelt http://localhost:PORT (WebAuthn needs a host
// name); B is also addressed as localhost, so that a browser's cookies go
// to both, as behind one load balancer.
func localReplicaPair(t *testing.T, extra ...string) (a, b *gatehouse) {
	t.Helper()
	dsn := pgtest.DSN(t)
	a = newGatehouse(t, dsn, extra...)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.base, "http://"))
	a.base = "http://localhost:" + port
	a.env = append(a.env, "GATEHOUSE_ISSUER="+a.base)
	a.start()
	b = newGatehouse(t, dsn, append([]string{
		"GATEHOUSE_ISSUER=" + a.base,
		"GATEHOUSE_SECRETS_KEY_FILE=" + tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"),
	}, extra...)...)
	b.start() // waits for B's log line, which names its IP address
	_, port, _ = net.SplitHostPort(strings.TrimPrefix(b.base, "http://"))
	b.base = "http://localhost:" + port
	return a, b
}

// keyFinishBurst posts body as JSON to path at the servers, n times at
// once from browser br, in turn over the servers, and returns the statuses
// and the decoded 200 answers.
func keyFinishBurst(t *testing.T, br *browser, csrf, path string, body any, n int, servers ...*gatehouse) (map[int]int, []map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		won      []map[string]any
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, servers[i%len(servers)].base+path, strings.NewReader(string(raw)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", csrf)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			status, _, out, err := burstDo(br.c, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || status >= 500 {
				t.Errorf("POST %s: %d %v %s", path, status, err, out)
			}
			statuses[status]++
			if status == http.StatusOK {
				var m map[string]any
				json.Unmarshal([]byte(out), &m)
				won = append(won, m)
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses, won
}

// TestReplayWebAuthnReplicas replays registration and assertion responses
// between two replicas.
func TestReplayWebAuthnReplicas(t *testing.T) {
	t.Parallel()
	// Refused replays count as wrong key checks: the limits are raised so
	// that the bursts below do not block the test's own address.
	limits := []string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS=100", "GATEHOUSE_LOCKOUT_ACCOUNT_MAX_ATTEMPTS=200"}
	a, b := localReplicaPair(t, limits...)
	a.createUser(alice, "Alice", alicePass)
	rp := newRelyingParty(t, a)
	key := newSoftKey(t, a.base)

	// Registration: begun at A, finished at B; the same response again at
	// A, after success, is refused.
	br := newBrowser(t)
	rp.signIn(br, rp.newFlow(), alice, alicePass)
	reg := keyButton(t, br.get(a.base+"/account/security").body, "register")
	status, begun := br.postJSON(a.base+reg["begin"], reg["csrf"], map[string]any{"name": "YubiKey"})
	if status != http.StatusOK {
		t.Fatalf("register/begin at A = %d %v", status, begun)
	}
	cred := key.create(begun["publicKey"].(map[string]any))
	finish := map[string]any{"ceremony": begun["ceremony"], "credential": cred}
	status, done := br.postJSON(b.base+reg["finish"], reg["csrf"], finish)
	if status != http.StatusOK {
		t.Fatalf("register/finish at B = %d %v", status, done)
	}
	if status, again := br.postJSON(a.base+reg["finish"], reg["csrf"], finish); status != http.StatusBadRequest {
		t.Errorf("register/finish replayed at A = %d %v, want 400", status, again)
	}

	// The recovery codes of the first key are shown once, though the page
	// is asked for at both replicas at once.
	show, _ := done["redirect"].(string)
	if !strings.HasPrefix(show, "/account/security/recovery/show?c=") {
		t.Fatalf("register/finish answer %v: want the recovery codes page", done)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		shown int
	)
	start := make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodGet, []*gatehouse{a, b}[i%2].base+show, nil)
			status, _, body, err := burstDo(br.c, req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil || status >= 500:
				t.Errorf("the recovery codes page: %d %v", status, err)
			case status == http.StatusOK && strings.Contains(body, `id="recovery-codes"`):
				shown++
			}
		})
	}
	close(start)
	wg.Wait()
	if shown != 1 {
		t.Errorf("the recovery codes page asked for 20 times at once over two replicas showed the codes %d times, want 1", shown)
	}

	// Assertion: a sign-in's key step begun at A; one assertion sent 20
	// times at once over both replicas signs in once.
	signin := newBrowser(t)
	f, resp := tfPassword(t, rp, signin, alice, alicePass)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/webauthn?authRequestID=") {
		t.Fatalf("password = %d %q, want 303 to /login/webauthn", resp.StatusCode, loc)
	}
	btn := keyButton(t, signin.get(redirectTarget(resp)).body, "second")
	ar := btn["auth-request-id"]
	status, begun = signin.postJSON(a.base+btn["begin"], btn["csrf"], map[string]any{"authRequestID": ar})
	if status != http.StatusOK {
		t.Fatalf("webauthn/begin at A = %d %v", status, begun)
	}
	assertion := key.get(begun["publicKey"].(map[string]any), a.base, false)
	body := map[string]any{"authRequestID": ar, "ceremony": begun["ceremony"], "credential": assertion}
	got, winners := keyFinishBurst(t, signin, btn["csrf"], btn["finish"], body, 20, b, a)
	if got[http.StatusOK] != 1 {
		t.Fatalf("20 parallel finishes of one assertion over two replicas: %v, want one 200", got)
	}
	// The winner's sign-in goes on to the client, at B.
	if page, at := signin.follow(strings.Replace(winners[0]["redirect"].(string), a.base, b.base, 1), rpRedirect); page != nil {
		t.Fatalf("the key's sign-in at B landed on %s (%d)", at, page.StatusCode)
	} else {
		_, _, c := rp.exchange(rp.codeFrom(at, f), f)
		tfClaims(t, c, []string{"pwd", "hwk", "mfa"}, "urn:gatehouse:loa:3")
	}

	// After success, the assertion and its challenge answer nothing more:
	// not again at B, nor for another pending sign-in.
	// (Its sign-in is done: 400, the request is no longer valid.)
	if status, again := signin.postJSON(b.base+btn["finish"], btn["csrf"], body); status != http.StatusBadRequest || again["redirect"] != nil {
		t.Errorf("the assertion again at B = %d %v, want 400", status, again)
	}
	other := newBrowser(t)
	_, resp = tfPassword(t, rp, other, alice, alicePass)
	btn2 := keyButton(t, other.get(redirectTarget(resp)).body, "second")
	if status, again := other.postJSON(b.base+btn2["finish"], btn2["csrf"],
		map[string]any{"authRequestID": btn2["auth-request-id"], "ceremony": begun["ceremony"], "credential": assertion}); status != http.StatusUnauthorized {
		t.Errorf("the assertion in another sign-in at B = %d %v, want 401", status, again)
	}

	// A second key's registration, from the browser that signed in with
	// the first: one response 20 times at once over both replicas adds
	// one key.
	second := newSoftKey(t, a.base)
	reg = keyButton(t, signin.get(b.base+"/account/security").body, "register")
	status, begun = signin.postJSON(a.base+reg["begin"], reg["csrf"], map[string]any{"name": "Backup key"})
	if status != http.StatusOK {
		t.Fatalf("register/begin at A = %d %v", status, begun)
	}
	got, _ = keyFinishBurst(t, signin, reg["csrf"], reg["finish"],
		map[string]any{"ceremony": begun["ceremony"], "credential": second.create(begun["publicKey"].(map[string]any))}, 20, b, a)
	if got[http.StatusOK] != 1 {
		t.Errorf("20 parallel finishes of one registration over two replicas: %v, want one 200", got)
	}
	if sec := signin.get(b.base + "/account/security"); strings.Count(sec.body, "Backup key") != 1 {
		t.Errorf("the security page lists the key registered in parallel %d times, want once", strings.Count(sec.body, "Backup key"))
	}

	// The replays did not make the key look copied: it still signs in.
	status, begun = other.postJSON(b.base+btn2["begin"], btn2["csrf"], map[string]any{"authRequestID": btn2["auth-request-id"]})
	if status != http.StatusOK {
		t.Fatalf("webauthn/begin at B = %d %v", status, begun)
	}
	if status, done := other.postJSON(a.base+btn2["finish"], btn2["csrf"], map[string]any{"authRequestID": btn2["auth-request-id"],
		"ceremony": begun["ceremony"], "credential": key.get(begun["publicKey"].(map[string]any), a.base, false)}); status != http.StatusOK {
		t.Errorf("the key after the replays = %d %v, want 200", status, done)
	}
}
