package login

import (
	"net/http"
	"testing"
)

// TestEndSessionFromAccount covers the account page's session list: "Sign
// out" ends only the named session and only one of the user's own (another
// user's session id is ignored), "Sign out everywhere else" keeps the
// browser's own, and the cookie of an ended session signs nobody in.
func TestEndSessionFromAccount(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.user("alice-s@example.com", nil)
	hs.user("bob-s@example.com", nil)
	a1, a2, a3 := hs.browser("192.0.2.120"), hs.browser("192.0.2.121"), hs.browser("192.0.2.122")
	bob := hs.browser("192.0.2.123")
	for _, b := range []*browser{a1, a2, a3} {
		hs.signInPassword(b, testClientID, "alice-s@example.com")
	}
	hs.signInPassword(bob, testClientID, "bob-s@example.com")
	signedIn := func(b *browser) bool { return b.get("/account").status == http.StatusOK }
	replayed := func(value string) bool {
		x := hs.browser("192.0.2.124")
		x.jar.SetCookies(baseURL, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
		return signedIn(x)
	}

	form := formOf(t, a1.get("/account").body, "/account/sessions/end-others")
	expectRedirect(t, a1.post("/account/sessions/end", with(form, "session", sessionID(bob.cookie(sessionCookie)))), "/account?done=session")
	if !signedIn(bob) {
		t.Error("alice ended bob's session")
	}
	a2Cookie := a2.cookie(sessionCookie)
	expectRedirect(t, a1.post("/account/sessions/end", with(form, "session", sessionID(a2Cookie))), "/account?done=session")
	if signedIn(a2) || replayed(a2Cookie) || !signedIn(a1) || !signedIn(a3) {
		t.Errorf("after ending a2: a1 %v, a2 %v (its cookie %v), a3 %v, want only a2 ended",
			signedIn(a1), signedIn(a2), replayed(a2Cookie), signedIn(a3))
	}
	a3Cookie := a3.cookie(sessionCookie)
	expectRedirect(t, a1.post("/account/sessions/end-others", form), "/account?done=others")
	if replayed(a3Cookie) || !signedIn(a1) || !signedIn(bob) {
		t.Errorf("after signing out everywhere else: a3's cookie %v, a1 %v, bob %v", replayed(a3Cookie), signedIn(a1), signedIn(bob))
	}
}
