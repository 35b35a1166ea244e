// Package storagetest is the conformance suite for storage.Store
// implementations. Each backend runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { … })
//	}
package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Run runs the conformance suite against the stores open returns. Every
// subtest calls open for a store of its own, and subtests run in parallel.
// open must return a new, empty, ready store and close it when t ends (with
// t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Store)
	}{
		{"Ping", testPing},

		{"UserRoundTrip", testUserRoundTrip},
		{"UserConflict", testUserConflict},
		{"UserNotFound", testUserNotFound},
		{"ListUsers", testListUsers},
		{"SearchUsers", testSearchUsers},
		{"SetClientDisabled", testSetClientDisabled},
		{"UserUpdates", testUserUpdates},
		{"SetUserDisabledOnce", testSetUserDisabled},
		{"SetEmailOTP", testSetEmailOTP},
		{"SetEmailVerified", testSetEmailVerified},
		{"SetEmail", testSetEmail},
		{"SetName", testSetName},
		{"SetUserAdmin", testSetUserAdmin},

		{"TOTPRoundTrip", testTOTPRoundTrip},
		{"PutTOTPReplacesEnrolment", testPutTOTPReplacesEnrolment},
		{"UseTOTPStep", testUseTOTPStep},
		{"UseTOTPStepGivenLastStep", testUseTOTPStepGivenLastStep},
		{"UseTOTPStepConcurrent", testUseTOTPStepConcurrent},
		{"UseTOTPStepEnrolmentConcurrent", testUseTOTPStepEnrolmentConcurrent},
		{"UseTOTPStepOfReplacedSecret", testUseTOTPStepOfReplacedSecret},
		{"DeleteTOTP", testDeleteTOTP},
		{"RemoveSecondFactors", testRemoveSecondFactors},

		{"IssueCode", testIssueCode},
		{"IssueCodeCooldown", testIssueCodeCooldown},
		{"IssueCodeConcurrent", testIssueCodeConcurrent},
		{"CodeExpiry", testCodeExpiry},
		{"UseCode", testUseCode},
		{"UseCodeConcurrent", testUseCodeConcurrent},
		{"VoidCodes", testVoidCodes},
		{"PendingCode", testPendingCode},
		{"PendingCodeConcurrent", testPendingCodeConcurrent},

		{"ActionTokenRoundTrip", testActionTokenRoundTrip},
		{"UseActionToken", testUseActionToken},
		{"ActionTokenExpiry", testActionTokenExpiry},
		{"UseActionTokenConcurrent", testUseActionTokenConcurrent},
		{"DeleteActionTokens", testDeleteActionTokens},
		{"SupersedeActionTokens", testSupersedeActionTokens},

		{"ReplaceRecoveryCodes", testReplaceRecoveryCodes},
		{"ReplaceRecoveryCodesConcurrent", testReplaceRecoveryCodesConcurrent},
		{"IssueFirstRecoveryCodes", testIssueFirstRecoveryCodes},
		{"UseRecoveryCode", testUseRecoveryCode},
		{"UseRecoveryCodeConcurrent", testUseRecoveryCodeConcurrent},

		{"EventRoundTrip", testEventRoundTrip},
		{"EventFields", testEventFields},
		{"EventFilters", testEventFilters},
		{"EventLimit", testEventLimit},

		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientConflict", testClientConflict},
		{"ClientNotFound", testClientNotFound},
		{"ListClients", testListClients},
		{"SetClientSecretHash", testSetClientSecretHash},
		{"DeleteClient", testDeleteClient},
		{"ClientAdmin", testClientAdmin},
		{"SetClientURIs", testSetClientURIs},
		{"SetClientMetadata", testSetClientMetadata},
		{"ClientChangesSeenAtOnce", testClientChangesSeenAtOnce},
		{"UseJTI", testUseJTI},
		{"UseJTIConcurrent", testUseJTIConcurrent},
		{"ClientJWTSecret", testClientJWTSecret},
		{"PushedRequest", testPushedRequest},
		{"PushedRequestConcurrent", testPushedRequestConcurrent},
		{"BackchannelEndSession", testBackchannelEndSession},
		{"BackchannelEndUserSessions", testBackchannelEndUserSessions},
		{"BackchannelReplaceSession", testBackchannelReplaceSession},
		{"RotateSession", testRotateSession},
		{"RotateSessionConcurrent", testRotateSessionConcurrent},
		{"BackchannelClaim", testBackchannelClaim},
		{"BackchannelClaimConcurrent", testBackchannelClaimConcurrent},
		{"ConsentGrants", testConsentGrants},
		{"GrantConsentConcurrent", testGrantConsentConcurrent},
		{"RevokeConsent", testRevokeConsent},
		{"AuthRequestConsented", testAuthRequestConsented},
		{"ConsentAuthRequestRacesDelete", testConsentAuthRequestRacesDelete},
		{"DenyAuthRequest", testDenyAuthRequest},
		{"DenyAuthRequestRacesConsent", testDenyAuthRequestRacesConsent},
		{"DPoPTokenRoundTrip", testDPoPTokenRoundTrip},
		{"DPoPConsumeAuthCode", testDPoPConsumeAuthCode},
		{"DPoPRotateRefreshToken", testDPoPRotateRefreshToken},
		{"DPoPAuthRequest", testDPoPAuthRequest},

		{"AuthRequestRoundTrip", testAuthRequestRoundTrip},
		{"AuthRequestConflict", testAuthRequestConflict},
		{"AuthRequestNotFound", testAuthRequestNotFound},
		{"ClaimAuthRequest", testClaimAuthRequest},
		{"AuthRequestProgress", testAuthRequestProgress},
		{"CompleteAuthRequestExpired", testCompleteAuthRequestExpired},
		{"CompleteSignIn", testCompleteSignIn},
		{"CompleteSignInConcurrent", testCompleteSignInConcurrent},
		{"CompleteSignInNotPending", testCompleteSignInNotPending},
		{"CompleteSignInExpired", testCompleteSignInExpired},
		{"CompleteSignInClaim", testCompleteSignInClaim},
		{"CompleteSignInStored", testCompleteSignInStored},
		{"CompleteSignInClaimConcurrent", testCompleteSignInClaimConcurrent},
		{"EndPendingSignIns", testEndPendingSignIns},
		{"DeleteAuthRequest", testDeleteAuthRequest},

		{"CodeGrant", testCodeGrant},
		{"UseAuthCode", testUseAuthCode},
		{"UseAuthCodeUnusable", testUseAuthCodeUnusable},
		{"UseAuthCodeConcurrent", testUseAuthCodeConcurrent},
		{"RedeemAuthCode", testRedeemAuthCode},
		{"RedeemAuthCodeUnusable", testRedeemAuthCodeUnusable},
		{"RedeemAuthCodeConcurrent", testRedeemAuthCodeConcurrent},
		{"UnrecordedRevoked", testUnrecordedRevoked},
		{"OddBytesNotFound", testOddBytesNotFound},
		{"AddWebAuthnCredentialLimit", testAddWebAuthnCredentialLimit},
		{"AddFirstWebAuthnCredential", testAddFirstWebAuthnCredential},
		{"ConsumeAuthCode", testConsumeAuthCode},
		{"ConsumeAuthCodeIssueFails", testConsumeAuthCodeIssueFails},
		{"AuthCodeReplayRevokesGrant", testAuthCodeReplayRevokesGrant},
		{"AuthCodeExpired", testAuthCodeExpired},
		{"AuthCodeUnknown", testAuthCodeUnknown},
		{"AuthCodeRequestDeleted", testAuthCodeRequestDeleted},
		{"AuthCodeConflict", testAuthCodeConflict},
		{"AuthCodeConcurrent", testAuthCodeConcurrent},

		{"AccessTokenRoundTrip", testAccessTokenRoundTrip},
		{"RevokeAccessToken", testRevokeAccessToken},

		{"RefreshTokenRoundTrip", testRefreshTokenRoundTrip},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateRefreshTokenReplay", testRotateRefreshTokenReplay},
		{"RotateRefreshTokenExpired", testRotateRefreshTokenExpired},
		{"RotateRefreshTokenConflict", testRotateRefreshTokenConflict},
		{"RotateRefreshTokenConcurrent", testRotateRefreshTokenConcurrent},
		{"RevokeGrant", testRevokeGrant},
		{"RevokeUserTokens", testRevokeUserTokens},

		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionConflict", testSessionConflict},
		{"SessionExpiry", testSessionExpiry},
		{"TouchSession", testTouchSession},
		{"EndSession", testEndSession},
		{"EndAllUserSessions", testEndAllUserSessions},
		{"UserSessions", testUserSessions},
		{"EndUserSessions", testEndUserSessions},

		{"SigningKeys", testSigningKeys},

		{"RecordFailure", testRecordFailure},
		{"RecordFailureWindow", testRecordFailureWindow},
		{"RecordFailureAfterBlock", testRecordFailureAfterBlock},
		{"RecordFailureMaxOne", testRecordFailureMaxOne},
		{"RecordFailureConcurrent", testRecordFailureConcurrent},
		{"Blocked", testBlocked},
		{"ResetFailures", testResetFailures},
		{"ReserveAttempt", testReserveAttempt},
		{"ReserveInFlight", testReserveInFlight},
		{"ReserveThroughWindow", testReserveThroughWindow},
		{"ReleaseAttempts", testReleaseAttempts},
		{"ReserveConcurrent", testReserveConcurrent},
		{"ReserveConcurrentFailures", testReserveConcurrentFailures},
		{"Blocks", testBlocks},
		{"ClearBlocks", testClearBlocks},
		{"ClearBlocksLiteral", testClearBlocksLiteral},
	}
	tests = append(tests, webauthnTests...)
	tests = append(tests, purgeTests...)
	tests = append(tests, blockCountTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testPing(t *testing.T, s storage.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// epoch returns the time every test counts from. It has millisecond
// precision, as stores keep times.
func epoch() time.Time {
	return time.Date(2026, time.July, 1, 12, 0, 0, 123_000_000, time.UTC)
}

// check fails t when err is not nil.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails t unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// wantEqual fails t unless got and want hold the same values. Times compare
// with time.Time.Equal after truncation to milliseconds; nil and empty
// slices, and nil and non-nil pointers, differ.
func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	diff(&diffs, "", reflect.ValueOf(got), reflect.ValueOf(want))
	if len(diffs) > 0 {
		t.Errorf("%s differs:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

func diff(diffs *[]string, path string, got, want reflect.Value) {
	if got.Type() != want.Type() {
		*diffs = append(*diffs, fmt.Sprintf("%s: type %v, want %v", path, got.Type(), want.Type()))
		return
	}
	if got.Type() == reflect.TypeFor[time.Time]() {
		g := got.Interface().(time.Time).Truncate(time.Millisecond)
		w := want.Interface().(time.Time).Truncate(time.Millisecond)
		if !g.Equal(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v, want %v", path, g, w))
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s: %v, want %v", path, got, want))
			}
			return
		}
		diff(diffs, path, got.Elem(), want.Elem())
	case reflect.Struct:
		for i := range got.NumField() {
			diff(diffs, path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))
		}
	case reflect.Slice:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			*diffs = append(*diffs, fmt.Sprintf("%s: %#v, want %#v", path, got, want))
			return
		}
		for i := range got.Len() {
			diff(diffs, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %#v, want %#v", path, got, want))
		}
	}
}

// concurrently calls fn n times at once and returns the errors.
func concurrently(n int, fn func() error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// count returns how many errs are nil and how many match any of targets,
// and fails t if some error is neither.
func count(t *testing.T, errs []error, targets ...error) (ok, matched int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case anyIs(err, targets):
			matched++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, matched
}

func anyIs(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// hash returns a 32-byte value derived from s, standing in for a SHA-256.
func hash(s string) []byte {
	b := make([]byte, 32)
	copy(b, s)
	b[31] = 0xff
	return b
}
