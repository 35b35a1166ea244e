package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestEveryAnswerNotStored checks the headers of the answers that no page
// handler writes — the routers' 404 and 405, and the probes — next to
// pages and error pages: each carries the page headers (SECURITY.md
// SES-05, SES-06), Cache-Control: no-store, and no CORS header for a
// cross-site Origin (SES-07). The answers that may be cached (the
// stylesheet, the discovery document) keep their own Cache-Control.
func TestEveryAnswerNotStored(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			b := newBrowser(t)
			b.header.Set("Origin", "https://evil.example")
			for _, tt := range []struct {
				method, path string
				status       int
				cache        string // the Cache-Control wanted
			}{
				{http.MethodGet, "/no/such/page", http.StatusNotFound, "no-store"},
				{http.MethodGet, "/account/no-such-page", http.StatusNotFound, "no-store"},
				{http.MethodDelete, "/login", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodPut, "/account", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodPatch, "/logout", http.StatusMethodNotAllowed, "no-store"},
				{http.MethodGet, "/healthz", http.StatusOK, "no-store"},
				{http.MethodGet, "/login", http.StatusBadRequest, "no-store"},
				{http.MethodPost, "/logout", http.StatusForbidden, "no-store"},
				{http.MethodGet, "/signed-out", http.StatusOK, "no-store"},
				{http.MethodGet, "/authorize", http.StatusBadRequest, "no-store"},
				{http.MethodGet, "/static/gatehouse.css", http.StatusOK, "public, max-age=3600"},
				{http.MethodGet, discoveryPath, http.StatusOK, "public, max-age=300"},
			} {
				req, err := http.NewRequest(tt.method, g.base+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp := b.do(req)
				h := resp.Header
				if resp.StatusCode != tt.status || h.Get("Cache-Control") != tt.cache {
					t.Errorf("%s %s = %d, Cache-Control %q; want %d, %q", tt.method, tt.path, resp.StatusCode, h.Get("Cache-Control"), tt.status, tt.cache)
				}
				if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
					h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s %s: CSP %q, nosniff %q", tt.method, tt.path, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
				}
				if tt.path != discoveryPath && (h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer") {
					t.Errorf("%s %s: X-Frame-Options %q, Referrer-Policy %q", tt.method, tt.path, h.Get("X-Frame-Options"), h.Get("Referrer-Policy"))
				}
				if tt.path != discoveryPath && (h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "") {
					t.Errorf("%s %s: CORS headers %q %q for a cross-site Origin", tt.method, tt.path,
						h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
				}
			}
		})
	}
}
