package main

// The account area's code checks under bursts over two replicas on one
// PostgreSQL: a stolen session (its cookies, from other addresses) posting
// wrong codes at once, half to each replica, gets no more checks than the
// limits allow, and the right code after them is refused.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
)

// acctStolen returns a browser at ip with b's cookies.
func acctStolen(t *testing.T, b *browser, ip string) *browser {
	o := newBrowser(t).from(ip)
	o.c.Jar = b.c.Jar
	return o
}

// acctBurst posts form to path from bs[i], at once, the odd ones to
// other's replica, and fails t on an error or an answer that is not a
// refusal.
func acctBurst(t *testing.T, e *tfEnv, other *gatehouse, bs []*browser, path string, form func(i int) url.Values) {
	t.Helper()
	results := tfBurst(len(bs), func(i int) (*response, error) {
		base := e.g.base
		if i%2 == 1 {
			base = other.base
		}
		return tfRawPost(bs[i], base+path, form(i))
	})
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("submission %d: %v", i, r.err)
		case r.resp.StatusCode < 400:
			t.Errorf("wrong code %d = %d %s", i, r.resp.StatusCode, r.resp.Header.Get("Location"))
		}
	}
}

// testAccountCodesReplicas: wrong codes of the authenticator app posted at
// once to turn it off, with one stolen session over two replicas: 30 from
// one address get 3 checks, 30 from 30 addresses the account's 10, and
// the right code after them is refused; an emailed code to turn email
// codes off gets 3 of 8 wrong entries at once from 8 addresses checked
// against it, and the right one after them is refused.
func testAccountCodesReplicas(t *testing.T, e *tfEnv, other *gatehouse) {
	const path = "/account/security/totp/disable-confirm"
	for round, many := range []bool{false, true} {
		u := e.newUser(t, fmt.Sprintf("acct-replicas-%d@example.com", round))
		b := e.session(t, u, fmt.Sprintf("127.0.50.%d", 1+round))
		e.enableTOTP(t, b, u)
		page := b.post(e.g.base+"/account/security/totp/disable", tfForm(t, e.security(t, b).body, "/account/security/totp/disable"))
		if page.StatusCode != http.StatusOK {
			t.Fatalf("totp/disable = %d %q", page.StatusCode, tfAlert(page.body))
		}
		form := tfForm(t, page.body, path)
		bs := make([]*browser, 30)
		for i := range bs {
			ip := fmt.Sprintf("127.0.%d.1", 51+round)
			if many {
				ip = fmt.Sprintf("127.0.%d.%d", 51+round, 10+i)
			}
			bs[i] = acctStolen(t, b, ip)
		}
		wrong := tfWith(form, "code", e.wrongTOTP(u))
		acctBurst(t, e, other, bs, path, func(int) url.Values { return wrong })
		want := 3
		if many {
			want = 10
		}
		if checked := auditCountOf(t, e.g, u.email, "code.failed", ""); checked != want {
			t.Errorf("30 wrong codes at once (many addresses: %v) over two replicas: %d checked, want %d", many, checked, want)
		}
		right := tfPostCode(acctStolen(t, b, fmt.Sprintf("127.0.%d.1", 51+round)), other.base+path, form, e.code(u))
		if right.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the right code after the burst = %d %s %q, want 429", right.StatusCode, right.Header.Get("Location"), tfAlert(right.body))
		}
	}

	// An emailed code, from many addresses.
	u := e.newUser(t, "acct-replicas-email@example.com")
	b := e.session(t, u, "127.0.53.1")
	e.enableEmail(t, b, u)
	n := e.mail.count(u.email, tfCodeSubject)
	page := b.post(e.g.base+"/account/security/email/disable", tfForm(t, e.security(t, b).body, "/account/security/email/disable"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("email/disable = %d %q", page.StatusCode, tfAlert(page.body))
	}
	code := e.mail.code(t, u.email, n)
	conn := foConnect(t, e.dsn)
	ctx := context.Background()
	var id string
	if err := conn.QueryRow(ctx, `SELECT o.id FROM one_time_codes o JOIN users u ON u.id = o.user_id
		WHERE u.email = $1 AND o.purpose = 'disable-email' ORDER BY o.created_at DESC LIMIT 1`, u.email).Scan(&id); err != nil {
		t.Fatalf("the code's id: %v", err)
	}
	form := tfForm(t, page.body, "/account/security/email/disable-confirm")
	bs := make([]*browser, 8)
	for i := range bs {
		bs[i] = acctStolen(t, b, fmt.Sprintf("127.0.54.%d", 10+i))
	}
	acctBurst(t, e, other, bs, "/account/security/email/disable-confirm", func(i int) url.Values {
		c := fmt.Sprintf("%06d", (i+1)*11111)
		if c == code {
			c = wrongCodeFor(code)
		}
		return tfWith(form, "code", c)
	})
	var failures int
	if err := conn.QueryRow(ctx, `SELECT failures FROM attempt_counters WHERE key = $1`,
		lockout.CodeCounter("otp", id).String()).Scan(&failures); err != nil {
		t.Fatalf("the code's counter: %v", err)
	}
	if failures > 3 {
		t.Errorf("8 wrong codes at once from 8 addresses over two replicas: %d checked against the code, want at most 3", failures)
	}
	right := tfPostCode(acctStolen(t, b, "127.0.54.100"), e.g.base+"/account/security/email/disable-confirm", form, code)
	if right.StatusCode == http.StatusSeeOther && strings.Contains(right.Header.Get("Location"), "email-off") {
		t.Error("the emailed code was accepted after 8 wrong entries at once")
	}
	e.advance(61 * time.Minute)
}

// testReauthPasswordsReplicas: 30 wrong passwords at once to the
// re-authentication, with a stolen session from 30 addresses over two
// replicas: the account's 5 are checked (4 answered wrong, the fifth's
// failure blocks), and the right password after them is refused.
func testReauthPasswordsReplicas(t *testing.T, e *tfEnv, other *gatehouse) {
	u := e.newUser(t, "acct-replicas-reauth@example.com")
	b := e.session(t, u, "127.0.55.1")
	page := b.get(e.g.base + "/account/reauth?next=%2Faccount")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("reauth page = %d %q", page.StatusCode, tfAlert(page.body))
	}
	form := tfForm(t, page.body, "/account/reauth")
	const n = 30
	bs := make([]*browser, n)
	for i := range bs {
		bs[i] = acctStolen(t, b, fmt.Sprintf("127.0.56.%d", 10+i))
	}
	wrong, blocked := 0, 0
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	// Answered busy (503, the hashing slots were full): nothing was
	// checked, and the attacker posts again.
	for try := 0; len(pending) > 0 && try < 20; try++ {
		results := tfBurst(len(pending), func(j int) (*response, error) {
			base := e.g.base
			if j%2 == 1 {
				base = other.base
			}
			return tfRawPost(bs[pending[j]], base+"/account/reauth", tfWith(form, "password", fmt.Sprintf("wrong password %d", pending[j])))
		})
		var again []int
		for j, r := range results {
			switch {
			case r.err != nil:
				t.Fatalf("submission %d: %v", pending[j], r.err)
			case r.resp.StatusCode == http.StatusServiceUnavailable:
				again = append(again, pending[j])
			case r.resp.StatusCode == http.StatusUnauthorized && tfAlert(r.resp.body) == "The password is not correct.":
				wrong++
			case r.resp.StatusCode == http.StatusTooManyRequests:
				blocked++
			default:
				t.Errorf("wrong password %d = %d %s %q", pending[j], r.resp.StatusCode, r.resp.Header.Get("Location"), tfAlert(r.resp.body))
			}
		}
		pending = again
	}
	if wrong != 4 || blocked != n-4 {
		t.Errorf("%d wrong passwords at once over two replicas: %d answered wrong, %d blocked; want 4 and %d", n, wrong, blocked, n-4)
	}
	right := acctStolen(t, b, "127.0.56.200").post(other.base+"/account/reauth", tfWith(form, "password", u.pass))
	if right.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password after the burst = %d %s %q, want 429", right.StatusCode, right.Header.Get("Location"), tfAlert(right.body))
	}
	e.advance(11 * time.Minute)
}
