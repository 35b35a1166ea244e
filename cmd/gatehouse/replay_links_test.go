package main

// Emailed links replayed across two replicas on one PostgreSQL, with a
// real SMTP sink: a password-reset link and a registration's confirmation
// link, opened at one replica and their forms posted 20 times at once over
// both. Each is used once: one new password, one confirmation, one
// "password changed" email.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// ssReplica starts a second replica beside e's gatehouse: the same
// PostgreSQL schema, key file, issuer, SMTP sink and clock.
func ssReplica(t *testing.T, e *ssEnv, dsn string) *gatehouse {
	t.Helper()
	b := newGatehouse(t, dsn,
		"GATEHOUSE_ISSUER="+e.g.base,
		"GATEHOUSE_SECRETS_KEY_FILE="+tfEnvValue(e.g, "GATEHOUSE_SECRETS_KEY_FILE"),
		"GATEHOUSE_MAIL_SMTP_HOST=127.0.0.1",
		"GATEHOUSE_MAIL_SMTP_PORT="+strconv.Itoa(e.mail.port()),
		"GATEHOUSE_MAIL_SMTP_TLS=none",
		"GATEHOUSE_TEST_CLOCK_FILE="+e.clockFile,
		"GATEHOUSE_TEST_CLOCK_SKEW_CHECK=off",
	)
	b.start()
	return b
}

// formBurst posts forms[i] to path at servers[i%len(servers)], all at
// once, from browser br, and returns the answers in the order of forms.
func formBurst(t *testing.T, br *browser, path string, forms []url.Values, servers ...*gatehouse) []*response {
	t.Helper()
	out := make([]*response, len(forms))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, form := range forms {
		wg.Go(func() {
			<-start
			body := ssWith(form).Encode()
			req, _ := http.NewRequest(http.MethodPost, servers[i%len(servers)].base+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, h, page, err := burstDo(br.c, req)
			if err != nil {
				t.Errorf("POST %s: %v", path, err)
				return
			}
			if status >= 500 {
				t.Errorf("POST %s = %d:\n%s", path, status, page)
			}
			out[i] = &response{Response: &http.Response{StatusCode: status, Header: h}, body: page}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestReplayLinksReplicas posts the forms of emailed links 20 times at
// once over two replicas.
func TestReplayLinksReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	e := ssStart(t, dsn)
	a := e.g
	b := ssReplica(t, e, dsn)

	t.Run("password reset", func(t *testing.T) {
		rp := e.relyingParty(t)
		email, old := "replay-reset@example.com", "the password before the reset"
		a.createUser(email, "Replay Reset", old)
		br := e.browser(t)
		token := e.askReset(t, br, email, 1)
		page := br.get(b.base + "/recover/reset?token=" + token)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("GET reset at B = %d:\n%s", page.StatusCode, page.body)
		}
		form := ssForm(t, page.body, "/recover/reset")
		forms := make([]url.Values, 20)
		for i := range forms {
			p := "new password number " + strconv.Itoa(i) + " of the burst"
			forms[i] = ssWith(form, "password", p, "password2", p)
		}
		answers := formBurst(t, br, "/recover/reset", forms, a, b)
		winner := -1
		for i, r := range answers {
			switch {
			case r == nil:
			case r.StatusCode == http.StatusOK && ssInfo(r.body) == ssResetDone:
				if winner >= 0 {
					t.Errorf("the reset link set two passwords: number %d and %d", winner, i)
				}
				winner = i
			case r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed):
				t.Errorf("a parallel use of the reset link = %d %q, want 400 %q", r.StatusCode, ssAlert(r.body), ssLinkUsed)
			}
		}
		if winner < 0 {
			t.Fatal("none of 20 parallel uses of the reset link set the password")
		}
		// The winner's password signs in, another one does not, nor the
		// old one.
		f := rp.newFlow()
		rp.exchange(rp.signIn(e.browser(t), f, email, forms[winner]["password"][0]), f)
		for _, p := range []string{forms[(winner+1)%len(forms)]["password"][0], old} {
			if r := tryPassword(t, rp, e.browser(t), email, p); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("password %q after the burst = %d, want 401", p, r.StatusCode)
			}
		}
		e.mail.wait(t, email, ssSubjChanged, 1)
		time.Sleep(300 * time.Millisecond)
		if n := e.mail.count(email, ssSubjChanged); n != 1 {
			t.Errorf("%d \"password changed\" emails after 20 parallel uses of one link, want 1", n)
		}
		// Replayed afterwards at A: used.
		if r := br.post(a.base+"/recover/reset", forms[winner]); r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed) {
			t.Errorf("the reset link again at A = %d %q", r.StatusCode, ssAlert(r.body))
		}
	})

	t.Run("email confirmation", func(t *testing.T) {
		email, pass := "replay-confirm@example.com", "a fresh registration password"
		br := e.browser(t)
		reg := br.get(a.base + "/register")
		if done := e.register(t, br, ssForm(t, reg.body, "/register"), email, "Replay Confirm", pass); done.StatusCode != http.StatusOK {
			t.Fatalf("POST /register = %d", done.StatusCode)
		}
		token := e.mail.link(t, email, ssSubjConfirm, 1, "/register/confirm")
		page := br.get(b.base + "/register/confirm?token=" + token)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("GET confirm at B = %d", page.StatusCode)
		}
		form := ssForm(t, page.body, "/register/confirm")
		forms := make([]url.Values, 20)
		for i := range forms {
			forms[i] = form
		}
		confirmed := 0
		for _, r := range formBurst(t, br, "/register/confirm", forms, b, a) {
			switch {
			case r == nil:
			case r.StatusCode == http.StatusOK && ssInfo(r.body) == ssConfirmed:
				confirmed++
			case r.StatusCode != http.StatusBadRequest || !strings.Contains(ssAlert(r.body), ssLinkUsed):
				t.Errorf("a parallel confirmation = %d %q, want 400 %q", r.StatusCode, ssAlert(r.body), ssLinkUsed)
			}
		}
		if confirmed != 1 {
			t.Errorf("20 parallel confirmations over two replicas: %d confirmed, want 1", confirmed)
		}
		rp := e.relyingParty(t)
		f := rp.newFlow()
		if _, _, c := rp.exchange(rp.signIn(e.browser(t), f, email, pass), f); !c.EmailVerified {
			t.Errorf("claims after the confirmation = %+v", c)
		}
	})
}
