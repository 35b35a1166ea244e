package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newAuthRequest(id, clientID string, created time.Time) *storage.AuthRequest {
	return &storage.AuthRequest{
		ID:                  id,
		ClientID:            clientID,
		RedirectURI:         "https://" + clientID + ".example.com/callback",
		Scopes:              []string{"openid", "email"},
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		ResponseType:        "code",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		CreatedAt:           created,
		ExpiresAt:           created.Add(30 * time.Minute),
	}
}

// setupAuthRequest stores a client c1, a user u1 and the request newAuthRequest(id, "c1", epoch()).
func setupAuthRequest(t *testing.T, s storage.Store, id string) *storage.AuthRequest {
	t.Helper()
	ctx := t.Context()
	if _, err := s.ClientByID(ctx, "c1"); err != nil {
		check(t, s.CreateClient(ctx, newClient("c1", epoch())))
		check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	}
	ar := newAuthRequest(id, "c1", epoch())
	check(t, s.CreateAuthRequest(ctx, ar))
	return ar
}

func testAuthRequestRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateClient(ctx, newClient("c1", epoch())))
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	maxAge := 300 * time.Second
	var zero time.Duration
	for _, ar := range []*storage.AuthRequest{
		{
			ID:                  "full",
			ClientID:            "c1",
			RedirectURI:         "https://c1.example.com/callback",
			Scopes:              []string{"openid", "profile", "email", "offline_access"},
			State:               "xyz",
			Nonce:               "n-0S6_WzA2Mj",
			ResponseType:        "code",
			ResponseMode:        "form_post",
			CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			CodeChallengeMethod: "S256",
			Prompt:              []string{"login", "consent"},
			MaxAge:              &maxAge,
			LoginHint:           "alice@example.com",
			UILocales:           []string{"de-CH", "en"},
			ACRValues:           []string{"urn:mfa"},
			HintSubject:         "u1",
			BindingHash:         hash("cookie"),
			UserID:              "u1",
			AuthTime:            epoch().Add(-time.Minute),
			AMR:                 []string{"pwd", "otp", "mfa"},
			ACR:                 "urn:mfa",
			Done:                true,
			CreatedAt:           epoch(),
			ExpiresAt:           epoch().Add(30 * time.Minute),
		},
		{
			// Nothing optional set: nil lists, nil MaxAge, no binding, no user.
			ID:           "minimal",
			ClientID:     "c1",
			RedirectURI:  "https://c1.example.com/callback",
			ResponseType: "code",
			CreatedAt:    epoch(),
			ExpiresAt:    epoch().Add(30 * time.Minute),
		},
		{
			// max_age=0 differs from no max_age.
			ID:          "max-age-zero",
			ClientID:    "c1",
			Scopes:      []string{},
			Prompt:      []string{},
			MaxAge:      &zero,
			UILocales:   []string{},
			ACRValues:   []string{},
			AMR:         []string{},
			BindingHash: nil,
			CreatedAt:   epoch(),
			ExpiresAt:   epoch().Add(30 * time.Minute),
		},
		{
			// An expired request is still returned.
			ID:        "expired",
			ClientID:  "c1",
			CreatedAt: epoch().Add(-time.Hour),
			ExpiresAt: epoch().Add(-30 * time.Minute),
		},
	} {
		check(t, s.CreateAuthRequest(ctx, ar))
		got, err := s.AuthRequestByID(ctx, ar.ID)
		check(t, err)
		wantEqual(t, "AuthRequestByID("+ar.ID+")", got, ar)
	}
}

func testAuthRequestConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	err := s.CreateAuthRequest(ctx, newAuthRequest("ar1", "c1", epoch()))
	wantErr(t, "CreateAuthRequest with a taken id", err, storage.ErrConflict)
	err = s.CreateAuthRequest(ctx, newAuthRequest("ar2", "no-such-client", epoch()))
	wantErr(t, "CreateAuthRequest for an unknown client", err, storage.ErrNotFound)
}

func testAuthRequestNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	_, err := s.AuthRequestByID(ctx, "nope")
	wantErr(t, "AuthRequestByID", err, storage.ErrNotFound)
	err = s.ClaimAuthRequest(ctx, "nope", hash("cookie"))
	wantErr(t, "ClaimAuthRequest", err, storage.ErrNotFound)
	err = s.SetAuthRequestUser(ctx, "nope", "u1")
	wantErr(t, "SetAuthRequestUser", err, storage.ErrNotFound)
	err = s.CompleteAuthRequest(ctx, "nope", "u1", epoch(), []string{"pwd"}, "", epoch())
	wantErr(t, "CompleteAuthRequest", err, storage.ErrNotFound)
	err = s.DeleteAuthRequest(ctx, "nope")
	wantErr(t, "DeleteAuthRequest", err, storage.ErrNotFound)
}

func testClaimAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar0") // the client and the user
	ar := newAuthRequest("ar1", "c1", epoch())
	ar.BindingHash = hash("cookie")
	check(t, s.CreateAuthRequest(ctx, ar))

	err := s.ClaimAuthRequest(ctx, "ar1", hash("cookie"))
	wantErr(t, "ClaimAuthRequest before the request is done", err, storage.ErrConflict)
	check(t, s.CompleteAuthRequest(ctx, "ar1", "u1", epoch(), []string{"pwd"}, "urn:gatehouse:loa:1", epoch()))
	err = s.ClaimAuthRequest(ctx, "ar1", hash("another cookie"))
	wantErr(t, "ClaimAuthRequest with another binding", err, storage.ErrConflict)

	// Parallel claims of the right browser: exactly one wins.
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			switch err := s.ClaimAuthRequest(ctx, "ar1", hash("cookie")); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, storage.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("ClaimAuthRequest: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 19 {
		t.Errorf("20 parallel claims: %d won and %d conflicted, want 1 and 19", wins.Load(), conflicts.Load())
	}
	err = s.ClaimAuthRequest(ctx, "ar1", hash("cookie"))
	wantErr(t, "ClaimAuthRequest again", err, storage.ErrConflict)
}

func testAuthRequestProgress(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := setupAuthRequest(t, s, "ar1")
	check(t, s.SetAuthRequestUser(ctx, "ar1", "u1"))
	got, err := s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	ar.UserID = "u1"
	wantEqual(t, "auth request after SetAuthRequestUser", got, ar)
	if got.Done {
		t.Error("SetAuthRequestUser marked the request done")
	}

	authTime := epoch().Add(2 * time.Minute)
	check(t, s.CompleteAuthRequest(ctx, "ar1", "u1", authTime, []string{"pwd", "otp", "mfa"}, "urn:mfa", epoch()))
	got, err = s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	ar.Done, ar.AuthTime, ar.AMR, ar.ACR = true, authTime, []string{"pwd", "otp", "mfa"}, "urn:mfa"
	wantEqual(t, "auth request after CompleteAuthRequest", got, ar)

	err = s.SetAuthRequestUser(ctx, "ar1", "no-such-user")
	wantErr(t, "SetAuthRequestUser with an unknown user", err, storage.ErrNotFound)
}

// testCompleteAuthRequestExpired: CompleteAuthRequest completes only a
// request still live at now (the caller's clock, not the database's), as
// CompleteSignIn does: at or after its ExpiresAt it gives ErrConflict and
// the request stays as it was, pending (a user known from the password
// step or not) or done already. A moment before the expiry it completes.
func testCompleteAuthRequestExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	pending := setupAuthRequest(t, s, "ar1")
	known := setupAuthRequest(t, s, "ar2")
	check(t, s.SetAuthRequestUser(ctx, "ar2", "u1"))
	known.UserID = "u1"
	done := setupAuthRequest(t, s, "ar3")
	check(t, s.CompleteAuthRequest(ctx, "ar3", "u1", epoch(), []string{"pwd"}, "urn:pwd", epoch()))
	done.UserID, done.Done, done.AuthTime, done.AMR, done.ACR = "u1", true, epoch(), []string{"pwd"}, "urn:pwd"

	expiry := pending.ExpiresAt
	for _, ar := range []*storage.AuthRequest{pending, known, done} {
		for _, now := range []time.Time{expiry, expiry.Add(time.Millisecond), expiry.Add(time.Hour)} {
			what := fmt.Sprintf("CompleteAuthRequest(%s) at its expiry %+v", ar.ID, now.Sub(expiry))
			err := s.CompleteAuthRequest(ctx, ar.ID, "u1", now, []string{"pwd", "otp", "mfa"}, "urn:mfa", now)
			wantErr(t, what, err, storage.ErrConflict)
			got, err := s.AuthRequestByID(ctx, ar.ID)
			check(t, err)
			wantEqual(t, "auth request after the refused "+what, got, ar)
		}
	}

	// A moment before the expiry, the request is still live.
	authTime := expiry.Add(-time.Millisecond)
	check(t, s.CompleteAuthRequest(ctx, "ar1", "u1", authTime, []string{"pwd"}, "urn:pwd", authTime))
	got, err := s.AuthRequestByID(ctx, "ar1")
	check(t, err)
	pending.UserID, pending.Done, pending.AuthTime, pending.AMR, pending.ACR = "u1", true, authTime, []string{"pwd"}, "urn:pwd"
	wantEqual(t, "auth request completed a moment before its expiry", got, pending)
}

// testEndPendingSignIns checks that the user's requests not done lose
// their user, that those done are gone with their codes, which then
// cannot be exchanged, and that another user's requests are left alone.
func testEndPendingSignIns(t *testing.T, s storage.Store) {
	ctx := t.Context()
	pending := setupAuthRequest(t, s, "ar1")
	setupAuthRequest(t, s, "ar2")
	other := setupAuthRequest(t, s, "ar3")
	check(t, s.CreateUser(ctx, newUser("u2", "bob@example.com", epoch())))
	check(t, s.SetAuthRequestUser(ctx, "ar1", "u1"))
	authTime := epoch().Add(time.Minute)
	check(t, s.CompleteAuthRequest(ctx, "ar2", "u1", authTime, []string{"pwd"}, "urn:pwd", epoch()))
	check(t, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hash("code2"), AuthRequestID: "ar2", ExpiresAt: epoch().Add(time.Hour)}))
	check(t, s.SetAuthRequestUser(ctx, "ar3", "u2"))

	check(t, s.EndPendingSignIns(ctx, "u1"))
	other.UserID = "u2"
	for _, want := range []*storage.AuthRequest{pending, other} {
		got, err := s.AuthRequestByID(ctx, want.ID)
		check(t, err)
		wantEqual(t, "auth request "+want.ID+" after EndPendingSignIns(u1)", got, want)
	}
	_, err := s.AuthRequestByID(ctx, "ar2")
	wantErr(t, "the done request after EndPendingSignIns(u1)", err, storage.ErrNotFound)
	_, _, _, err = s.RedeemAuthCode(ctx, hash("code2"), "c1", epoch(), func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		t.Error("issue called for the code of an ended sign-in")
		return nil, nil, nil
	})
	wantErr(t, "the code of the done request after EndPendingSignIns(u1)", err, storage.ErrNotFound)
	check(t, s.EndPendingSignIns(ctx, "nobody"))
}

func testDeleteAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	setupAuthRequest(t, s, "ar1")
	setupAuthRequest(t, s, "ar2")
	check(t, s.DeleteAuthRequest(ctx, "ar1"))
	_, err := s.AuthRequestByID(ctx, "ar1")
	wantErr(t, "AuthRequestByID after DeleteAuthRequest", err, storage.ErrNotFound)
	err = s.DeleteAuthRequest(ctx, "ar1")
	wantErr(t, "DeleteAuthRequest again", err, storage.ErrNotFound)
	_, err = s.AuthRequestByID(ctx, "ar2")
	check(t, err)
}
