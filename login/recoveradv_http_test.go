package login

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestEmailChangeLinkDiesWithPassword covers a hijacked session that asked
// to move the account to the intruder's address: once the owner resets or
// changes the password (which ends that session), the confirmation link
// the intruder got at their own address must not take the account's
// address any more.
func TestEmailChangeLinkDiesWithPassword(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	for _, tt := range []struct {
		name  string
		reset func(hs *harness, u string) // sets newPassword for the account of u
	}{
		{"reset", func(hs *harness, email string) {
			hs.resetPassword(hs.browser("192.0.2.141"), email)
		}},
		{"change", func(hs *harness, email string) {
			t := hs.t
			o := hs.browser("192.0.2.142")
			id, resp := hs.submitPassword(o, testClientID, email, testPassword, nil)
			hs.expectDone(o, id, resp, amrPassword, ACRPassword)
			form := formOf(t, o.get("/account/password").body, "/account/password")
			form = passwordForm(with(form, "current", testPassword), newPassword, newPassword)
			if resp := o.post("/account/password", form); resp.status != http.StatusOK || info(resp.body) != msgPasswordChange {
				t.Fatalf("password change = %d %q %q", resp.status, info(resp.body), alert(resp.body))
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			owner, intruder := "owner-"+tt.name+"@example.com", "intruder-"+tt.name+"@example.net"
			u := hs.user(owner, nil)
			b := hs.browser("203.0.113.140")
			id, resp := hs.submitPassword(b, testClientID, owner, testPassword, nil)
			hs.expectDone(b, id, resp, amrPassword, ACRPassword)
			form := formOf(t, b.get("/account").body, "/account/email")
			expectRedirect(t, b.post("/account/email", with(form, "email", intruder)), "/account?done=email-sent")
			_, link := hs.waitLink(intruder, 1, "/account/email/confirm")

			tt.reset(hs, owner)

			resp = confirmEmailLink(t, hs.browser("203.0.113.141"), link)
			if resp.status == http.StatusSeeOther {
				t.Errorf("the link of an email change asked before the password %s changed the address: %d %q", tt.name, resp.status, resp.loc)
			}
			if got, err := hs.store.UserByID(t.Context(), u.ID); err != nil || got.Email != owner {
				t.Errorf("address %q after the link, want %q", got.Email, owner)
			}
		})
	}
}

// TestRecoveryCodesStayWithKeys covers turning the authenticator app off
// while a security key remains: the key is still a factor, and the
// recovery codes that stand in for it when it is lost stay (only the last
// factor takes them away).
func TestRecoveryCodesStayWithKeys(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	u, secret := hs.appUser("app-and-key@example.com")
	hs.addKey(u)
	b := hs.browser("192.0.2.145")
	hs.signInWithApp(b, u.Email, secret)
	hs.clock.Advance(30 * time.Second) // a fresh time step for the app
	page := b.post("/account/security/totp/disable", formOf(t, b.get("/account/security").body, "/account/security/totp/disable"))
	form := formOf(t, page.body, "/account/security/totp/disable-confirm")
	expectRedirect(t, b.post("/account/security/totp/disable-confirm", with(form, "code", hs.totpCode(secret))), "/account/security?done=totp-off")
	if left, err := hs.store.RecoveryCodesLeft(t.Context(), u.ID); err != nil || left != recoveryCodeCount {
		t.Errorf("recovery codes left after turning the app off beside a key: %d, %v; want %d", left, err, recoveryCodeCount)
	}
}

// TestRecoveryCodesGoWithLastFactor covers turning email codes off: beside
// a security key the recovery codes stay, and as the last factor they go.
func TestRecoveryCodesGoWithLastFactor(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	for _, tt := range []struct {
		name string
		key  bool
		left int
	}{
		{"beside a key", true, recoveryCodeCount},
		{"last factor", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			u := hs.user("mail-"+strings.ReplaceAll(tt.name, " ", "-")+"@example.com", func(u *storage.User) { u.EmailOTP = true })
			if _, err := hs.h.issueRecoveryCodes(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			if tt.key {
				hs.addKey(u)
			}
			b := hs.browser("192.0.2.146")
			id, _, form := hs.codeStep(b, u.Email, nil)
			code, _ := hs.mailCode(u.Email)
			hs.expectDone(b, id, b.post("/login/otp", with(form, "code", code)), amrEmail, ACREmail)
			page := b.post("/account/security/email/disable", formOf(t, b.get("/account/security").body, "/account/security/email/disable"))
			confirm := formOf(t, page.body, "/account/security/email/disable-confirm")
			code, _ = hs.mailCode(u.Email)
			expectRedirect(t, b.post("/account/security/email/disable-confirm", with(confirm, "code", code)), "/account/security?done=email-off")
			if left, err := hs.store.RecoveryCodesLeft(t.Context(), u.ID); err != nil || left != tt.left {
				t.Errorf("recovery codes left after turning email codes off: %d, %v; want %d", left, err, tt.left)
			}
		})
	}
}

// TestPendingSignInEndsWithReset covers a sign-in that passed the old
// password and waits at a later step (here the enrolment of a first
// factor that the client requires): once the password is reset, which
// signs the account out everywhere, that sign-in must not go on with the
// old password to a session.
func TestPendingSignInEndsWithReset(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("mfa", func(c *storage.Client) { c.RequireMFA = true })
	u := hs.user("pending-reset@example.com", nil)
	intruder := hs.browser("203.0.113.150")
	id, page := hs.toStep(intruder, "mfa", u.Email, "/login/enroll", nil)
	secret := firstMatch(secretRE, page.body)

	hs.resetPassword(hs.browser("192.0.2.150"), u.Email)

	resp := intruder.post("/login/enroll", with(formOf(t, page.body, "/login/enroll"), "code", hs.totpCode(secret)))
	if ar := hs.authRequest(id); ar.Done {
		t.Errorf("the sign-in that passed the old password was done after the reset: %d %q", resp.status, resp.loc)
	}
	if s, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now()); err != nil || len(s) != 0 {
		t.Errorf("sessions after the reset and the old sign-in's next step: %d, %v", len(s), err)
	}
}

// TestDoneSignInEndsWithReset completes a sign-in with the password
// (someone who knew it) without following it to the client, then has the
// owner reset the password: the finished request is gone, so that neither
// its callback nor a code issued for it gives tokens afterwards.
func TestDoneSignInEndsWithReset(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("done-reset@example.com", nil)
	intruder := hs.browser("203.0.113.170")
	id, resp := hs.submitPassword(intruder, testClientID, u.Email, testPassword, nil)
	hs.expectDone(intruder, id, resp, amrPassword, ACRPassword)

	hs.resetPassword(hs.browser("192.0.2.170"), u.Email)
	if ar, err := hs.store.AuthRequestByID(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the finished sign-in after the reset: %+v, %v; want it gone", ar, err)
	}
}

// TestEmailChangeLinkOfDisabledAccount covers an account an administrator
// disabled (perhaps because it was taken over) with an email change
// pending: its link must not change the address meanwhile.
func TestEmailChangeLinkOfDisabledAccount(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("disabled-change@example.com", nil)
	b := hs.browser("203.0.113.160")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	form := formOf(t, b.get("/account").body, "/account/email")
	expectRedirect(t, b.post("/account/email", with(form, "email", "new-address@example.net")), "/account?done=email-sent")
	_, link := hs.waitLink("new-address@example.net", 1, "/account/email/confirm")
	if _, err := hs.store.SetUserDisabled(t.Context(), u.ID, true, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp = confirmEmailLink(t, hs.browser("203.0.113.161"), link)
	if got, err := hs.store.UserByID(t.Context(), u.ID); err != nil || got.Email != u.Email {
		t.Errorf("the link changed the address of a disabled account (%d %q): %q, want %q", resp.status, resp.loc, got.Email, u.Email)
	}
}

// confirmEmailLink opens the email change's link in b and posts its page's
// form, as a person does.
func confirmEmailLink(t *testing.T, b *browser, link string) *response {
	t.Helper()
	page := b.get(link)
	if page.status != http.StatusOK {
		t.Fatalf("GET %s = %d %q", link, page.status, alert(page.body))
	}
	return b.post("/account/email/confirm", formOf(t, page.body, "/account/email/confirm"))
}

// TestEmailChangeLinkAsks opens an email change's link without posting
// its page's form, as a mail scanner does: the address stays. The form
// changes it, once.
func TestEmailChangeLinkAsks(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("scanned@example.com", nil)
	b := hs.browser("203.0.113.180")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	form := formOf(t, b.get("/account").body, "/account/email")
	expectRedirect(t, b.post("/account/email", with(form, "email", "scanned-new@example.net")), "/account?done=email-sent")
	_, link := hs.waitLink("scanned-new@example.net", 1, "/account/email/confirm")
	address := func() string {
		t.Helper()
		got, err := hs.store.UserByID(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Email
	}

	scanner := hs.browser("203.0.113.181")
	for range 3 {
		if page := scanner.get(link); page.status != http.StatusOK {
			t.Fatalf("GET the link = %d %q", page.status, alert(page.body))
		}
	}
	if got := address(); got != u.Email {
		t.Fatalf("opening the link changed the address to %q", got)
	}
	expectRedirect(t, confirmEmailLink(t, hs.browser("203.0.113.182"), link), "/account?done=email")
	if got := address(); got != "scanned-new@example.net" {
		t.Errorf("the link's form left the address %q", got)
	}
	if resp := confirmEmailLink(t, hs.browser("203.0.113.183"), link); resp.status != http.StatusBadRequest {
		t.Errorf("the link's form worked twice: %d", resp.status)
	}
}

// resetPassword sets newPassword for the account of email from b, as its
// owner does: "Forgot password?", then the emailed link's form.
func (hs *harness) resetPassword(b *browser, email string) {
	t := hs.t
	t.Helper()
	form := formOf(t, b.get("/recover").body, "/recover")
	if resp := b.post("/recover", with(form, "email", email)); resp.status != http.StatusOK {
		t.Fatalf("recover = %d %q", resp.status, alert(resp.body))
	}
	_, link := hs.waitLink(email, 1, "/recover/reset")
	reset := formOf(t, b.get(link).body, "/recover/reset")
	if resp := b.post("/recover/reset", passwordForm(reset, newPassword, newPassword)); resp.status != http.StatusOK {
		t.Fatalf("reset = %d %q", resp.status, alert(resp.body))
	}
}

// TestEmailChangeNotSentKeepsLink covers a mail server that is down when
// the user asks for a second email change: the page says the email was
// not sent, and nothing else changes: the link of the first change, sent
// before, still works, and the unsent one was never stored. (Before, the
// first link was deleted before the second was sent, so a failed send
// took it away.)
func TestEmailChangeNotSentKeepsLink(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("mover@example.com", nil)
	b := hs.browser("203.0.113.190")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	form := formOf(t, b.get("/account").body, "/account/email")
	expectRedirect(t, b.post("/account/email", with(form, "email", "mover-first@example.net")), "/account?done=email-sent")
	_, link := hs.waitLink("mover-first@example.net", 1, "/account/email/confirm")

	hs.mail.SetErr(mail.ErrUnavailable)
	form = formOf(t, b.get("/account").body, "/account/email")
	expectRedirect(t, b.post("/account/email", with(form, "email", "mover-second@example.net")), "/account?done=email-failed")
	hs.mail.SetErr(nil)

	expectRedirect(t, confirmEmailLink(t, hs.browser("203.0.113.191"), link), "/account?done=email")
	got, err := hs.store.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "mover-first@example.net" {
		t.Errorf("address %q after the first link, want mover-first@example.net", got.Email)
	}
}

// TestResetNotSentKeepsLink covers a mail server that is down when the
// user asks for a second reset link: the first link, sent before, still
// works, and the unsent one does not. A link that is sent retires the
// older ones. (Before, the older links were deleted before the new one
// was sent, so a failed send left the user with no working link.)
func TestResetNotSentKeepsLink(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("forgetful@example.com", nil)
	ask := func(b *browser) {
		t.Helper()
		form := formOf(t, b.get("/recover").body, "/recover")
		if resp := b.post("/recover", with(form, "email", u.Email)); resp.status != http.StatusOK {
			t.Fatalf("recover = %d %q", resp.status, alert(resp.body))
		}
		if err := hs.h.WaitMail(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// opens reports whether link's form sets a new password.
	opens := func(link string) bool {
		t.Helper()
		b := hs.browser("203.0.113.201")
		reset := formOf(t, b.get(link).body, "/recover/reset")
		return b.post("/recover/reset", passwordForm(reset, newPassword, newPassword)).status == http.StatusOK
	}
	b := hs.browser("203.0.113.200")
	ask(b)
	_, first := hs.waitLink(u.Email, 1, "/recover/reset")

	hs.mail.SetErr(mail.ErrUnavailable)
	ask(b)
	hs.mail.SetErr(nil)
	if !opens(first) {
		t.Fatal("the first link stopped working when the second was not sent")
	}

	// A link that is sent retires the older ones. (The second email was
	// the notice of the reset.)
	ask(b)
	_, second := hs.waitLink(u.Email, 3, "/recover/reset")
	ask(b)
	_, third := hs.waitLink(u.Email, 4, "/recover/reset")
	if opens(second) {
		t.Error("the second link still worked after the third was sent")
	}
	if !opens(third) {
		t.Error("the third link did not work")
	}
}
