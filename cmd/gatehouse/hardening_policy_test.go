package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// End-to-end tests of issue 15 §4: new passwords are compared with the
// common list after normalisation and, with password.breached_file, with a
// local Pwned Passwords list (PWD-04); emailed codes earn their own acr
// (OTP-06).

const (
	hpBreached      = "This password appears in a known data breach. Choose another one."
	hpBreachedRU    = "Этот пароль есть в известной утечке данных. Выберите другой."
	hpBreachedPass  = "correct horse battery staple"
	hpBreachedPass2 = "Tr0ub4dor&3 forever"
)

// hpBreachedFile writes a Pwned Passwords list holding passwords, among
// filler hashes, as the downloader writes it: "HASH:COUNT" lines sorted by
// hash, CRLF line ends.
func hpBreachedFile(t *testing.T, passwords ...string) string {
	t.Helper()
	var lines []string
	for i, p := range passwords {
		sum := sha1.Sum([]byte(p))
		lines = append(lines, fmt.Sprintf("%s:%d", strings.ToUpper(hex.EncodeToString(sum[:])), 10+i))
	}
	for i := range 500 {
		sum := sha1.Sum(fmt.Appendf(nil, "filler %d", i))
		lines = append(lines, fmt.Sprintf("%s:%d", strings.ToUpper(hex.EncodeToString(sum[:])), i+1))
	}
	slices.Sort(lines)
	name := filepath.Join(t.TempDir(), "pwned-passwords.txt")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestPasswordPolicyHardening sets new passwords through every door —
// registration, the password change, the reset link and users create —
// and checks that a common password with digits and symbols appended, or
// one on the breached list, is refused there, in English and Russian.
func TestPasswordPolicyHardening(t *testing.T) {
	t.Parallel()
	list := hpBreachedFile(t, hpBreachedPass, hpBreachedPass2)
	e := ssStart(t, databaseURL(t, "sqlite"), "GATEHOUSE_PASSWORD_BREACHED_FILE="+list)

	t.Run("users create", func(t *testing.T) {
		for _, c := range []struct {
			pass, refusal string
		}{
			{"Password1!", ssTooCommon},
			{"  iloveyou2024?", ssTooCommon},
			{hpBreachedPass, hpBreached},
		} {
			email := fmt.Sprintf("cli-%d@example.com", time.Now().UnixNano())
			_, errOut, err := e.g.tryCLI(c.pass+"\n", "users", "create", "--email", email, "--password-stdin")
			if err == nil || !strings.Contains(errOut, c.refusal) {
				t.Errorf("users create with %q: err %v, stderr %q; want a refusal saying %q", c.pass, err, errOut, c.refusal)
			}
		}
		// A long unusual password that ends in a digit is fine.
		e.g.createUser("cli-fine@example.com", "Fine", "violet otter lantern 9")
	})

	t.Run("registration", func(t *testing.T) {
		for _, c := range []struct {
			lang, pass, alert string
		}{
			{"en", "Password1!", ssTooCommon},
			{"en", "Qwertyuiop123!!", ssTooCommon},
			{"en", hpBreachedPass, hpBreached},
			{"ru", hpBreachedPass, hpBreachedRU},
		} {
			b := e.browser(t)
			if c.lang == "ru" {
				b.header.Set("Accept-Language", "ru-RU,ru;q=0.9")
			}
			form := ssForm(t, b.get(e.g.base+"/register").body, "/register")
			resp := e.register(t, b, form, "reg-policy@example.com", "Policy", c.pass)
			if resp.StatusCode != http.StatusBadRequest || ssAlert(resp.body) != c.alert {
				t.Errorf("register (%s) with %q = %d %q, want 400 %q", c.lang, c.pass, resp.StatusCode, ssAlert(resp.body), c.alert)
			}
		}
	})

	t.Run("change", func(t *testing.T) {
		u := e.newUser(t, "change-policy@example.com")
		b := e.session(t, u)
		form := ssForm(t, b.get(e.g.base+"/account/password").body, "/account/password")
		for _, c := range []struct{ pass, alert string }{
			{"Password2024!", ssTooCommon},
			{hpBreachedPass2, hpBreached},
		} {
			r := b.post(e.g.base+"/account/password", ssWith(form, "current", u.pass, "password", c.pass, "password2", c.pass))
			if r.StatusCode != http.StatusBadRequest || ssAlert(r.body) != c.alert {
				t.Errorf("change to %q = %d %q, want 400 %q", c.pass, r.StatusCode, ssAlert(r.body), c.alert)
			}
		}
		// Only the new password is normalised for the list: signing in
		// checks it exactly as typed.
		const good = "  spaced violet otter 7  "
		if r := b.post(e.g.base+"/account/password", ssWith(form, "current", u.pass, "password", good, "password2", good)); r.StatusCode != http.StatusOK || ssInfo(r.body) != ssChanged {
			t.Fatalf("change to %q = %d %q %q", good, r.StatusCode, ssInfo(r.body), ssAlert(r.body))
		}
		rp := e.relyingParty(t)
		f := rp.newFlow()
		if resp := hpPasswordStep(t, e.browser(t), rp, f, u.email, strings.TrimSpace(good)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with the password trimmed = %d, want 401", resp.StatusCode)
		}
		f = rp.newFlow()
		rp.exchange(rp.signIn(e.browser(t), f, u.email, good), f)
	})

	t.Run("reset", func(t *testing.T) {
		u := e.newUser(t, "reset-policy@example.com")
		token := e.askReset(t, e.browser(t), u.email, 1)
		b := e.browser(t)
		page := b.get(e.g.base + "/recover/reset?token=" + token)
		r := b.post(e.g.base+"/recover/reset", ssWith(ssForm(t, page.body, "/recover/reset"), "password", hpBreachedPass, "password2", hpBreachedPass))
		if r.StatusCode != http.StatusBadRequest || ssAlert(r.body) != hpBreached {
			t.Errorf("reset to a breached password = %d %q, want 400 %q", r.StatusCode, ssAlert(r.body), hpBreached)
		}
	})
}

// hpPasswordStep opens the sign-in page of flow f in b and posts email and
// password, returning the answer to the post.
func hpPasswordStep(t *testing.T, b *browser, rp *relyingParty, f *flow, email, pass string) *response {
	t.Helper()
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil || page.StatusCode != http.StatusOK {
		t.Fatalf("no sign-in page (landed at %s)", at)
	}
	return b.post(rp.g.base+"/login", ssWith(ssForm(t, page.body, "/login"), "email", email, "password", pass))
}

// TestBreachedFileRefusedAtStart: a password.breached_file that is missing,
// unreadable or not a Pwned Passwords list stops serve and users create at
// once, with an error naming the key.
func TestBreachedFileRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	malformed := filepath.Join(dir, "malformed.txt")
	if err := os.WriteFile(malformed, []byte("password123\nqwerty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.txt")
	if err := os.WriteFile(unreadable, []byte(strings.Repeat("A", 40)+":1\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"missing":   filepath.Join(dir, "missing.txt"),
		"malformed": malformed,
		"directory": dir,
	}
	if os.Geteuid() != 0 { // root reads any file
		cases["unreadable"] = unreadable
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			g := newGatehouse(t, databaseURL(t, "sqlite"), "GATEHOUSE_PASSWORD_BREACHED_FILE="+file)
			for _, args := range [][]string{
				{"serve"},
				{"users", "create", "--email", "someone@example.com", "--password-stdin"},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, binary, args...)
				cmd.Env = g.env
				cmd.Stdin = strings.NewReader("violet otter lantern\n")
				out, err := cmd.CombinedOutput()
				timedOut := ctx.Err() != nil
				cancel()
				if err == nil || timedOut || !strings.Contains(string(out), "password.breached_file") {
					t.Errorf("gatehouse %s with a %s breached file: err %v (timed out: %v), output:\n%s\nwant a quick failure naming password.breached_file",
						strings.Join(args, " "), name, err, timedOut, out)
				}
			}
		})
	}
}

// TestEmailCodeACR (OTP-06): an emailed code earns urn:gatehouse:loa:1:email,
// the authenticator app urn:gatehouse:loa:2. A request with
// acr_values=urn:gatehouse:loa:2 is not offered email codes, is not
// answered by a session from an emailed code, and refuses a user whose only
// factor is email; a request for the email level is answered by such a
// session.
func TestEmailCodeACR(t *testing.T) {
	t.Parallel()
	e := tfStart(t, databaseURL(t, "sqlite"))
	rp := tfRP(t, e.rp)
	loa2 := oauth2.SetAuthURLParam("acr_values", tfACR2)
	emailLevel := oauth2.SetAuthURLParam("acr_values", tfACREmail)

	both := e.newUser(t, "acr-both@example.com")
	acct := e.session(t, both, "127.0.15.1")
	e.enableEmail(t, acct, both)
	e.enableTOTP(t, acct, both)

	// An emailed code: amr email, acr the email level.
	b := newBrowser(t).from("127.0.15.2")
	f, codePage := e.codePage(t, rp, b, both)
	id := tfForm(t, codePage.body, "/login/otp").Get("authRequestID")
	n := e.mail.count(both.email, tfCodeSubject)
	emailPage := b.get(e.g.base + "/login/otp?method=email&authRequestID=" + url.QueryEscape(id))
	form := tfForm(t, emailPage.body, "/login/otp")
	if form.Get("method") != "email" {
		t.Fatalf("method=email shows method %q", form.Get("method"))
	}
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, e.mail.code(t, both.email, n))), tfAMREmail, tfACREmail)

	// The browser's session is of the email level: it answers a request
	// for that level at once, but not one for loa:2, not even silently.
	f = rp.newFlow(emailLevel)
	if page, at := b.follow(f.authURL, rpRedirect); page != nil {
		t.Errorf("a request for the email level with an email-level session landed on %s (%d), want the client", at, page.StatusCode)
	} else {
		_, _, c := rp.exchange(rp.codeFrom(at, f), f)
		tfClaims(t, c, tfAMREmail, tfACREmail)
	}
	f = rp.newFlow(loa2, oauth2.SetAuthURLParam("prompt", "none"))
	if page, at := b.follow(f.authURL, rpRedirect); page != nil || tfQuery(t, at, "error") != "login_required" {
		t.Errorf("prompt=none for loa:2 with an email-level session landed on %s, want error=login_required", at)
	}
	f = rp.newFlow(loa2)
	if page, at := b.follow(f.authURL, rpRedirect); page == nil || !strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Errorf("a request for loa:2 with an email-level session landed on %s, want the password form", at)
	}

	// loa:2 asked: the code page is the app's, with no way to email codes.
	b = newBrowser(t).from("127.0.15.3")
	n = e.mail.count(both.email, tfCodeSubject)
	f, resp := tfPassword(t, rp, b, both.email, both.pass, loa2)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?") {
		t.Fatalf("password for loa:2 = %d %q, want 303 to the code page", resp.StatusCode, resp.Header.Get("Location"))
	}
	codePage = b.get(redirectTarget(resp))
	form = tfForm(t, codePage.body, "/login/otp")
	if form.Get("method") != "totp" || strings.Contains(codePage.body, "method=email") ||
		strings.Contains(codePage.body, "Send a code to my email instead") || strings.Contains(codePage.body, "/login/otp/resend") {
		t.Errorf("the code page of a loa:2 request offers email codes:\n%s", codePage.body)
	}
	id = form.Get("authRequestID")
	asked := b.get(e.g.base + "/login/otp?method=email&authRequestID=" + url.QueryEscape(id))
	if tfForm(t, asked.body, "/login/otp").Get("method") != "totp" {
		t.Errorf("method=email on a loa:2 request shows an email code form:\n%s", asked.body)
	}
	resend := b.post(e.g.base+"/login/otp/resend", url.Values{"authRequestID": {id}, "csrf": {form.Get("csrf")}})
	if resend.StatusCode == http.StatusOK && strings.Contains(resend.body, "We sent") {
		t.Errorf("resend on a loa:2 request sent a code: %d %q", resend.StatusCode, tfInfo(resend.body))
	}
	// An emailed code posted anyway is not taken.
	bad := b.post(e.g.base+"/login/otp", url.Values{"authRequestID": {id}, "csrf": {form.Get("csrf")}, "method": {"email"}, "code": {"123456"}})
	if bad.StatusCode == http.StatusSeeOther && strings.Contains(bad.Header.Get("Location"), "/authorize/callback") {
		t.Errorf("an emailed code completed a loa:2 request")
	}
	time.Sleep(200 * time.Millisecond)
	if got := e.mail.count(both.email, tfCodeSubject); got != n {
		t.Errorf("%d code emails during a loa:2 sign-in, want none", got-n)
	}
	// The app's code answers it with loa:2.
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, e.code(both))), tfAMRTOTP, tfACR2)

	// A user whose only factor is email cannot meet loa:2: an explanation,
	// no code, no enrolment of another factor with the password alone.
	only := e.newUser(t, "acr-email-only@example.com")
	e.enableEmail(t, e.session(t, only, "127.0.15.4"), only)
	n = e.mail.count(only.email, tfCodeSubject)
	b = newBrowser(t).from("127.0.15.5")
	_, resp = tfPassword(t, rp, b, only.email, only.pass, loa2)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(tfAlert(resp.body), "does not accept codes sent by email") {
		t.Errorf("password of an email-only user for loa:2 = %d %q, want 403 and an explanation", resp.StatusCode, tfAlert(resp.body))
	}
	time.Sleep(200 * time.Millisecond)
	if got := e.mail.count(only.email, tfCodeSubject); got != n {
		t.Errorf("%d code emails to an email-only user asking loa:2, want none", got-n)
	}
}
