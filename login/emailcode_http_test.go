package login

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestEmailCodeDiesAfterWrongEntries: an emailed code is void after
// max_attempts (3) wrong entries, wherever they come from (DESIGN.md: "The
// email code is also invalidated after max_attempts wrong entries"): one
// wrong entry each from three addresses, none of them blocked, and the
// right code from a fourth is refused; a resent code then works. Before,
// the code died only with a block, so rotating addresses got it up to the
// account's cap of guesses (10) instead of 3.
func TestEmailCodeDiesAfterWrongEntries(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("rotating@example.com", func(u *storage.User) { u.EmailOTP = true })
	b := hs.browser("203.0.113.90")
	id, page := hs.toStep(b, testClientID, u.Email, "/login/otp", nil)
	form := formOf(t, page.body, "/login/otp")
	code, _ := hs.mailCode(u.Email)
	// from is b's sign-in (its cookies) sent from another address.
	from := func(ip string) *browser {
		o := hs.browser(ip)
		o.jar = b.jar
		return o
	}
	for i := range 3 {
		expectPage(t, from(fmt.Sprintf("203.0.113.%d", 91+i)).post("/login/otp", with(form, "code", otherCode(code))),
			http.StatusUnauthorized, wrongCode(2))
	}
	expectPage(t, from("203.0.113.95").post("/login/otp", with(form, "code", code)), http.StatusUnauthorized, wrongCode(2))
	if hs.authRequest(id).Done {
		t.Fatal("the code was accepted after three wrong entries")
	}
	hs.clock.Advance(31 * time.Second) // the resend cooldown
	if resp := b.post("/login/otp/resend", formOf(t, page.body, "/login/otp/resend")); resp.status != http.StatusOK {
		t.Fatalf("resend = %d %q", resp.status, alert(resp.body))
	}
	fresh, _ := hs.mailCode(u.Email)
	hs.expectDone(b, id, b.post("/login/otp", with(form, "code", fresh)), amrEmail, ACREmail)
}
