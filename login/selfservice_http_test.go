package login

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// newPassword is a password the policy accepts, for the self-service
// tests.
const newPassword = "purple otters juggle at noon"

// passwordForm returns form with the password typed twice: first, then
// again.
func passwordForm(form url.Values, first, again string) url.Values {
	return with(with(form, "password", first), "password2", again)
}

// registerForm starts a sign-in in b and opens its registration page; it
// returns the sign-in's id and a function that fills in the page's form.
func (hs *harness) registerForm(b *browser) (string, func(email, name, first, again string) url.Values) {
	hs.t.Helper()
	id := hs.authorize(b, testClientID, nil)
	form := formOf(hs.t, b.get("/register?authRequestID="+url.QueryEscape(id)).body, "/register")
	return id, func(email, name, first, again string) url.Values {
		return passwordForm(with(with(form, "email", email), "name", name), first, again)
	}
}

// TestRegistration covers /register: refused forms create nothing; an
// accepted one emails a confirmation link, and the account cannot sign
// in until the link's button (not the link alone) confirms it; the link
// works once and the sign-in it came from goes on; an address that has an
// account gets the same page and its owner an email.
func TestRegistration(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("taken@example.com", nil)
	b := hs.browser("192.0.2.100")
	id, fill := hs.registerForm(b)
	for _, tt := range []struct {
		name string
		v    url.Values
		msg  string
	}{
		{"bad address", fill("not-an-address", "Rae", newPassword, newPassword), msgBadEmail},
		{"no name", fill("rae@example.com", " ", newPassword, newPassword), msgBadName},
		{"passwords differ", fill("rae@example.com", "Rae", newPassword, newPassword+"!"), msgPasswordsDiffer},
		{"common password", fill("rae@example.com", "Rae", "Password1!", "Password1!"), policy.ErrCommon.Message},
		{"short password", fill("rae@example.com", "Rae", "s3cret", "s3cret"), policy.ErrTooShort.Message},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectPage(t, b.post("/register", tt.v), http.StatusBadRequest, tt.msg)
		})
	}
	if _, err := hs.store.UserByEmail(t.Context(), "rae@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused registration created the account: %v", err)
	}

	resp := b.post("/register", fill("Rae@Example.com", "Rae", newPassword, newPassword))
	if want := fmt.Sprintf(msgCheckEmail, "rae@example.com"); resp.status != http.StatusOK || lead(resp.body) != want {
		t.Fatalf("registration = %d %q, want %q", resp.status, lead(resp.body), want)
	}
	subject, link := hs.waitLink("rae@example.com", 1, "/register/confirm")
	if subject != "Confirm your email address for Gatehouse" {
		t.Errorf("confirmation subject %q", subject)
	}
	_, resp = hs.submitPassword(hs.browser("192.0.2.101"), testClientID, "rae@example.com", newPassword, nil)
	expectPage(t, resp, http.StatusUnauthorized, msgBadCredentials)

	confirm := formOf(t, b.get(link).body, "/register/confirm")
	if hs.userByEmail("rae@example.com").EmailVerified {
		t.Fatal("opening the link confirmed the address")
	}
	resp = b.post("/register/confirm", confirm)
	if resp.status != http.StatusOK || info(resp.body) != msgConfirmed || !strings.Contains(resp.body, `href="/login?authRequestID=`+id+`"`) {
		t.Errorf("confirmation = %d %q", resp.status, info(resp.body))
	}
	if !hs.userByEmail("rae@example.com").EmailVerified {
		t.Fatal("the button did not confirm the address")
	}
	expectPage(t, b.post("/register/confirm", confirm), http.StatusBadRequest, msgConfirmLinkUsed)
	// The sign-in the registration started from goes on.
	hs.expectDone(b, id, b.post("/login", hs.signInForm(b, id, "rae@example.com", newPassword)), amrPassword, ACRPassword)

	// An address with an account: the same answer, and nothing changes.
	other := hs.browser("192.0.2.102")
	form := formOf(t, other.get("/register").body, "/register")
	resp = other.post("/register", passwordForm(with(with(form, "email", "taken@example.com"), "name", "Mallory"), newPassword, newPassword))
	if want := fmt.Sprintf(msgCheckEmail, "taken@example.com"); resp.status != http.StatusOK || lead(resp.body) != want {
		t.Errorf("registration of a taken address = %d %q", resp.status, lead(resp.body))
	}
	if m := hs.waitMail("taken@example.com", 1); m.Subject != "Someone tried to register with your address" || strings.Contains(m.Text, testIssuer) {
		t.Errorf("email to the owner of a confirmed account: %q\n%s", m.Subject, m.Text)
	}
	if u := hs.userByEmail("taken@example.com"); u.Name != "Test User" || hs.h.Passwords.Verify(u.PasswordHash, testPassword) != nil {
		t.Error("registering a taken address changed its account")
	}
}

// TestPasswordReset covers "Forgot password?": the same answer for any
// address, a link only to an account's owner; the new password must pass
// the policy before the link is used up; setting it ends every session of
// the account and tells its owner; the link works once; the old password
// no longer signs in, the new one does, and the second factor is still
// asked for.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("pat@example.com", nil)
	hs.enrollTOTP(u) // signs in: a session to end
	if s, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now()); err != nil || len(s) != 1 {
		t.Fatalf("sessions before the reset: %d, %v", len(s), err)
	}
	b := hs.browser("192.0.2.110")
	id := hs.authorize(b, testClientID, nil)
	form := formOf(t, b.get("/recover?authRequestID="+url.QueryEscape(id)).body, "/recover")
	for _, addr := range []string{"nobody@example.com", u.Email} {
		resp := b.post("/recover", with(form, "email", addr))
		if want := fmt.Sprintf(msgRecoverSent, addr); resp.status != http.StatusOK || lead(resp.body) != want {
			t.Errorf("recover %s = %d %q", addr, resp.status, lead(resp.body))
		}
	}
	subject, link := hs.waitLink(u.Email, 2, "/recover/reset") // the first email is the enrolment's
	if subject != "Reset your Gatehouse password" {
		t.Errorf("reset subject %q", subject)
	}
	if _, sent := hs.mail.Last("nobody@example.com"); sent {
		t.Error("an address without an account got an email")
	}

	reset := formOf(t, b.get(link).body, "/recover/reset")
	expectPage(t, b.post("/recover/reset", passwordForm(reset, newPassword, newPassword+"!")), http.StatusBadRequest, msgPasswordsDiffer)
	expectPage(t, b.post("/recover/reset", passwordForm(reset, "password123", "password123")), http.StatusBadRequest, policy.ErrCommon.Message)
	resp := b.post("/recover/reset", passwordForm(reset, newPassword, newPassword))
	if resp.status != http.StatusOK || info(resp.body) != msgResetDone || !strings.Contains(resp.body, `href="/login?authRequestID=`+id+`"`) {
		t.Fatalf("reset = %d %q %q", resp.status, info(resp.body), alert(resp.body))
	}
	expectPage(t, b.post("/recover/reset", passwordForm(reset, newPassword, newPassword)), http.StatusBadRequest, msgResetUsed)
	if s, err := hs.store.UserSessions(t.Context(), u.ID, hs.clock.Now()); err != nil || len(s) != 0 {
		t.Errorf("sessions after the reset: %d, %v", len(s), err)
	}
	if hs.mailed(u.Email, "Your Gatehouse password was changed") != 1 {
		t.Error("no security email for the reset")
	}

	_, resp = hs.submitPassword(hs.browser("192.0.2.111"), testClientID, u.Email, testPassword, nil)
	expectPage(t, resp, http.StatusUnauthorized, msgBadCredentials)
	id, resp = hs.submitPassword(hs.browser("192.0.2.112"), testClientID, u.Email, newPassword, nil)
	expectRedirect(t, resp, "/login/otp?authRequestID="+url.QueryEscape(id))
}

// TestSecurityPageFactors covers turning a factor on and off on
// /account/security: a wrong code changes nothing, the right one turns it
// on with recovery codes, and the next sign-in asks for it; turning it off
// takes a code too, and then the password alone signs in again. A session
// older than the re-authentication window is sent to confirm it is the
// user first.
func TestSecurityPageFactors(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	for _, tt := range []struct {
		factor string
		code   func(hs *harness, email, secret string) string // the right code now; secret: the app's
	}{
		{factorTOTP, func(hs *harness, _, secret string) string { return hs.totpCode(secret) }},
		{factorEmail, func(hs *harness, email, _ string) string { c, _ := hs.mailCode(email); return c }},
	} {
		t.Run(tt.factor, func(t *testing.T) {
			hs := hs.in(t)
			u := hs.user("sec-"+tt.factor+"@example.com", nil)
			b := hs.browser("192.0.2.120")
			id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
			hs.expectDone(b, id, resp, amrPassword, ACRPassword)
			action := "/account/security/" + tt.factor
			secret := "" // the app's, from the enrolment page
			// change posts the security page's form for op, then its
			// confirmation with a wrong and the right code.
			change := func(op string) *response {
				t.Helper()
				page := b.post(action+"/"+op, formOf(t, b.get("/account/security").body, action+"/"+op))
				if page.status != http.StatusOK {
					t.Fatalf("%s/%s = %d %q", action, op, page.status, alert(page.body))
				}
				if s := firstMatch(secretRE, page.body); s != "" {
					secret = s
				}
				confirm := formOf(t, page.body, action+"/"+op+"-confirm")
				right := tt.code(hs, u.Email, secret)
				expectPage(t, b.post(action+"/"+op+"-confirm", with(confirm, "code", otherCode(right))), http.StatusForbidden, wrongCode(2))
				return b.post(action+"/"+op+"-confirm", with(confirm, "code", right))
			}
			resp = change("enable")
			if codes := codesRE.FindAllString(resp.body, -1); resp.status != http.StatusOK || len(codes) != 10 ||
				!strings.Contains(resp.body, `href="/account/security?done=`+tt.factor+`-on"`) {
				t.Fatalf("enabled: %d with %d recovery codes", resp.status, len(codes))
			}
			hs.toStep(hs.browser("192.0.2.121"), testClientID, u.Email, "/login/otp", nil)

			hs.clock.Advance(30 * time.Second) // a fresh time step for the app
			expectRedirect(t, change("disable"), "/account/security?done="+tt.factor+"-off")
			id, resp = hs.submitPassword(hs.browser("192.0.2.122"), testClientID, u.Email, testPassword, nil)
			expectRedirect(t, resp, callbackURL(id))
			if hs.mailed(u.Email, "Two-factor authentication changed") != 2 {
				t.Error("not two security emails for on and off")
			}

			hs.clock.Advance(hs.h.ReauthWindow)
			expectRedirect(t, b.post(action+"/enable", formOf(t, b.get("/account/security").body, action+"/enable")),
				"/account/reauth?next="+url.QueryEscape("/account/security"))
		})
	}
}
