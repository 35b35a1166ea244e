package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// parPushFrom is parPush from the loopback address ip.
func parPushFrom(t *testing.T, g *gatehouse, ip string, form url.Values, user, pass string) parResponse {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, g.base+"/oauth/par", strings.NewReader(form.Encode()))
	if err != nil {
		t.Error(err)
		return parResponse{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return parResponse{}
	}
	defer resp.Body.Close()
	out := parResponse{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Errorf("POST /oauth/par = %d, body not JSON: %q", resp.StatusCode, raw)
	}
	return out
}

// TestPublicPushLimit: pushed authorization requests of public clients,
// which anyone may send, count against their client IP (pushLimitMax a
// minute). 30 pushed at once from one address store 20 and get 10 429s
// (RFC 9126 §2.3) with Retry-After, and the address stays refused; other
// addresses push as before, and a confidential client's pushes, from
// the refused address too, are not counted.
func TestPublicPushLimit(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			rp := newRelyingParty(t, g)
			public := g.createClient("--name", "Native App", "--public", "--redirect-uri", paLocalCB)
			_, challenge := pkce()
			pub := url.Values{
				"client_id": {public.ID}, "redirect_uri": {paLocalCB}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}
			const flooder = "127.0.0.77"
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				results = map[int]int{}
			)
			for range 30 {
				wg.Go(func() {
					resp := parPushFrom(t, g, flooder, pub, "", "")
					if resp.status == http.StatusTooManyRequests {
						if s, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || s < 1 || resp.body["error"] != "temporarily_unavailable" {
							t.Errorf("a refused push: Retry-After %q, %v", resp.header.Get("Retry-After"), resp.body)
						}
					}
					mu.Lock()
					results[resp.status]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if results[http.StatusCreated] != pushLimitMax || results[http.StatusTooManyRequests] != 30-pushLimitMax || len(results) != 2 {
				t.Errorf("30 pushes at once from one address: %v, want %d 201 and %d 429", results, pushLimitMax, 30-pushLimitMax)
			}
			if resp := parPushFrom(t, g, flooder, pub, "", ""); resp.status != http.StatusTooManyRequests {
				t.Errorf("a push from the refused address afterwards: %d %v, want 429", resp.status, resp.body)
			}
			for i := range 10 {
				ip := "127.0.0." + strconv.Itoa(100+i)
				if resp := parPushFrom(t, g, ip, pub, "", ""); resp.status != http.StatusCreated {
					t.Errorf("a push from %s: %d %v, want 201", ip, resp.status, resp.body)
				}
			}
			if resp := parPushFrom(t, g, flooder, parFlowParams(t, rp.newFlow()), rp.client.ID, rp.client.Secret); resp.status != http.StatusCreated {
				t.Errorf("a confidential client's push from the refused address: %d %v, want 201", resp.status, resp.body)
			}
		})
	}
}
