package main

// Replicas on one PostgreSQL schema (REL-02, REL-08): a replica killed in
// the middle of a sign-in, a replica drained by SIGTERM under load, and key
// rotation while another replica's JWKS verifies every token.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// replicaPair starts two gatehouse processes, A and B, on one fresh
// PostgreSQL schema with one key file and one issuer (A's address). extraB
// is added to B's environment.
func replicaPair(t *testing.T, extraB ...string) (a, b *gatehouse) {
	t.Helper()
	dsn := pgtest.DSN(t)
	a = newGatehouse(t, dsn)
	a.start()
	b = newGatehouse(t, dsn, append([]string{
		"GATEHOUSE_ISSUER=" + a.base,
		"GATEHOUSE_SECRETS_KEY_FILE=" + tfEnvValue(a, "GATEHOUSE_SECRETS_KEY_FILE"),
	}, extraB...)...)
	b.start()
	return a, b
}

// replicaFollow follows the redirects of a successful login response up to
// the client's redirect URI and returns the code. URLs on the dead
// replica's address (the issuer's) are sent to alive instead, as a load
// balancer in front of both would.
func replicaFollow(t *testing.T, br *browser, resp *response, dead, alive, redirect, state string) string {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d, want 303:\n%s", resp.StatusCode, resp.body)
	}
	next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	u := next.String()
	for range 10 {
		if strings.HasPrefix(u, redirect) {
			q, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			if q.Query().Get("code") == "" || q.Query().Get("state") != state {
				t.Fatalf("redirect to the client without a code: %s", u)
			}
			return q.Query().Get("code")
		}
		if dead != "" && strings.HasPrefix(u, dead) {
			u = alive + strings.TrimPrefix(u, dead)
		}
		r := br.get(u)
		if r.StatusCode < 300 || r.StatusCode >= 400 {
			t.Fatalf("landed on %s (%d):\n%s", u, r.StatusCode, r.body)
		}
		next, err := r.Request.URL.Parse(r.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		u = next.String()
	}
	t.Fatal("too many redirects")
	return ""
}

// replicaVerifier verifies ID tokens of issuer with the keys published at
// g's /keys, as a relying party fetching them from that replica would.
func replicaVerifier(t *testing.T, g *gatehouse, issuer, clientID string) *oidc.IDTokenVerifier {
	ks := oidc.NewRemoteKeySet(context.WithoutCancel(t.Context()), g.base+"/keys")
	return oidc.NewVerifier(issuer, ks, &oidc.Config{ClientID: clientID})
}

// TestReplicaCrash starts a sign-in on A, kills A with SIGKILL, and
// finishes the sign-in on B with the same cookies: nothing lives only in
// A's memory.
func TestReplicaCrash(t *testing.T) {
	t.Parallel()
	a, b := replicaPair(t)
	c := a.createClient("--name", "Replica App", "--redirect-uri", biLocalCB)
	a.createUser(biEmail, "Alice", biPassword)

	br := newBrowser(t)
	page, verifier := biLoginPage(t, a, br, c.ID, biLocalCB, "crash-1")

	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killErr := <-a.exited
	a.exited <- killErr
	if _, err := http.Get(a.base + "/healthz"); err == nil {
		t.Fatal("A still answers after kill -9")
	}
	start := time.Now()
	resp := br.post(b.base+"/login", biLoginForm(page, biEmail, biPassword))
	code := replicaFollow(t, br, resp, a.base, b.base, biLocalCB, "crash-1")
	status, m, body := biToken(t, b, c.ID, c.Secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {biLocalCB}, "code_verifier": {verifier},
	})
	raw, _ := m["id_token"].(string)
	if status != http.StatusOK || raw == "" {
		t.Fatalf("code exchange at B = %d %s", status, body)
	}
	idt, err := replicaVerifier(t, b, a.base, c.ID).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("ID token from B does not verify with B's JWKS: %v", err)
	}
	var claims idClaims
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != biEmail || idt.Nonce != "n-crash-1" {
		t.Errorf("claims = %+v nonce %q", claims, idt.Nonce)
	}
	t.Logf("A killed (%v) after its login page; B finished the sign-in (password, code, token, ID token verified with B's JWKS) in %v",
		killErr, time.Since(start).Round(time.Millisecond))
}

// TestReplicaDrain sends SIGTERM to B while a loop of requests hits it:
// /readyz answers 503 before the listener closes, every request answered
// gets a non-5xx answer, and B exits 0.
func TestReplicaDrain(t *testing.T) {
	t.Parallel()
	const delay = 1500 * time.Millisecond
	a, b := replicaPair(t, fmt.Sprintf("GATEHOUSE_HTTP_SHUTDOWN_DELAY=%v", delay))
	c := a.createClient("--name", "Drain App", "--redirect-uri", biLocalCB)

	_, challenge := pkce()
	paths := []string{
		"/.well-known/openid-configuration",
		"/keys",
		"/authorize?" + biAuthQuery(c.ID, biLocalCB, "drain", challenge).Encode(), // writes a sign-in request
	}
	var (
		mu        sync.Mutex
		statuses  = map[string]int{} // "path status" → count
		fivexx    []string
		firstErr  time.Time
		errs      int
		requests  atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
		notReady  time.Time // first 503 from /readyz
		sigterm   time.Time
		lastOK    time.Time
		readyPoll atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for w := range 6 {
		wg.Go(func() {
			for i := w; !stop.Load(); i++ {
				p := paths[i%len(paths)]
				requests.Add(1)
				resp, err := client.Get(b.base + p)
				now := time.Now()
				mu.Lock()
				if err != nil {
					errs++
					if firstErr.IsZero() {
						firstErr = now
					}
				} else {
					resp.Body.Close()
					key := fmt.Sprintf("%s %d", strings.SplitN(p, "?", 2)[0], resp.StatusCode)
					statuses[key]++
					if resp.StatusCode >= 500 {
						fivexx = append(fivexx, key)
					}
					lastOK = now
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			readyPoll.Add(1)
			resp, err := client.Get(b.base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					mu.Lock()
					if notReady.IsZero() {
						notReady = time.Now()
					}
					mu.Unlock()
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	time.Sleep(time.Second)
	mu.Lock()
	sigterm = time.Now()
	mu.Unlock()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	select {
	case exitErr = <-b.exited:
		b.exited <- exitErr
	case <-time.After(40 * time.Second):
		t.Fatal("B did not exit within 40s of SIGTERM")
	}
	exited := time.Now()
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if exitErr != nil {
		t.Errorf("B exited with %v, want status 0", exitErr)
	}
	if notReady.IsZero() {
		t.Error("/readyz never answered 503 during the drain")
	} else if !firstErr.IsZero() && firstErr.Before(notReady) {
		t.Errorf("a request failed (%v after SIGTERM) before /readyz answered 503 (%v after)",
			firstErr.Sub(sigterm), notReady.Sub(sigterm))
	}
	if !firstErr.IsZero() && firstErr.Before(sigterm) {
		t.Errorf("a request failed before SIGTERM")
	}
	if len(fivexx) > 0 {
		t.Errorf("5xx answers other than /readyz: %v", fivexx)
	}
	if !strings.Contains(b.output(), "shutting down") || !strings.Contains(b.output(), "stopped") {
		t.Errorf("B's log lacks the shutdown lines")
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s ×%d", k, statuses[k]))
	}
	t.Logf("drain: %d requests to B (%s); %d refused after the listener closed; /readyz polled %d times, 503 %v after SIGTERM; "+
		"last answered request %v after SIGTERM; exit %v after SIGTERM (status %v); 5xx outside /readyz: %d",
		requests.Load(), strings.Join(summary, ", "), errs, readyPoll.Load(), notReady.Sub(sigterm).Round(time.Millisecond),
		lastOK.Sub(sigterm).Round(time.Millisecond), exited.Sub(sigterm).Round(time.Millisecond), exitErr, len(fivexx))
}

// TestReplicaKeyRotation rotates the signing keys while sign-ins run
// through HAProxy on two replicas and verifies every ID token against the
// JWKS of one replica, B: a kid that B does not publish would fail
// (REL-08). Here "A" is HAProxy's front, which sends each request to
// either replica.
func TestReplicaKeyRotation(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	a, b := cl.front, cl.replicas[1]
	c := a.createClient("--name", "Rotation App", "--redirect-uri", biLocalCB)
	a.createUser(biEmail, "Alice", biPassword)
	verifier := replicaVerifier(t, b, a.base, c.ID)

	// Keys rotated now start signing 20 s later: run past that.
	const run = 28 * time.Second
	var (
		mu       sync.Mutex
		kids     = map[string]int{}
		total    int
		verified int
		failures []string
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(run)
	for w := range 3 {
		wg.Go(func() {
			br := newBrowser(t)
			for i := 0; time.Now().Before(deadline); i++ {
				state := fmt.Sprintf("rot-%d-%d", w, i)
				pkceVerifier, challenge := pkce()
				page, at := br.follow(biAuthorizeURL(a, biAuthQuery(c.ID, biLocalCB, state, challenge)), biLocalCB)
				var code string
				if page != nil { // the first sign-in of this browser: password
					resp := br.post(a.base+"/login", biLoginForm(page, biEmail, biPassword))
					code = replicaFollow(t, br, resp, "", "", biLocalCB, state)
				} else {
					u, _ := url.Parse(at)
					code = u.Query().Get("code")
				}
				status, m, body := biToken(t, a, c.ID, c.Secret, url.Values{
					"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {biLocalCB}, "code_verifier": {pkceVerifier},
				})
				raw, _ := m["id_token"].(string)
				kid := jwtKID(raw)
				_, err := verifier.Verify(context.WithoutCancel(t.Context()), raw)
				mu.Lock()
				total++
				kids[kid]++
				switch {
				case status != http.StatusOK || raw == "":
					failures = append(failures, fmt.Sprintf("token %d %s", status, body))
				case err != nil:
					failures = append(failures, fmt.Sprintf("kid %s: %v", kid, err))
				default:
					verified++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	out := a.cli("", "keys", "rotate")
	rotated := time.Now()
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d ID tokens from A failed against B's JWKS, e.g. %s", len(failures), total, failures[0])
	}
	if len(kids) < 2 {
		t.Errorf("every token was signed with one key (%v): the rotated key never signed within %v", kids, run)
	}
	t.Logf("key rotation: %d ID tokens issued by A over %v (rotation at +2s, run %v after it), %d verified with B's /keys (%.1f%%); kids %v\n%s",
		total, run, deadline.Sub(rotated).Round(time.Second), verified, 100*float64(verified)/float64(max(total, 1)), kids, strings.TrimSpace(out))
}

// jwtKID returns the kid of a JWS's header.
func jwtKID(raw string) string {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	json.Unmarshal(data, &h)
	return h.KID
}
