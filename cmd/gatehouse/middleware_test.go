package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := clientIPResolver{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name     string
		resolver clientIPResolver
		peer     string
		xff      []string
		want     string
	}{
		{"no trust list ignores XFF", clientIPResolver{}, "127.0.0.5:1234", []string{"1.1.1.1"}, "127.0.0.5"},
		{"untrusted peer ignores XFF", trusted, "127.0.0.3:1234", []string{"1.1.1.1, 9.9.9.9"}, "127.0.0.3"},
		{"trusted peer: rightmost hop", trusted, "127.0.0.1:1234", []string{"1.1.1.1, 9.9.9.9"}, "9.9.9.9"},
		{"skips trusted hops", trusted, "127.0.0.1:1234", []string{"1.1.1.1, 9.9.9.9, 10.1.2.3"}, "9.9.9.9"},
		{"several headers", trusted, "127.0.0.1:1234", []string{"1.1.1.1", "8.8.8.8"}, "8.8.8.8"},
		{"garbled hop: the peer", trusted, "127.0.0.1:1234", []string{"1.1.1.1, bogus"}, "127.0.0.1"},
		{"all trusted: the peer", trusted, "127.0.0.1:1234", []string{"10.0.0.1"}, "127.0.0.1"},
		{"no header: the peer", trusted, "127.0.0.1:1234", nil, "127.0.0.1"},
		{"mapped v4 folded", clientIPResolver{}, "[::ffff:127.0.0.9]:1", nil, "127.0.0.9"},
		{"ipv6 peer", clientIPResolver{}, "[2001:db8::1]:1", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.resolver.resolve(r).String(); got != tt.want {
				t.Errorf("resolve = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestRequestLogLevels checks which requests are logged at info level:
// every one but the successful probes, the public documents and the
// resource servers' endpoints, which are called all day.
func TestRequestLogLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		status       int
		logged       bool
	}{
		{"GET", "/healthz", 200, false},
		{"GET", "/readyz", 200, false},
		{"GET", "/readyz", 503, true},
		{"GET", "/.well-known/openid-configuration", 200, false},
		{"GET", "/keys", 304, false},
		{"GET", "/keys", 500, true},
		{"POST", "/oauth/token", 200, true},
		{"POST", "/oauth/introspect", 200, false},
		{"POST", "/oauth/introspect", 401, true},
		{"GET", "/userinfo", 200, false},
		{"GET", "/userinfo", 401, true},
		{"POST", "/userinfo", 403, true},
		{"GET", "/login", 200, true},
		{"GET", "/keys/extra", 404, true},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		h := requestContext(logger, clientIPResolver{}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
		if got := strings.Contains(buf.String(), `"path":"`+tt.path+`"`); got != tt.logged {
			t.Errorf("%s %s answered %d: logged at info %v, want %v (log: %q)", tt.method, tt.path, tt.status, got, tt.logged, buf.String())
		}
	}
}
