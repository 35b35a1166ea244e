// Package metrics holds Gatehouse's Prometheus metrics and the decorators
// that feed them: around the store (audit events, blocks), the mail sender
// and the public router.
package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Label values. Every label takes its values from a fixed list (or from
// the router's route patterns, which the code fixes too): nothing a client
// sends, no email, IP address or client id, ever becomes a label value, so
// the number of series is bounded.
var (
	signinResults = []string{"succeeded", "failed", "blocked"}
	factors       = []string{"password", "totp", "email", "webauthn", "passkey", "recovery", "other"}
	codePurposes  = []string{"signin", "enable-email", "disable-email", "regenerate-recovery", "change-password",
		"remove-webauthn", "other"}
	blockKinds  = map[string]string{lockout.KindIP: "ip", lockout.KindAccount: "account"}
	blockScopes = map[string]string{"pwd": "password", "otp": "code", "reg": "registration", "rec": "recovery", "par": "pushed_request"}
	grantTypes  = []string{"authorization_code", "refresh_token", "client_credentials", "other"}
	httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// tokenPath is the provider's token endpoint.
const tokenPath = "/oauth/token"

// Metrics are Gatehouse's Prometheus metrics, kept in a registry of their
// own and served by the admin listener at /metrics. They are fed by
// decorators around what already knows: the store (audit events, attempt
// counters), the mail sender and the router.
type Metrics struct {
	reg *prometheus.Registry

	events       *prometheus.CounterVec
	signins      *prometheus.CounterVec
	codesSent    *prometheus.CounterVec
	codesUnsent  *prometheus.CounterVec
	wrongCodes   *prometheus.CounterVec
	blocks       *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	mailMessages *prometheus.CounterVec
	mailLatency  prometheus.Histogram

	// docs are the request and latency series of the documents served
	// ahead of the router (Document), bound once.
	docs map[docSeries]docMetrics
}

// docSeries names a series of the documents' requests.
type docSeries struct {
	route, method string
	code          int
}

type docMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New registers every metric. store is the undecorated backend: active
// blocks are counted from it at scrape time, and its connection pool is
// reported when it has one. now is the server's clock. documents are the
// paths of the documents served ahead of the router (Document), whose
// series start at zero.
func New(store storage.BlockCounter, now func() time.Time, documents []string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gatehouse", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.events = counter("audit_events_total", "Audit events recorded, by type.", "type")
	m.signins = counter("signins_total", "Sign-in steps by result (succeeded, failed, blocked) and factor.", "result", "factor")
	m.codesSent = counter("codes_sent_total", "One-time codes emailed, by purpose.", "purpose")
	m.codesUnsent = counter("code_send_failures_total", "One-time codes whose email could not be delivered, by purpose.", "purpose")
	m.wrongCodes = counter("code_failures_total", "Wrong one-time codes (and refused keys) entered, by factor.", "factor")
	m.blocks = counter("blocks_total", "Blocks imposed after too many failures, by kind (ip, account) and scope.", "kind", "scope")
	m.tokens = counter("token_requests_total", "Token endpoint requests by grant type and result (issued, refused, failed).", "grant_type", "result")
	m.requests = counter("http_requests_total", "HTTP requests on the public listener by route, method and status code.", "route", "method", "code")
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "gatehouse", Name: "http_request_duration_seconds",
		Help: "Time to answer HTTP requests on the public listener, by route.", Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	m.mailMessages = counter("mail_messages_total", "Emails handed to the SMTP server, by result (sent, failed).", "result")
	m.mailLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "gatehouse", Name: "mail_send_duration_seconds",
		Help:    "Time to deliver an email to the SMTP server, failures included.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 15},
	})
	m.reg.MustRegister(m.latency, m.mailLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&blocksCollector{store: store, now: now},
	)
	if p, ok := store.(poolStatser); ok {
		m.reg.MustRegister(poolCollector{p})
	}
	if c, ok := store.(clientCache); ok {
		m.reg.MustRegister(clientCacheCollector{c})
	}

	// Every series starts at zero, so that rates and alerts see the first
	// event too.
	for _, r := range signinResults {
		for _, f := range factors {
			m.signins.WithLabelValues(r, f)
		}
	}
	for _, p := range codePurposes {
		m.codesSent.WithLabelValues(p)
		m.codesUnsent.WithLabelValues(p)
	}
	for _, f := range factors {
		m.wrongCodes.WithLabelValues(f)
	}
	for _, k := range blockKinds {
		for _, s := range blockScopes {
			m.blocks.WithLabelValues(k, s)
		}
	}
	for _, g := range grantTypes {
		for _, r := range []string{"issued", "refused", "failed"} {
			m.tokens.WithLabelValues(g, r)
		}
	}
	for _, r := range []string{"sent", "failed"} {
		m.mailMessages.WithLabelValues(r)
	}
	m.docs = map[docSeries]docMetrics{}
	for _, route := range documents {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, code := range []int{http.StatusOK, http.StatusNotModified} {
				m.docs[docSeries{route, method, code}] = docMetrics{
					requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
					latency:  m.latency.WithLabelValues(route),
				}
			}
		}
	}
	return m
}

// Document counts a request for a document answered ahead of the router,
// under the same series as the router's answers (route is the path).
func (m *Metrics) Document(route, method string, code int, d time.Duration) {
	s, ok := m.docs[docSeries{route, method, code}]
	if !ok {
		s = docMetrics{m.requests.WithLabelValues(route, oneOf(method, httpMethods), strconv.Itoa(code)), m.latency.WithLabelValues(route)}
	}
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// A failing collector (the database away) leaves its metrics out;
		// the rest are still served.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// oneOf returns v if it is in allowed, else "other".
func oneOf(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "other"
}

// eventTypeRE is the shape of the audit event types the code writes.
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z_]{0,30}(\.[a-z][a-z_]{0,30})?$`)

// event counts an audit event. Event types are constants in the code;
// the factor, purpose and result come from the event's structured fields.
func (m *Metrics) event(e *storage.Event) {
	typ := string(e.Type)
	if !eventTypeRE.MatchString(typ) {
		typ = "other"
	}
	m.events.WithLabelValues(typ).Inc()
	switch e.Type {
	case storage.EventSigninSucceeded:
		m.signins.WithLabelValues("succeeded", factorLabel(e.Factor)).Inc()
	case storage.EventSigninFailed:
		result := "failed"
		if e.Blocked {
			result = "blocked"
		}
		m.signins.WithLabelValues(result, factorLabel(e.Factor)).Inc()
	case storage.EventCodeSent:
		m.codesSent.WithLabelValues(oneOf(e.Purpose, codePurposes)).Inc()
	case storage.EventCodeSendFailed:
		m.codesUnsent.WithLabelValues(oneOf(e.Purpose, codePurposes)).Inc()
	case storage.EventCodeFailed:
		m.wrongCodes.WithLabelValues(factorLabel(e.Factor)).Inc()
	}
}

// factorLabel names the factor of an event.
func factorLabel(s string) string {
	return oneOf(s, factors)
}

// blocked counts a block that has just begun on the attempt counter key
// (a lockout.Key; the subject is never a label).
func (m *Metrics) blocked(key string) {
	c, _ := lockout.ParseKey(key)
	k, ok1 := blockKinds[c.Kind]
	s, ok2 := blockScopes[c.Scope]
	if !ok1 || !ok2 {
		k, s = "other", "other"
	}
	m.blocks.WithLabelValues(k, s).Inc()
}

// meteredStore counts audit events and new blocks on their way to the
// store. It decorates two roles, storage.AuditStore (AddEvent) and
// storage.AttemptStore (RecordFailure, FailAttempt); the others pass
// through.
type meteredStore struct {
	storage.Store
	m *Metrics
}

// Store returns s decorated to feed m.
func (m *Metrics) Store(s storage.Store) storage.Store {
	return meteredStore{Store: s, m: m}
}

// AddEvent records e and counts it, stored or not.
func (s meteredStore) AddEvent(ctx context.Context, e *storage.Event) error {
	s.m.event(e)
	return s.Store.AddEvent(ctx, e)
}

// RecordFailure records a failure and counts the block it may begin. A
// block begins in this call when the counter now ends at exactly now+Block
// (to the millisecond the store keeps): a block already running keeps the
// end an earlier failure gave it.
func (s meteredStore) RecordFailure(ctx context.Context, key string, l storage.Limit, now time.Time) (storage.Counter, error) {
	c, err := s.Store.RecordFailure(ctx, key, l, now)
	return c, s.countBlock(c, err, l, now)
}

// FailAttempt records the failure of a reserved attempt and counts the
// block it may begin, as RecordFailure does: a reservation blocks nothing.
func (s meteredStore) FailAttempt(ctx context.Context, key string, l storage.Limit, windowStart, now time.Time) (storage.Counter, error) {
	c, err := s.Store.FailAttempt(ctx, key, l, windowStart, now)
	return c, s.countBlock(c, err, l, now)
}

// countBlock counts the block a failure that left c began, and passes err on.
func (s meteredStore) countBlock(c storage.Counter, err error, l storage.Limit, now time.Time) error {
	if err == nil && !c.BlockedUntil.IsZero() && c.BlockedUntil.UnixMilli() == now.Add(l.Block).UnixMilli() {
		s.m.blocked(c.Key)
	}
	return err
}

// meteredMailer times and counts deliveries to the SMTP server.
type meteredMailer struct {
	mail.Sender
	m *Metrics
}

// Mailer returns s decorated to feed m; the development sender, which
// delivers nothing, is returned as it is.
func (m *Metrics) Mailer(s mail.Sender) mail.Sender {
	if _, dev := s.(mail.Dir); dev {
		return s
	}
	return meteredMailer{Sender: s, m: m}
}

// Send delivers msg and records how it went.
func (s meteredMailer) Send(ctx context.Context, msg mail.Message) error {
	start := time.Now()
	err := s.Sender.Send(ctx, msg)
	s.m.mailLatency.Observe(time.Since(start).Seconds())
	result := "sent"
	if err != nil {
		result = "failed"
	}
	s.m.mailMessages.WithLabelValues(result).Inc()
	return err
}

// Instrument is chi middleware for the public router: it times every
// request under its route pattern and counts token requests by grant type.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var form *bodyHead
		if r.Method == http.MethodPost && r.URL.Path == tokenPath && r.Body != nil {
			// The provider parses the form on a copy of the request; keep
			// the head of the body it reads to learn the grant type.
			form = &bodyHead{ReadCloser: r.Body, max: 8 << 10}
			r.Body = form
		}
		// The server's request log has a StatusWriter around the
		// answer already: the same answer's status, read once.
		sw, ok := w.(*StatusWriter)
		if !ok {
			sw = &StatusWriter{ResponseWriter: w}
		}
		panicked := true
		defer func() {
			status := sw.Code()
			if panicked && sw.Status == 0 {
				status = http.StatusInternalServerError // answered further out
			}
			route := routeLabel(chi.RouteContext(r.Context()))
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
			m.requests.WithLabelValues(route, oneOf(r.Method, httpMethods), strconv.Itoa(status)).Inc()
			if form != nil {
				m.tokens.WithLabelValues(form.grantType(), tokenResult(status)).Inc()
			}
		}()
		next.ServeHTTP(sw, r)
		panicked = false
	})
}

// routeLabel is the pattern of the route that served the request: the
// innermost router's ("/login/otp", "/oauth/token", "/account/security/
// {factor}/{op}"), or "unmatched".
func routeLabel(rctx *chi.Context) string {
	if rctx == nil || len(rctx.RoutePatterns) == 0 {
		return "unmatched"
	}
	p := rctx.RoutePatterns[len(rctx.RoutePatterns)-1]
	if p == "" || p == "/*" {
		return "unmatched"
	}
	return p
}

func tokenResult(status int) string {
	switch {
	case status < 300:
		return "issued"
	case status < 500:
		return "refused"
	}
	return "failed"
}

// bodyHead passes a request body through and keeps its first max bytes.
type bodyHead struct {
	io.ReadCloser
	max  int
	head bytes.Buffer
}

func (b *bodyHead) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := b.max - b.head.Len(); room > 0 && n > 0 {
		b.head.Write(p[:min(n, room)])
	}
	return n, err
}

// grantType is the grant_type of the form read so far, or "other".
func (b *bodyHead) grantType() string {
	v, _ := url.ParseQuery(b.head.String()) // a truncated tail is ignored
	return oneOf(v.Get("grant_type"), grantTypes)
}

// blockScopePrefixes are the attempt counter key prefixes whose running
// blocks the active-blocks gauge reports, with their labels.
func blockScopePrefixes() (prefixes []string, labels [][2]string) {
	for key, kind := range blockKinds {
		for skey, scope := range blockScopes {
			prefixes = append(prefixes, lockout.Key{Scope: skey, Kind: key}.Prefix())
			labels = append(labels, [2]string{kind, scope})
		}
	}
	return prefixes, labels
}

// blocksCollector reports the blocks running at scrape time, counted in
// the database with one bounded aggregate query.
type blocksCollector struct {
	store storage.BlockCounter
	now   func() time.Time
}

var activeBlocksDesc = prometheus.NewDesc("gatehouse_active_blocks",
	"Blocks running now (on every replica: counted in the database at scrape time), by kind and scope.",
	[]string{"kind", "scope"}, nil)

func (c *blocksCollector) Describe(ch chan<- *prometheus.Desc) { ch <- activeBlocksDesc }

func (c *blocksCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	prefixes, labels := blockScopePrefixes()
	counts, err := c.store.CountBlocks(ctx, prefixes, c.now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(activeBlocksDesc, err)
		return
	}
	for i, n := range counts {
		ch <- prometheus.MustNewConstMetric(activeBlocksDesc, prometheus.GaugeValue, float64(n), labels[i][0], labels[i][1])
	}
}

// describe sends descs, a collector's fixed descriptions, to ch.
func describe(ch chan<- *prometheus.Desc, descs ...*prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// poolStatser is a backend that reports its connection pool.
type poolStatser interface {
	PoolStats() storage.PoolStats
}

// poolCollector reports the database connection pool.
type poolCollector struct{ p poolStatser }

var (
	dbConnsDesc = prometheus.NewDesc("gatehouse_db_connections",
		"Database connections by state (in_use, idle).", []string{"state"}, nil)
	dbMaxDesc = prometheus.NewDesc("gatehouse_db_max_connections",
		"The database connection pool's limit (0: none).", nil, nil)
	dbWaitsDesc = prometheus.NewDesc("gatehouse_db_waits_total",
		"Requests for a database connection that waited for the pool.", nil, nil)
	dbWaitTimeDesc = prometheus.NewDesc("gatehouse_db_wait_seconds_total",
		"Total time spent waiting for a database connection.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, dbConnsDesc, dbMaxDesc, dbWaitsDesc, dbWaitTimeDesc)
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.PoolStats()
	ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(s.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(dbMaxDesc, prometheus.GaugeValue, float64(s.MaxOpen))
	ch <- prometheus.MustNewConstMetric(dbWaitsDesc, prometheus.CounterValue, float64(s.Waits))
	ch <- prometheus.MustNewConstMetric(dbWaitTimeDesc, prometheus.CounterValue, s.WaitTime.Seconds())
}

// clientCache is a backend that keeps clients in memory (PostgreSQL).
type clientCache interface {
	ClientCacheStats() (live bool, hits, misses int64, entries int)
}

// clientCacheCollector reports the backend's client cache.
type clientCacheCollector struct{ c clientCache }

var (
	clientCacheLiveDesc = prometheus.NewDesc("gatehouse_client_cache_live",
		"1 while the client cache is on (always, since it checks the count of changes to clients at each lookup).", nil, nil)
	clientLookupsDesc = prometheus.NewDesc("gatehouse_client_lookups_total",
		"Client lookups, by source: cache or database.", []string{"source"}, nil)
	clientCacheEntriesDesc = prometheus.NewDesc("gatehouse_client_cache_entries",
		"Clients held in memory.", nil, nil)
)

func (c clientCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, clientCacheLiveDesc, clientLookupsDesc, clientCacheEntriesDesc)
}

func (c clientCacheCollector) Collect(ch chan<- prometheus.Metric) {
	live, hits, misses, entries := c.c.ClientCacheStats()
	on := 0.0
	if live {
		on = 1
	}
	ch <- prometheus.MustNewConstMetric(clientCacheLiveDesc, prometheus.GaugeValue, on)
	ch <- prometheus.MustNewConstMetric(clientLookupsDesc, prometheus.CounterValue, float64(hits), "cache")
	ch <- prometheus.MustNewConstMetric(clientLookupsDesc, prometheus.CounterValue, float64(misses), "database")
	ch <- prometheus.MustNewConstMetric(clientCacheEntriesDesc, prometheus.GaugeValue, float64(entries))
}

// A SignatureCache is the provider's cache of verified JWT access token
// signatures.
type SignatureCache interface {
	SignatureCacheStats() (hits, misses int64, entries int)
}

// ReportSignatureCache adds c's statistics to the metrics.
func (m *Metrics) ReportSignatureCache(c SignatureCache) {
	m.reg.MustRegister(signatureCacheCollector{c})
}

// signatureCacheCollector reports the provider's signature cache.
type signatureCacheCollector struct{ c SignatureCache }

var (
	signatureChecksDesc = prometheus.NewDesc("gatehouse_access_token_signature_checks_total",
		"JWT access token signatures checked (introspection, userinfo, revocation), by source: cache (verified before) or verified.",
		[]string{"source"}, nil)
	signatureCacheDesc = prometheus.NewDesc("gatehouse_access_token_signature_cache_entries",
		"JWT access tokens whose verified signature is remembered.", nil, nil)
)

func (c signatureCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, signatureChecksDesc, signatureCacheDesc)
}

func (c signatureCacheCollector) Collect(ch chan<- prometheus.Metric) {
	hits, misses, entries := c.c.SignatureCacheStats()
	ch <- prometheus.MustNewConstMetric(signatureChecksDesc, prometheus.CounterValue, float64(hits), "cache")
	ch <- prometheus.MustNewConstMetric(signatureChecksDesc, prometheus.CounterValue, float64(misses), "verified")
	ch <- prometheus.MustNewConstMetric(signatureCacheDesc, prometheus.GaugeValue, float64(entries))
}
