package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Texts of the registration pages TestBrowserRegistration checks.
const (
	regCheckEmailTitle = "Check your email"
	regCheckEmailLead  = "Check your email to confirm your address. We sent a message to %s; open the link in it within 24 hours to finish creating your account."
	regConfirmTitle    = "Confirm your email"
	regConfirmedTitle  = "Email confirmed"
	regContinue        = "Continue signing in"
)

// regConfirmLinkRE finds the confirmation link in the email's body.
var regConfirmLinkRE = regexp.MustCompile(`https?://[^\s/]+/register/confirm\?token=[A-Za-z0-9_-]+`)

// TestBrowserRegistration drives a real Chromium through registration: a
// relying party sends the browser to the sign-in page, whose "Create an
// account" link leads to the registration form; before the emailed link is
// opened the new account signs in like a wrong password; the link, read
// from a real SMTP server, confirms the address, and the sign-in the
// registration started continues to the relying party, whose ID token says
// the email is verified.
func TestBrowserRegistration(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			const (
				email    = "ada.reg@example.com"
				name     = "Ada Registered"
				password = "a fresh registration password"
			)
			// The database first: a skipped backend starts nothing.
			dsn := databaseURL(t, backend)
			sink := tfNewSink(t)
			g := newGatehouse(t, dsn,
				"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
				"GATEHOUSE_MAIL_SMTP_PORT="+strconv.Itoa(sink.port()),
				"GATEHOUSE_MAIL_SMTP_TLS=none",
			)
			g.start()
			rp := newTOTPRP(t, g.base)
			c := g.createClient("--name", "Registration RP", "--redirect-uri", rp.srv.URL+"/cb")
			if c.Secret == "" {
				t.Fatal("confidential client has no secret")
			}
			rp.configure(c)

			b := startChromium(t, chromium)
			shots := totpShotDir(t)
			shot := func(page string) { totpShot(b, filepath.Join(shots, "register-"+page+"-"+backend+".png")) }

			// 1. The relying party sends the browser to the sign-in page,
			// which links to the registration form.
			totpDo(b, "open the login page",
				chromedp.Navigate(rp.srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#email")),
			)
			if loc := totpRead(b, "read the location", chromedp.Location()); !strings.HasPrefix(loc, g.base+"/login?") {
				t.Fatalf("login page at %s, want %s/login?…", loc, g.base)
			}
			arID := regValue(b, `form[action="/login"] input[name="authRequestID"]`)
			if arID == "" {
				t.Fatal("the sign-in form carries no authRequestID")
			}
			const createLink = `a[href^="/register"]`
			if text := totpText(b, createLink); text != "Create an account" {
				t.Errorf("registration link says %q, want \"Create an account\"", text)
			}
			if href := regAttr(b, createLink, "href"); href != "/register?authRequestID="+arID {
				t.Errorf("registration link goes to %q, want /register?authRequestID=%s", href, arID)
			}
			totpClickThrough(b, "follow \"Create an account\"", createLink, "#password2", ".alert")

			// 2. The registration form.
			regNoAlert(b, "open the registration form")
			if loc := totpRead(b, "read the location", chromedp.Location()); loc != g.base+"/register?authRequestID="+arID {
				t.Errorf("registration form at %s, want %s/register?authRequestID=%s", loc, g.base, arID)
			}
			if h := totpText(b, "h1"); h != "Create an account" {
				t.Errorf("registration heading %q, want \"Create an account\"", h)
			}
			if got := regValue(b, `form[action="/register"] input[name="authRequestID"]`); got != arID {
				t.Errorf("registration form carries authRequestID %q, want %q", got, arID)
			}
			for field, want := range map[string]string{
				"#email": "username", "#name": "name", "#password": "new-password", "#password2": "new-password",
			} {
				if got := regAttr(b, field, "autocomplete"); got != want {
					t.Errorf("%s autocomplete = %q, want %q", field, got, want)
				}
				// Every field has its label.
				id := strings.TrimPrefix(field, "#")
				if n := totpEval[int](b, "count the labels of "+field,
					fmt.Sprintf(`document.querySelectorAll('label[for=%q]').length`, id)); n != 1 {
					t.Errorf("%s has %d labels, want 1", field, n)
				}
			}
			if typ := regAttr(b, "#email", "type"); typ != "email" {
				t.Errorf("#email type = %q, want \"email\"", typ)
			}
			shot("form")

			totpDo(b, "fill in the registration form",
				chromedp.SendKeys(chromedp.CSS("#email"), email),
				chromedp.SendKeys(chromedp.CSS("#name"), name),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.SendKeys(chromedp.CSS("#password2"), password),
			)
			totpClickThrough(b, "submit the registration", `form[action="/register"] button[type="submit"]`, ".lead", ".alert")

			// 3. "Check your email".
			regNoAlert(b, "submit the registration")
			if h := totpText(b, "h1"); h != regCheckEmailTitle {
				t.Errorf("after registering, heading %q, want %q", h, regCheckEmailTitle)
			}
			if lead, want := totpText(b, ".lead"), fmt.Sprintf(regCheckEmailLead, email); lead != want {
				t.Errorf("after registering, the page says %q, want %q", lead, want)
			}
			shot("check-email")

			// 4. Before the confirmation, the right password is refused
			// like a wrong one.
			for _, try := range []struct{ what, password string }{
				{"the right password", password},
				{"a wrong password", "not the password at all"},
			} {
				regSignIn(b, g.base, arID, email, try.password)
				if msg := totpText(b, ".alert"); msg != ssBadCredentials {
					b.fail("sign in before confirming with "+try.what, fmt.Errorf("alert %q, want %q", msg, ssBadCredentials))
				}
				if try.password == password {
					shot("unconfirmed")
				}
			}
			if n := rp.count(); n != 0 {
				t.Fatalf("relying party completed %d sign-ins before the confirmation", n)
			}

			// 5. The confirmation email and its link.
			body := regMail(t, sink, email, ssSubjConfirm)
			link := regConfirmLinkRE.FindString(body)
			if !strings.HasPrefix(link, g.base+"/register/confirm?token=") {
				t.Fatalf("confirmation email has link %q, want %s/register/confirm?token=…:\n%s", link, g.base, body)
			}
			if !strings.Contains(body, name) {
				t.Errorf("confirmation email does not greet %q:\n%s", name, body)
			}

			// 6. Opening the link asks to confirm; the button confirms.
			const confirmButton = `form[action="/register/confirm"] button[type="submit"]`
			totpDo(b, "open the confirmation link",
				chromedp.Navigate(link),
				chromedp.WaitVisible(chromedp.CSS(confirmButton+", .alert")),
			)
			regNoAlert(b, "open the confirmation link")
			if h := totpText(b, "h1"); h != regConfirmTitle {
				t.Errorf("confirmation page heading %q, want %q", h, regConfirmTitle)
			}
			if label := totpText(b, confirmButton); label != "Confirm my email" {
				t.Errorf("confirmation button says %q, want \"Confirm my email\"", label)
			}
			shot("confirm")
			totpClickThrough(b, "confirm the email", confirmButton, ".info", ".alert")
			regNoAlert(b, "confirm the email")
			if h := totpText(b, "h1"); h != regConfirmedTitle {
				t.Errorf("after confirming, heading %q, want %q", h, regConfirmedTitle)
			}
			if info := totpText(b, ".info"); info != ssConfirmed {
				t.Errorf("after confirming, the page says %q, want %q", info, ssConfirmed)
			}
			const continueLink = `a[href^="/login?authRequestID="]`
			if text := totpText(b, continueLink); text != regContinue {
				t.Fatalf("after confirming, the continue link says %q, want %q", text, regContinue)
			}
			if href := regAttr(b, continueLink, "href"); href != "/login?authRequestID="+arID {
				t.Errorf("continue link goes to %q, want /login?authRequestID=%s", href, arID)
			}
			shot("confirmed")

			// 7. Continue the sign-in the registration started.
			totpClickThrough(b, "continue signing in", continueLink, "#password", ".alert")
			regNoAlert(b, "continue signing in")
			if loc := totpRead(b, "read the location", chromedp.Location()); loc != g.base+"/login?authRequestID="+arID {
				t.Errorf("continued at %s, want %s/login?authRequestID=%s", loc, g.base, arID)
			}
			regFillPassword(b, email, password)
			totpClickThrough(b, "sign in", `form[action="/login"] button[type="submit"]`, "#rp-status", "#rp-error", ".alert")
			regNoAlert(b, "sign in")
			got := totpRPResult(b, rp, 1)
			if got.Email != email || !got.EmailVerified {
				t.Errorf("ID token email %q, email_verified %t; want %q, true", got.Email, got.EmailVerified, email)
			}
			if !slices.Equal(got.AMR, []string{"pwd"}) {
				t.Errorf("ID token amr = %q, want [pwd]", got.AMR)
			}
			shot("signed-in")

			// 8. The link works once.
			totpDo(b, "open the confirmation link again",
				chromedp.Navigate(link),
				chromedp.WaitVisible(chromedp.CSS(confirmButton+", .alert")),
			)
			totpClickThrough(b, "confirm again", confirmButton, ".info", ".alert")
			if msg := totpText(b, ".alert"); !strings.HasPrefix(msg, ssLinkUsed) {
				t.Errorf("second confirmation says %q, want %q…", msg, ssLinkUsed)
			}
		})
	}
}

// regMail waits for the first message to whose subject is subject and
// returns its decoded body; it fails the test if more than one arrived.
func regMail(t *testing.T, sink *tfSink, to, subject string) string {
	t.Helper()
	sink.wait(t, to, subject, 1)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var bodies []string
	for _, m := range sink.msgs {
		if slices.Contains(m.to, to) && m.subject == subject {
			bodies = append(bodies, m.raw)
		}
	}
	if len(bodies) != 1 {
		t.Fatalf("%d messages %q to %s, want 1", len(bodies), subject, to)
	}
	return bodies[0]
}

// regSignIn opens the sign-in page of auth request arID and submits email
// and password; it waits for the relying party's page or an alert.
func regSignIn(b *headlessChromium, base, arID, email, password string) {
	b.t.Helper()
	totpDo(b, "open the sign-in page",
		chromedp.Navigate(base+"/login?authRequestID="+arID),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	)
	regFillPassword(b, email, password)
	totpClickThrough(b, "submit the password", `form[action="/login"] button[type="submit"]`, "#rp-status", "#rp-error", ".alert")
}

// regFillPassword fills in the sign-in form, replacing what the email
// input holds.
func regFillPassword(b *headlessChromium, email, password string) {
	b.t.Helper()
	totpDo(b, "fill in the sign-in form",
		chromedp.Clear(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
}

// regNoAlert fails the test if the page shows an alert.
func regNoAlert(b *headlessChromium, step string) {
	b.t.Helper()
	if msg := totpText(b, ".alert"); msg != "" {
		b.fail(step, fmt.Errorf("the page answered %q", msg))
	}
}

// regAttr returns the attribute attr of the first element matching sel,
// or "" if it has none.
func regAttr(b *headlessChromium, sel, attr string) string {
	b.t.Helper()
	return totpEval[string](b, "read "+sel+" "+attr,
		fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, sel, attr))
}

// regValue returns the value of the first input matching sel, or "".
func regValue(b *headlessChromium, sel string) string {
	b.t.Helper()
	return totpEval[string](b, "read "+sel, fmt.Sprintf(`document.querySelector(%q)?.value ?? ""`, sel))
}
