package login

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

var (
	amrPassword = []string{"pwd"}
	amrTOTP     = []string{"pwd", "otp", "mfa"}
	amrEmail    = []string{"pwd", "email", "mfa"}
)

// blocked10 is the block message as a fresh 10-minute block shows it.
var blocked10 = fmt.Sprintf(msgBlocked, 10)

// wrongCode is the wrong-code message with n attempts left.
func wrongCode(n int) string { return fmt.Sprintf(msgWrongCode, n) }

// TestPasswordStep covers the first step: every refusal shows one message
// and starts no session; the right password of an account without a second
// factor completes the request with amr pwd.
func TestPasswordStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("alice@example.com", nil)
	hs.user("off@example.com", func(u *storage.User) { u.Disabled = true })
	hs.user("new@example.com", func(u *storage.User) { u.EmailVerified = false })
	for _, tt := range []struct{ name, email, pass string }{
		{"wrong password", "alice@example.com", "not the password"},
		{"unknown account", "nobody@example.com", testPassword},
		{"disabled account", "off@example.com", testPassword},
		{"unconfirmed address", "new@example.com", testPassword},
		{"empty password", "alice@example.com", ""},
		{"password with a space added", "alice@example.com", testPassword + " "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			b := hs.browser("192.0.2.1")
			id, resp := hs.submitPassword(b, testClientID, tt.email, tt.pass, nil)
			expectPage(t, resp, http.StatusUnauthorized, msgBadCredentials)
			if b.cookie(sessionCookie) != "" {
				t.Error("a refused password started a session")
			}
			if ar := hs.authRequest(id); ar.Done || ar.UserID != "" {
				t.Errorf("auth request after a refusal: done %v user %q", ar.Done, ar.UserID)
			}
		})
	}
	t.Run("right password, no second factor", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.1")
		id, resp := hs.submitPassword(b, testClientID, "  Alice@Example.com ", testPassword, nil)
		hs.expectDone(b, id, resp, amrPassword, ACRPassword)
		sess, err := hs.store.SessionByID(t.Context(), hs.h.SessionID(b.request(http.MethodGet, "/", nil)), hs.clock.Now())
		if err != nil || sess.UserID != "u-alice" || !slices.Equal(sess.AMR, amrPassword) || sess.IP != "192.0.2.1" {
			t.Errorf("session = %+v, %v", sess, err)
		}
	})
}

// TestTOTPStep covers the code step of an account with the authenticator
// app: the password leads to the code page, a wrong code counts down, the
// right one completes the request with amr otp and acr loa:2.
func TestTOTPStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("tom@example.com")
	b := hs.browser("192.0.2.2")
	id, page, form := hs.codeStep(b, u.Email, nil)
	if form.Get("method") != factorTOTP || form.Get("authRequestID") != id || form.Get("csrf") == "" {
		t.Errorf("code form = %v", form)
	}
	if strings.Contains(page.body, "/login/otp/resend") {
		t.Error("an app-only user is offered Resend")
	}
	if ar := hs.authRequest(id); ar.Done || ar.UserID != u.ID {
		t.Errorf("after the password: done %v user %q, want pending for %s", ar.Done, ar.UserID, u.ID)
	}
	if b.cookie(sessionCookie) != "" {
		t.Error("the password alone started a session")
	}
	right := hs.totpCode(secret)
	expectPage(t, b.post("/login/otp", with(form, "code", otherCode(right))), http.StatusUnauthorized, wrongCode(2))
	expectPage(t, b.post("/login/otp", with(form, "code", "12ab56")), http.StatusUnauthorized, wrongCode(1))
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", right)), amrTOTP, ACRMFA)
	if b.cookie(sessionCookie) == "" {
		t.Error("no session after the second factor")
	}
	// The step is over: the form cannot be posted again.
	expectEnded(t, b.post("/login/otp", with(form, "code", right)))
}

// TestWrongCodesBlockIP covers the IP block: the third wrong code blocks
// the client IP for 10 minutes, for every step and every account, ends the
// pending sign-in and tells the owner; other IPs are unaffected; the
// minutes count down and the block ends with them.
func TestWrongCodesBlockIP(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("bob@example.com")
	other := hs.user("carol@example.com", nil)
	const ip = "203.0.113.7"

	b := hs.browser(ip)
	id, _, form := hs.codeStep(b, u.Email, nil)
	wrong := otherCode(hs.totpCode(secret))
	expectPage(t, b.post("/login/otp", with(form, "code", wrong)), http.StatusUnauthorized, wrongCode(2))
	expectPage(t, b.post("/login/otp", with(form, "code", wrong)), http.StatusUnauthorized, wrongCode(1))
	resp := b.post("/login/otp", with(form, "code", wrong))
	blockedAt := hs.clock.Now()
	expectPage(t, resp, http.StatusTooManyRequests, blocked10)
	if strings.Contains(resp.body, `name="code"`) {
		t.Error("the block page still offers the code form")
	}
	if n := hs.mailed(u.Email, "Sign-ins to your Gatehouse account were blocked"); n != 1 {
		t.Errorf("%d block emails to the owner, want 1", n)
	}
	// The pending sign-in ended: even the right code goes back to the password.
	expectRedirect(t, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), "/login?authRequestID="+url.QueryEscape(id))
	if ar := hs.authRequest(id); ar.UserID != "" || ar.Done {
		t.Errorf("blocked sign-in still pending: user %q done %v", ar.UserID, ar.Done)
	}
	// Every account's password step is closed to the IP, on sight and on post.
	for _, who := range []string{u.Email, other.Email} {
		_, resp := hs.submitPassword(hs.browser(ip), testClientID, who, testPassword, nil)
		expectPage(t, resp, http.StatusTooManyRequests, blocked10)
	}
	shown := hs.browser(ip)
	expectPage(t, shown.get("/login?authRequestID="+hs.authorize(shown, testClientID, nil)), http.StatusTooManyRequests, blocked10)
	// Another IP signs in to the same account.
	hs.signInWithApp(hs.browser("203.0.113.8"), u.Email, secret)

	// The minutes count down...
	hs.clock.Advance(blockedAt.Add(5*time.Minute + 30*time.Second).Sub(hs.clock.Now()))
	_, resp = hs.submitPassword(hs.browser(ip), testClientID, other.Email, testPassword, nil)
	expectPage(t, resp, http.StatusTooManyRequests, fmt.Sprintf(msgBlocked, 5))
	// ...and the block ends.
	hs.clock.Advance(blockedAt.Add(10*time.Minute + time.Second).Sub(hs.clock.Now()))
	hs.signInWithApp(hs.browser(ip), u.Email, secret)
}

// TestStepAfterPassword covers where the right password leads, by the
// account's factors and what the client demands.
func TestStepAfterPassword(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	hs.client("strict", func(c *storage.Client) { c.RequireMFA = true })
	hs.enrollTOTP(hs.user("app@example.com", nil))
	hs.user("mail@example.com", func(u *storage.User) { u.EmailOTP = true })
	hs.addKey(hs.user("key@example.com", nil))
	hs.user("none@example.com", nil)
	acr := func(v string) func(*storage.AuthRequest) {
		return func(ar *storage.AuthRequest) { ar.ACRValues = []string{v} }
	}
	for _, tt := range []struct {
		name, email, client string
		mod                 func(*storage.AuthRequest)
		next                string // the step, or "" for done
		status              int    // when refused
		msg                 string
	}{
		{name: "no factor", email: "none@example.com", client: testClientID},
		{name: "no factor, client requires MFA", email: "none@example.com", client: "strict", next: "/login/enroll"},
		{name: "no factor, acr_values ask for email", email: "none@example.com", client: testClientID, mod: acr(ACREmail), next: "/login/enroll"},
		{name: "authenticator app", email: "app@example.com", client: testClientID, next: "/login/otp"},
		{name: "email codes", email: "mail@example.com", client: testClientID, next: "/login/otp"},
		{name: "email codes, client requires MFA", email: "mail@example.com", client: "strict", next: "/login/otp"},
		{name: "security key only", email: "key@example.com", client: testClientID, next: "/login/webauthn"},
		{name: "authenticator app, acr_values ask for a key", email: "app@example.com", client: testClientID, mod: acr(ACRPhishingResistant),
			status: http.StatusForbidden, msg: msgKeyRequired},
		{name: "email codes only, acr_values ask for the app", email: "mail@example.com", client: testClientID, mod: acr(ACRMFA),
			status: http.StatusForbidden, msg: msgAppRequired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			b := hs.browser("192.0.2.10")
			id, resp := hs.submitPassword(b, tt.client, tt.email, testPassword, tt.mod)
			switch {
			case tt.status != 0:
				expectPage(t, resp, tt.status, tt.msg)
			case tt.next == "":
				hs.expectDone(b, id, resp, amrPassword, ACRPassword)
				return
			default:
				expectRedirect(t, resp, tt.next+"?authRequestID="+url.QueryEscape(id))
			}
			if ar := hs.authRequest(id); ar.Done || b.cookie(sessionCookie) != "" {
				t.Errorf("the password alone finished the sign-in: done %v, session cookie %v", ar.Done, b.cookie(sessionCookie) != "")
			}
		})
	}
}

// TestEmailCodeStep covers email codes: the code page sends one, reloading
// sends no other, Resend waits out the cooldown and voids the previous
// code, the newest code completes the request with amr email; a code
// expires after 60 seconds.
func TestEmailCodeStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("dana@example.com", func(u *storage.User) { u.EmailOTP = true })
	b := hs.browser("192.0.2.20")
	id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	if want := "We sent a 6-digit code to d•••@example.com."; page.status != http.StatusOK || info(page.body) != want {
		t.Errorf("code page = %d %q, want %q", page.status, info(page.body), want)
	}
	first, n := hs.mailCode(u.Email)
	if m, _ := hs.mail.Last(u.Email); n != 1 || m.Subject != "Your Gatehouse code" || strings.Contains(m.Subject, first) {
		t.Errorf("%d emails, subject %q", n, m.Subject)
	}
	form := formOf(t, page.body, "/login/otp")
	if form.Get("method") != factorEmail {
		t.Errorf("code form method %q", form.Get("method"))
	}
	// Reloading the page sends nothing.
	if again := b.get("/login/otp?authRequestID=" + url.QueryEscape(id)); !strings.HasPrefix(info(again.body), "We already sent you a code.") {
		t.Errorf("reload: %q", info(again.body))
	}
	// Resend waits out the cooldown, counting down.
	resend := formOf(t, page.body, "/login/otp/resend")
	for _, wait := range []struct {
		after time.Duration
		left  string
	}{{0, "30"}, {12 * time.Second, "18"}} {
		hs.clock.Advance(wait.after)
		expectPage(t, b.post("/login/otp/resend", resend), http.StatusTooManyRequests,
			"A code was sent a moment ago. You can ask for another one in "+wait.left+" seconds.")
	}
	if _, n := hs.mailCode(u.Email); n != 1 {
		t.Fatalf("%d emails during the cooldown, want 1", n)
	}
	hs.clock.Advance(18 * time.Second)
	resp := b.post("/login/otp/resend", resend)
	if want := "We sent a new code to d•••@example.com. The previous code no longer works."; resp.status != http.StatusOK || info(resp.body) != want {
		t.Errorf("resend = %d %q, want %q", resp.status, info(resp.body), want)
	}
	second, n := hs.mailCode(u.Email)
	if n != 2 {
		t.Fatalf("%d emails after Resend, want 2", n)
	}
	if first != second {
		expectPage(t, b.post("/login/otp", with(form, "code", first)), http.StatusUnauthorized, wrongCode(2))
	}
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", second)), amrEmail, ACREmail)

	t.Run("expired code", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.21")
		id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
		code, _ := hs.mailCode(u.Email)
		hs.clock.Advance(61 * time.Second)
		form := formOf(t, page.body, "/login/otp")
		expectPage(t, b.post("/login/otp", with(form, "code", code)), http.StatusUnauthorized, wrongCode(2))
		// The page sends a fresh code, which works.
		if page := b.get("/login/otp?authRequestID=" + url.QueryEscape(id)); !strings.HasPrefix(info(page.body), "We sent a 6-digit code") {
			t.Errorf("after expiry the page says %q", info(page.body))
		}
		fresh, _ := hs.mailCode(u.Email)
		hs.expectDone(b, id, b.post("/login/otp", with(form, "code", fresh)), amrEmail, ACREmail)
	})
}

// TestRecoveryCodeStep covers a recovery code in place of the app: typed
// any way, it completes the request, is used up, and the owner is told.
func TestRecoveryCodeStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("rita@example.com", nil)
	_, codes := hs.enrollTOTP(u)
	if len(codes) != 10 {
		t.Fatalf("enrolment showed %d recovery codes, want 10", len(codes))
	}
	b := hs.browser("192.0.2.30")
	id, _ := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	page := b.get("/login/otp?method=recovery&authRequestID=" + url.QueryEscape(id))
	form := formOf(t, page.body, "/login/otp")
	if form.Get("method") != factorRecovery || !strings.Contains(page.body, `placeholder="xxxxx-xxxxx"`) {
		t.Errorf("recovery form = %v", form)
	}
	expectPage(t, b.post("/login/otp", with(form, "code", "aaaaa-aaaaa")), http.StatusUnauthorized, wrongCode(2))
	typed := strings.ToUpper(strings.Replace(codes[3], "-", " ", 1))
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", typed)), amrTOTP, ACRMFA)
	if left, err := hs.store.RecoveryCodesLeft(t.Context(), u.ID); err != nil || left != 9 {
		t.Errorf("recovery codes left = %d, %v; want 9", left, err)
	}
	if hs.mailed(u.Email, "A recovery code was used") != 1 {
		t.Error("the owner was not told of the recovery code")
	}
}

// TestReplayedCodes covers single use: a code that completed one sign-in
// is refused in the next one, which a fresh code then completes.
func TestReplayedCodes(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	app := hs.user("app@example.com", nil)
	secret, codes := hs.enrollTOTP(app)
	mail := hs.user("mail@example.com", func(u *storage.User) { u.EmailOTP = true })
	for _, tt := range []struct {
		name   string
		email  string
		method string
		code   func(hs *harness, first bool) string // the code to use; first: in the first sign-in
		amr    []string
		acr    string
	}{
		{"authenticator app time step", app.Email, factorTOTP, func(hs *harness, _ bool) string { return hs.totpCode(secret) }, amrTOTP, ACRMFA},
		{"recovery code", app.Email, factorRecovery, func(_ *harness, first bool) string {
			if first {
				return codes[0]
			}
			return codes[1]
		}, amrTOTP, ACRMFA},
		{"email code", mail.Email, factorEmail, func(hs *harness, _ bool) string { c, _ := hs.mailCode(mail.Email); return c }, amrEmail, ACREmail},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			signIn := func(ip string) (*browser, string, url.Values) {
				b := hs.browser(ip)
				id, _ := hs.toStep(b, testClientID, tt.email, "/login/otp", nil)
				page := b.get("/login/otp?method=" + tt.method + "&authRequestID=" + url.QueryEscape(id))
				return b, id, formOf(t, page.body, "/login/otp")
			}
			b, id, form := signIn("192.0.2.40")
			used := tt.code(hs, true)
			hs.expectDone(b, id, b.post("/login/otp", with(form, "code", used)), tt.amr, tt.acr)
			b, id, form = signIn("192.0.2.41")
			expectPage(t, b.post("/login/otp", with(form, "code", used)), http.StatusUnauthorized, wrongCode(2))
			hs.clock.Advance(30 * time.Second) // a new time step for the app
			hs.expectDone(b, id, b.post("/login/otp", with(form, "code", tt.code(hs, false))), tt.amr, tt.acr)
		})
	}
}

// TestEnrollStep covers a client that requires a second factor and a
// user who has none: the sign-in walks them through turning one on (the
// app or email), a wrong code keeps the same setup, the right one turns
// the factor on, shows the recovery codes once and completes the request.
func TestEnrollStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("strict", func(c *storage.Client) { c.RequireMFA = true })
	for _, tt := range []struct {
		method string
		code   func(hs *harness, page string) string // the right code, from the page or the email
		amr    []string
		acr    string
	}{
		{factorTOTP, func(hs *harness, page string) string { return hs.totpCode(firstMatch(secretRE, page)) }, amrTOTP, ACRMFA},
		{factorEmail, func(hs *harness, _ string) string { c, _ := hs.mailCode("enrol-email@example.com"); return c }, amrEmail, ACREmail},
	} {
		t.Run(tt.method, func(t *testing.T) {
			hs := hs.in(t)
			u := hs.user("enrol-"+tt.method+"@example.com", nil)
			b := hs.browser("192.0.2.50")
			id, page := hs.toStep(b, "strict", u.Email, "/login/enroll", nil)
			if tt.method == factorEmail {
				page = b.get("/login/enroll?method=email&authRequestID=" + url.QueryEscape(id))
				if !strings.HasPrefix(info(page.body), "We sent a 6-digit code to e•••••@example.com.") {
					t.Errorf("email enrolment page says %q", info(page.body))
				}
			}
			form := formOf(t, page.body, "/login/enroll")
			right := tt.code(hs, page.body)
			resp := b.post("/login/enroll", with(form, "code", otherCode(right)))
			expectPage(t, resp, http.StatusUnauthorized, wrongCode(2))
			if tt.method == factorTOTP && firstMatch(secretRE, resp.body) != firstMatch(secretRE, page.body) {
				t.Error("after a wrong code the enrolment shows another secret")
			}
			resp = b.post("/login/enroll", with(form, "code", right))
			codes := codesRE.FindAllStringSubmatch(resp.body, -1)
			if resp.status != http.StatusOK || len(codes) != 10 || !strings.Contains(resp.body, `href="`+callbackURL(id)+`"`) {
				t.Fatalf("after enrolment: %d, %d recovery codes, link on: %v", resp.status, len(codes), strings.Contains(resp.body, callbackURL(id)))
			}
			ar := hs.authRequest(id)
			if !ar.Done || !slices.Equal(ar.AMR, tt.amr) || ar.ACR != tt.acr {
				t.Errorf("auth request done %v amr %v acr %q", ar.Done, ar.AMR, ar.ACR)
			}
			hs.expectIssued(b, id)
			app, err := hs.store.TOTPByUser(t.Context(), u.ID)
			hasTOTP := err == nil && app.Confirmed
			if hasEmail := hs.userByEmail(u.Email).EmailOTP; hasTOTP != (tt.method == factorTOTP) || hasEmail != (tt.method == factorEmail) {
				t.Errorf("factors after enrolling %s: app %v email %v", tt.method, hasTOTP, hasEmail)
			}
			if hs.mailed(u.Email, "Two-factor authentication changed") != 1 {
				t.Error("no security email for the new factor")
			}
			// With a factor on, enrolment is closed: the code page asks for it.
			b2 := hs.browser("192.0.2.51")
			id2, _ := hs.toStep(b2, "strict", u.Email, "/login/otp", nil)
			expectRedirect(t, b2.get("/login/enroll?authRequestID="+url.QueryEscape(id2)), "/login/otp?authRequestID="+url.QueryEscape(id2))
		})
	}
	t.Run("acr_values refuse email", func(t *testing.T) {
		hs := hs.in(t)
		u := hs.user("enrol-app-only@example.com", nil)
		b := hs.browser("192.0.2.52")
		id, page := hs.toStep(b, testClientID, u.Email, "/login/enroll", func(ar *storage.AuthRequest) { ar.ACRValues = []string{ACRMFA} })
		if strings.Contains(page.body, "method=email") {
			t.Error("an enrolment for loa:2 offers email codes")
		}
		// Asking for email anyway gets the app's enrolment, and no email.
		page = b.get("/login/enroll?method=email&authRequestID=" + url.QueryEscape(id))
		form := formOf(t, page.body, "/login/enroll")
		if _, mailed := hs.mail.Last(u.Email); form.Get("method") != factorTOTP || firstMatch(secretRE, page.body) == "" || mailed {
			t.Errorf("enrolment asked for email under loa:2: method %q, emailed %v", form.Get("method"), mailed)
		}
		resp := b.post("/login/enroll", with(form, "code", hs.totpCode(firstMatch(secretRE, page.body))))
		if resp.status != http.StatusOK || hs.authRequest(id).ACR != ACRMFA {
			t.Errorf("app enrolment under loa:2 = %d, acr %q", resp.status, hs.authRequest(id).ACR)
		}
	})
}

// TestAccountCodeCap covers the cap per account: ten wrong codes spread
// over several IPs (two each, under the IP limit) block the account's code
// step everywhere, whatever the IP, while other accounts sign in; the
// attempts left are those of the tighter counter.
func TestAccountCodeCap(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("cap@example.com")
	other := hs.user("uncapped@example.com", nil)
	wrongs := 0
	for i := 1; wrongs < 10; i++ {
		b := hs.browser(fmt.Sprintf("198.51.100.%d", i))
		_, _, form := hs.codeStep(b, u.Email, nil)
		form.Set("code", otherCode(hs.totpCode(secret)))
		for ipLeft := 2; ipLeft >= 1 && wrongs < 10; ipLeft-- {
			wrongs++
			resp := b.post("/login/otp", form)
			if wrongs < 10 {
				expectPage(t, resp, http.StatusUnauthorized, wrongCode(min(ipLeft, 10-wrongs)))
			} else {
				expectPage(t, resp, http.StatusTooManyRequests, blocked10)
			}
		}
	}
	b := hs.browser("198.51.100.99")
	_, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	expectPage(t, page, http.StatusTooManyRequests, blocked10)
	if strings.Contains(page.body, `name="code"`) {
		t.Error("the code form is offered to a capped account")
	}
	b2 := hs.browser("198.51.100.99")
	id, resp := hs.submitPassword(b2, testClientID, other.Email, testPassword, nil)
	hs.expectDone(b2, id, resp, amrPassword, ACRPassword)
	hs.clock.Advance(10*time.Minute + time.Second)
	hs.signInWithApp(b, u.Email, secret)
}

// TestEmailNotSent covers a mail server that is down: the page says the
// code could not be sent, nothing is left behind (no cooldown, no code),
// and a failed Resend leaves the previous code working.
func TestEmailNotSent(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("ed@example.com", func(u *storage.User) { u.EmailOTP = true })
	b := hs.browser("192.0.2.25")
	hs.mail.SetErr(mail.ErrUnavailable)
	id, page, _ := hs.codeStep(b, u.Email, nil)
	expectPage(t, page, http.StatusOK, msgSendFailed)
	hs.mail.SetErr(nil)
	page = b.get("/login/otp?authRequestID=" + url.QueryEscape(id))
	if !strings.HasPrefix(info(page.body), "We sent a 6-digit code") {
		t.Fatalf("after the server is back the page says %q %q", info(page.body), alert(page.body))
	}
	sent, _ := hs.mailCode(u.Email)
	hs.clock.Advance(31 * time.Second)
	hs.mail.SetErr(mail.ErrUnavailable)
	expectPage(t, b.post("/login/otp/resend", formOf(t, page.body, "/login/otp/resend")), http.StatusOK, msgSendFailed)
	hs.mail.SetErr(nil)
	if _, n := hs.mailCode(u.Email); n != 1 {
		t.Errorf("%d emails recorded, want 1", n)
	}
	hs.expectDone(b, id, b.post("/login/otp", with(formOf(t, page.body, "/login/otp"), "code", sent)), amrEmail, ACREmail)
}

// TestStepMessagesInRussian covers the language of the step messages: the
// browser's Accept-Language or the request's ui_locales turn the wrong
// password, wrong code and block messages into Russian, plural forms and
// all.
func TestStepMessagesInRussian(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u, secret := hs.appUser("ivan@example.com")
	for i, tt := range []struct {
		name   string
		accept string
		mod    func(*storage.AuthRequest)
	}{
		{"Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5", nil},
		{"ui_locales", "", func(ar *storage.AuthRequest) { ar.UILocales = []string{"ru"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			b := hs.browser(fmt.Sprintf("192.0.2.%d", 130+i))
			b.lang = tt.accept
			_, resp := hs.submitPassword(b, testClientID, u.Email, "wrong password", tt.mod)
			expectPage(t, resp, http.StatusUnauthorized, "Неверный адрес электронной почты или пароль.")
			_, _, form := hs.codeStep(b, u.Email, tt.mod)
			form.Set("code", otherCode(hs.totpCode(secret)))
			for _, left := range []string{"2", "1"} {
				expectPage(t, b.post("/login/otp", form), http.StatusUnauthorized, "Неверный одноразовый пароль! (Осталось попыток: "+left+")")
			}
			expectPage(t, b.post("/login/otp", form), http.StatusTooManyRequests, "Вы исчерпали лимит попыток. Повторите попытку через 10 минут.")
			hs.clock.Advance(8*time.Minute + 30*time.Second)
			_, resp = hs.submitPassword(b, testClientID, u.Email, testPassword, tt.mod)
			expectPage(t, resp, http.StatusTooManyRequests, "Вы исчерпали лимит попыток. Повторите попытку через 2 минуты.")
			hs.clock.Advance(2 * time.Minute)
		})
	}
}
