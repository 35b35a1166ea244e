package storagetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// signInEnd is the completion of the request id by u1 in the new session
// sid, using use.
func signInEnd(id, sid string, use *storage.FactorUse) *storage.SignInCompletion {
	sess := newSession(sid, "u1", epoch().Add(time.Minute))
	sess.AMR = []string{"pwd", "otp", "mfa"}
	return &storage.SignInCompletion{Session: sess, RequestID: id, ClientID: "c1", ACR: "urn:mfa", Use: use,
		Now: epoch().Add(time.Minute)}
}

// wantSignedIn checks that c is written: the request done for its
// session's user, the session and its grant.
func wantSignedIn(t *testing.T, s storage.Store, c *storage.SignInCompletion) {
	t.Helper()
	ctx := t.Context()
	ar, err := s.AuthRequestByID(ctx, c.RequestID)
	check(t, err)
	if !ar.Done || ar.UserID != c.Session.UserID || !ar.AuthTime.Equal(c.Session.AuthTime) || ar.ACR != c.ACR ||
		fmt.Sprint(ar.AMR) != fmt.Sprint(c.Session.AMR) {
		t.Errorf("request %s after CompleteSignIn: done %v, user %q, auth time %v, amr %v, acr %q", c.RequestID,
			ar.Done, ar.UserID, ar.AuthTime, ar.AMR, ar.ACR)
	}
	got, err := s.SessionByID(ctx, c.Session.ID, c.Now)
	check(t, err)
	wantEqual(t, "session of CompleteSignIn", got, c.Session)
	sid, err := s.GrantSession(ctx, c.RequestID)
	check(t, err)
	if sid != c.Session.ID {
		t.Errorf("GrantSession(%s) = %q, want %q", c.RequestID, sid, c.Session.ID)
	}
}

// wantNotSignedIn checks that nothing of c is written: the request is
// not done, and neither the session nor the grant exist.
func wantNotSignedIn(t *testing.T, s storage.Store, what string, c *storage.SignInCompletion) {
	t.Helper()
	ctx := t.Context()
	if ar, err := s.AuthRequestByID(ctx, c.RequestID); err == nil && ar.Done {
		t.Errorf("%s: request %s done", what, c.RequestID)
	}
	if _, err := s.SessionByID(ctx, c.Session.ID, c.Now); err == nil {
		t.Errorf("%s: session %s created", what, c.Session.ID)
	}
	if _, err := s.GrantSession(ctx, c.RequestID); err == nil {
		t.Errorf("%s: session grant of %s recorded", what, c.RequestID)
	}
}

// testCompleteSignIn checks CompleteSignIn with each kind of code: it
// writes everything, and when the code was used already, or the request
// is done or unknown, or the session cannot be stored, nothing, the code
// staying unused.
func testCompleteSignIn(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 9 {
		pendingSignIn(t, s, fmt.Sprintf("ar%d", i), "u1")
	}
	tt := confirmTOTP(t, s, "u1", 1000)
	step := func(n int64) *storage.FactorUse {
		return &storage.FactorUse{TOTPSecret: tt.Secret, TOTPStep: n}
	}

	// A request done already, or unknown: the step stays unused.
	check(t, s.CompleteAuthRequest(ctx, "ar8", "u1", epoch(), []string{"pwd"}, "", epoch()))
	for _, id := range []string{"ar8", "nope"} {
		c := signInEnd(id, "s-"+id, step(1001))
		wantErr(t, "CompleteSignIn of "+id, s.CompleteSignIn(ctx, c), storage.ErrConflict)
		if _, err := s.SessionByID(ctx, c.Session.ID, c.Now); err == nil {
			t.Errorf("CompleteSignIn of %s created its session", id)
		}
	}
	wantTOTP(t, s, "TOTPByUser after refused completions", tt)
	// A session that cannot be stored (its id is taken): the step stays
	// unused and the request not done.
	check(t, s.CreateSession(ctx, newSession("taken", "u1", epoch())))
	taken := signInEnd("ar0", "taken", step(1001))
	if err := s.CompleteSignIn(ctx, taken); err == nil {
		t.Fatal("CompleteSignIn with a taken session id succeeded")
	}
	if ar, err := s.AuthRequestByID(ctx, "ar0"); err != nil || ar.Done {
		t.Errorf("request after a failed CompleteSignIn: %v, done %v", err, ar != nil && ar.Done)
	}
	wantTOTP(t, s, "TOTPByUser after a failed completion", tt)

	// The step is used with the rest, once.
	c := signInEnd("ar0", "s0", step(1001))
	check(t, s.CompleteSignIn(ctx, c))
	wantSignedIn(t, s, c)
	tt.LastStep = 1001
	wantTOTP(t, s, "TOTPByUser after CompleteSignIn", tt)
	replay := signInEnd("ar1", "s1", step(1001))
	wantErr(t, "CompleteSignIn with a used step", s.CompleteSignIn(ctx, replay), storage.ErrReplayed)
	wantNotSignedIn(t, s, "CompleteSignIn with a used step", replay)
	other := signInEnd("ar1", "s1", &storage.FactorUse{TOTPSecret: []byte("sealed:replaced"), TOTPStep: 1002})
	wantErr(t, "CompleteSignIn with another secret", s.CompleteSignIn(ctx, other), storage.ErrNotFound)
	wantNotSignedIn(t, s, "CompleteSignIn with another secret", other)

	// An emailed code: used once, and only by its user.
	setupUsers(t, s, "u2")
	code := newCode("c1", epoch())
	code.Binding = "ar2"
	check(t, s.IssueCode(ctx, code, cooldown, epoch()))
	theirs := newCode("c2", epoch())
	theirs.UserID = "u2"
	check(t, s.IssueCode(ctx, theirs, cooldown, epoch()))
	notMine := signInEnd("ar2", "s2", &storage.FactorUse{CodeID: "c2"})
	wantErr(t, "CompleteSignIn with another user's code", s.CompleteSignIn(ctx, notMine), storage.ErrNotFound)
	wantNotSignedIn(t, s, "CompleteSignIn with another user's code", notMine)
	c = signInEnd("ar2", "s2", &storage.FactorUse{CodeID: "c1"})
	check(t, s.CompleteSignIn(ctx, c))
	wantSignedIn(t, s, c)
	wantNoLatest(t, s, "LatestCode after CompleteSignIn", "u1", "signin", "ar2", c.Now)
	wantLatest(t, s, "LatestCode of another user", theirs, c.Now)
	replay = signInEnd("ar3", "s3", &storage.FactorUse{CodeID: "c1"})
	wantErr(t, "CompleteSignIn with a used code", s.CompleteSignIn(ctx, replay), storage.ErrReplayed)
	wantNotSignedIn(t, s, "CompleteSignIn with a used code", replay)

	// A recovery code: used once.
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", recoveryHashes("r", 2), epoch()))
	c = signInEnd("ar4", "s4", &storage.FactorUse{RecoveryHash: hash("r0")})
	check(t, s.CompleteSignIn(ctx, c))
	wantSignedIn(t, s, c)
	wantCodesLeft(t, s, "after CompleteSignIn", "u1", 1)
	replay = signInEnd("ar5", "s5", &storage.FactorUse{RecoveryHash: hash("r0")})
	wantErr(t, "CompleteSignIn with a used recovery code", s.CompleteSignIn(ctx, replay), storage.ErrNotFound)
	wantNotSignedIn(t, s, "CompleteSignIn with a used recovery code", replay)
	wantCodesLeft(t, s, "after a refused CompleteSignIn", "u1", 1)

	// No code: the password alone.
	c = signInEnd("ar6", "s6", nil)
	check(t, s.CompleteSignIn(ctx, c))
	wantSignedIn(t, s, c)
}

// testCompleteSignInConcurrent: of 20 completions at once of one request
// with one TOTP step, exactly one succeeds and one session is created; of
// 20 of as many requests with one step, exactly one.
func testCompleteSignInConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 20 {
		pendingSignIn(t, s, fmt.Sprintf("ar%d", i), "u1")
	}
	tt := confirmTOTP(t, s, "u1", 1000)
	now := epoch().Add(time.Minute)
	for _, sameRequest := range []bool{true, false} {
		step := int64(1001)
		if !sameRequest {
			step = 1002
		}
		var n atomic.Int32
		errs := concurrently(20, func() error {
			i := n.Add(1) - 1
			id := "ar0"
			if !sameRequest {
				id = fmt.Sprintf("ar%d", i)
			}
			return s.CompleteSignIn(ctx, signInEnd(id, fmt.Sprintf("s%d-%d", step, i), &storage.FactorUse{TOTPSecret: tt.Secret, TOTPStep: step}))
		})
		ok, lost := count(t, errs, storage.ErrReplayed, storage.ErrConflict)
		if ok != 1 || lost != 19 {
			t.Errorf("20 CompleteSignIn at once (one request: %v) with one step: %d succeeded, %d refused; want 1 and 19", sameRequest, ok, lost)
		}
		if sameRequest {
			sessions, err := s.UserSessions(ctx, "u1", now)
			check(t, err)
			if len(sessions) != 1 {
				t.Errorf("20 CompleteSignIn at once of one request: %d sessions, want 1", len(sessions))
			}
		}
	}
	sessions, err := s.UserSessions(ctx, "u1", now)
	check(t, err)
	if len(sessions) != 2 {
		t.Errorf("after the two bursts: %d sessions, want 2", len(sessions))
	}
	tt.LastStep = 1002
	wantTOTP(t, s, "TOTPByUser after the bursts", tt)
}

// pendingSignIn creates the auth request id past its password step for
// userID (SetAuthRequestUser), as CompleteSignIn finds a sign-in it ends.
func pendingSignIn(t *testing.T, s storage.Store, id, userID string) {
	t.Helper()
	setupAuthRequest(t, s, id)
	check(t, s.SetAuthRequestUser(t.Context(), id, userID))
}

// testCompleteSignInNotPending: CompleteSignIn ends only the session
// user's pending sign-in. A request whose user EndPendingSignIns cleared
// (the password changed, or an administrator signed the user out, after
// the code was checked), a request pending for another user, and one with
// no user yet give ErrConflict, and nothing is written: no session, the
// request not done, the code unused.
func testCompleteSignInNotPending(t *testing.T, s storage.Store) {
	ctx := t.Context()
	pendingSignIn(t, s, "ended", "u1")
	check(t, s.CreateUser(ctx, newUser("u2", "bob@example.com", epoch())))
	pendingSignIn(t, s, "bobs", "u2")
	setupAuthRequest(t, s, "nobody")
	tt := confirmTOTP(t, s, "u1", 1000)
	check(t, s.EndPendingSignIns(ctx, "u1"))
	for _, id := range []string{"ended", "bobs", "nobody"} {
		c := signInEnd(id, "s-"+id, &storage.FactorUse{TOTPSecret: tt.Secret, TOTPStep: 1001})
		wantErr(t, "CompleteSignIn of "+id, s.CompleteSignIn(ctx, c), storage.ErrConflict)
		if _, err := s.SessionByID(ctx, c.Session.ID, c.Now); err == nil {
			t.Errorf("CompleteSignIn of %s created its session", id)
		}
		ar, err := s.AuthRequestByID(ctx, id)
		check(t, err)
		if ar.Done || ar.UserID == "u1" {
			t.Errorf("request %s after a refused CompleteSignIn: done %v, user %q", id, ar.Done, ar.UserID)
		}
	}
	wantTOTP(t, s, "TOTPByUser after refused completions", tt)
}

// testCompleteSignInExpired: CompleteSignIn ends only a request still
// live at the completion's time (c.Now, not the database's clock): a
// request whose ExpiresAt is at or before c.Now gives ErrConflict, as an
// ended one does, and nothing is written: no session, no grant, the
// request not done, and its code (a TOTP step, an emailed code, a
// recovery code) unused. The same completion a moment before the expiry
// succeeds.
func testCompleteSignInExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"totp", "email", "recovery", "none", "live"} {
		pendingSignIn(t, s, id, "u1")
	}
	tt := confirmTOTP(t, s, "u1", 1000)
	code := newCode("c1", epoch())
	code.Binding = "email"
	expiry := newAuthRequest("", "c1", epoch()).ExpiresAt
	code.ExpiresAt = expiry.Add(2 * time.Hour) // live past the request
	check(t, s.IssueCode(ctx, code, cooldown, epoch()))
	check(t, s.ReplaceRecoveryCodes(ctx, "u1", recoveryHashes("r", 1), epoch()))

	tests := []struct {
		id  string
		use *storage.FactorUse
	}{
		{"totp", &storage.FactorUse{TOTPSecret: tt.Secret, TOTPStep: 1001}},
		{"email", &storage.FactorUse{CodeID: "c1"}},
		{"recovery", &storage.FactorUse{RecoveryHash: hash("r0")}},
		{"none", nil},
	}
	for _, tc := range tests {
		for _, now := range []time.Time{expiry, expiry.Add(time.Millisecond), expiry.Add(time.Hour)} {
			c := signInEnd(tc.id, fmt.Sprintf("s-%s-%d", tc.id, now.UnixMilli()), tc.use)
			c.Now = now
			what := fmt.Sprintf("CompleteSignIn of %s at its expiry %+v", tc.id, now.Sub(expiry))
			wantErr(t, what, s.CompleteSignIn(ctx, c), storage.ErrConflict)
			wantNotSignedIn(t, s, what, c)
		}
	}
	wantTOTP(t, s, "TOTPByUser after expired completions", tt)
	wantLatest(t, s, "LatestCode after expired completions", code, expiry)
	wantCodesLeft(t, s, "after expired completions", "u1", 1)

	// A moment before the expiry, the request is still live.
	live := signInEnd("live", "s-live", &storage.FactorUse{TOTPSecret: tt.Secret, TOTPStep: 1001})
	live.Now = expiry.Add(-time.Millisecond)
	check(t, s.CompleteSignIn(ctx, live))
	wantSignedIn(t, s, live)
}

// testCompleteSignInClaim: a completion that identified the user itself
// (Claim: a password alone, a passkey) completes the live request not
// done whichever user, if any, it was pending for, naming the session's
// user; a request done already, unknown or expired at c.Now gives
// ErrConflict and nothing is written.
func testCompleteSignInClaim(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "nobody")
	setupUsers(t, s, "u2")
	pendingSignIn(t, s, "bobs", "u2")
	pendingSignIn(t, s, "ended", "u1")
	check(t, s.EndPendingSignIns(ctx, "u1"))
	pendingSignIn(t, s, "done", "u1")
	check(t, s.CompleteAuthRequest(ctx, "done", "u1", epoch(), []string{"pwd"}, "", epoch()))
	setupAuthRequest(t, s, "expired")
	expiry := newAuthRequest("", "c1", epoch()).ExpiresAt

	for _, id := range []string{"done", "nope", "expired"} {
		c := signInEnd(id, "s-"+id, nil)
		c.Claim = true
		if id == "expired" {
			c.Now = expiry
		}
		wantErr(t, "CompleteSignIn (claim) of "+id, s.CompleteSignIn(ctx, c), storage.ErrConflict)
		if id == "done" {
			if _, err := s.SessionByID(ctx, c.Session.ID, c.Now); err == nil {
				t.Errorf("CompleteSignIn (claim) of %s created its session", id)
			}
			continue
		}
		wantNotSignedIn(t, s, "CompleteSignIn (claim) of "+id, c)
	}
	if ar, err := s.AuthRequestByID(ctx, "expired"); err != nil || ar.UserID != "" {
		t.Errorf("the expired request after a refused claim: %v, user %q", err, ar.UserID)
	}
	for _, id := range []string{"nobody", "bobs", "ended"} {
		c := signInEnd(id, "s-"+id, nil)
		c.Claim = true
		check(t, s.CompleteSignIn(ctx, c))
		wantSignedIn(t, s, c)
	}
}

// testCompleteSignInStored: the completion of a request by a session that
// is stored already (single sign-on) does the request, pending for no
// user, for the session's user, and records the session grant, creating
// no session; a session ended meanwhile gives ErrNotFound and an expired
// or done request ErrConflict, and then nothing is written; a stored
// session with a code's use is refused.
func testCompleteSignInStored(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"live", "ended", "expired", "done", "withcode"} {
		setupAuthRequest(t, s, id)
	}
	check(t, s.CompleteAuthRequest(ctx, "done", "u1", epoch(), []string{"pwd"}, "", epoch()))
	expiry := newAuthRequest("", "c1", epoch()).ExpiresAt
	sess := newSession("sso", "u1", epoch())
	check(t, s.CreateSession(ctx, sess))
	gone := newSession("gone", "u1", epoch())
	check(t, s.CreateSession(ctx, gone))
	check(t, s.EndSession(ctx, "gone", epoch()))

	stored := func(id string, sess *storage.Session) *storage.SignInCompletion {
		return &storage.SignInCompletion{Session: sess, RequestID: id, ClientID: "c1", ACR: "urn:sso",
			Now: epoch().Add(time.Minute), Stored: true}
	}
	refused := func(what string, c *storage.SignInCompletion, target error) {
		t.Helper()
		wantErr(t, what, s.CompleteSignIn(ctx, c), target)
		if ar, err := s.AuthRequestByID(ctx, c.RequestID); err == nil && (ar.Done != (c.RequestID == "done") || ar.UserID != map[bool]string{true: "u1"}[ar.Done]) {
			t.Errorf("%s: request %s done %v, user %q", what, c.RequestID, ar.Done, ar.UserID)
		}
		if sid, err := s.GrantSession(ctx, c.RequestID); err == nil {
			t.Errorf("%s: session grant of %s recorded (session %s)", what, c.RequestID, sid)
		}
	}
	refused("CompleteSignIn with an ended session", stored("ended", gone), storage.ErrNotFound)
	late := stored("expired", sess)
	late.Now = expiry
	refused("CompleteSignIn with a stored session of an expired request", late, storage.ErrConflict)
	refused("CompleteSignIn with a stored session of a done request", stored("done", sess), storage.ErrConflict)
	withCode := stored("withcode", sess)
	withCode.Use = &storage.FactorUse{CodeID: "c1"}
	if err := s.CompleteSignIn(ctx, withCode); err == nil {
		t.Error("CompleteSignIn with a stored session and a code's use succeeded")
	}

	c := stored("live", sess)
	check(t, s.CompleteSignIn(ctx, c))
	wantSignedIn(t, s, c) // the session as it was stored
	sessions, err := s.UserSessions(ctx, "u1", c.Now)
	check(t, err)
	if len(sessions) != 1 {
		t.Errorf("%d sessions after CompleteSignIn with a stored session, want 1", len(sessions))
	}
}

// testCompleteSignInClaimConcurrent: of 20 completions at once of one
// request without a code, each identifying the user itself (Claim, a new
// session each) or by one stored session (Stored), exactly one succeeds:
// one new session, one grant.
func testCompleteSignInClaimConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "claimed")
	setupAuthRequest(t, s, "sso")
	sso := newSession("sso", "u1", epoch())
	check(t, s.CreateSession(ctx, sso))
	now := epoch().Add(time.Minute)
	var n atomic.Int32
	errs := concurrently(20, func() error {
		c := signInEnd("claimed", fmt.Sprintf("s%d", n.Add(1)), nil)
		c.Claim = true
		return s.CompleteSignIn(ctx, c)
	})
	if ok, lost := count(t, errs, storage.ErrConflict); ok != 1 || lost != 19 {
		t.Errorf("20 CompleteSignIn (claim) at once of one request: %d succeeded, %d refused; want 1 and 19", ok, lost)
	}
	sessions, err := s.UserSessions(ctx, "u1", now)
	check(t, err)
	if len(sessions) != 2 { // sso and the winner's
		t.Errorf("after 20 CompleteSignIn (claim) at once of one request: %d sessions, want 2", len(sessions))
	}
	errs = concurrently(20, func() error {
		return s.CompleteSignIn(ctx, &storage.SignInCompletion{Session: sso, RequestID: "sso", ClientID: "c1",
			ACR: "urn:sso", Now: now, Stored: true})
	})
	if ok, lost := count(t, errs, storage.ErrConflict); ok != 1 || lost != 19 {
		t.Errorf("20 CompleteSignIn (stored session) at once of one request: %d succeeded, %d refused; want 1 and 19", ok, lost)
	}
	if sid, err := s.GrantSession(ctx, "sso"); err != nil || sid != "sso" {
		t.Errorf("GrantSession(sso) = %q, %v; want sso", sid, err)
	}
}
