package login

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// inputTag returns the <input> of page with id, or "".
func inputTag(page, id string) string {
	return regexp.MustCompile(`<input id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
}

// expectFieldError checks that page shows msg once, next to the field id:
// the field is aria-invalid, described by the error and the only one with
// the focus.
func expectFieldError(t *testing.T, resp *response, id, msg string) {
	t.Helper()
	in := inputTag(resp.body, id)
	if !strings.Contains(in, `aria-invalid="true"`) || !strings.Contains(in, `aria-describedby="`+id+`-error`) || !strings.Contains(in, " autofocus") {
		t.Errorf("field %s: %s", id, in)
	}
	if n := strings.Count(resp.body, "autofocus"); n != 1 {
		t.Errorf("%d fields with autofocus, want 1", n)
	}
	if n := strings.Count(resp.body, `aria-invalid="true"`); n != 1 {
		t.Errorf("%d fields aria-invalid, want 1", n)
	}
	if !strings.Contains(resp.body, `<div id="`+id+`-error"><p class="alert" role="alert">`+msg+`</p></div>`) {
		t.Errorf("no error %q next to field %s:\n%s", msg, id, resp.body)
	}
	if n := strings.Count(resp.body, msg); n != 1 {
		t.Errorf("the error shows %d times, want once", n)
	}
	// The field's error follows the field, before the next label.
	after := resp.body[strings.Index(resp.body, in)+len(in):]
	if next := strings.Index(after, "<label"); next >= 0 && !strings.Contains(after[:next], id+"-error") {
		t.Errorf("the error of %s is not next to it", id)
	}
}

// TestBlockedPagesShowOnlyTheBlock covers the pages of a blocked client
// IP: the block message once, without the forms, the other factors, Resend
// or the passkey button, which the block refuses all the same; the page
// keeps a Cancel that leads back to the sign-in, blocked as well.
func TestBlockedPagesShowOnlyTheBlock(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, withWebAuthn(t))
	u, secret := hs.appUser("blk@example.com")
	if err := hs.store.SetEmailOTP(t.Context(), u.ID, true, hs.clock.Now()); err != nil {
		t.Fatal(err)
	}
	const ip = "203.0.113.50"
	b := hs.browser(ip)
	id, page, form := hs.codeStep(b, u.Email, nil)
	for _, s := range []string{"method=recovery", "method=email"} {
		if !strings.Contains(page.body, s) {
			t.Fatalf("the code page lacks %q before the block", s)
		}
	}
	wrong := otherCode(hs.totpCode(secret))
	b.post("/login/otp", with(form, "code", wrong))
	b.post("/login/otp", with(form, "code", wrong))
	resp := b.post("/login/otp", with(form, "code", wrong))
	expectPage(t, resp, http.StatusTooManyRequests, blocked10)
	back := "/login?authRequestID=" + url.QueryEscape(id)
	expectOnlyBlock(t, "code page", resp.body)
	if !strings.Contains(resp.body, `<a href="`+back+`">Cancel</a>`) {
		t.Errorf("the blocked code page has no Cancel back to the sign-in:\n%s", resp.body)
	}

	// Cancel leads to the sign-in page, which shows the block without the
	// password form or the passkey button.
	login := b.get(back)
	expectPage(t, login, http.StatusTooManyRequests, blocked10)
	expectOnlyBlock(t, "sign-in page", login.body)
	for _, s := range []string{`name="password"`, "data-webauthn=", "webauthn.js"} {
		if strings.Contains(login.body, s) {
			t.Errorf("the blocked sign-in page offers %q", s)
		}
	}
	// Another IP still gets the form and the passkey button.
	other := hs.browser("203.0.113.51")
	open := other.get("/login?authRequestID=" + url.QueryEscape(hs.authorize(other, testClientID, nil)))
	if open.status != http.StatusOK || !strings.Contains(open.body, `name="password"`) || !strings.Contains(open.body, "data-webauthn=") {
		t.Errorf("an IP without a block: %d, form or passkey missing", open.status)
	}
}

// expectOnlyBlock checks that body shows the block message once and no
// control but links back.
func expectOnlyBlock(t *testing.T, what, body string) {
	t.Helper()
	if n := strings.Count(body, blocked10); n != 1 {
		t.Errorf("%s: the block message shows %d times, want once", what, n)
	}
	for _, s := range []string{"<form", "method=recovery", "method=email", "method=totp", "/resend", "Use a security key", "Start again"} {
		if strings.Contains(body, s) {
			t.Errorf("%s: the blocked page offers %q", what, s)
		}
	}
}

var (
	codeLeftRE = regexp.MustCompile(`(?s)<p class="muted" id="code-left"[^>]*>The code is valid for <span class="countdown" data-countdown="(\d+)">([0-9:]+)</span></p>`)
	resendRE   = regexp.MustCompile(`(?s)<form method="post" action="/login/otp/resend">.*?</form>`)
)

// TestCodeCountdowns covers the emailed code's page: the time the code has
// left and Resend's cooldown are rendered by the server as m:ss countdowns
// (pages.js ticks them), not as a UTC time; Resend is disabled, with the
// seconds, until the cooldown ends.
func TestCodeCountdowns(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("cd@example.com", func(u *storage.User) { u.EmailOTP = true })
	b := hs.browser("192.0.2.60")
	id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	reload := func() *response { return b.get("/login/otp?authRequestID=" + url.QueryEscape(id)) }
	for _, tt := range []struct {
		after        time.Duration
		page         *response
		left, leftS  string
		wait, waitS  string // "" : Resend is enabled
		resendOffers bool
	}{
		{0, page, "1:00", "60", "0:30", "30", true},
		{12 * time.Second, nil, "0:48", "48", "0:18", "18", true},
		{18 * time.Second, nil, "0:30", "30", "", "", true},
	} {
		hs.clock.Advance(tt.after)
		p := tt.page
		if p == nil {
			p = reload()
		}
		m := codeLeftRE.FindStringSubmatch(p.body)
		if m == nil || m[1] != tt.leftS || m[2] != tt.left {
			t.Errorf("after %v: code left %q, want %s (%s s):\n%s", tt.after, m, tt.left, tt.leftS, p.body)
		}
		if strings.Contains(p.body, "UTC") || strings.Contains(p.body, "valid until") {
			t.Errorf("after %v: the page gives the expiry as a time", tt.after)
		}
		resend := resendRE.FindString(p.body)
		button := regexp.MustCompile(`<button type="submit" class="secondary"[^>]*>Resend</button>`).FindString(resend)
		if tt.wait == "" {
			if button != `<button type="submit" class="secondary">Resend</button>` || strings.Contains(resend, "resend-wait") {
				t.Errorf("after %v: Resend after its cooldown: %s", tt.after, resend)
			}
			continue
		}
		if button != `<button type="submit" class="secondary" disabled aria-describedby="resend-wait" data-wait="`+tt.waitS+`">Resend</button>` {
			t.Errorf("after %v: Resend = %s, want disabled for %s s", tt.after, button, tt.waitS)
		}
		if want := `<p class="muted" id="resend-wait">You can ask for a new code in <span class="countdown" data-countdown="` + tt.waitS + `">` + tt.wait + `</span></p>`; !strings.Contains(resend, want) {
			t.Errorf("after %v: no cooldown %s next to Resend:\n%s", tt.after, tt.wait, resend)
		}
	}
	if !strings.Contains(page.body, `<script src="/static/pages.js" defer></script>`) {
		t.Error("the code page does not load pages.js")
	}
	if js := b.get("/static/pages.js"); js.status != http.StatusOK || !strings.Contains(js.body, "data-countdown") {
		t.Errorf("GET /static/pages.js = %d", js.status)
	}

	// A wrong code keeps the countdown; Cancel, not Start again.
	hs.clock.Advance(10 * time.Second)
	form := formOf(t, page.body, "/login/otp")
	resp := b.post("/login/otp", with(form, "code", "000000"))
	if m := codeLeftRE.FindStringSubmatch(resp.body); m == nil || m[2] != "0:20" {
		t.Errorf("after a wrong code: code left %q, want 0:20", m)
	}
	if !strings.Contains(resp.body, `">Cancel</a>`) || strings.Contains(resp.body, "Start again") {
		t.Error("the code page's way back is not Cancel")
	}

	// In Russian.
	ru := hs.browser("192.0.2.61")
	ru.lang = "ru"
	_, rpage := hs.toStep(ru, testClientID, u.Email, "/login/otp", nil)
	if !strings.Contains(rpage.body, `Код действует ещё <span class="countdown" data-countdown="60">1:00</span>`) ||
		!strings.Contains(rpage.body, "Новый код можно запросить через") || !strings.Contains(rpage.body, ">Отмена</a>") {
		t.Errorf("Russian code page:\n%s", rpage.body)
	}
}

var keyGroupsRE = regexp.MustCompile(`^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$`)

// TestTOTPKeyGrouped covers the key for manual entry, on the sign-in's
// enrolment and on the security page: in groups of four, selectable
// without scripts, with a copy button that pages.js shows (hidden without
// it) and that copies the key as one word.
func TestTOTPKeyGrouped(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.client("mfa", func(c *storage.Client) { c.RequireMFA = true })
	u := hs.user("key@example.com", nil)
	b := hs.browser("192.0.2.70")
	_, enrol := hs.toStep(b, "mfa", u.Email, "/login/enroll", nil)

	hs2 := hs.user("key2@example.com", nil)
	b2 := hs.browser("192.0.2.71")
	id, resp := hs.submitPassword(b2, testClientID, hs2.Email, testPassword, nil)
	hs.expectDone(b2, id, resp, amrPassword, ACRPassword)
	security := b2.get("/account/security")
	if strings.Contains(security.body, `role="switch"`) {
		t.Error("the security page's buttons are switches")
	}
	onPage := b2.post("/account/security/totp/enable", formOf(t, security.body, "/account/security/totp/enable"))

	for name, page := range map[string]*response{"enrolment": enrol, "security page": onPage} {
		in := inputTag(page.body, "secret")
		shown := firstMatch(secretRE, page.body)
		copied := firstMatch(regexp.MustCompile(`data-copy="([^"]*)"`), in)
		if !keyGroupsRE.MatchString(shown) || strings.ReplaceAll(shown, " ", "") != copied || len(copied) < 16 {
			t.Errorf("%s: key shown %q, copied %q", name, shown, copied)
		}
		if !strings.Contains(in, "readonly") {
			t.Errorf("%s: the key is not a read-only field: %s", name, in)
		}
		if !strings.Contains(page.body, `<button type="button" class="secondary small" data-copy-for="secret" data-copied="Key copied" hidden>Copy</button>`) ||
			!strings.Contains(page.body, `<script src="/static/pages.js" defer></script>`) {
			t.Errorf("%s: no copy button for pages.js:\n%s", name, page.body)
		}
		if !strings.Contains(page.body, "secret="+copied) {
			t.Errorf("%s: the otpauth link lacks the key as one word", name)
		}
	}
}

// TestFieldErrors covers the forms whose errors are about one field: the
// error is next to the field, which is aria-invalid, described by it and
// focused; errors about the whole form stay on top.
func TestFieldErrors(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	b := hs.browser("192.0.2.80")
	id, fill := hs.registerForm(b)
	for _, tt := range []struct {
		name, field, msg string
		form             url.Values
	}{
		{"bad address", "email", msgBadEmail, fill("not-an-address", "Fay", newPassword, newPassword)},
		{"no name", "name", msgBadName, fill("fay@example.com", " ", newPassword, newPassword)},
		{"common password", "password", policy.ErrCommon.Message, fill("fay@example.com", "Fay", "Password1!", "Password1!")},
		{"passwords differ", "password2", msgPasswordsDiffer, fill("fay@example.com", "Fay", newPassword, newPassword+"!")},
	} {
		t.Run("register/"+tt.name, func(t *testing.T) {
			resp := b.post("/register", tt.form)
			if resp.status != http.StatusBadRequest {
				t.Fatalf("register = %d %q", resp.status, alert(resp.body))
			}
			expectFieldError(t, resp, tt.field, tt.msg)
		})
	}
	t.Run("register/password rules kept", func(t *testing.T) {
		resp := b.post("/register", fill("fay@example.com", "Fay", "Password1!", "Password1!"))
		if in := inputTag(resp.body, "password"); !strings.Contains(in, `aria-describedby="password-error password-rules"`) {
			t.Errorf("password field: %s", in)
		}
	})

	t.Run("recover", func(t *testing.T) {
		form := formOf(t, b.get("/recover?authRequestID="+url.QueryEscape(id)).body, "/recover")
		expectFieldError(t, b.post("/recover", with(form, "email", "")), "email", msgEnterEmail)
	})

	t.Run("reset", func(t *testing.T) {
		u := hs.user("gus@example.com", nil)
		form := formOf(t, b.get("/recover?authRequestID="+url.QueryEscape(id)).body, "/recover")
		b.post("/recover", with(form, "email", u.Email))
		_, link := hs.waitLink(u.Email, 1, "/recover/reset")
		reset := formOf(t, b.get(link).body, "/recover/reset")
		expectFieldError(t, b.post("/recover/reset", passwordForm(reset, newPassword, newPassword+"!")), "password2", msgPasswordsDiffer)
	})

	t.Run("password change", func(t *testing.T) {
		u := hs.user("hal@example.com", nil)
		pb := hs.browser("192.0.2.81")
		aid, resp := hs.submitPassword(pb, testClientID, u.Email, testPassword, nil)
		hs.expectDone(pb, aid, resp, amrPassword, ACRPassword)
		form := formOf(t, pb.get("/account/password").body, "/account/password")
		form = passwordForm(with(form, "current", "not the password"), newPassword, newPassword)
		expectFieldError(t, pb.post("/account/password", form), "current", msgWrongCurrent)
		form = passwordForm(with(form, "current", testPassword), newPassword, newPassword+"!")
		expectFieldError(t, pb.post("/account/password", form), "password2", msgPasswordsDiffer)
	})
}
