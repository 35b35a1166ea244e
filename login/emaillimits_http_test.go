package login

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestEmailRequestsAtOnce: registrations and password-recovery requests
// posted all at once keep their limits (5 an hour per address, 10 an hour
// per client IP), as they do one after the other: each request is counted
// before anything is sent, so a burst cannot email an address more often
// than its cap, nor get more requests through from one address.
func TestEmailRequestsAtOnce(t *testing.T) {
	t.Parallel()
	const n = 20
	for _, tt := range []struct {
		path string
		// form fills the page's form for the address email.
		form func(page url.Values, email string) url.Values
		sent string // the answer's lead, with the address
	}{
		{"/recover", func(page url.Values, email string) url.Values { return with(page, "email", email) }, msgRecoverSent},
		{"/register", func(page url.Values, email string) url.Values {
			return passwordForm(with(with(page, "email", email), "name", "Burst"), newPassword, newPassword)
		}, msgCheckEmail},
	} {
		t.Run(tt.path, func(t *testing.T) {
			hs := newHarness(t).in(t)
			// posts posts the form for address(i) from browser(i), all at
			// once, and returns the answers.
			posts := func(from func(i int) *browser, address func(i int) string) []*response {
				bs, forms := make([]*browser, n), make([]url.Values, n)
				for i := range n {
					bs[i] = from(i)
					forms[i] = tt.form(formOf(t, bs[i].get(tt.path).body, tt.path), address(i))
				}
				out := make([]*response, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						out[i] = bs[i].post(tt.path, forms[i])
					})
				}
				close(start)
				wg.Wait()
				return out
			}

			// One address, from n addresses at once: the same answer to
			// every request, and the address's cap of emails.
			const victim = "burst-victim@example.com"
			if tt.path == "/recover" {
				hs.user(victim, nil)
			}
			for i, resp := range posts(func(i int) *browser { return hs.browser(fmt.Sprintf("198.51.100.%d", 10+i)) },
				func(int) string { return victim }) {
				if want := fmt.Sprintf(tt.sent, victim); resp.status != http.StatusOK || lead(resp.body) != want {
					t.Errorf("request %d for one address = %d %q, want 200 %q", i, resp.status, lead(resp.body), want)
				}
			}
			hs.waitMail(victim, 5)
			time.Sleep(200 * time.Millisecond) // emails go out in the background
			if got := len(mailsTo(hs, victim)); got != 5 {
				t.Errorf("%d requests at once for one address sent it %d emails, want its cap, 5", n, got)
			}

			// Many addresses from one client IP at once: its cap (10) get
			// through, the rest are refused with the block.
			const ip = "198.51.100.200"
			ok, blocked := 0, 0
			for i, resp := range posts(func(int) *browser { return hs.browser(ip) },
				func(i int) string { return fmt.Sprintf("burst-%d@example.com", i) }) {
				switch {
				case resp.status == http.StatusOK && lead(resp.body) == fmt.Sprintf(tt.sent, fmt.Sprintf("burst-%d@example.com", i)):
					ok++
				case resp.status == http.StatusTooManyRequests && alert(resp.body) == fmt.Sprintf(msgBlocked, 60):
					blocked++
				default:
					t.Errorf("request %d from one IP = %d %q %q", i, resp.status, lead(resp.body), alert(resp.body))
				}
			}
			if ok != 10 || blocked != n-10 {
				t.Errorf("%d requests at once from one IP: %d answered, %d blocked; want the IP's cap, 10, and %d", n, ok, blocked, n-10)
			}
		})
	}
}

// mailsTo returns the subjects of the emails sent to addr so far.
func mailsTo(hs *harness, addr string) []string {
	var subjects []string
	for _, m := range hs.mail.Messages() {
		if m.To == addr {
			subjects = append(subjects, m.Subject)
		}
	}
	return subjects
}

// TestEmailChangeLinksPerAddress: confirmation links of email changes
// count against the cap of unrequested emails to their address (5 an
// hour, as recovery links), however many accounts ask: eight accounts,
// each signed in from its own IP, changing their address to one victim's
// send it 5 links; the rest are told too many emails were sent. Before,
// only the account's own cap of code emails held, so every account could
// send the address its 5 per window.
func TestEmailChangeLinksPerAddress(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	const victim = "flooded@example.net"
	sent, capped := 0, 0
	for i := range 8 {
		u := hs.user(fmt.Sprintf("flooder-%d@example.com", i), nil)
		b := hs.browser(fmt.Sprintf("198.51.100.%d", 70+i))
		id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
		hs.expectDone(b, id, resp, amrPassword, ACRPassword)
		resp = b.post("/account/email", with(formOf(t, b.get("/account").body, "/account/email"), "email", victim))
		switch resp.loc {
		case "/account?done=email-sent":
			sent++
		case "/account?done=email-capped":
			capped++
		default:
			t.Fatalf("email change %d = %d %q", i, resp.status, resp.loc)
		}
	}
	if got := len(mailsTo(hs, victim)); sent != 5 || capped != 3 || got != 5 {
		t.Errorf("8 accounts changing their address to one: %d sent, %d capped, %d emails to it; want 5, 3 and 5", sent, capped, got)
	}
	// The cap is the address's: another address is not affected.
	u := hs.user("flooder-other@example.com", nil)
	b := hs.browser("198.51.100.90")
	id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
	hs.expectDone(b, id, resp, amrPassword, ACRPassword)
	expectRedirect(t, b.post("/account/email", with(formOf(t, b.get("/account").body, "/account/email"), "email", "elsewhere@example.net")),
		"/account?done=email-sent")
}
