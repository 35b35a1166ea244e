package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDocumentsAnsweredEarly checks the discovery document and the JWKS as
// served ahead of the router (documentsFirst): the security headers of a
// JSON document, CORS, ETag and 304, HEAD, their requests and latencies in
// the metrics under the router's series, and a debug line per request in
// the log; a POST still goes the full way.
func TestDocumentsAnsweredEarly(t *testing.T) {
	t.Parallel()
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
				"Access-Control-Allow-Origin": "https://app.example",
				"Vary":                        "Origin",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
				t.Errorf("GET %s: CSP %q, Cache-Control %q", path, csp, resp.Header.Get("Cache-Control"))
			}
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
	// The harness logs at debug level: one line per early answer too. A
	// line follows its answer through a pipe, so it may come a moment
	// later: each gets up to 10 s.
	for _, path := range []string{discoveryPath, jwksPath} {
		for _, line := range []string{`"method":"GET","path":"` + path + `","status":304`, `"method":"HEAD","path":"` + path + `","status":200`} {
			infraWaitLog(t, g, 1, line)
		}
	}
}
