package main

// A client changed at one replica (REL-02): the other replica refuses what
// the change took away at once, for the request that follows the admin's
// "done", not once PostgreSQL's notification of the change reaches it.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// TestClientChangesAcrossReplicas rotates a confidential client's secret
// through the admin API of replica A, then presents the old secret at
// replica B 50 times at once: every one is refused. It then disables a
// client of the code flow and one of client_credentials at A: B refuses
// /authorize and the token endpoint at once. B has each client in memory
// before each change.
//
// It runs twice: as the replicas are, and with the clients table's trigger
// that notifies its changes (migration 0008) off, as if PostgreSQL's
// notifications took their time: they reach a replica some time after the
// commit, and the replica must not wait for them. (The replicas kept their
// clients until such a notification once; on an idle machine it mostly
// came before the next request, so that only the second run failed every
// time.)
func TestClientChangesAcrossReplicas(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t)
	a, b := replicaPair(t)
	token := adminToken(t, a, a.createClient("--name", "Operations", "--admin"))
	t.Run("notified", func(t *testing.T) { clientChangesAcrossReplicas(t, a, b, token) })
	t.Run("unnotified", func(t *testing.T) {
		db := foConnect(t, tfEnvValue(a, "GATEHOUSE_DATABASE_URL"))
		if _, err := db.Exec(t.Context(), `ALTER TABLE clients DISABLE TRIGGER clients_changed`); err != nil {
			t.Fatal(err)
		}
		clientChangesAcrossReplicas(t, a, b, token)
	})
}

// clientChangesAcrossReplicas is TestClientChangesAcrossReplicas with new
// clients, made with the CLI at A; token is an admin token.
func clientChangesAcrossReplicas(t *testing.T, a, b *gatehouse, token string) {
	svc := a.createClient("--name", "Service", "--grant", "client_credentials")
	app := a.createClient("--name", "App", "--redirect-uri", biLocalCB)
	_, challenge := pkce()
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// authorize returns the status of /authorize for app at g, and where
	// it sends the browser.
	authorize := func(g *gatehouse, state string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, biAuthorizeURL(g, biAuthQuery(app.ID, biLocalCB, state, challenge)), nil)
		if err != nil {
			return 0, err.Error()
		}
		status, header, body, err := burstDo(noRedirects, req)
		if err != nil {
			return 0, err.Error()
		}
		if status < 400 {
			return status, header.Get("Location")
		}
		return status, body
	}
	tokenForm := url.Values{"grant_type": {"client_credentials"}}
	// burst runs n requests at once and returns what each answered.
	burst := func(n int, do func(i int) (int, string)) (statuses []int, answers []string) {
		statuses, answers = make([]int, n), make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				statuses[i], answers[i] = do(i)
			})
		}
		close(start)
		wg.Wait()
		return statuses, answers
	}

	// B knows the client with its first secret.
	for range 3 {
		if status, out := clientCredentials(t, b, svc, ""); status != http.StatusOK {
			t.Fatalf("client_credentials at B before the rotation = %d %v", status, out)
		}
	}
	r := adminCall(t, a, token, http.MethodPost, "/api/clients/"+svc.ID+"/secret", "")
	var rotated map[string]string
	r.json(t, &rotated)
	if r.status != http.StatusOK || rotated["client_secret"] == "" || rotated["client_secret"] == svc.Secret {
		t.Fatalf("rotate the secret at A = %d %s", r.status, r.body)
	}
	statuses, answers := burst(50, func(int) (int, string) {
		ans := replayPost(b.base+"/oauth/token", tokenForm, svc.ID, svc.Secret)
		return ans.status, ans.raw
	})
	accepted := 0
	for i, status := range statuses {
		if status != http.StatusUnauthorized || !strings.Contains(answers[i], `"invalid_client"`) {
			if accepted++; accepted == 1 {
				t.Errorf("the old secret at B right after its rotation at A = %d %s, want 401 invalid_client", status, answers[i])
			}
		}
	}
	if accepted > 0 {
		t.Errorf("%d of 50 requests with the old secret at B right after its rotation at A were not refused", accepted)
	}
	svc.Secret = rotated["client_secret"]
	if status, out := clientCredentials(t, b, svc, ""); status != http.StatusOK {
		t.Errorf("the new secret at B = %d %v, want 200", status, out)
	}

	// B knows both clients, enabled.
	for i := range 3 {
		if status, out := clientCredentials(t, b, svc, ""); status != http.StatusOK {
			t.Fatalf("client_credentials at B before the disable = %d %v", status, out)
		}
		if status, where := authorize(b, "before"+string(rune('0'+i))); status >= 400 || !strings.Contains(where, "/login") {
			t.Fatalf("/authorize at B before the disable = %d %q, want a redirect to the login", status, where)
		}
	}
	for _, id := range []string{svc.ID, app.ID} {
		if r := adminCall(t, a, token, http.MethodPost, "/api/clients/"+id+"/disable", ""); r.status != http.StatusOK {
			t.Fatalf("disable %s at A = %d %s", id, r.status, r.body)
		}
	}
	statuses, answers = burst(40, func(i int) (int, string) {
		if i%2 == 0 {
			ans := replayPost(b.base+"/oauth/token", tokenForm, svc.ID, svc.Secret)
			return ans.status, ans.raw
		}
		return authorize(b, "after")
	})
	for i, status := range statuses {
		switch {
		case i%2 == 0 && (status != http.StatusUnauthorized || !strings.Contains(answers[i], `"invalid_client"`)):
			t.Errorf("client_credentials at B right after the client was disabled at A = %d %s, want 401 invalid_client", status, answers[i])
		case i%2 == 1 && (status < 400 || status >= 500 || strings.Contains(answers[i], "/login?")):
			t.Errorf("/authorize at B right after the client was disabled at A = %d %.200q, want an error page", status, answers[i])
		}
	}
}
