package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	t.Parallel()
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
		introspected = `gatehouse_http_request_duration_seconds_count{route="/oauth/introspect"}`
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
		if active, _ := rp.introspect(tok.AccessToken)["active"].(bool); !active {
			t.Error("the access token introspected inactive")
		}
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
		tokenLatency: 3, introspected: 1,
		wrongEmail: 0, ipBlocks: 0,
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
