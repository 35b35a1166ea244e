package main

import (
	"encoding/binary"
	"maps"
	"math"
	"testing"
	"time"
)

// msg encodes a typed frontend message.
func msg(typ byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

// cs is a NUL-terminated string.
func cs(s string) []byte { return append([]byte(s), 0) }

// startup encodes an untyped startup-phase packet with code.
func startup(code uint32, rest []byte) []byte {
	b := make([]byte, 8, 8+len(rest))
	binary.BigEndian.PutUint32(b, uint32(8+len(rest)))
	binary.BigEndian.PutUint32(b[4:], code)
	return append(b, rest...)
}

// conversation is what pgx sends: SSLRequest, the startup packet, a
// password, then statements by both protocols.
func conversation() []byte {
	var b []byte
	b = append(b, startup(sslRequest, nil)...)
	b = append(b, startup(196608, append(append(cs("user"), cs("postgres")...), 0))...)
	b = append(b, msg('p', cs("secret"))...)
	b = append(b, msg('Q', cs("begin"))...)
	// A named statement, prepared once and executed twice.
	b = append(b, msg('P', cs("stmtcache_1"), cs("SELECT id FROM users WHERE id = $1"), []byte{0, 0})...)
	b = append(b, msg('D', []byte{'S'}, cs("stmtcache_1"))...)
	b = append(b, msg('S')...)
	for range 2 {
		b = append(b, msg('B', cs(""), cs("stmtcache_1"), []byte{0, 0, 0, 0, 0, 0})...)
		b = append(b, msg('E', cs(""), []byte{0, 0, 0, 0})...)
		b = append(b, msg('S')...)
	}
	b = append(b, msg('Q', cs("commit"))...)
	// The unnamed statement, with leading blanks and a comment.
	b = append(b, msg('P', cs(""), cs("\n\t-- the rotation\n  WITH used AS (UPDATE refresh_tokens SET used_at = $1) SELECT 1"), []byte{0, 0})...)
	b = append(b, msg('B', cs("p1"), cs(""), []byte{0, 0, 0, 0, 0, 0})...)
	b = append(b, msg('E', cs("p1"), []byte{0, 0, 0, 0})...)
	b = append(b, msg('C', []byte{'P'}, cs("p1"))...)
	b = append(b, msg('S')...)
	b = append(b, msg('Q', cs("-- ping"))...)
	b = append(b, msg('P', cs(""), cs("UPDATE logout_deliveries SET attempts = attempts + 1"), []byte{0, 0})...)
	b = append(b, msg('B', cs(""), cs(""), []byte{0, 0, 0, 0, 0, 0})...)
	b = append(b, msg('E', cs(""), []byte{0, 0, 0, 0})...)
	b = append(b, msg('S')...)
	b = append(b, msg('Q', cs("SELECT pg_try_advisory_xact_lock(hashtext('gatehouse housekeeping'), 1)"))...)
	b = append(b, msg('X')...)
	return b
}

func TestFrontendParser(t *testing.T) {
	want := map[string]int64{
		"BEGIN": 1, "SELECT": 2, "COMMIT": 1, "WITH": 1,
		kindPing: 1, kindClaim: 1, kindPurge: 1,
		kindSimple: 4, kindSync: 5,
	}
	whole := conversation()
	for _, chunk := range []int{len(whole), 1, 3, 7} {
		var tl tally
		p := newFrontendParser(&tl)
		for b := whole; len(b) > 0; {
			n := min(chunk, len(b))
			if err := p.write(b[:n]); err != nil {
				t.Fatalf("chunks of %d: %v", chunk, err)
			}
			b = b[n:]
		}
		kinds, texts := tl.snapshot()
		if !maps.Equal(kinds, want) {
			t.Errorf("chunks of %d: counted %v, want %v", chunk, kinds, want)
		}
		if n := texts["SELECT id FROM users WHERE id = $1"]; n != 2 {
			t.Errorf("chunks of %d: the prepared statement counted %d times, want 2", chunk, n)
		}
		if len(p.portals) != 1 || p.portals["p1"] != "" {
			t.Errorf("chunks of %d: portals %q after Close of p1", chunk, p.portals)
		}
	}
}

func TestFrontendParserRefusesGarbage(t *testing.T) {
	var tl tally
	p := newFrontendParser(&tl)
	if err := p.write(startup(196608, []byte{0})); err != nil {
		t.Fatal(err)
	}
	if err := p.write([]byte{'Q', 0, 0, 0, 2}); err == nil {
		t.Error("a message length below 4 was accepted")
	}
	if err := newFrontendParser(&tl).write([]byte{0, 0, 0, 3, 0, 0, 0, 0}); err == nil {
		t.Error("a startup packet of 3 bytes was accepted")
	}
}

func TestStatementKind(t *testing.T) {
	for q, want := range map[string]string{
		"select 1":        "SELECT",
		"  INSERT INTO x": "INSERT",
		"-- a\n-- b\nDELETE FROM auth_requests WHERE id IN (SELECT 1)": "DELETE",
		"WITH(x) AS (SELECT 1) SELECT 1":                               "WITH",
		"begin":                                                        "BEGIN",
		"-- ping":                                                      kindPing,
		"":                                                             "empty",
		"SELECT pg_try_advisory_xact_lock(hashtext('gatehouse housekeeping'), hashtext(current_schema()))": kindPurge,
		"UPDATE logout_deliveries SET attempts = attempts + 1":                                             kindClaim,
		"DELETE FROM logout_deliveries WHERE session_id = $1":                                              "DELETE",
	} {
		if got := statementKind(q); got != want {
			t.Errorf("statementKind(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestParseLSN(t *testing.T) {
	got, err := parseLSN("16/B374D848")
	if want := uint64(0x16)<<32 | 0xB374D848; err != nil || got != want {
		t.Errorf("parseLSN = %x, %v; want %x", got, err, want)
	}
	if _, err := parseLSN("16B374D848"); err == nil {
		t.Error("an LSN without / was accepted")
	}
}

func TestModel(t *testing.T) {
	a := assumptions{peakHour: 0.1, peakMinute: 3, daily: 1, hashShare: 1, headroom: 0.5, replicaCores: 2, minReplicas: 2,
		kept: map[string]time.Duration{classToken: 30 * time.Minute, classSession: 13 * time.Hour, classAudit: 90 * 24 * time.Hour}}
	in := modelInputs{signinsPerCore: 50, stmtsPerSignin: 40, walPerSignin: 6000, bytesPerUser: 5000,
		perSignin: map[string]float64{classToken: 1000, classSession: 2000, classAudit: 800, classRefresh: 1e9}}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	r := a.row(10_000_000, in)
	// 10 % of 10M in the hour is 277.8/s on average, 833.3/s in the peak
	// minute; at 50 a CPU, 16.67 CPUs, 25 with the headroom: 13 replicas
	// of 2.
	near("sign-ins/s", r.signinsPerSec, 10_000_000*0.1/3600*3)
	near("cores", r.cores, 10_000_000*0.1/3600*3/50)
	if r.replicas != 13 {
		t.Errorf("replicas = %d, want 13", r.replicas)
	}
	near("statements/s", r.stmtsPerSec, r.signinsPerSec*40)
	near("WAL/s", r.walPerSec, r.signinsPerSec*6000)
	// Tokens: half the peak hour's 1M sign-ins. Sessions: the peak hour's
	// 1M and 12 more hours at the day's average (10M / 24 an hour). Audit
	// events: 1M and 90 days less an hour at the average. Refresh tokens
	// have no kept period here: none.
	tokens := 0.5 * 1e6
	sessions := 1e6 + 1e7/24*12
	audit := 1e6 + 1e7/24*(90*24-1)
	near("database bytes", r.dbBytes, 1e7*5000+tokens*1000+sessions*2000+audit*800)

	// Few users: the minimum of replicas.
	if r := a.row(10_000, in); r.replicas != 2 {
		t.Errorf("10k users: replicas = %d, want 2", r.replicas)
	}
	// Hashes three quarters of a sign-in's CPU: 22.2 CPUs, 33.3 with the
	// headroom, 17 replicas.
	a.hashShare = 0.75
	r = a.row(10_000_000, in)
	near("cores with hashShare", r.cores, 10_000_000*0.1/3600*3/50/0.75)
	if r.replicas != 17 {
		t.Errorf("hashShare 0.75: replicas = %d, want 17", r.replicas)
	}
	a.hashShare = 1

	// A replica's worth exactly: 2 CPUs with the headroom is 1, not 2.
	a.minReplicas = 1
	in.signinsPerCore = 10_000_000 * 0.1 / 3600 * 3 * 1.5 / 2
	if r := a.row(10_000_000, in); r.replicas != 1 {
		t.Errorf("one replica's worth: replicas = %d, want 1", r.replicas)
	}
}

func TestTableClass(t *testing.T) {
	for table, want := range map[string]string{
		"users": classUser, "totp_secrets": classUser, "recovery_codes": classUser,
		"sessions": classSession, "session_grants": classSession,
		"access_tokens": classToken, "auth_codes": classToken, "auth_requests": classToken,
		"attempt_counters": classCounter, "refresh_tokens": classRefresh,
		"audit_events": classAudit, "clients": classFixed, "signing_keys": classFixed,
	} {
		if got := tableClass(table); got != want {
			t.Errorf("tableClass(%q) = %q, want %q", table, got, want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{10_000: "10k", 100_000: "100k", 1_000_000: "1M", 10_000_000: "10M", 1500: "1500", 250_000: "250k"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
