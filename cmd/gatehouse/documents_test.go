package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDocumentsAnsweredEarly checks the discovery document and the JWKS as
// served ahead of the router (documentsFirst): the same headers as every
// other response (security headers, a request id), CORS, ETag and 304,
// HEAD, their requests and latencies in the metrics under the router's
// series, and a debug line per request in the log; a POST still goes the
// full way.
func TestDocumentsAnsweredEarly(t *testing.T) {
	g := startGatehouse(t, "sqlite")
	before, _ := scrapeMetrics(t, g)
	do := func(method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	ids := map[string]bool{}
	for _, path := range []string{discoveryPath, jwksPath} {
		// Twice: the first request to discovery makes the document
		// through the full path, the second is answered early.
		for range 2 {
			resp, body := do(http.MethodGet, path, http.Header{"Origin": {"https://app.example"}})
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(body, "{") {
				t.Fatalf("GET %s: %d %q %.80s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			for h, want := range map[string]string{
				"X-Content-Type-Options":      "nosniff",
				"X-Frame-Options":             "DENY",
				"Referrer-Policy":             "no-referrer",
				"Access-Control-Allow-Origin": "https://app.example",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
				}
			}
			if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
				!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
				t.Errorf("GET %s: CSP %q, Cache-Control %q", path, resp.Header.Get("Content-Security-Policy"), resp.Header.Get("Cache-Control"))
			}
			id := resp.Header.Get("X-Request-Id")
			if len(id) != 16 || ids[id] {
				t.Errorf("GET %s: X-Request-Id %q (new ids expected, 16 hex digits)", path, id)
			}
			ids[id] = true
		}
		resp, _ := do(http.MethodGet, path, nil)
		if r, body := do(http.MethodGet, path, http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); r.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("GET %s with its ETag: %d, %d bytes; want 304", path, r.StatusCode, len(body))
		}
		if r, body := do(http.MethodHead, path, nil); r.StatusCode != http.StatusOK || body != "" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("HEAD %s: %d, %d bytes, nosniff %q", path, r.StatusCode, len(body), r.Header.Get("X-Content-Type-Options"))
		}
		// Other methods go the full way (the provider answers them).
		if r, _ := do(http.MethodPost, path, nil); r.StatusCode >= 500 || r.Header.Get("X-Request-Id") == "" {
			t.Errorf("POST %s: %d, X-Request-Id %q", path, r.StatusCode, r.Header.Get("X-Request-Id"))
		}
	}

	after, _ := scrapeMetrics(t, g)
	expectDeltas(t, "documents", before, after, map[string]float64{
		`gatehouse_http_requests_total{code="200",method="GET",route="/.well-known/openid-configuration"}`:  3,
		`gatehouse_http_requests_total{code="304",method="GET",route="/.well-known/openid-configuration"}`:  1,
		`gatehouse_http_requests_total{code="200",method="HEAD",route="/.well-known/openid-configuration"}`: 1,
		`gatehouse_http_requests_total{code="200",method="GET",route="/keys"}`:                              3,
		`gatehouse_http_requests_total{code="200",method="HEAD",route="/keys"}`:                             1,
		`gatehouse_http_requests_total{code="304",method="GET",route="/keys"}`:                              1,
		`gatehouse_http_request_duration_seconds_count{route="/keys"}`:                                      6,
	})
	// The harness logs at debug level: one line per early answer too,
	// with its request id.
	logs := g.output()
	for id := range ids {
		if !strings.Contains(logs, id) {
			t.Errorf("request %s is not in the log", id)
		}
	}
}
