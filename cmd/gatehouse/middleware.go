package main

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/metrics"
	"github.com/gatehouse-idp/gatehouse/op"
)

// requestInfoKey is the context key of a request's requestInfo.
type requestInfoKey struct{}

// requestInfo is what requestContext knows of a request: its id in the
// logs and the client's address.
type requestInfo struct {
	id string
	ip netip.Addr
}

// withRequestInfo returns ctx carrying the request's id and client IP.
func withRequestInfo(ctx context.Context, id string, ip netip.Addr) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, &requestInfo{id: id, ip: ip})
}

// contextHandler adds the request id and client IP of the context to every
// log record.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		r.AddAttrs(slog.String("request_id", info.id), slog.String("client_ip", info.ip.String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(a)}
}

func (h contextHandler) WithGroup(n string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(n)}
}

// clientIPResolver finds the client's address: the TCP peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For hop that is not a
// trusted proxy itself.
type clientIPResolver struct{ trusted []netip.Prefix }

func (c clientIPResolver) isTrusted(ip netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (c clientIPResolver) resolve(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	peer = peer.Unmap()
	if !c.isTrusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a garbled chain: believe only the peer
		}
		ip = ip.Unmap()
		if !c.isTrusted(ip) {
			return ip
		}
	}
	return peer
}

// clientIP returns the client address that the middleware resolved.
func clientIP(r *http.Request) netip.Addr {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return info.ip
	}
	return netip.IPv4Unspecified()
}

// requestContext assigns a request id, resolves the client IP, recovers
// from panics without leaking a stack trace, and logs each request — its
// path only, never the query, which can hold codes and tokens.
func requestContext(logger *slog.Logger, ips clientIPResolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ctx := withRequestInfo(r.Context(), id, ips.resolve(r))
		r = r.WithContext(ctx)
		w.Header()["X-Request-Id"] = []string{id}
		sw := &metrics.StatusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(ctx, "panic serving request", "panic", p, "stack", string(debug.Stack()))
				if sw.Status == 0 {
					http.Error(sw, "Internal error (reference "+id+")", http.StatusInternalServerError)
				}
			}
			level := slog.LevelInfo
			if quietPath(r.URL.Path, sw.Code()) {
				level = slog.LevelDebug
			}
			if logger.Enabled(ctx, level) { // else its arguments cost allocations for nothing
				logger.Log(ctx, level, "request", "method", r.Method, "path", r.URL.Path,
					"status", sw.Code(), "duration_ms", time.Since(start).Milliseconds())
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// quietPath reports whether a request answered status is logged at debug
// level only: load balancers poll the probes every second or so, and
// relying parties fetch the public discovery document and JWKS as often,
// so their successful answers would drown the log (and cost a JSON line
// each on the hottest paths). Resource servers call introspection and
// userinfo on their own clients' every request: their answers of 200 are
// quiet too (a token refused is still logged; the metrics count all).
func quietPath(path string, status int) bool {
	switch path {
	case "/readyz", "/healthz", op.IntrospectionPath, op.UserinfoPath:
		return status == http.StatusOK
	case discoveryPath, metadataPath, jwksPath:
		return status == http.StatusOK || status == http.StatusNotModified
	}
	return false
}

// securityHeaders sets the headers every response carries: no framing, no
// sniffing, no referrer, a strict CSP, HSTS under https, and no-store
// unless the handler says how its answer may be cached. The answers of
// credentialPaths, JSON for API clients, carry the headers that matter for
// a JSON answer (setCredentialHeaders).
func securityHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if credentialPaths[r.URL.Path] {
			setCredentialHeaders(w.Header(), https)
		} else {
			setSecurityHeaders(w.Header(), https)
		}
		next.ServeHTTP(w, r)
	})
}

// The security headers' values, shared by every response: each slice is
// full, so that an Add elsewhere copies it rather than writing into it.
var (
	cspValue = []string{"default-src 'none'; style-src 'self'; img-src 'self' data:; " +
		"script-src 'self'; connect-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"}
	denyValue       = []string{"DENY"}
	nosniffValue    = []string{"nosniff"}
	noReferrerValue = []string{"no-referrer"}
	hstsValue       = []string{"max-age=31536000; includeSubDomains"}
)

// setSecurityHeaders sets the headers every response carries: a strict
// content security policy, no framing, no sniffing, no referrer, and HSTS
// when the issuer is https. Cache-Control starts as no-store: the answers
// that may be kept (static files, the brand's CSS, the discovery
// document and JWKS) set their own, and every other one — the routers'
// 404 and 405 answers, a recovered panic's 500 — is no one's to keep.
func setSecurityHeaders(h http.Header, https bool) {
	h["Cache-Control"] = noStoreValue
	h["Content-Security-Policy"] = cspValue
	h["X-Frame-Options"] = denyValue
	h["X-Content-Type-Options"] = nosniffValue
	h["Referrer-Policy"] = noReferrerValue
	if https {
		h["Strict-Transport-Security"] = hstsValue
	}
}

// newRequestID returns 16 hex digits naming a request in the logs. It
// correlates, it does not protect: a fast generator suffices.
func newRequestID() string {
	var b [8]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// documentsFirst answers GET and HEAD of the discovery document (at its
// OpenID Connect and its RFC 8414 path) and the JWKS from their serialised
// bytes ahead of the other middleware (body limit, router, fault tracking,
// the provider's own router), which these requests do not need: relying
// parties fetch them as often as they like.
// The answers carry CORS, ETag and Cache-Control, the headers that matter
// for a JSON document (nosniff, a content security policy that allows
// nothing and no framing, HSTS over https; net/http copies and sorts every
// header of every answer, so the ones for pages are left out), the
// request and latency metrics, and the request's line in the log at debug
// level (quietPath). What ServeDocument declines goes to next.
func documentsFirst(p *op.Provider, m *metrics.Metrics, https bool, logger *slog.Logger, ips clientIPResolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isDocumentPath(r.URL.Path) || r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		setJSONHeaders(w.Header(), https)
		status, ok := p.ServeDocument(w, r)
		if !ok {
			next.ServeHTTP(w, r) // which sets the headers of every answer
			return
		}
		m.Document(r.URL.Path, r.Method, status, time.Since(start))
		if ctx := r.Context(); logger.Enabled(ctx, slog.LevelDebug) {
			ctx = withRequestInfo(ctx, newRequestID(), ips.resolve(r))
			logger.DebugContext(ctx, "request", "method", r.Method, "path", r.URL.Path,
				"status", status, "duration_ms", time.Since(start).Milliseconds())
		}
	})
}

// documentCSPValue is the content security policy of the JSON documents.
var documentCSPValue = []string{"default-src 'none'; frame-ancestors 'none'"}

// setJSONHeaders sets the security headers of a JSON answer, which no
// browser renders: nosniff, a content security policy that allows nothing
// and no framing, and HSTS under https.
func setJSONHeaders(h http.Header, https bool) {
	h["Content-Security-Policy"] = documentCSPValue
	h["X-Content-Type-Options"] = nosniffValue
	if https {
		h["Strict-Transport-Security"] = hstsValue
	}
}

// The paths documentsFirst answers.
const (
	discoveryPath = op.DiscoveryPath
	metadataPath  = op.MetadataPath // RFC 8414: the same document
	jwksPath      = "/keys"
)

// isDocumentPath reports whether documentsFirst answers path.
func isDocumentPath(path string) bool {
	switch path {
	case discoveryPath, metadataPath, jwksPath:
		return true
	}
	return false
}

// limitBody refuses bodies larger than max with 413 before any handler
// reads them, and caps bodies of unknown length.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			http.Error(w, "Request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// credentialPaths are the endpoints whose answers carry tokens or facts
// about them: the token endpoint, userinfo, introspection and revocation.
var credentialPaths = map[string]bool{
	"/oauth/token":      true,
	"/userinfo":         true,
	"/oauth/introspect": true,
	"/revoke":           true,
}

// The caching headers of credentialPaths' answers.
var (
	noStoreValue = []string{"no-store"}
	noCacheValue = []string{"no-cache"}
)

// setCredentialHeaders sets the headers of every answer of
// credentialPaths, errors included. They are not to be stored by any
// cache: Cache-Control: no-store and, for HTTP/1.0 caches, Pragma:
// no-cache (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3, RFC 7662 §4).
// They are JSON for API clients, not pages: like the discovery document
// (documentsFirst), they carry nosniff, a content security policy that
// allows nothing and no framing, and HSTS under https, but not the page's
// policy, X-Frame-Options or Referrer-Policy, which no browser applies to
// them (net/http copies and sorts every header of every answer, and the
// client parses each). The headers are set before the handlers run, so
// they hold whichever layer answers.
func setCredentialHeaders(h http.Header, https bool) {
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
	setJSONHeaders(h, https)
}
