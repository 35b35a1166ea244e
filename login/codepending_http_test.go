package login

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// issueHook is the Store of a Handler that runs the armed hook once, right
// before the next IssueCode: a request that lands while another one is
// storing a new code.
type issueHook struct {
	storage.Store
	hook atomic.Pointer[func()]
}

func (s *issueHook) IssueCode(ctx context.Context, c *storage.OneTimeCode, cooldown time.Duration, now time.Time) error {
	if f := s.hook.Swap(nil); f != nil {
		(*f)()
	}
	return s.Store.IssueCode(ctx, c, cooldown, now)
}

// sendHook is the Mailer of a Handler that runs the armed hook once, right
// before the next Send: a request that lands while an email is being sent.
type sendHook struct {
	*mail.Outbox
	hook atomic.Pointer[func()]
}

func (m *sendHook) Send(ctx context.Context, msg mail.Message) error {
	if f := m.hook.Swap(nil); f != nil {
		(*f)()
	}
	return m.Outbox.Send(ctx, msg)
}

// TestCodeUsedWhileResendNotSent covers an emailed code used by one
// request while another asks for a new code whose email then cannot be
// sent (the mail server down, or the cap of code emails reached): the
// unsent code must change nothing, so the code in use works for that
// request, and, used, it stays used. Before, the unsent code put back a
// copy of the previous code read before the new one was stored, unused:
// a code used in between worked a second time (here: two sets of recovery
// codes from one code). Then a Resend that is sent gives the only live
// code, and the cooldown was not spent by the unsent one.
func TestCodeUsedWhileResendNotSent(t *testing.T) {
	t.Parallel()
	for i, tt := range []struct {
		name string
		// during is where the other request lands: "issue" (before the
		// new code is stored) or "send" (while its email is sent).
		during string
		// capped: the cap of code emails refuses the Resend, else the
		// mail server does.
		capped bool
	}{
		{"server down, used as the code is stored", "issue", false},
		{"server down, used while the email is sent", "send", false},
		{"emails capped, used as the code is stored", "issue", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			issue, send := &issueHook{}, &sendHook{}
			hs := newHarness(t, func(h *Handler) {
				issue.Store = h.Store.(storage.Store)
				h.Store = issue
				send.Outbox = h.Mailer.(*mail.Outbox)
				h.Mailer = send
				if tt.capped {
					// The sign-in's code and the first recovery code: the
					// Resend is the third code email of the account.
					h.MailLimiter.Account.Max = 2
				}
			})
			u := hs.user(fmt.Sprintf("pending-%d@example.com", i), func(u *storage.User) { u.EmailOTP = true })
			b := hs.browser("192.0.2.170")
			id, _, form := hs.codeStep(b, u.Email, nil)
			code, _ := hs.mailCode(u.Email)
			hs.expectDone(b, id, b.post("/login/otp", with(form, "code", code)), amrEmail, ACREmail)

			const regenerate = "/account/security/recovery/regenerate"
			page := b.post(regenerate, formOf(t, b.get("/account/security").body, regenerate))
			if page.status != http.StatusOK || !strings.HasPrefix(info(page.body), "We sent a 6-digit code") {
				t.Fatalf("%s = %d %q %q", regenerate, page.status, info(page.body), alert(page.body))
			}
			code, _ = hs.mailCode(u.Email)
			// codeMails counts the code emails to u (the notice of new
			// recovery codes aside).
			codeMails := func() int {
				n := 0
				for _, m := range hs.mail.Messages() {
					if m.To == u.Email && firstMatch(digitsRE, m.Text) != "" {
						n++
					}
				}
				return n
			}
			sent := codeMails()
			confirm := formOf(t, page.body, regenerate+"-confirm")
			resend := formOf(t, page.body, regenerate+"-resend")
			use := func(code string) *response { return b.post(regenerate+"-confirm", with(confirm, "code", code)) }
			// generated reports whether resp shows new recovery codes.
			generated := func(resp *response) bool {
				return resp.status == http.StatusOK && strings.Contains(resp.body, "recovery codes") && alert(resp.body) == ""
			}

			hs.clock.Advance(31 * time.Second) // past the cooldown
			var first *response
			hook := func() { first = use(code) }
			if tt.during == "issue" {
				issue.hook.Store(&hook)
			} else {
				send.hook.Store(&hook)
			}
			if !tt.capped {
				hs.mail.SetErr(mail.ErrUnavailable)
			}
			resp := b.post(regenerate+"-resend", resend)
			hs.mail.SetErr(nil)
			if tt.capped {
				expectPage(t, resp, http.StatusTooManyRequests, i18n.Tf(i18n.English, msgTooManyCodes, 15))
			} else {
				expectPage(t, resp, http.StatusOK, msgSendFailed)
			}
			if first == nil {
				t.Fatal("the other request did not run")
			}
			if !generated(first) {
				t.Fatalf("the code was refused while the unsent code was pending: %d %q", first.status, alert(first.body))
			}
			if n := codeMails(); n != sent {
				t.Errorf("%d code emails to %s, want %d: the unsent one is not recorded", n, u.Email, sent)
			}

			second := use(code)
			if generated(second) {
				t.Fatal("a used code worked a second time after a Resend that was not sent")
			}
			expectPage(t, second, http.StatusForbidden, i18n.Tf(i18n.English, msgWrongCode, 2))

			// A Resend that goes out (the cap's block cleared, if capped)
			// needs no other wait: the unsent code held no cooldown. Its
			// code is the only one that works.
			if tt.capped {
				if _, err := hs.store.ClearBlocks(t.Context(), lockout.AccountCounter("", u.ID).Suffix()); err != nil {
					t.Fatal(err)
				}
			}
			page = b.post(regenerate, formOf(t, b.get("/account/security").body, regenerate))
			if page.status != http.StatusOK || !strings.HasPrefix(info(page.body), "We sent a 6-digit code") {
				t.Fatalf("%s after the failure = %d %q %q", regenerate, page.status, info(page.body), alert(page.body))
			}
			fresh, _ := hs.mailCode(u.Email)
			if n := codeMails(); n != sent+1 {
				t.Fatalf("%d code emails to %s, want %d", n, u.Email, sent+1)
			}
			confirm = formOf(t, page.body, regenerate+"-confirm")
			if resp := use(code); generated(resp) {
				t.Error("the used code works after a Resend that was sent")
			}
			if resp := use(fresh); !generated(resp) {
				t.Errorf("the new code was refused: %d %q", resp.status, alert(resp.body))
			}
		})
	}
}
