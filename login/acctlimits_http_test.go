package login

// The account area's code checks under bursts: a signed-in attacker (a
// stolen session, no second factor in hand) posting guesses all at once,
// from one address and from many, gets no more checks than the limits
// allow, and the right code after them does not work where the code or
// the account is blocked.

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// stolen returns a browser at ip with b's cookies: the same session.
func (hs *harness) stolen(b *browser, ip string) *browser {
	s := hs.browser(ip)
	s.jar.SetCookies(s.base, b.jar.Cookies(b.base))
	return s
}

// postAllAt posts forms[i] to path from bs[i], all at once.
func postAllAt(bs []*browser, path string, forms []url.Values) []*response {
	out := make([]*response, len(bs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bs {
		wg.Go(func() {
			<-start
			out[i] = bs[i].post(path, forms[i])
		})
	}
	close(start)
	wg.Wait()
	return out
}

// postUntilChecked is postAllAt, with the posts answered busy (503: the
// password hasher's slots were taken, nothing was checked) posted again
// at once until none is.
func postUntilChecked(bs []*browser, path string, forms []url.Values) []*response {
	out := postAllAt(bs, path, forms)
	for range 20 {
		var again []int
		for i, resp := range out {
			if resp.status == http.StatusServiceUnavailable {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		abs, aforms := make([]*browser, len(again)), make([]url.Values, len(again))
		for j, i := range again {
			abs[j], aforms[j] = bs[i], forms[i]
		}
		for j, resp := range postAllAt(abs, path, aforms) {
			out[again[j]] = resp
		}
	}
	return out
}

// signedIn signs u in with the password alone from a browser at ip.
func (hs *harness) signedIn(u *storage.User, ip string) *browser {
	hs.t.Helper()
	b := hs.browser(ip)
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	return b
}

// liveCode returns the live emailed code of u for purpose, bound to u's
// only session.
func (hs *harness) liveCode(u *storage.User, purpose string) *storage.OneTimeCode {
	hs.t.Helper()
	ss, err := hs.store.UserSessions(hs.t.Context(), u.ID, hs.clock.Now())
	if err != nil || len(ss) != 1 {
		hs.t.Fatalf("sessions of %s: %d, %v", u.ID, len(ss), err)
	}
	c, err := hs.store.LatestCode(hs.t.Context(), u.ID, purpose, ss[0].ID, hs.clock.Now())
	if err != nil {
		hs.t.Fatalf("live code of %s: %v", u.ID, err)
	}
	return c
}

// codeEntries returns how many entries of the emailed code c were checked
// and found wrong: the failures on its own counter, which a reservation
// under a roomy limit reads (and gives back).
func (hs *harness) codeEntries(c *storage.OneTimeCode) int {
	hs.t.Helper()
	key := lockout.CodeCounter(hs.h.OTPLimiter.Scope, c.ID).String()
	l := storage.Limit{Max: 1000, Window: hs.h.EmailCodeTTL}
	res, err := hs.store.ReserveAttempt(hs.t.Context(), key, l, hs.clock.Now())
	if err != nil || !res.Granted {
		hs.t.Fatalf("read the counter of code %s: %v", c.ID, err)
	}
	if err := hs.store.ReleaseAttempts(hs.t.Context(), key, 1, res.WindowStart, l.Max); err != nil {
		hs.t.Fatal(err)
	}
	return res.Counter.Failures - 1
}

// TestAccountEmailCodeAtOnceFromManyAddresses: an emailed code of the
// account area gets no more guesses from many addresses at once than
// from one (OTPLimiter.IP.Max), as one after the other: of eight wrong
// codes posted at once from eight addresses with the stolen session, three are
// checked against the code, which is then void: the right code after
// them does not turn email codes off.
func TestAccountEmailCodeAtOnceFromManyAddresses(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) { testAccountEmailCodeAtOnce(t, newHarnessOn(t, backend).in(t)) })
	}
}

func testAccountEmailCodeAtOnce(t *testing.T, hs *harness) {
	const rounds, n = 5, 8 // n: fewer than the account's limit
	max := hs.h.OTPLimiter.IP.Max
	for round := range rounds {
		u := hs.user(fmt.Sprintf("many-%d@example.com", round), nil)
		b := hs.signedIn(u, fmt.Sprintf("192.0.2.%d", 1+round))
		if err := hs.store.SetEmailOTP(t.Context(), u.ID, true, hs.clock.Now()); err != nil {
			t.Fatal(err)
		}
		const action = "/account/security/email/disable"
		page := b.post(action, formOf(t, b.get("/account/security").body, action))
		if page.status != http.StatusOK {
			t.Fatalf("%s = %d %q", action, page.status, alert(page.body))
		}
		confirm := formOf(t, page.body, action+"-confirm")
		right, _ := hs.mailCode(u.Email)
		c := hs.liveCode(u, purposeDisableEmail)
		bs, forms := make([]*browser, n), make([]url.Values, n)
		for i := range n {
			bs[i] = hs.stolen(b, fmt.Sprintf("127.0.%d.%d", round, 10+i))
			code := fmt.Sprintf("%06d", (i+1)*11111)
			if code == right {
				code = "999999"
			}
			forms[i] = with(confirm, "code", code)
		}
		for i, resp := range postAllAt(bs, action+"-confirm", forms) {
			if resp.status != http.StatusForbidden && resp.status != http.StatusTooManyRequests {
				t.Errorf("round %d: wrong code %d = %d %q", round, i, resp.status, alert(resp.body))
			}
		}
		if got := hs.codeEntries(c); got > max {
			t.Errorf("round %d: %d wrong codes at once from %d addresses: %d checked against the code; want at most %d", round, n, n, got, max)
		}
		resp := hs.stolen(b, fmt.Sprintf("127.0.%d.%d", round, 200)).post(action+"-confirm", with(confirm, "code", right))
		if resp.status == http.StatusSeeOther {
			t.Errorf("round %d: the right code after %d wrong ones at once = %d %s; want refused", round, n, resp.status, resp.loc)
		}
		if after, err := hs.store.UserByID(t.Context(), u.ID); err != nil || !after.EmailOTP {
			t.Errorf("round %d: email codes on = %v, %v after the burst; want on", round, after != nil && after.EmailOTP, err)
		}
	}
}

// codeCheckUnderTest is one of the account area's code checks, ready to post:
// the session's browser, the form's action and the form, and the right
// code of the moment.
type codeCheckUnderTest struct {
	b     *browser
	path  string
	form  url.Values
	right func() string
	u     *storage.User
}

// accountChecks are the account area's code checks of an authenticator
// app, each set up for a fresh account signed in from its own browser.
var accountChecks = []struct {
	name  string
	setup func(hs *harness, email string) codeCheckUnderTest
}{
	{"totp/disable", func(hs *harness, email string) codeCheckUnderTest {
		return hs.securityCheck(email, "totp/disable", true)
	}},
	{"totp/enable", func(hs *harness, email string) codeCheckUnderTest {
		return hs.securityCheck(email, "totp/enable", false)
	}},
	{"recovery/regenerate", func(hs *harness, email string) codeCheckUnderTest {
		return hs.securityCheck(email, "recovery/regenerate", true)
	}},
	{"reauth", func(hs *harness, email string) codeCheckUnderTest {
		t := hs.t
		u, secret := hs.appUser(email)
		b := hs.browser("192.0.2.90")
		hs.signInWithApp(b, u.Email, secret)
		hs.clock.Advance(hs.h.ReauthWindow + time.Second)
		page := b.get("/account/reauth?next=%2Faccount%2Fsecurity")
		form := with(formOf(t, page.body, "/account/reauth"), "password", testPassword)
		return codeCheckUnderTest{b: b, path: "/account/reauth", form: form, u: u, right: func() string { return hs.totpCode(secret) }}
	}},
	{"password", func(hs *harness, email string) codeCheckUnderTest {
		t := hs.t
		u, secret := hs.appUser(email)
		b := hs.browser("192.0.2.91")
		hs.signInWithApp(b, u.Email, secret)
		form := formOf(t, b.get("/account/password").body, "/account/password")
		form = with(with(with(form, "current", testPassword), "password", newPassword), "password2", newPassword)
		return codeCheckUnderTest{b: b, path: "/account/password", form: form, u: u, right: func() string { return hs.totpCode(secret) }}
	}},
}

// securityCheck signs in a fresh account of email (with the app when
// withApp) and opens the security page's step op: its confirmation form
// is the check.
func (hs *harness) securityCheck(email, op string, withApp bool) codeCheckUnderTest {
	t := hs.t
	t.Helper()
	var u *storage.User
	var secret string
	b := hs.browser("192.0.2.92")
	if withApp {
		u, secret = hs.appUser(email)
		hs.signInWithApp(b, u.Email, secret)
	} else {
		u = hs.user(email, nil)
		id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
		hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	}
	action := "/account/security/" + op
	page := b.post(action, formOf(t, b.get("/account/security").body, action))
	if page.status != http.StatusOK {
		t.Fatalf("%s = %d %q", action, page.status, alert(page.body))
	}
	if s := firstMatch(secretRE, page.body); s != "" {
		secret = s
	}
	return codeCheckUnderTest{b: b, path: action + "-confirm", form: formOf(t, page.body, action+"-confirm"), u: u,
		right: func() string { return hs.totpCode(secret) }}
}

// wrongCodes returns n distinct six-digit codes, none valid for the app
// of right within its tolerance.
func (hs *harness) wrongCodes(n int, right string) []string {
	out := make([]string, 0, n)
	for i := 1; len(out) < n; i++ {
		c := fmt.Sprintf("%06d", i*7919%1000000)
		if c != right {
			out = append(out, c)
		}
	}
	return out
}

// TestAccountCodesAtOnce: a stolen session posting 30 wrong codes at once
// to each code check of the account area gets 3 of them checked from one
// address (the address's limit), and the right code from there then
// answers the block; from 30 addresses, 10 (the account's limit), and the
// right code from yet another address answers the block.
func TestAccountCodesAtOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			for ci, tt := range accountChecks {
				for _, many := range []bool{false, true} {
					name := tt.name + map[bool]string{false: "/one-address", true: "/many-addresses"}[many]
					t.Run(name, func(t *testing.T) {
						hs := hs.in(t)
						const n = 30
						c := tt.setup(hs, fmt.Sprintf("burst-%d-%v@example.com", ci, many))
						prefix := fmt.Sprintf("127.%d.%d.", 10+ci, map[bool]int{false: 0, true: 1}[many])
						bs, forms := make([]*browser, n), make([]url.Values, n)
						for i, code := range hs.wrongCodes(n, c.right()) {
							ip := prefix + "1"
							if many {
								ip = prefix + fmt.Sprint(10+i)
							}
							bs[i], forms[i] = hs.stolen(c.b, ip), with(c.form, "code", code)
						}
						for i, resp := range postUntilChecked(bs, c.path, forms) {
							switch resp.status {
							case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
							default:
								t.Errorf("wrong code %d = %d %s %q", i, resp.status, resp.loc, alert(resp.body))
							}
						}
						failed, err := hs.store.Events(t.Context(), storage.EventFilter{UserID: c.u.ID, Type: storage.EventCodeFailed})
						if err != nil {
							t.Fatal(err)
						}
						want := hs.h.OTPLimiter.IP.Max
						if many {
							want = hs.h.OTPLimiter.Account.Max
						}
						if len(failed) != want {
							t.Errorf("%d wrong codes at once: %d checked, want %d", n, len(failed), want)
						}
						ip := prefix + "1"
						if many {
							ip = prefix + "250"
						}
						resp := hs.stolen(c.b, ip).post(c.path, with(c.form, "code", c.right()))
						if resp.status != http.StatusTooManyRequests || alert(resp.body) != blocked10 {
							t.Errorf("the right code after the burst = %d %s %q, want 429 %q", resp.status, resp.loc, alert(resp.body), blocked10)
						}
					})
				}
			}
		})
	}
}

// TestAccountPasswordAtOnce: 30 wrong passwords posted at once to the
// re-authentication with a stolen session get the account's 5 checked,
// from one address and from 30, and the right password after them
// answers the block.
func TestAccountPasswordAtOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			for mi, many := range []bool{false, true} {
				t.Run(map[bool]string{false: "one-address", true: "many-addresses"}[many], func(t *testing.T) {
					hs := hs.in(t)
					const n = 30
					u := hs.user(fmt.Sprintf("pw-burst-%d@example.com", mi), nil)
					b := hs.signedIn(u, "192.0.2.93")
					hs.clock.Advance(hs.h.ReauthWindow + time.Second)
					form := formOf(t, b.get("/account/reauth?next=%2Faccount%2Fsecurity").body, "/account/reauth")
					prefix := fmt.Sprintf("127.30.%d.", mi)
					bs, forms := make([]*browser, n), make([]url.Values, n)
					for i := range n {
						ip := prefix + "1"
						if many {
							ip = prefix + fmt.Sprint(10+i)
						}
						bs[i], forms[i] = hs.stolen(b, ip), with(form, "password", fmt.Sprintf("wrong password %d", i))
					}
					wrong, blocked := 0, 0
					for i, resp := range postUntilChecked(bs, "/account/reauth", forms) {
						switch {
						case resp.status == http.StatusUnauthorized && alert(resp.body) == msgReauthWrong:
							wrong++
						case resp.status == http.StatusTooManyRequests && alert(resp.body) == blocked10:
							blocked++
						default:
							t.Errorf("wrong password %d = %d %s %q", i, resp.status, resp.loc, alert(resp.body))
						}
					}
					max := hs.h.Limiter.Account.Max
					if wrong != max-1 || blocked != n-max+1 {
						t.Errorf("%d wrong passwords at once: %d wrong, %d blocked; want %d, %d", n, wrong, blocked, max-1, n-max+1)
					}
					resp := hs.stolen(b, prefix+"250").post("/account/reauth", with(form, "password", testPassword))
					if resp.status != http.StatusTooManyRequests || alert(resp.body) != blocked10 {
						t.Errorf("the right password after the burst = %d %s %q, want 429 %q", resp.status, resp.loc, alert(resp.body), blocked10)
					}
				})
			}
		})
	}
}

// TestAccountCodeEmailsAtOnce: the account area's emailed codes, asked
// for 20 times at once at each of their four forms from many addresses
// with one session, go out once a form (the resend cooldown), and once
// the cooldown has passed, no more than the account's cap of code
// emails (5) go out in all.
func TestAccountCodeEmailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend).in(t)
			u := hs.user("mail-burst@example.com", nil)
			b := hs.signedIn(u, "192.0.2.94")
			if err := hs.store.SetEmailOTP(t.Context(), u.ID, true, hs.clock.Now()); err != nil {
				t.Fatal(err)
			}
			reauth := formOf(t, b.get("/account/reauth?next=%2Faccount").body, "/account/reauth")
			pw := formOf(t, b.get("/account/password").body, "/account/password")
			security := b.get("/account/security").body
			forms := map[string]url.Values{
				"/account/reauth/code":                  reauth,
				"/account/password/code":                pw,
				"/account/security/email/disable":       formOf(t, security, "/account/security/email/disable"),
				"/account/security/recovery/regenerate": formOf(t, security, "/account/security/recovery/regenerate"),
			}
			const n = 20
			burst := func(round int) []*response {
				var out []*response
				var mu sync.Mutex
				var wg sync.WaitGroup
				pi := 0
				for path, form := range forms {
					bs, fs := make([]*browser, n), make([]url.Values, n)
					for i := range n {
						bs[i], fs[i] = hs.stolen(b, fmt.Sprintf("127.40.%d.%d", round*10+pi, 10+i)), form
					}
					pi++
					wg.Go(func() {
						rs := postAllAt(bs, path, fs)
						mu.Lock()
						out = append(out, rs...)
						mu.Unlock()
					})
				}
				wg.Wait()
				return out
			}
			for _, resp := range burst(0) {
				if resp.status != http.StatusOK && resp.status != http.StatusTooManyRequests {
					t.Errorf("a code asked for at once = %d %s %q", resp.status, resp.loc, alert(resp.body))
				}
			}
			if _, got := hs.mailCode(u.Email); got != len(forms) {
				t.Errorf("%d codes asked for at once at each of %d forms: %d emails; want %d", n, len(forms), got, len(forms))
			}
			hs.clock.Advance(hs.h.ResendCooldown)
			burst(1)
			if _, got := hs.mailCode(u.Email); got != hs.h.MailLimiter.Account.Max {
				t.Errorf("after the cooldown, %d codes asked for at once at each of %d forms: %d emails in all; want the cap %d",
					n, len(forms), got, hs.h.MailLimiter.Account.Max)
			}
		})
	}
}
