package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestSelectAccount covers prompt=select_account (OpenID Connect Core
// §3.1.2.1): with a session that would answer the request, the sign-in
// page offers to continue as the session's user above the password form,
// and nothing is done until the user chooses. Continuing completes the
// request from the session; a session that ended meanwhile leads back to
// the sign-in page; another account signs in with its password as ever.
func TestSelectAccount(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	u := hs.user("choose@example.com", nil)
	other := hs.user("other-account@example.com", nil)
	selectAccount := func(ar *storage.AuthRequest) { ar.Prompt = []string{"select_account"} }
	signedIn := func(t *testing.T, hs *harness) *browser {
		b := hs.browser("192.0.2.95")
		id, resp := hs.submitPassword(b, testClientID, u.Email, testPassword, nil)
		hs.expectDone(b, id, resp, amrPassword, ACRPassword)
		return b
	}
	// choosePage opens a select_account sign-in in b and checks that its
	// page offers the session's account.
	choosePage := func(t *testing.T, hs *harness, b *browser) (string, url.Values) {
		t.Helper()
		id := hs.authorize(b, testClientID, selectAccount)
		page := b.get("/login?authRequestID=" + url.QueryEscape(id))
		if page.status != http.StatusOK || !strings.Contains(page.body, u.Email) {
			t.Fatalf("select_account with a session = %d %q, want the page offering %s", page.status, page.loc, u.Email)
		}
		if hs.authRequest(id).Done {
			t.Fatal("the session answered a select_account request before the user chose")
		}
		formOf(t, page.body, "/login") // the password form, for another account
		return id, formOf(t, page.body, "/login/continue")
	}

	t.Run("continue as the session's user", func(t *testing.T) {
		hs := hs.in(t)
		b := signedIn(t, hs)
		id, form := choosePage(t, hs, b)
		hs.expectDone(b, id, b.post("/login/continue", form), amrPassword, ACRPassword)
	})
	t.Run("another account", func(t *testing.T) {
		hs := hs.in(t)
		b := signedIn(t, hs)
		id, _ := choosePage(t, hs, b)
		form := hs.signInForm(b, id, other.Email, testPassword)
		hs.expectDone(b, id, b.post("/login", form), amrPassword, ACRPassword)
		if ar := hs.authRequest(id); ar.UserID != other.ID {
			t.Errorf("the request was done for %s, want the other account %s", ar.UserID, other.ID)
		}
	})
	t.Run("the session ended meanwhile", func(t *testing.T) {
		hs := hs.in(t)
		b := signedIn(t, hs)
		id, form := choosePage(t, hs, b)
		if _, err := hs.store.EndUserSessions(t.Context(), u.ID, "", hs.clock.Now()); err != nil {
			t.Fatal(err)
		}
		resp := b.post("/login/continue", form)
		if resp.status != http.StatusSeeOther || resp.loc != "/login?authRequestID="+url.QueryEscape(id) {
			t.Errorf("continue after the session ended = %d %q, want the sign-in page", resp.status, resp.loc)
		}
		if hs.authRequest(id).Done {
			t.Error("an ended session answered the request")
		}
	})
	t.Run("another browser's post", func(t *testing.T) {
		hs := hs.in(t)
		b := signedIn(t, hs)
		id, form := choosePage(t, hs, b)
		intruder := hs.browser("203.0.113.95")
		if resp := intruder.post("/login/continue", form); resp.status < 400 {
			t.Errorf("another browser's continue = %d %q, want refused", resp.status, resp.loc)
		}
		if hs.authRequest(id).Done {
			t.Error("another browser's post completed the request")
		}
	})
	t.Run("no session", func(t *testing.T) {
		hs := hs.in(t)
		b := hs.browser("192.0.2.96")
		id := hs.authorize(b, testClientID, selectAccount)
		page := b.get("/login?authRequestID=" + url.QueryEscape(id))
		if page.status != http.StatusOK || strings.Contains(page.body, "/login/continue") {
			t.Errorf("select_account without a session = %d, want the password form alone", page.status)
		}
	})
}
