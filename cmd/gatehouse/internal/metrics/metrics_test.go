package metrics

import (
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

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
	m := New(store, func() time.Time { return now }, nil)
	s := m.Store(store)

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
		for _, scope := range []string{"password", "code", "registration", "recovery", "pushed_request"} {
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
