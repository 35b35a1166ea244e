package main

// Limits that hold under concurrency (issue 15 §2, SECURITY.md LCK-02,
// LCK-09, LCK-11): every attempt is counted before its secret is checked,
// so bursts of parallel guesses, from one address or many, get exactly as
// many checks as the limits allow, and a right guess past the limit is
// refused. The audit log is the witness: it records every check.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

func TestLimitsUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend), "GATEHOUSE_LOCKOUT_ACCOUNT_MAX_ATTEMPTS=10",
				"GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_ACCOUNT=5", "GATEHOUSE_SECOND_FACTOR_EMAIL_MAX_PER_IP=10")
			t.Run("codes from one address", e.testCodeBurstOneIP)
			t.Run("codes from many addresses", e.testCodeBurstManyIPs)
			t.Run("recovery codes", e.testRecoveryBurst)
			t.Run("passwords", e.testPasswordBurst)
			t.Run("the owner's device", e.testOwnerDevice)
			t.Run("code emails", e.testCodeEmailCap)
			t.Run("code emails per address", e.testCodeEmailIPCap)
			t.Run("the account window", e.testAccountWindow)
			t.Run("an emailed code from many addresses", e.testEmailCodeManyIPs)
		})
	}
	t.Run("two replicas", func(t *testing.T) {
		t.Parallel()
		e, other := startReplicas(t)
		t.Run("wrong codes", func(t *testing.T) { testCodeBurstReplicas(t, e, other) })
		t.Run("one right code", func(t *testing.T) { testOneCodeReplicas(t, e, other) })
		t.Run("the account's codes", func(t *testing.T) { testAccountCodesReplicas(t, e, other) })
		t.Run("re-authentication passwords", func(t *testing.T) { testReauthPasswordsReplicas(t, e, other) })
	})
}

// startReplicas starts two replicas on one PostgreSQL: e's and other.
func startReplicas(t *testing.T) (*tfEnv, *gatehouse) {
	t.Helper()
	e := tfStart(t, databaseURL(t, "postgres"))
	other := newGatehouse(t, e.dsn, append(e.extra,
		"GATEHOUSE_ISSUER="+e.g.base,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(e.g, "GATEHOUSE_SECRETS_KEY_FILE"))...)
	other.start()
	return e, other
}

// auditCount counts the audit events of type typ for email whose detail
// starts with detail.
func (e *tfEnv) auditCount(t *testing.T, email, typ, detail string) int {
	t.Helper()
	return auditCountOf(t, e.g, email, typ, detail)
}

func auditCountOf(t *testing.T, g *gatehouse, email, typ, detail string) int {
	t.Helper()
	var events []admin.EventView
	out := tfCLI(t, g, "", "audit", "--user", email, "--type", typ, "--limit", "1000", "--json")
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	n := 0
	for _, ev := range events {
		if strings.HasPrefix(ev.Detail, detail) {
			n++
		}
	}
	return n
}

// testCodeBurstOneIP: 40 wrong codes at once from one address, then the
// right one: three checks, and the right code is refused. Then a burst of
// wrong codes with the right one inside: at most three checks in all.
func (e *tfEnv) testCodeBurstOneIP(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-burst-one@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.20.1"), u)
	before := e.auditCount(t, u.email, "code.failed", "")

	b := newBrowser(t).from("127.0.20.2")
	_, page := e.codePage(t, rp, b, u)
	form := tfForm(t, page.body, "/login/otp")
	wrong := tfWith(form, "code", e.wrongTOTP(u))
	results := tfBurst(40, func(int) (*response, error) {
		return tfRawPost(b, e.g.base+"/login/otp", wrong)
	})
	invalid := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("submission %d: %v", i, r.err)
		case strings.HasPrefix(tfAlert(r.resp.body), "Invalid One Time Password!"):
			invalid++
		case r.resp.StatusCode == http.StatusSeeOther && strings.Contains(r.resp.Header.Get("Location"), "/authorize/callback"):
			t.Fatalf("submission %d of a wrong code succeeded", i)
		}
	}
	checked := e.auditCount(t, u.email, "code.failed", "") - before
	if checked != 3 || invalid != 2 {
		t.Fatalf("40 parallel wrong codes from one address: %d checked (audit), %d answered Invalid; want 3 and 2", checked, invalid)
	}
	right := tfPostCode(b, e.g.base+"/login/otp", form, e.code(u))
	if right.StatusCode == http.StatusSeeOther && strings.Contains(right.Header.Get("Location"), "/authorize/callback") {
		t.Fatal("the right code after the burst was accepted: the address should be blocked")
	}

	// The right code inside a burst, from another address: it is checked
	// only if it got one of the three places, and nothing is checked past
	// the third.
	e.advance(11 * time.Minute)
	before = e.auditCount(t, u.email, "code.failed", "")
	b2 := newBrowser(t).from("127.0.20.3")
	_, page = e.codePage(t, rp, b2, u)
	form = tfForm(t, page.body, "/login/otp")
	wrong = tfWith(form, "code", e.wrongTOTP(u))
	good := tfWith(form, "code", e.code(u))
	results = tfBurst(41, func(i int) (*response, error) {
		if i == 20 {
			return tfRawPost(b2, e.g.base+"/login/otp", good)
		}
		return tfRawPost(b2, e.g.base+"/login/otp", wrong)
	})
	invalid = 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
		if strings.HasPrefix(tfAlert(r.resp.body), "Invalid One Time Password!") {
			invalid++
		}
	}
	checked = e.auditCount(t, u.email, "code.failed", "") - before
	if checked > 3 || invalid > 2 {
		t.Fatalf("41 parallel codes, one right: %d wrong ones checked, %d answered Invalid; want at most 3 and 2", checked, invalid)
	}
	e.advance(11 * time.Minute)
}

// testRecoveryBurst: 30 wrong recovery codes at once from one address are
// checked three times, and a right recovery code after them is refused.
func (e *tfEnv) testRecoveryBurst(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-recovery@example.com")
	codes := acEnableTOTP(t, e, e.session(t, u, "127.0.27.1"), u)
	before := e.auditCount(t, u.email, "code.failed", "")
	b := newBrowser(t).from("127.0.27.2")
	_, page := e.codePage(t, rp, b, u)
	ar := tfQuery(t, page.Request.URL.String(), "authRequestID")
	rec := b.get(e.g.base + "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar))
	form := tfForm(t, rec.body, "/login/otp")
	results := tfBurst(30, func(i int) (*response, error) {
		return tfRawPost(b, e.g.base+"/login/otp", tfWith(form, "code", fmt.Sprintf("wrong-%05d", i)))
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
	}
	if checked := e.auditCount(t, u.email, "code.failed", "") - before; checked != 3 {
		t.Fatalf("30 parallel wrong recovery codes from one address: %d checked, want 3", checked)
	}
	resp := tfPostCode(b, e.g.base+"/login/otp", form, codes[0])
	if resp.StatusCode == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/authorize/callback") {
		t.Fatal("a right recovery code after the burst was accepted: the address should be blocked")
	}
	e.advance(11 * time.Minute)
}

// testCodeBurstManyIPs: one wrong code each from 40 addresses at once for
// one account: the account cap (10) of them are checked, and then the
// right code from a fresh address is refused.
func (e *tfEnv) testCodeBurstManyIPs(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-burst-many@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.21.1"), u)
	bs := make([]*browser, 40)
	forms := make([]string, 40)
	for i := range bs {
		bs[i] = newBrowser(t).from(fmt.Sprintf("127.0.21.%d", 10+i))
		_, page := e.codePage(t, rp, bs[i], u)
		forms[i] = page.body
	}
	before := e.auditCount(t, u.email, "code.failed", "")
	wrong := e.wrongTOTP(u)
	results := tfBurst(len(bs), func(i int) (*response, error) {
		return tfRawPost(bs[i], e.g.base+"/login/otp", tfWith(tfForm(t, forms[i], "/login/otp"), "code", wrong))
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
	}
	if checked := e.auditCount(t, u.email, "code.failed", "") - before; checked != 10 {
		t.Fatalf("40 parallel wrong codes from 40 addresses: %d checked, want the account cap, 10", checked)
	}
	fresh := newBrowser(t).from("127.0.21.200")
	resp := tfPostCode(fresh, e.g.base+"/login/otp", e.codeForm(t, rp, fresh, u), e.code(u))
	if resp.StatusCode == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/authorize/callback") {
		t.Fatal("the right code from a fresh address was accepted past the account cap")
	}
	e.advance(61 * time.Minute) // past the account window
}

// codeForm signs u in with the password in b and returns a form for the
// code step, which the page itself may not show (a block): the browser's
// CSRF token from the password form and the request's id.
func (e *tfEnv) codeForm(t *testing.T, rp *relyingParty, b *browser, u *tfUser) url.Values {
	t.Helper()
	_, form, resp := tfPasswordForm(t, rp, b, u.email, u.pass)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password = %d %q", resp.StatusCode, tfAlert(resp.body))
	}
	page := b.get(redirectTarget(resp))
	if page.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the code page of a blocked account = %d, want 429", page.StatusCode)
	}
	return url.Values{"csrf": {form.Get("csrf")}, "authRequestID": {mustQuery(t, redirectTarget(resp), "authRequestID")}}
}

// testPasswordBurst: four wrong passwords, then 20 at once with the right
// one among them: one more check at most (the limit is five), and the
// right password after the block is refused. Then wrong passwords from 30
// addresses at once: exactly the account limit is checked.
func (e *tfEnv) testPasswordBurst(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-pwd@example.com")
	b := newBrowser(t).from("127.0.22.1")
	for range 4 {
		if r := tryPassword(t, rp, b, u.email, "wrong password"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password = %d", r.StatusCode)
		}
	}
	before := e.auditCount(t, u.email, "signin.failed", "password")
	forms := make([]string, 20)
	for i := range forms {
		page, _ := b.follow(rp.newFlow().authURL, rpRedirect)
		forms[i] = page.body
	}
	results := tfBurst(20, func(i int) (*response, error) {
		form := formFields(forms[i])
		form.Set("email", u.email)
		form.Set("password", "wrong password "+fmt.Sprint(i))
		return tfRawPost(b, e.g.base+"/login", form)
	})
	unauthorized, busy := 0, 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
		switch r.resp.StatusCode {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusServiceUnavailable:
			busy++ // not checked: its place is given back
		}
	}
	if checked := e.auditCount(t, u.email, "signin.failed", "password") - before; checked > 1 || checked+busy < 1 || unauthorized != 0 {
		t.Fatalf("20 parallel wrong passwords after 4: %d checked (%d busy), %d answered 401; want 1 (the fifth, which blocks) and 0", checked, busy, unauthorized)
	}
	if r := tryPassword(t, rp, b, u.email, u.pass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password after the block = %d, want 429", r.StatusCode)
	}

	// From 30 addresses at once, one wrong password each: the account's
	// limit (5) of them are checked.
	v := e.newUser(t, "lim-pwd-many@example.com")
	bs := make([]*browser, 30)
	forms = make([]string, 30)
	for i := range bs {
		bs[i] = newBrowser(t).from(fmt.Sprintf("127.0.22.%d", 10+i))
		page, _ := bs[i].follow(rp.newFlow().authURL, rpRedirect)
		forms[i] = page.body
	}
	results = tfBurst(30, func(i int) (*response, error) {
		form := formFields(forms[i])
		form.Set("email", v.email)
		form.Set("password", "wrong password")
		return tfRawPost(bs[i], e.g.base+"/login", form)
	})
	busy = 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
		if r.resp.StatusCode == http.StatusServiceUnavailable {
			busy++ // the hasher was busy: not checked, not counted (busy.go)
		}
	}
	// A password the busy hasher did not check gives its place back, so a
	// later one may take it: the account's limit (5) is checked, less the
	// places given back that nobody took.
	if checked := e.auditCount(t, v.email, "signin.failed", "password"); checked > 5 || checked+busy < 5 {
		t.Fatalf("30 parallel wrong passwords from 30 addresses: %d checked and %d not checked (busy); want at most the account limit, 5, and all 5 places used", checked, busy)
	}
	e.advance(11 * time.Minute)
}

// testOwnerDevice: wrong passwords from five addresses lock the account,
// but not its owner: neither in the browser they signed in with before
// (its device cookie) nor at the address they signed in from (even
// without cookies). The attacker, at any other address, stays blocked.
func (e *tfEnv) testOwnerDevice(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-device@example.com")
	owner := e.session(t, u, "127.0.23.1") // a full sign-in: the device cookie
	for i := range 5 {
		tryPassword(t, rp, newBrowser(t).from(fmt.Sprintf("127.0.23.%d", 10+i)), u.email, "wrong password")
	}
	if r := tryPassword(t, rp, newBrowser(t).from("127.0.23.20"), u.email, u.pass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password from a new address after 5 failures = %d, want 429", r.StatusCode)
	}
	if r := tryPassword(t, rp, newBrowser(t).from("127.0.23.21"), u.email, "wrong password"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a wrong password from yet another address = %d, want 429", r.StatusCode)
	}
	if r := tryPassword(t, rp, newBrowser(t).from("127.0.23.1"), u.email, u.pass); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner's address, without cookies = %d, want 303: others' failures lock out the owner", r.StatusCode)
	}
	f := rp.newFlow()
	rp.exchange(rp.signIn(owner, forcedLogin(f, rp), u.email, u.pass), f)
	e.advance(11 * time.Minute)
}

// forcedLogin makes f ask for the password again (prompt=login), so that
// the browser's session does not answer it.
func forcedLogin(f *flow, rp *relyingParty) *flow {
	f.authURL += "&prompt=login"
	return f
}

// testCodeEmailCap: sign-ins from one address for an account with email
// codes send at most the cap of emails (5); the pages past it answer 429.
// A resend inside the cooldown answers 429 and sends nothing.
func (e *tfEnv) testCodeEmailCap(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-mail@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.24.1"), u)
	e.advance(time.Hour) // the enrolment's email is out of the window
	n := e.mail.count(u.email, tfCodeSubject)
	b := newBrowser(t).from("127.0.24.2")
	limited := 0
	var last *response
	for range 8 {
		_, resp := tfPassword(t, rp, b, u.email, u.pass)
		page := b.get(redirectTarget(resp))
		if page.StatusCode == http.StatusTooManyRequests {
			limited++
		}
		last = page
	}
	if sent := e.mail.count(u.email, tfCodeSubject) - n; sent != 5 || limited != 3 {
		t.Fatalf("8 sign-ins: %d code emails sent and %d pages answered 429; want 5 and 3", sent, limited)
	}
	if !strings.HasPrefix(tfAlert(last.body), "Too many codes were sent.") {
		t.Errorf("the page past the cap says %q", tfAlert(last.body))
	}

	e.advance(time.Hour)
	n = e.mail.count(u.email, tfCodeSubject)
	_, page := e.codePage(t, rp, b, u)
	resend := tfRawPostMust(t, b, e.g.base+"/login/otp/resend", tfForm(t, page.body, "/login/otp/resend"))
	if resend.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(tfAlert(resend.body), "A code was sent a moment ago") {
		t.Fatalf("resend inside the cooldown = %d %q, want 429 and the cooldown", resend.StatusCode, tfAlert(resend.body))
	}
	if sent := e.mail.count(u.email, tfCodeSubject) - n; sent != 1 {
		t.Fatalf("a code page and a resend inside the cooldown sent %d emails, want 1", sent)
	}
	e.advance(time.Hour)
}

// testCodeEmailIPCap: sign-ins to 12 accounts from one address send the
// per-address cap (10) of code emails; the eleventh and twelfth page answer
// 429, and nothing goes out for them.
func (e *tfEnv) testCodeEmailIPCap(t *testing.T) {
	rp := tfRP(t, e.rp)
	users := make([]*tfUser, 12)
	for i := range users {
		users[i] = e.newUser(t, fmt.Sprintf("lim-mail-ip-%d@example.com", i))
		e.enableEmail(t, e.session(t, users[i], fmt.Sprintf("127.0.29.%d", 10+i)), users[i])
	}
	b := newBrowser(t).from("127.0.29.1")
	sent, limited := 0, 0
	for _, u := range users {
		n := e.mail.count(u.email, tfCodeSubject)
		_, resp := tfPassword(t, rp, b, u.email, u.pass)
		page := b.get(redirectTarget(resp))
		if page.StatusCode == http.StatusTooManyRequests && strings.HasPrefix(tfAlert(page.body), "Too many codes were sent.") {
			limited++
		}
		sent += e.mail.count(u.email, tfCodeSubject) - n
	}
	if sent != 10 || limited != 2 {
		t.Fatalf("sign-ins to 12 accounts from one address: %d code emails and %d pages answered 429; want 10 and 2", sent, limited)
	}
	e.advance(time.Hour)
}

func tfRawPostMust(t *testing.T, b *browser, u string, form map[string][]string) *response {
	t.Helper()
	r, err := tfRawPost(b, u, form)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testAccountWindow: the account's count goes on through its window (one
// hour): after the block of the tenth wrong code ends, the next wrong code
// blocks again at once instead of starting a new count of ten.
func (e *tfEnv) testAccountWindow(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-window@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.25.1"), u)
	before := e.auditCount(t, u.email, "code.failed", "")
	for i := range 10 {
		b := newBrowser(t).from(fmt.Sprintf("127.0.25.%d", 10+i))
		_, page := e.codePage(t, rp, b, u)
		tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.wrongTOTP(u))
	}
	e.advance(11 * time.Minute) // the block is over; the window is not
	b := newBrowser(t).from("127.0.25.100")
	_, page := e.codePage(t, rp, b, u)
	resp := tfPostCode(b, e.g.base+"/login/otp", tfForm(t, page.body, "/login/otp"), e.wrongTOTP(u))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a wrong code after the account's block, inside its window = %d %q, want 429 (blocked again)", resp.StatusCode, tfAlert(resp.body))
	}
	if checked := e.auditCount(t, u.email, "code.failed", "") - before; checked != 11 {
		t.Fatalf("%d codes checked, want 11", checked)
	}
	b = newBrowser(t).from("127.0.25.101")
	resp = tfPostCode(b, e.g.base+"/login/otp", e.codeForm(t, rp, b, u), e.code(u))
	if resp.StatusCode == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/authorize/callback") {
		t.Fatal("the right code was accepted while the account was blocked again")
	}
	e.advance(61 * time.Minute)
}

// testCodeBurstReplicas: 30 wrong codes at once from one address, spread
// over two replicas on one PostgreSQL: three are checked.
func testCodeBurstReplicas(t *testing.T, e *tfEnv, other *gatehouse) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-replicas@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.26.1"), u)
	b := newBrowser(t).from("127.0.26.2")
	_, page := e.codePage(t, rp, b, u)
	form := tfWith(tfForm(t, page.body, "/login/otp"), "code", e.wrongTOTP(u))
	results := tfBurst(30, func(i int) (*response, error) {
		base := e.g.base
		if i%2 == 1 {
			base = other.base
		}
		return tfRawPost(b, base+"/login/otp", form)
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v", i, r.err)
		}
	}
	if checked := auditCountOf(t, e.g, u.email, "code.failed", ""); checked != 3 {
		t.Fatalf("30 parallel wrong codes over two replicas: %d checked, want 3", checked)
	}
}

// testOneCodeReplicas (SECURITY.md OTP-02, REL-05): one right code of the
// authenticator app, then one recovery code, each posted at once to 20
// pending sign-ins from 20 addresses, half of them on each replica: exactly
// one sign-in passes, and it gets its token.
func testOneCodeReplicas(t *testing.T, e *tfEnv, other *gatehouse) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-replicas-one@example.com")
	recovery := acEnableTOTP(t, e, e.session(t, u, "127.0.30.1"), u)
	for round, tt := range []struct {
		name string
		page func(b *browser, page *response) *response // the page whose form takes the code
		code func() string
	}{
		{"app code", func(_ *browser, page *response) *response { return page }, func() string { return e.code(u) }},
		{"recovery code", func(b *browser, page *response) *response {
			ar := tfQuery(t, page.Request.URL.String(), "authRequestID")
			return b.get(e.g.base + "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar))
		}, func() string { return recovery[0] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20
			bs, fs, forms := make([]*browser, n), make([]*flow, n), make([]url.Values, n)
			for i := range n {
				bs[i] = newBrowser(t).from(fmt.Sprintf("127.0.%d.%d", 31+round, 10+i))
				var page *response
				fs[i], page = e.codePage(t, rp, bs[i], u)
				forms[i] = tfForm(t, tt.page(bs[i], page).body, "/login/otp")
			}
			code := tt.code()
			results := tfBurst(n, func(i int) (*response, error) {
				base := e.g.base
				if i%2 == 1 {
					base = other.base
				}
				return tfRawPost(bs[i], base+"/login/otp", tfWith(forms[i], "code", code))
			})
			winner := -1
			for i, r := range results {
				switch {
				case r.err != nil:
					t.Fatalf("submission %d: %v", i, r.err)
				case r.resp.StatusCode == http.StatusSeeOther && strings.Contains(r.resp.Header.Get("Location"), "/authorize/callback"):
					if winner >= 0 {
						t.Errorf("submissions %d and %d of one code both signed in", winner, i)
					}
					winner = i
				case r.resp.StatusCode < 400:
					t.Errorf("submission %d = %d %s, want a refusal", i, r.resp.StatusCode, r.resp.Header.Get("Location"))
				}
			}
			if winner < 0 {
				t.Fatal("no submission of the right code signed in")
			}
			tfClaims(t, tfFinish(t, rp, bs[winner], fs[winner], results[winner].resp), tfAMRTOTP, tfACR2)
			e.advance(61 * time.Minute) // past the account's window: the failures are forgotten
		})
	}
}

// testEmailCodeManyIPs: an emailed code dies after three wrong entries,
// one each from three addresses that none of them blocks: the right code
// from a fourth address is then refused, and a resent one works.
func (e *tfEnv) testEmailCodeManyIPs(t *testing.T) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "lim-email-ips@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.34.1"), u)
	e.advance(time.Hour) // the enrolment's email is out of the caps' window
	b := newBrowser(t).from("127.0.34.2")
	n := e.mail.count(u.email, tfCodeSubject)
	f, page := e.codePage(t, rp, b, u)
	code := e.mail.code(t, u.email, n)
	form := tfForm(t, page.body, "/login/otp")
	// from is b's sign-in, its cookies, sent from another address.
	from := func(ip string) *browser {
		o := newBrowser(t).from(ip)
		o.c.Jar = b.c.Jar
		return o
	}
	for i := range 3 {
		tfExpect(t, tfPostCode(from(fmt.Sprintf("127.0.34.%d", 10+i)), e.g.base+"/login/otp", form, wrongCodeFor(code)),
			http.StatusUnauthorized, tfWrong1)
	}
	resp := tfPostCode(from("127.0.34.20"), e.g.base+"/login/otp", form, code)
	if resp.StatusCode == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/authorize/callback") {
		t.Fatal("the emailed code was accepted after three wrong entries from three addresses")
	}
	e.advance(31 * time.Second) // the resend cooldown
	n = e.mail.count(u.email, tfCodeSubject)
	if r := tfRawPostMust(t, b, e.g.base+"/login/otp/resend", tfForm(t, page.body, "/login/otp/resend")); r.StatusCode != http.StatusOK {
		t.Fatalf("resend = %d %q", r.StatusCode, tfAlert(r.body))
	}
	fresh := e.mail.code(t, u.email, n)
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, fresh)), tfAMREmail, tfACREmail)
	e.advance(61 * time.Minute)
}
