package login

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// TestEmailedLinksAtOnce (SECURITY.md REL-05): a password-reset link and a
// registration's confirmation link, each posted 20 times at once from the
// browser that opened it, do their work exactly once; every other post is
// told the link was used.
func TestEmailedLinksAtOnce(t *testing.T) {
	t.Parallel()
	const n = 20
	hs := newHarness(t)
	for _, tt := range []struct {
		name string
		// link asks for the emailed link in b and returns its page's path
		// and the form posted to it.
		link     func(hs *harness, b *browser) (path string, form url.Values)
		done     func(resp *response) bool
		usedText string
	}{
		{"password reset", func(hs *harness, b *browser) (string, url.Values) {
			u := hs.user("links-reset@example.com", nil)
			b.post("/recover", with(formOf(hs.t, b.get("/recover").body, "/recover"), "email", u.Email))
			_, link := hs.waitLink(u.Email, 1, "/recover/reset")
			return "/recover/reset", passwordForm(formOf(hs.t, b.get(link).body, "/recover/reset"), newPassword, newPassword)
		}, func(resp *response) bool { return resp.status == http.StatusOK && info(resp.body) == msgResetDone }, msgResetUsed},
		{"registration confirmation", func(hs *harness, b *browser) (string, url.Values) {
			_, fill := hs.registerForm(b)
			b.post("/register", fill("links-confirm@example.com", "Links", newPassword, newPassword))
			_, link := hs.waitLink("links-confirm@example.com", 1, "/register/confirm")
			return "/register/confirm", formOf(hs.t, b.get(link).body, "/register/confirm")
		}, func(resp *response) bool { return resp.status == http.StatusOK && info(resp.body) == msgConfirmed }, msgConfirmLinkUsed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := hs.in(t)
			b := hs.browser("198.51.100.60")
			path, form := tt.link(hs, b)
			out := make([]*response, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					out[i] = b.post(path, form)
				})
			}
			close(start)
			wg.Wait()
			done := 0
			for i, resp := range out {
				switch {
				case tt.done(resp):
					done++
				case resp.status != http.StatusBadRequest || alert(resp.body) != tt.usedText:
					t.Errorf("post %d = %d %q, want done or 400 %q", i, resp.status, alert(resp.body), tt.usedText)
				}
			}
			if done != 1 {
				t.Errorf("%d posts of one link at once: %d did its work, want 1", n, done)
			}
		})
	}
}
