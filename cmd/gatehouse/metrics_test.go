package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// samples are the values of one scrape, keyed name{label="value",…} with
// the labels sorted by name; histograms appear as name_count and name_sum.
type samples map[string]float64

// scrapeMetrics reads g's /metrics on the admin listener and parses it
// with Prometheus' own text parser.
func scrapeMetrics(t *testing.T, g *gatehouse) (samples, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on the admin listener = %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	s := samples{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			key := func(n string) string {
				if len(labels) == 0 {
					return n
				}
				return n + "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				s[key(name)] = m.Counter.GetValue()
			case m.Gauge != nil:
				s[key(name)] = m.Gauge.GetValue()
			case m.Histogram != nil:
				s[key(name+"_count")] = float64(m.Histogram.GetSampleCount())
				s[key(name+"_sum")] = m.Histogram.GetSampleSum()
			case m.Untyped != nil:
				s[key(name)] = m.Untyped.GetValue()
			}
		}
	}
	return s, fams
}

// expectDeltas checks that each series moved from before to after by
// exactly the amount given (0: it must exist and stay put).
func expectDeltas(t *testing.T, step string, before, after samples, want map[string]float64) {
	t.Helper()
	for k, d := range want {
		a, ok := after[k]
		if !ok {
			t.Errorf("%s: no series %s", step, k)
			continue
		}
		if got := a - before[k]; got != d {
			t.Errorf("%s: %s moved by %v, want %v", step, k, got, d)
		}
	}
}

// sinkTotal is the number of messages the SMTP sink received.
func sinkTotal(s *tfSink) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(len(s.msgs))
}

func TestMetrics(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			testMetrics(t, e)
			testClientCacheMetrics(t, e, backend)
		})
	}
}

// testClientCacheMetrics checks, after testMetrics' sign-ins, that on
// PostgreSQL the client cache is on and has answered lookups, and that
// SQLite, which has no such cache, reports none.
func testClientCacheMetrics(t *testing.T, e *tfEnv, backend string) {
	const (
		live    = "gatehouse_client_cache_live"
		cached  = `gatehouse_client_lookups_total{source="cache"}`
		read    = `gatehouse_client_lookups_total{source="database"}`
		entries = "gatehouse_client_cache_entries"
	)
	s, _ := scrapeMetrics(t, e.g)
	if backend != "postgres" {
		for _, k := range []string{live, cached, read, entries} {
			if _, ok := s[k]; ok {
				t.Errorf("%s reports %s", backend, k)
			}
		}
		return
	}
	if s[live] != 1 || s[cached] < 1 || s[read] < 1 || s[entries] < 1 {
		t.Errorf("client cache after sign-ins: live %v, lookups from cache %v and database %v, entries %v; want 1 and at least 1 each",
			s[live], s[cached], s[read], s[entries])
	}
}

func testMetrics(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	const (
		signinEmail  = `gatehouse_signins_total{factor="email",result="succeeded"}`
		failedEmail  = `gatehouse_signins_total{factor="email",result="failed"}`
		blockedEmail = `gatehouse_signins_total{factor="email",result="blocked"}`
		wrongEmail   = `gatehouse_code_failures_total{factor="email"}`
		codesSignin  = `gatehouse_codes_sent_total{purpose="signin"}`
		codesUnsent  = `gatehouse_code_send_failures_total{purpose="signin"}`
		ipBlocks     = `gatehouse_blocks_total{kind="ip",scope="code"}`
		acctBlocks   = `gatehouse_blocks_total{kind="account",scope="code"}`
		activeIP     = `gatehouse_active_blocks{kind="ip",scope="code"}`
		activeAcct   = `gatehouse_active_blocks{kind="account",scope="code"}`
		codeIssued   = `gatehouse_token_requests_total{grant_type="authorization_code",result="issued"}`
		codeRefused  = `gatehouse_token_requests_total{grant_type="authorization_code",result="refused"}`
		refreshIssue = `gatehouse_token_requests_total{grant_type="refresh_token",result="issued"}`
		mailSent     = `gatehouse_mail_messages_total{result="sent"}`
		mailFailed   = `gatehouse_mail_messages_total{result="failed"}`
		mailTimed    = `gatehouse_mail_send_duration_seconds_count`
		otpPosts     = `gatehouse_http_requests_total{code="303",method="POST",route="/login/otp"}`
		otpLatency   = `gatehouse_http_request_duration_seconds_count{route="/login/otp"}`
		tokenLatency = `gatehouse_http_request_duration_seconds_count{route="/oauth/token"}`
		auditSignin  = `gatehouse_audit_events_total{type="signin.succeeded"}`
	)

	// /metrics lives on the admin listener only.
	if resp, err := http.Get(e.g.base + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the public listener = %d, want 404", resp.StatusCode)
		}
	}
	s0, _ := scrapeMetrics(t, e.g)
	for _, k := range []string{"go_goroutines", "process_resident_memory_bytes", `gatehouse_db_connections{state="idle"}`,
		`gatehouse_db_connections{state="in_use"}`, "gatehouse_db_max_connections", "gatehouse_db_waits_total",
		signinEmail, blockedEmail, ipBlocks, acctBlocks, activeIP, codeIssued, mailSent, mailFailed} {
		if _, ok := s0[k]; !ok {
			t.Errorf("the first scrape lacks %s", k)
		}
	}
	if s0[activeIP] != 0 || s0[ipBlocks] != 0 {
		t.Errorf("a fresh server reports blocks: %v %v", s0[activeIP], s0[ipBlocks])
	}

	// A user who receives sign-in codes by email.
	u := e.newUser(t, "metrics-user@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.5.1"), u)

	// A sign-in through the relying party: code emailed, entered, tokens
	// issued, then refreshed; and a replayed code refused.
	s1, _ := scrapeMetrics(t, e.g)
	sink1 := sinkTotal(e.mail)
	b := newBrowser(t).from("127.0.5.2")
	n := e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, rp, b, u)
	resp := tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.mail.code(t, u.email, n))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code = %d %q", resp.StatusCode, tfAlert(resp.body))
	}
	if p, at := b.follow(redirectTarget(resp), rpRedirect); p != nil {
		t.Fatalf("after the code, landed on %s (%d)", at, p.StatusCode)
	} else {
		code := rp.codeFrom(at, f)
		tok, _, _ := rp.exchange(code, f)
		if st, out := rp.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); st != http.StatusOK {
			t.Fatalf("refresh = %d %v", st, out)
		}
		if st, _ := rp.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {rpRedirect}, "code_verifier": {f.verifier}}); st != http.StatusBadRequest {
			t.Errorf("replayed code = %d, want 400", st)
		}
	}
	s2, _ := scrapeMetrics(t, e.g)
	expectDeltas(t, "sign-in", s1, s2, map[string]float64{
		signinEmail: 1, failedEmail: 0, auditSignin: 1, codesSignin: 1, codesUnsent: 0,
		codeIssued: 1, codeRefused: 1, refreshIssue: 1,
		mailSent: sinkTotal(e.mail) - sink1, mailFailed: 0, mailTimed: sinkTotal(e.mail) - sink1,
		otpPosts: 1, otpLatency: 2, // the page and the code
		tokenLatency: 3,
		wrongEmail:   0, ipBlocks: 0,
	})
	if sinkTotal(e.mail) == sink1 {
		t.Error("the sign-in sent no email")
	}

	// A wrong code from 127.0.5.3, then two more: the IP is blocked.
	b = newBrowser(t).from("127.0.5.3")
	n = e.mail.count(u.email, tfCodeSubject)
	_, page = e.codePage(t, rp, b, u)
	good := e.mail.code(t, u.email, n)
	form := tfForm(t, page.body, "/login/otp")
	s3, _ := scrapeMetrics(t, e.g)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, wrongCodeFor(good)), http.StatusUnauthorized, tfWrong1)
	s4, _ := scrapeMetrics(t, e.g)
	expectDeltas(t, "wrong code", s3, s4, map[string]float64{
		wrongEmail: 1, failedEmail: 1, signinEmail: 0, blockedEmail: 0, ipBlocks: 0, activeIP: 0,
	})
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, wrongCodeFor(good)), http.StatusUnauthorized, tfWrong2)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, wrongCodeFor(good)), http.StatusTooManyRequests, blockedText)
	// Refused while blocked: no new block.
	b2 := newBrowser(t).from("127.0.5.3")
	_, resp = tfPassword(t, rp, b2, u.email, u.pass)
	tfExpect(t, resp, http.StatusTooManyRequests, blockedText)
	s5, _ := scrapeMetrics(t, e.g)
	expectDeltas(t, "block", s4, s5, map[string]float64{
		wrongEmail: 2, failedEmail: 1, blockedEmail: 1, signinEmail: 0,
		ipBlocks: 1, acctBlocks: 0, activeIP: 1, activeAcct: 0,
		`gatehouse_blocks_total{kind="ip",scope="password"}`: 0,
		`gatehouse_audit_events_total{type="code.blocked"}`:  1,
	})

	// The block ends: the gauge falls, the counter stays.
	e.advance(10*time.Minute + time.Second)
	s6, _ := scrapeMetrics(t, e.g)
	expectDeltas(t, "block over", s5, s6, map[string]float64{activeIP: -1, ipBlocks: 0})

	// The SMTP server is down when a code is due: one undelivered code.
	b = newBrowser(t).from("127.0.5.4")
	_, resp = tfPassword(t, rp, b, u.email, u.pass)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password = %d", resp.StatusCode)
	}
	e.mail.stop()
	page = b.get(redirectTarget(resp))
	e.mail.start(t)
	if page.StatusCode != http.StatusOK || tfAlert(page.body) != tfNoSend {
		t.Fatalf("code page with SMTP down = %d alert %q", page.StatusCode, tfAlert(page.body))
	}
	s7, _ := scrapeMetrics(t, e.g)
	expectDeltas(t, "SMTP down", s6, s7, map[string]float64{
		codesUnsent: 1, codesSignin: 0, mailFailed: 1, mailSent: 0, mailTimed: 1,
	})

	// No label carries user data: the email, client IPs, the client.
	_, fams := scrapeMetrics(t, e.g)
	secrets := []string{u.email, "example.com", "127.0.5.", rp.client.ID}
	routes := 0
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has label %s=%q, which holds %q", name, l.GetName(), l.GetValue(), s)
					}
				}
				if l.GetName() == "route" {
					routes++
					if v := l.GetValue(); v != "unmatched" && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, "?=&")) {
						t.Errorf("%s has route label %q, not a route pattern", name, v)
					}
				}
			}
		}
	}
	if routes == 0 {
		t.Error("no series has a route label")
	}
}

// TestMetricsLabels checks how audit events and attempt counters become
// series, against a real SQLite store: factors and purposes from the
// event detail, unknown values folded into "other", and one block counted
// per block, not per failure.
func TestMetricsLabels(t *testing.T) {
	store, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	m := newMetrics(store, func() time.Time { return now })
	s := m.store(store)

	// The metrics read the events' structured fields, which the login
	// sets as it writes the detail.
	events := []struct {
		e      storage.Event
		series prometheus.Counter
	}{
		{storage.Event{Type: "signin.succeeded", Detail: "pwd", Factor: "password"}, m.signins.WithLabelValues("succeeded", "password")},
		{storage.Event{Type: "signin.failed", Detail: "password", Factor: "password"}, m.signins.WithLabelValues("failed", "password")},
		{storage.Event{Type: "signin.failed", Detail: "totp: blocked", Factor: "totp", Blocked: true}, m.signins.WithLabelValues("blocked", "totp")},
		{storage.Event{Type: "signin.failed", Detail: "webauthn: refused key", Factor: "webauthn"}, m.signins.WithLabelValues("failed", "webauthn")},
		{storage.Event{Type: "signin.failed", Detail: "no security key for a phishing-resistant request"}, m.signins.WithLabelValues("failed", "other")},
		{storage.Event{Type: "signin.succeeded", Detail: "passkey", Factor: "passkey"}, m.signins.WithLabelValues("succeeded", "passkey")},
		{storage.Event{Type: "signin.succeeded", Detail: "recovery", Factor: "recovery"}, m.signins.WithLabelValues("succeeded", "recovery")},
		{storage.Event{Type: "code.sent", Detail: "enable-email", Purpose: "enable-email"}, m.codesSent.WithLabelValues("enable-email")},
		{storage.Event{Type: "code.sent", Detail: "alice@example.com", Purpose: "alice@example.com"}, m.codesSent.WithLabelValues("other")},
		{storage.Event{Type: "code.send_failed", Detail: "signin", Purpose: "signin"}, m.codesUnsent.WithLabelValues("signin")},
		{storage.Event{Type: "code.failed", Detail: "email", Factor: "email"}, m.wrongCodes.WithLabelValues("email")},
		{storage.Event{Type: "code.failed", Detail: "webauthn: bad signature", Factor: "webauthn"}, m.wrongCodes.WithLabelValues("webauthn")},
		{storage.Event{Type: "user.registered"}, m.events.WithLabelValues("user.registered")},
		{storage.Event{Type: "Alice@Example.com"}, m.events.WithLabelValues("other")},
	}
	for _, tt := range events {
		before := counterValue(t, tt.series)
		e := tt.e
		e.Time = now
		if err := s.AddEvent(t.Context(), &e); err != nil {
			t.Fatal(err)
		}
		if d := counterValue(t, tt.series) - before; d != 1 {
			t.Errorf("event %s %q moved its series by %v, want 1", tt.e.Type, tt.e.Detail, d)
		}
	}

	l := storage.Limit{Max: 3, Window: 10 * time.Minute, Block: 10 * time.Minute}
	blocks := []struct {
		key    string
		series prometheus.Counter
	}{
		{"otp:ip:192.0.2.1", m.blocks.WithLabelValues("ip", "code")},
		{"pwd:acct:alice@example.com", m.blocks.WithLabelValues("account", "password")},
		{"zzz:qq:x", m.blocks.WithLabelValues("other", "other")},
	}
	for _, tt := range blocks {
		// Five failures, a millisecond apart: the third begins the block,
		// the others begin none.
		for i := range 5 {
			if _, err := s.RecordFailure(t.Context(), tt.key, l, now.Add(time.Duration(i)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		if got := counterValue(t, tt.series); got != 1 {
			t.Errorf("%s: %v blocks counted, want 1", tt.key, got)
		}
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	active := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "gatehouse_active_blocks" {
			continue
		}
		for _, mm := range f.GetMetric() {
			var ls []string
			for _, l := range mm.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			active[strings.Join(ls, ",")] = mm.GetGauge().GetValue()
		}
	}
	want := map[string]float64{}
	for _, kind := range []string{"ip", "account"} {
		for _, scope := range []string{"password", "code", "registration", "recovery"} {
			want["kind="+kind+",scope="+scope] = 0
		}
	}
	want["kind=ip,scope=code"], want["kind=account,scope=password"] = 1, 1
	if !maps.Equal(active, want) {
		t.Errorf("gatehouse_active_blocks = %v, want %v", active, want)
	}
}

// counterValue is c's current value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

func TestBodyHeadGrantType(t *testing.T) {
	tests := []struct {
		body string
		max  int
		want string
	}{
		{"grant_type=authorization_code&code=x", 1024, "authorization_code"},
		{"code=x&grant_type=refresh_token", 1024, "refresh_token"},
		{"grant_type=client_credentials", 1024, "client_credentials"},
		{"grant_type=password&username=alice", 1024, "other"},
		{"grant_type=" + strings.Repeat("x", 100), 1024, "other"},
		{"code=" + strings.Repeat("x", 100) + "&grant_type=refresh_token", 20, "other"}, // past the head
		{"%zz", 1024, "other"},
		{"", 1024, "other"},
	}
	for _, tt := range tests {
		b := &bodyHead{ReadCloser: io.NopCloser(strings.NewReader(tt.body)), max: tt.max}
		all, err := io.ReadAll(b)
		if err != nil || string(all) != tt.body {
			t.Errorf("bodyHead passed %q, %v; want %q", all, err, tt.body)
		}
		if got := b.grantType(); got != tt.want {
			t.Errorf("grantType(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
