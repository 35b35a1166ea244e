package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestSessionRotatedAtPrivilegeSteps checks that the browser's session
// takes a new id and cookie at each step that raises what it proves
// after the sign-in: a re-authentication (with the password alone, and
// with the password and an app code) and a password change. The old
// cookie then signs nobody in, so an id learnt before the step (a fixed or
// stolen cookie) is worth nothing after it; the new one goes on with the
// session's sid, its re-authentication time, and forms whose CSRF tokens
// work.
func TestSessionRotatedAtPrivilegeSteps(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	signedIn := func(hs *harness, value string) bool {
		x := hs.browser("192.0.2.160")
		x.jar.SetCookies(baseURL, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
		return x.get("/account").status == http.StatusOK
	}
	for i, tt := range []struct {
		name   string
		reauth bool // the step is a re-authentication (ReauthAt is set)
		// signIn signs in to the account of email from b; it returns the
		// auth request id and the code the step asks for ("" for none).
		signIn func(hs *harness, b *browser, email string) (id string, code func() string)
		// step passes the step from b, on the clock's current time.
		step func(hs *harness, b *browser, code string)
	}{
		{"reauth password", true, signInPasswordOnly, reauthenticate},
		{"reauth password and app code", true, signInApp, reauthenticate},
		{"password change", false, signInPasswordOnly, changePassword},
		{"password change with app code", false, signInApp, changePassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			email := fmt.Sprintf("rotate-%d@example.com", i)
			b := hs.browser("192.0.2.161")
			id, code := tt.signIn(hs, b, email)
			before := b.cookie(sessionCookie)
			sid, err := hs.store.GrantSession(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			// Past the re-authentication window: the step is due.
			hs.clock.Advance(hs.h.reauthWindow() + time.Second)
			tt.step(hs, b, code())

			after := b.cookie(sessionCookie)
			if after == "" || after == before {
				t.Fatalf("session cookie %q after the step, want a new one (was %q)", after, before)
			}
			if signedIn(hs, before) {
				t.Error("the session cookie from before the step still signs in")
			}
			if !signedIn(hs, after) {
				t.Fatal("the new session cookie does not sign in")
			}
			if got, err := hs.store.GrantSession(t.Context(), id); err != nil || got != sid {
				t.Errorf("the sign-in's session sid = %q, %v after the step; want %q (the session continues)", got, err, sid)
			}
			sess, err := hs.store.SessionByID(t.Context(), sessionID(after), hs.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if reauthed := sess.ReauthAt.Equal(hs.clock.Now()); reauthed != tt.reauth {
				t.Errorf("ReauthAt %v at %v; want it set by the step: %v", sess.ReauthAt, hs.clock.Now(), tt.reauth)
			}
			// The account page's forms work with the new cookie: a
			// sensitive change goes through, without another
			// re-authentication only if this step was one.
			form := formOf(t, b.get("/account").body, "/account/email")
			resp := b.post("/account/email", with(form, "email", fmt.Sprintf("rotated-%d@example.net", i)))
			want := "/account?done=email-sent"
			if !tt.reauth {
				want = reauthURL("/account")
			}
			expectRedirect(t, resp, want)
		})
	}
}

// TestSessionRotatedAtKeyReauth checks the re-authentication of a user
// whose only second factor is a security key (password, then the key's
// JSON ceremony): its last answer gives the session a new id and cookie,
// and the old cookie signs nobody in.
func TestSessionRotatedAtKeyReauth(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	hs.client(AccountClientID, nil)
	b := hs.browser("192.0.2.165")
	signInPasswordOnly(hs, b, "rotate-key@example.com")
	key := hs.addKey(hs.userByEmail("rotate-key@example.com"))
	before := b.cookie(sessionCookie)
	hs.clock.Advance(hs.h.reauthWindow() + time.Second)

	form := formOf(t, b.get(reauthURL("/account/security")).body, "/account/reauth")
	page := b.post("/account/reauth", with(form, "password", testPassword))
	if page.status != http.StatusOK {
		t.Fatalf("re-authentication's password = %d %q", page.status, alert(page.body))
	}
	csrf := keyCSRF(t, page.body, ceremonyReauth)
	pwKey := firstMatch(regexp.MustCompile(`data-key="([^"]*)"`), page.body)
	status, begun := b.keyCall(t, "/account/reauth/key/begin", csrf, map[string]any{"key": pwKey})
	if status != http.StatusOK || begun.Ceremony == "" {
		t.Fatalf("key begin = %d %+v", status, begun)
	}
	if b.cookie(sessionCookie) != before {
		t.Fatal("the session cookie changed before the key was checked")
	}
	status, done := b.keyCall(t, "/account/reauth/key/finish", csrf, map[string]any{"key": pwKey,
		"ceremony": begun.Ceremony, "credential": key.assert(t, begun.PublicKey.Challenge)})
	if status != http.StatusOK || done.Redirect != "/account/security" {
		t.Fatalf("key finish = %d %+v", status, done)
	}
	after := b.cookie(sessionCookie)
	if after == "" || after == before {
		t.Fatalf("session cookie %q after the key re-authentication, want a new one (was %q)", after, before)
	}
	x := hs.browser("192.0.2.166")
	x.jar.SetCookies(x.base, []*http.Cookie{{Name: sessionCookie, Value: before, Path: "/"}})
	if x.get("/account").status == http.StatusOK {
		t.Error("the session cookie from before the re-authentication still signs in")
	}
	if resp := b.get("/account/security"); resp.status != http.StatusOK {
		t.Errorf("the security page with the new cookie = %d", resp.status)
	}
}

// signInPasswordOnly signs in to a new account of email without a second
// factor.
func signInPasswordOnly(hs *harness, b *browser, email string) (string, func() string) {
	hs.t.Helper()
	hs.user(email, nil)
	id, resp := hs.submitPassword(b, testClientID, email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	return id, func() string { return "" }
}

// signInApp signs in to a new account of email with the authenticator
// app.
func signInApp(hs *harness, b *browser, email string) (string, func() string) {
	hs.t.Helper()
	_, secret := hs.appUser(email)
	id, _, form := hs.codeStep(b, email, nil)
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
	// The next code is of a later step.
	return id, func() string { hs.clock.Advance(30 * time.Second); return hs.totpCode(secret) }
}

// reauthenticate re-authenticates b's session on its way to the security
// page.
func reauthenticate(hs *harness, b *browser, code string) {
	hs.t.Helper()
	form := formOf(hs.t, b.get(reauthURL("/account/security")).body, "/account/reauth")
	form.Set("password", testPassword)
	if code != "" {
		form.Set("code", code)
	}
	expectRedirect(hs.t, b.post("/account/reauth", form), "/account/security")
}

// changePassword changes the password of b's account.
func changePassword(hs *harness, b *browser, code string) {
	hs.t.Helper()
	form := formOf(hs.t, b.get("/account/password").body, "/account/password")
	form = passwordForm(with(form, "current", testPassword), newPassword, newPassword)
	if code != "" {
		form.Set("code", code)
	}
	if resp := b.post("/account/password", form); resp.status != http.StatusOK || info(resp.body) != msgPasswordChange {
		hs.t.Fatalf("password change = %d %q %q", resp.status, info(resp.body), alert(resp.body))
	}
}

// TestCallbackNeedsTheSession checks that the callback of a done sign-in
// issues its code only to a browser that holds the session the sign-in
// started, besides the flow cookie: an attacker who planted their flow
// cookie in the victim's browser, and let the victim sign in to the
// attacker's auth request, gets no code for the victim's account by
// fetching the callback first, with no session or their own; nor does a
// browser whose session ended after the sign-in was done.
func TestCallbackNeedsTheSession(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	victim := hs.user("fixed-victim@example.com", nil)
	hs.user("fixed-attacker@example.com", nil)
	for _, tt := range []struct {
		name string
		// prepare readies the attacker's browser a, which holds the flow
		// cookie of the sign-in v passes, and v once it is done.
		prepare func(t *testing.T, a, v *browser)
		// victimGets says whether v's own callback still issues the code.
		victimGets bool
	}{
		{"attacker without a session", func(*testing.T, *browser, *browser) {}, true},
		{"attacker with their own session", func(t *testing.T, a, _ *browser) {
			hs.in(t).signInPassword(a, testClientID, "fixed-attacker@example.com")
		}, true},
		{"the victim's session ended since", func(t *testing.T, a, v *browser) {
			form := formOf(t, v.get("/account").body, "/logout")
			expectRedirect(t, v.post("/logout", form), "/signed-out")
			a.jar.SetCookies(a.base, v.jar.Cookies(v.base)) // the same browser, as it is now
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			a, v := hs.browser("203.0.113.180"), hs.browser("192.0.2.180")
			id := hs.authorize(a, testClientID, nil)
			// The attacker's flow cookie, planted in the victim's browser.
			v.jar.SetCookies(v.base, []*http.Cookie{{Name: flowCookie, Value: a.cookie(flowCookie), Path: "/"}})
			resp := v.post("/login", hs.signInForm(v, id, victim.Email, testPassword))
			if resp.status != http.StatusSeeOther || resp.loc != callbackURL(id) {
				t.Fatalf("the victim's sign-in = %d %q, want 303 to the callback", resp.status, resp.loc)
			}
			tt.prepare(t, a, v)
			expectPage(t, a.get(callbackURL(id)), http.StatusBadRequest, msgExpired)
			if slices.Contains(hs.issued(), id) {
				t.Fatal("the attacker's browser got the code of the victim's sign-in")
			}
			if tt.victimGets {
				hs.expectIssued(v, id)
			} else {
				expectPage(t, v.get(callbackURL(id)), http.StatusBadRequest, msgExpired)
			}
		})
	}
}

// TestConsentNeedsTheSession checks that the consent page of a done
// sign-in answers only the browser that holds its session: an attacker
// whose flow cookie the victim's browser carries, and who had the victim
// sign in to the attacker's request for a third-party client, can neither
// see the page nor allow (or deny) on the victim's behalf; the victim
// still decides.
func TestConsentNeedsTheSession(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("third", func(c *storage.Client) { c.Consent = true })
	victim := hs.user("consent-victim@example.com", nil)
	a, v := hs.browser("203.0.113.181"), hs.browser("192.0.2.181")
	id := hs.authorize(a, "third", nil)
	v.jar.SetCookies(v.base, []*http.Cookie{{Name: flowCookie, Value: a.cookie(flowCookie), Path: "/"}})
	expectRedirect(t, v.post("/login", hs.signInForm(v, id, victim.Email, testPassword)), callbackURL(id))
	page := ConsentPath + "?authRequestID=" + url.QueryEscape(id)

	expectPage(t, a.get(page), http.StatusBadRequest, msgExpired)
	// The form the attacker would have posted, its token made for the
	// flow cookie the attacker holds.
	form := url.Values{"authRequestID": {id}, "csrf": {hs.h.csrfToken("consent", a.cookie(flowCookie))}}
	for _, decision := range []string{"allow", "deny"} {
		expectPage(t, a.post(ConsentPath, with(form, "decision", decision)), http.StatusBadRequest, msgExpired)
	}
	if g, err := hs.store.ConsentGrant(t.Context(), victim.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the attacker's allow granted the victim's consent: %+v, %v", g, err)
	}
	if ok, err := hs.store.AuthRequestConsented(t.Context(), id); ok || err != nil || !hs.authRequest(id).Done {
		t.Fatalf("the attacker changed the victim's sign-in: consented %v (%v), done %v", ok, err, hs.authRequest(id).Done)
	}
	// The victim is asked, and decides.
	expectRedirect(t, v.get(callbackURL(id)), page)
	expectRedirect(t, v.post(ConsentPath, with(formOf(t, v.get(page).body, ConsentPath), "decision", "allow")), callbackURL(id))
	hs.expectIssued(v, id)
}

// TestSessionAbsoluteLifetime checks that a session kept in use (a single
// sign-on every 50 minutes, within the idle timeout of an hour) ends all
// the same at its absolute lifetime of 12 hours, re-authentication and
// password change notwithstanding (they change its id, not its end): the
// next request asks for the password, and the account area for a sign-in.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client(AccountClientID, nil)
	u := hs.user("lifetime@example.com", nil)
	b := hs.browser("192.0.2.190")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	start := hs.clock.Now()
	for i := 1; ; i++ {
		hs.clock.Advance(50 * time.Minute)
		switch i {
		case 3:
			reauthenticate(hs, b, "")
		case 6:
			changePassword(hs, b, "")
		}
		id = hs.authorize(b, testClientID, nil)
		resp = b.get("/login?authRequestID=" + url.QueryEscape(id))
		if hs.clock.Now().Sub(start) < hs.h.SessionLifetime {
			hs.expectDone(b, id, resp, amrPassword, ACRPassword)
			continue
		}
		if resp.status != http.StatusOK || hs.authRequest(id).Done {
			t.Fatalf("%v after the sign-in: %d %q, want the password form", hs.clock.Now().Sub(start), resp.status, resp.loc)
		}
		if resp := b.get("/account"); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?") {
			t.Fatalf("the account page %v after the sign-in = %d %q, want a sign-in", hs.clock.Now().Sub(start), resp.status, resp.loc)
		}
		return
	}
}

// TestForgedSessionCookieReplaced checks that a session cookie the client
// chose (well formed, but never issued) is never adopted (SES-02): it
// signs nobody in, and the sign-in that follows replaces it with a cookie
// of its own, while the forged value names no session.
func TestForgedSessionCookieReplaced(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("forged@example.com", nil)
	b := hs.browser("192.0.2.195")
	forged := strings.Repeat("Ab", 21) + "A" // 43 characters, as an issued one
	b.jar.SetCookies(b.base, []*http.Cookie{{Name: sessionCookie, Value: forged, Path: "/"}})
	if resp := b.get("/account"); resp.status != http.StatusSeeOther || !strings.HasPrefix(resp.loc, "/authorize?") {
		t.Fatalf("the account page with a forged cookie = %d %q, want a sign-in", resp.status, resp.loc)
	}
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	if got := b.cookie(sessionCookie); got == "" || got == forged {
		t.Fatalf("session cookie %q after the sign-in, want a new one", got)
	}
	if _, err := hs.store.SessionByID(t.Context(), sessionID(forged), hs.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the forged cookie names a session: %v", err)
	}
}

// TestPendingStepsNeedThePasswordStep checks that the steps after the
// password (enrolment, code, key) answer only the browser that passed the
// password step, not every browser with the flow cookie: an attacker whose
// flow cookie the victim's browser carries, and who had the victim type
// their password into the attacker's sign-in, can neither enrol an
// authenticator app of their own on the victim's account (and be signed in
// as the victim by it) nor reach the code page; they are sent to the
// password form, and the victim goes on.
func TestPendingStepsNeedThePasswordStep(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("strict", func(c *storage.Client) { c.RequireMFA = true })
	plant := func(t *testing.T, clientID, email string) (a, v *browser, id string) {
		hs := hs.in(t)
		a, v = hs.browser("203.0.113.185"), hs.browser("192.0.2.185")
		id = hs.authorize(a, clientID, nil)
		v.jar.SetCookies(v.base, []*http.Cookie{{Name: flowCookie, Value: a.cookie(flowCookie), Path: "/"}})
		resp := v.post("/login", hs.signInForm(v, id, email, testPassword))
		if resp.status != http.StatusSeeOther || resp.loc == "/login?authRequestID="+url.QueryEscape(id) {
			t.Fatalf("the victim's password step = %d %q, want the next step", resp.status, resp.loc)
		}
		return a, v, id
	}
	passwordForm := func(id string) string { return "/login?authRequestID=" + url.QueryEscape(id) }

	t.Run("enrolment", func(t *testing.T) {
		hs := hs.in(t)
		u := hs.user("pending-enrol@example.com", nil)
		a, v, id := plant(t, "strict", u.Email)
		expectRedirect(t, a.get("/login/enroll?authRequestID="+url.QueryEscape(id)), passwordForm(id))
		if _, err := hs.store.TOTPByUser(t.Context(), u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the attacker's page made an app secret for the victim: %v", err)
		}
		form := url.Values{"authRequestID": {id}, "csrf": {hs.h.csrfToken("login", a.cookie(flowCookie))}, "code": {"123456"}}
		expectRedirect(t, a.post("/login/enroll", form), passwordForm(id))
		if a.cookie(sessionCookie) != "" || hs.authRequest(id).Done {
			t.Fatal("the attacker's browser was signed in")
		}
		// The victim's enrolment goes on.
		if page := v.get("/login/enroll?authRequestID=" + url.QueryEscape(id)); page.status != http.StatusOK || !strings.Contains(page.body, "otpauth://") {
			t.Fatalf("the victim's enrolment page = %d %q", page.status, alert(page.body))
		}
	})
	t.Run("code", func(t *testing.T) {
		hs := hs.in(t)
		u, secret := hs.appUser("pending-code@example.com")
		a, v, id := plant(t, testClientID, u.Email)
		expectRedirect(t, a.get("/login/otp?authRequestID="+url.QueryEscape(id)), passwordForm(id))
		form := url.Values{"authRequestID": {id}, "csrf": {hs.h.csrfToken("login", a.cookie(flowCookie))}, "code": {hs.totpCode(secret)}}
		expectRedirect(t, a.post("/login/otp", form), passwordForm(id))
		if a.cookie(sessionCookie) != "" || hs.authRequest(id).Done {
			t.Fatal("the attacker's browser was signed in")
		}
		form = formOf(t, v.get("/login/otp?authRequestID="+url.QueryEscape(id)).body, "/login/otp")
		hs.expectDone(v, id, v.post("/login/otp", with(form, "code", hs.totpCode(secret))), amrTOTP, ACRMFA)
	})
}

// endingStore ends each session just before it is touched, as a sign-out
// or a re-authentication in another tab would between the loading of the
// session and its use.
type endingStore struct{ Store }

func (s endingStore) TouchSession(ctx context.Context, id string, now, idleUntil time.Time) error {
	if err := s.EndSession(ctx, id, now); err != nil {
		return err
	}
	return s.Store.TouchSession(ctx, id, now, idleUntil)
}

// TestSessionGoneWhileUsed checks that a single sign-on whose session ends
// (or changes id) between its loading and its use asks for the password
// again, rather than failing with 503 as a database failure would.
func TestSessionGoneWhileUsed(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("gone@example.com", nil)
	b := hs.browser("192.0.2.197")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	hs.h.Store = endingStore{hs.h.Store}
	id = hs.authorize(b, testClientID, nil)
	expectRedirect(t, b.get("/login?authRequestID="+url.QueryEscape(id)), "/login?authRequestID="+url.QueryEscape(id))
	if page := b.get("/login?authRequestID=" + url.QueryEscape(id)); page.status != http.StatusOK || hs.authRequest(id).Done {
		t.Fatalf("the sign-in page after the session ended = %d, done %v; want the password form", page.status, hs.authRequest(id).Done)
	}
}
