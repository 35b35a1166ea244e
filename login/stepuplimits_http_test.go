package login

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestStepUpCodesShareLoginLimits: the re-authentication's code checks
// (a stolen session's cookie jar and the password in hand, the app's code
// not) count against the very limits of the sign-in's code step: the
// code limiter's per-address limit and block (3 wrong, then 10 minutes)
// and its per-account limit (10 an hour, from any addresses). Of 20
// wrong codes posted at once from one address, 3 are checked, and the
// sign-in's code step from that address then answers the block even to
// the right code; from 20 addresses (127.0.0.x), 10 are checked, and the
// sign-in's code step from a fresh address answers the block. The other
// way round, 2 wrong codes at the sign-in's code step and 1 at the
// re-authentication from one address block it. SQLite and PostgreSQL.
func TestStepUpCodesShareLoginLimits(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend)
			if got := hs.h.OTPLimiter.IP.Max; got != 3 {
				t.Fatalf("the code limiter's per-address limit is %d; the test wants the seed's 3", got)
			}
			// reauth signs u in with the app from a browser at ip and
			// returns the session's browser and the re-authentication
			// form, the password filled in, once the window has passed.
			reauth := func(t *testing.T, email, ip string) (*storage.User, string, *browser, url.Values) {
				t.Helper()
				u, secret := hs.in(t).appUser(email)
				b := hs.in(t).browser(ip)
				hs.in(t).signInWithApp(b, u.Email, secret)
				hs.clock.Advance(hs.h.ReauthWindow + time.Second)
				form := formOf(t, b.get("/account/reauth?next=%2Faccount%2Fsecurity").body, "/account/reauth")
				return u, secret, b, with(form, "password", testPassword)
			}
			checked := func(t *testing.T, u *storage.User) int {
				t.Helper()
				failed, err := hs.store.Events(t.Context(), storage.EventFilter{UserID: u.ID, Type: storage.EventCodeFailed})
				if err != nil {
					t.Fatal(err)
				}
				return len(failed)
			}
			// loginCode is the answer of the sign-in's code step of u, its
			// password passed from a clean address, to code posted from ip;
			// or the code page's, when it answers a block on sight (a
			// blocked account) and has no form to post.
			loginCode := func(t *testing.T, u *storage.User, ip, code string) *response {
				t.Helper()
				b := hs.in(t).browser("192.0.2.199")
				_, page := hs.in(t).toStep(b, testClientID, u.Email, "/login/otp", nil)
				if page.status == http.StatusTooManyRequests {
					return page
				}
				form := formOf(t, page.body, "/login/otp")
				b.ip = ip
				return b.post("/login/otp", with(form, "code", code))
			}

			for _, many := range []bool{false, true} {
				t.Run(map[bool]string{false: "one address", true: "many addresses"}[many], func(t *testing.T) {
					const n = 20
					u, secret, b, form := reauth(t, fmt.Sprintf("stepup-burst-%v@example.com", many), "192.0.2.198")
					before := checked(t, u)
					bs, forms := make([]*browser, n), make([]url.Values, n)
					for i, code := range hs.in(t).wrongCodes(n, hs.totpCode(secret)) {
						ip := "127.0.0.2"
						if many {
							ip = fmt.Sprintf("127.0.0.%d", 10+i)
						}
						bs[i], forms[i] = hs.in(t).stolen(b, ip), with(form, "code", code)
					}
					for i, resp := range postUntilChecked(bs, "/account/reauth", forms) {
						switch resp.status {
						case http.StatusUnauthorized, http.StatusTooManyRequests:
						default:
							t.Errorf("wrong code %d = %d %s %q", i, resp.status, resp.loc, alert(resp.body))
						}
					}
					want, ip := hs.h.OTPLimiter.IP.Max, "127.0.0.2"
					if many {
						want, ip = hs.h.OTPLimiter.Account.Max, "127.0.0.250"
					}
					if got := checked(t, u) - before; got != want {
						t.Errorf("%d wrong step-up codes at once: %d checked, want %d", n, got, want)
					}
					// The sign-in's code step shares the block: even the right
					// code is refused.
					expectPage(t, loginCode(t, u, ip, hs.totpCode(secret)), http.StatusTooManyRequests, blocked10)
					// So does the re-authentication, with the right code.
					if resp := hs.in(t).stolen(b, ip).post("/account/reauth", with(form, "code", hs.totpCode(secret))); resp.status != http.StatusTooManyRequests || alert(resp.body) != blocked10 {
						t.Errorf("the right step-up code after the burst = %d %s %q, want 429 %q", resp.status, resp.loc, alert(resp.body), blocked10)
					}
					hs.clock.Advance(time.Hour + time.Second) // the blocks end
				})
			}

			t.Run("sign-in then step-up", func(t *testing.T) {
				const ip = "127.0.0.3"
				u, secret, b, form := reauth(t, "stepup-shared@example.com", "192.0.2.197")
				wrong := otherCode(hs.totpCode(secret))
				sb := hs.in(t).browser("192.0.2.196")
				_, _, lform := hs.in(t).codeStep(sb, u.Email, nil)
				sb.ip = ip
				expectPage(t, sb.post("/login/otp", with(lform, "code", wrong)), http.StatusUnauthorized, wrongCode(2))
				expectPage(t, sb.post("/login/otp", with(lform, "code", wrong)), http.StatusUnauthorized, wrongCode(1))
				stolen := hs.in(t).stolen(b, ip)
				expectPage(t, stolen.post("/account/reauth", with(form, "code", wrong)), http.StatusTooManyRequests, blocked10)
				expectPage(t, stolen.post("/account/reauth", with(form, "code", hs.totpCode(secret))), http.StatusTooManyRequests, blocked10)
			})
		})
	}
}
