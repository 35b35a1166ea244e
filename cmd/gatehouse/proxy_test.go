package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestProxyRoundRobin runs the proxy in-process over two backends: requests
// alternate, X-Forwarded-For and Host are set, a backend whose /readyz
// fails is skipped within a poll, and with none ready the proxy answers 503.
func TestProxyRoundRobin(t *testing.T) {
	var ready [2]atomic.Bool
	var hits [2]atomic.Int64
	var urls []string
	for i := range 2 {
		ready[i].Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				if !ready[i].Load() {
					http.Error(w, "shutting down", http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, "ready\n")
				return
			}
			hits[i].Add(1)
			if xff := r.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", xff)
			}
			if r.Host != "idp.test" {
				t.Errorf("Host = %q, want the client's idp.test", r.Host)
			}
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	rr, err := newRoundRobin(urls, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go rr.watch(t.Context(), 20*time.Millisecond)
	front := httptest.NewServer(rr)
	t.Cleanup(front.Close)

	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/x", nil)
		req.Host = "idp.test"
		req.Header.Set("X-Forwarded-For", "203.0.113.9") // a client's claim: replaced
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitReady := func(want [2]bool) {
		deadline := time.Now().Add(5 * time.Second)
		for rr.backends[0].ready.Load() != want[0] || rr.backends[1].ready.Load() != want[1] {
			if time.Now().After(deadline) {
				t.Fatalf("backends never reached readiness %v", want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitReady([2]bool{true, true})
	for range 10 {
		if s := get(); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
	}
	if hits[0].Load() != 5 || hits[1].Load() != 5 {
		t.Errorf("hits = %d, %d; want 5 and 5", hits[0].Load(), hits[1].Load())
	}
	ready[0].Store(false)
	waitReady([2]bool{false, true})
	for range 4 {
		get()
	}
	if hits[0].Load() != 5 || hits[1].Load() != 9 {
		t.Errorf("after backend 0 went unready, hits = %d, %d; want 5 and 9", hits[0].Load(), hits[1].Load())
	}
	ready[1].Store(false)
	waitReady([2]bool{false, false})
	if s := get(); s != http.StatusServiceUnavailable {
		t.Errorf("no backend ready: status %d, want 503", s)
	}
	t.Logf("round-robin: hits %d/%d, unready backends skipped", hits[0].Load(), hits[1].Load())
}
