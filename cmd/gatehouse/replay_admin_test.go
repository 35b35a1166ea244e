package main

// Admin operations whose effect must happen once, sent 20 times at once
// over the admin listeners of two replicas on one PostgreSQL (and of one
// SQLite process), and the CLI's user creation run several times at once:
// one wins, the others get a clear conflict or not-found, never a 500 or a
// second row.

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// adminBurst sends method path with body to the admin listeners of
// servers, n times at once, in turn over the servers, and returns how many
// answered each status.
func adminBurst(t *testing.T, token, method, path, body string, n int, servers ...*gatehouse) map[int]int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(method, servers[i%len(servers)].admin+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+token)
			status, _, out, err := burstDo(http.DefaultClient, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s %s: %v", method, path, err)
				return
			}
			if status >= 500 {
				t.Errorf("%s %s answered %d: %s", method, path, status, out)
			}
			statuses[status]++
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

// TestReplayAdmin sends one-time admin operations at once over two
// replicas' admin listeners.
func TestReplayAdmin(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a, b := replayServers(t, backend)
			ops := a.createClient("--name", "Operations", "--admin")
			token := adminToken(t, a, ops)

			t.Run("create a user", func(t *testing.T) {
				got := adminBurst(t, token, http.MethodPost, "/api/users",
					`{"email":"twin@example.com","name":"Twin","password":"a long enough password"}`, 20, a, b)
				if got[http.StatusCreated] != 1 || got[http.StatusConflict] != 19 {
					t.Errorf("20 parallel creations of one user: %v, want one 201 and 19 409", got)
				}
				r := adminCall(t, b, token, http.MethodGet, "/api/users", "")
				var list struct {
					Users []struct {
						Email string `json:"email"`
					} `json:"users"`
				}
				r.json(t, &list)
				n := 0
				for _, u := range list.Users {
					if strings.EqualFold(u.Email, "twin@example.com") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d users with the email after the burst, want 1", n)
				}
			})

			t.Run("create a user by case", func(t *testing.T) {
				// The same address in other cases is the same account.
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					statuses = map[int]int{}
				)
				for i, email := range []string{"Case@Example.com", "case@example.com", "CASE@EXAMPLE.COM", "case@EXAMPLE.com"} {
					for j := range 4 {
						wg.Go(func() {
							g := []*gatehouse{a, b}[(i+j)%2]
							req, _ := http.NewRequest(http.MethodPost, g.admin+"/api/users",
								strings.NewReader(`{"email":"`+email+`","password":"a long enough password"}`))
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("Authorization", "Bearer "+token)
							status, _, out, err := burstDo(http.DefaultClient, req)
							mu.Lock()
							defer mu.Unlock()
							if err != nil || status >= 500 {
								t.Errorf("POST /api/users %s: %d %v %s", email, status, err, out)
							}
							statuses[status]++
						})
					}
				}
				wg.Wait()
				if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != 15 {
					t.Errorf("16 parallel creations of one address in four spellings: %v, want one 201 and 15 409", statuses)
				}
			})

			t.Run("delete a client", func(t *testing.T) {
				c := a.createClient("--name", "Doomed", "--redirect-uri", rpRedirect)
				got := adminBurst(t, token, http.MethodDelete, "/api/clients/"+c.ID, "", 20, a, b)
				if got[http.StatusNoContent] != 1 || got[http.StatusNotFound] != 19 {
					t.Errorf("20 parallel deletions of one client: %v, want one 204 and 19 404", got)
				}
			})

			t.Run("rotate a secret", func(t *testing.T) {
				c := a.createClient("--name", "Rotated", "--grant", "client_credentials")
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					secrets []string
				)
				start := make(chan struct{})
				for i := range 20 {
					wg.Go(func() {
						<-start
						g := []*gatehouse{a, b}[i%2]
						req, _ := http.NewRequest(http.MethodPost, g.admin+"/api/clients/"+c.ID+"/secret", nil)
						req.Header.Set("Authorization", "Bearer "+token)
						status, _, out, err := burstDo(http.DefaultClient, req)
						if err != nil || status != http.StatusOK {
							t.Errorf("rotate the secret: %d %v %s", status, err, out)
							return
						}
						var created client
						json.Unmarshal([]byte(out), &created)
						mu.Lock()
						secrets = append(secrets, created.Secret)
						mu.Unlock()
					})
				}
				close(start)
				wg.Wait()
				// Of the secrets handed out, exactly one is the client's
				// now, and the first one no longer is.
				working := 0
				for _, s := range append(secrets, c.Secret) {
					if status, _ := clientCredentials(t, []*gatehouse{a, b}[working%2], client{ID: c.ID, Secret: s}, ""); status == http.StatusOK {
						working++
					}
				}
				if working != 1 {
					t.Errorf("after 20 parallel rotations, %d of the %d secrets handed out (and the first) work, want 1", working, len(secrets))
				}
			})

			t.Run("CLI: create a user", func(t *testing.T) {
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					ok   int
					errs []string
				)
				for i := range 6 {
					wg.Go(func() {
						g := []*gatehouse{a, b}[i%2]
						_, errOut, err := g.tryCLI("a long enough password\n", "users", "create", "--email", "cli-twin@example.com", "--password-stdin")
						mu.Lock()
						defer mu.Unlock()
						if err == nil {
							ok++
						} else {
							errs = append(errs, errOut)
						}
					})
				}
				wg.Wait()
				if ok != 1 {
					t.Errorf("6 parallel `users create` of one email: %d succeeded, want 1", ok)
				}
				for _, e := range errs {
					if !strings.Contains(strings.ToLower(e), "exist") {
						t.Errorf("a losing `users create` said %q, want that the user exists", e)
					}
				}
			})
		})
	}
}
