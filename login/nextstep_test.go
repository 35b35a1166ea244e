package login

import (
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestNextStep has one case a row of the transition table in doc.go, in
// its order.
func TestNextStep(t *testing.T) {
	t.Parallel()
	var (
		none     = factorSet{}
		app      = factorSet{TOTP: true}
		email    = factorSet{Email: true}
		keys     = factorSet{Keys: true}
		appEmail = factorSet{TOTP: true, Email: true}
		emailKey = factorSet{Email: true, Keys: true}

		open      = requestPolicy{EmailAccepted: true}                                      // loa:1, nothing required
		required  = requestPolicy{MFARequired: true, EmailAccepted: true}                   // --require-mfa or loa:1:email
		loa2      = requestPolicy{MFARequired: true}                                        // no emailed codes
		loa3      = requestPolicy{MFARequired: true, KeyRequired: true}                     // keys only
		none2     = requestPolicy{EmailAccepted: true, PromptNone: true}                    // prompt=none
		reqNone   = requestPolicy{MFARequired: true, EmailAccepted: true, PromptNone: true} // required, prompt=none
		choose    = requestPolicy{EmailAccepted: true, SelectAccount: true}                 // prompt=select_account
		reqChoose = requestPolicy{MFARequired: true, EmailAccepted: true, SelectAccount: true}
	)
	tests := []struct {
		name string
		in   signIn
		want next
	}{
		// (open)
		{"open: a session that answers", signIn{On: onOpen, Policy: open, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepDone}},
		{"open: an MFA session where MFA is required", signIn{On: onOpen, Policy: required, Session: sessionState{Live: true, Satisfies: true, MFA: true}}, next{Step: stepDone}},
		{"open: a password-only session, MFA required", signIn{On: onOpen, Policy: required, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepPassword}},
		{"open: no session, prompt=none", signIn{On: onOpen, Policy: none2}, next{Step: stepError}},
		{"open: a password-only session, MFA required, prompt=none", signIn{On: onOpen, Policy: reqNone, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepError}},
		{"open: no session", signIn{On: onOpen, Policy: open}, next{Step: stepPassword}},
		{"open: a session that does not satisfy", signIn{On: onOpen, Policy: open, Session: sessionState{Live: true}}, next{Step: stepPassword}},
		{"open: the session's user is gone", signIn{On: onOpen, Policy: open, Session: sessionState{Satisfies: true}}, next{Step: stepPassword}},
		{"open: a session that answers, prompt=select_account", signIn{On: onOpen, Policy: choose, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepChoose}},
		{"open: a password-only session, MFA required, prompt=select_account", signIn{On: onOpen, Policy: reqChoose, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepPassword}},
		{"open: no session, prompt=select_account", signIn{On: onOpen, Policy: choose}, next{Step: stepPassword}},
		// choose
		{"continue: the session still answers", signIn{On: onContinue, Policy: choose, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepDone}},
		{"continue: the session ended since", signIn{On: onContinue, Policy: choose}, next{Step: stepPassword}},
		{"continue: the session no longer satisfies", signIn{On: onContinue, Policy: reqChoose, Session: sessionState{Live: true, Satisfies: true}}, next{Step: stepPassword}},

		// password
		{"password: no factor, none required", signIn{On: onPassword, User: true, Factors: none, Policy: open}, next{Step: stepDone}},
		{"password: key required, no key", signIn{On: onPassword, User: true, Factors: app, Policy: loa3}, next{Step: stepNeedKey}},
		{"password: key required, no factor", signIn{On: onPassword, User: true, Factors: none, Policy: loa3}, next{Step: stepNeedKey}},
		{"password: email refused, email only", signIn{On: onPassword, User: true, Factors: email, Policy: loa2}, next{Step: stepNeedApp}},
		{"password: key required, has a key", signIn{On: onPassword, User: true, Factors: factorSet{TOTP: true, Keys: true}, Policy: loa3}, next{Step: stepKey}},
		{"password: keys only", signIn{On: onPassword, User: true, Factors: keys, Policy: open}, next{Step: stepKey}},
		{"password: no factor, one required", signIn{On: onPassword, User: true, Factors: none, Policy: required}, next{Step: stepEnroll}},
		{"password: no factor, loa:2", signIn{On: onPassword, User: true, Factors: none, Policy: loa2}, next{Step: stepEnroll}},
		{"password: app", signIn{On: onPassword, User: true, Factors: app, Policy: open}, next{Step: stepCode}},
		{"password: email", signIn{On: onPassword, User: true, Factors: email, Policy: open}, next{Step: stepCode}},
		{"password: email and a key, email refused", signIn{On: onPassword, User: true, Factors: emailKey, Policy: loa2}, next{Step: stepCode}},
		{"password: passkey passed", signIn{On: onPasskey, Outcome: passed}, next{Step: stepDone}},
		{"password: passkey failed", signIn{On: onPasskey, Outcome: failed}, next{Step: stepPassword}},
		{"password: passkey failed, blocked", signIn{On: onPasskey, Outcome: blocked}, next{Step: stepPassword}},

		// code, GET
		{"code GET: no pending user", signIn{On: onShowCode, Policy: open}, next{Step: stepPassword}},
		{"code GET: no pending user, key required", signIn{On: onShowCode, Policy: loa3}, next{Step: stepPassword}},
		{"code GET: key required", signIn{On: onShowCode, User: true, Factors: app, Policy: loa3}, next{Step: stepNeedKey}},
		{"code GET: no app nor accepted email, no key", signIn{On: onShowCode, User: true, Factors: email, Policy: loa2}, next{Step: stepPassword}},
		{"code GET: no factor, recovery asked", signIn{On: onShowCode, User: true, Factors: none, Policy: open, Method: factorRecovery}, next{Step: stepPassword}},
		{"code GET: keys only", signIn{On: onShowCode, User: true, Factors: keys, Policy: open}, next{Step: stepKey}},
		{"code GET: keys and refused email, email asked", signIn{On: onShowCode, User: true, Factors: emailKey, Policy: loa2, Method: factorEmail}, next{Step: stepKey}},
		{"code GET: keys only, recovery", signIn{On: onShowCode, User: true, Factors: keys, Policy: open, Method: factorRecovery}, next{Step: stepRecovery, Factor: factorRecovery}},
		{"code GET: app, recovery", signIn{On: onShowCode, User: true, Factors: app, Policy: open, Method: factorRecovery}, next{Step: stepRecovery, Factor: factorRecovery}},
		{"code GET: app", signIn{On: onShowCode, User: true, Factors: appEmail, Policy: open}, next{Step: stepCode, Factor: factorTOTP}},
		{"code GET: app and email, email asked", signIn{On: onShowCode, User: true, Factors: appEmail, Policy: open, Method: factorEmail}, next{Step: stepCode, Factor: factorEmail}},
		{"code GET: app and refused email, email asked", signIn{On: onShowCode, User: true, Factors: appEmail, Policy: loa2, Method: factorEmail}, next{Step: stepCode, Factor: factorTOTP}},
		{"code GET: email only, app asked", signIn{On: onShowCode, User: true, Factors: email, Policy: open, Method: factorTOTP}, next{Step: stepCode, Factor: factorEmail}},

		// code, POST
		{"code POST: key required", signIn{On: onPostCode, User: true, Factors: app, Policy: loa3}, next{Step: stepNeedKey}},
		{"code POST: key required, no pending user", signIn{On: onPostCode, Policy: loa3}, next{Step: stepNeedKey}},
		{"code POST: no pending user", signIn{On: onPostCode, Policy: open}, next{Step: stepPassword}},
		{"code POST: refused email", signIn{On: onPostCode, User: true, Factors: email, Policy: loa2, Method: factorEmail}, next{Step: stepPassword}},
		{"code POST: keys only, no method", signIn{On: onPostCode, User: true, Factors: keys, Policy: open}, next{Step: stepPassword}},
		{"code POST: recovery, no factor", signIn{On: onPostCode, User: true, Factors: none, Policy: open, Method: factorRecovery}, next{Step: stepPassword}},
		{"code POST: recovery, refused email only", signIn{On: onPostCode, User: true, Factors: email, Policy: loa2, Method: factorRecovery}, next{Step: stepPassword}},
		{"code POST: recovery, keys only", signIn{On: onPostCode, User: true, Factors: keys, Policy: open, Method: factorRecovery}, next{Step: stepRecovery, Factor: factorRecovery}},
		{"code POST: app, unchecked", signIn{On: onPostCode, User: true, Factors: app, Policy: open, Method: factorTOTP}, next{Step: stepCode, Factor: factorTOTP}},
		{"code POST: right code", signIn{On: onPostCode, Outcome: passed, User: true, Factors: app, Policy: open}, next{Step: stepDone}},
		{"code POST: wrong code", signIn{On: onPostCode, Outcome: failed, User: true, Factors: email, Policy: open}, next{Step: stepCode, Factor: factorEmail}},
		{"code POST: wrong recovery code", signIn{On: onPostCode, Outcome: failed, User: true, Factors: keys, Policy: open, Method: factorRecovery}, next{Step: stepRecovery, Factor: factorRecovery}},
		{"code POST: wrong code, blocked", signIn{On: onPostCode, Outcome: blocked, User: true, Factors: app, Policy: open}, next{Step: stepPassword}},
		{"code resend: key required", signIn{On: onResendCode, User: true, Factors: email, Policy: loa3}, next{Step: stepNeedKey}},
		{"code resend: no pending user", signIn{On: onResendCode, Policy: open}, next{Step: stepPassword}},
		{"code resend: no email", signIn{On: onResendCode, User: true, Factors: app, Policy: open}, next{Step: stepPassword}},
		{"code resend: refused email", signIn{On: onResendCode, User: true, Factors: appEmail, Policy: loa2}, next{Step: stepPassword}},
		{"code resend", signIn{On: onResendCode, User: true, Factors: appEmail, Policy: open}, next{Step: stepCode, Factor: factorEmail}},

		// enroll
		{"enroll GET: no pending user", signIn{On: onShowEnroll, Policy: loa3}, next{Step: stepPassword}},
		{"enroll GET: key required", signIn{On: onShowEnroll, User: true, Policy: loa3}, next{Step: stepNeedKey}},
		{"enroll POST: key required, no pending user", signIn{On: onPostEnroll, Policy: loa3}, next{Step: stepNeedKey}},
		{"enroll resend: key required", signIn{On: onResendEnroll, User: true, Policy: loa3}, next{Step: stepNeedKey}},
		{"enroll POST: no pending user", signIn{On: onPostEnroll, Policy: open}, next{Step: stepPassword}},
		{"enroll resend: no pending user", signIn{On: onResendEnroll, Policy: open}, next{Step: stepPassword}},
		{"enroll GET: has the app", signIn{On: onShowEnroll, User: true, Factors: app, Policy: required}, next{Step: stepCode}},
		{"enroll POST: has email", signIn{On: onPostEnroll, User: true, Factors: email, Policy: required}, next{Step: stepCode}},
		{"enroll resend: has a key", signIn{On: onResendEnroll, User: true, Factors: keys, Policy: required}, next{Step: stepCode}},
		{"enroll GET", signIn{On: onShowEnroll, User: true, Policy: required}, next{Step: stepEnroll, Factor: factorTOTP}},
		{"enroll GET: email asked", signIn{On: onShowEnroll, User: true, Policy: required, Method: factorEmail}, next{Step: stepEnroll, Factor: factorEmail}},
		{"enroll POST: email asked, refused", signIn{On: onPostEnroll, User: true, Policy: loa2, Method: factorEmail}, next{Step: stepEnroll, Factor: factorTOTP}},
		{"enroll resend", signIn{On: onResendEnroll, User: true, Policy: loa2, Method: factorEmail}, next{Step: stepEnroll, Factor: factorEmail}},
		{"enroll POST: right code", signIn{On: onPostEnroll, Outcome: passed, User: true, Policy: required}, next{Step: stepDone}},
		{"enroll POST: wrong code", signIn{On: onPostEnroll, Outcome: failed, User: true, Policy: required, Method: factorEmail}, next{Step: stepEnroll, Factor: factorEmail}},
		{"enroll POST: wrong code, blocked", signIn{On: onPostEnroll, Outcome: blocked, User: true, Policy: required}, next{Step: stepPassword}},

		// key
		{"key GET: no pending user", signIn{On: onShowKey, Factors: keys, Policy: open}, next{Step: stepPassword}},
		{"key GET: no key", signIn{On: onShowKey, User: true, Factors: app, Policy: open}, next{Step: stepCode}},
		{"key GET", signIn{On: onShowKey, User: true, Factors: keys, Policy: loa3}, next{Step: stepKey}},
		{"key passed", signIn{On: onPostKey, Outcome: passed, User: true}, next{Step: stepDone}},
		{"key failed", signIn{On: onPostKey, Outcome: failed, User: true}, next{Step: stepKey}},
		{"key failed, blocked", signIn{On: onPostKey, Outcome: blocked, User: true}, next{Step: stepPassword}},
		{"key failed, blocked, no pending sign-in", signIn{On: onPostKey, Outcome: blocked}, next{Step: stepKey}},

		// done: the callback
		{"callback: first-party client", signIn{On: onCallback, Policy: none2}, next{Step: stepClient}},
		{"callback: consented on the page", signIn{On: onCallback, Consent: consentState{ThirdParty: true, Consented: true, PromptConsent: true}}, next{Step: stepClient}},
		{"callback: remembered grant", signIn{On: onCallback, Consent: consentState{ThirdParty: true, Remembered: true}}, next{Step: stepClient}},
		{"callback: consent needed, prompt=none", signIn{On: onCallback, Policy: none2, Consent: consentState{ThirdParty: true}}, next{Step: stepError}},
		{"callback: consent needed", signIn{On: onCallback, Consent: consentState{ThirdParty: true}}, next{Step: stepConsent}},
		{"callback: prompt=consent over a remembered grant", signIn{On: onCallback, Consent: consentState{ThirdParty: true, Remembered: true, PromptConsent: true}}, next{Step: stepConsent}},
		{"done: a step posted again, from the session it was done with", signIn{On: onPassword, Done: true, Resumed: true}, next{Step: stepDone}},
		{"done: a step posted again, without that session", signIn{On: onPostCode, Done: true, User: true, Factors: app, Outcome: passed}, next{Step: stepExpired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextStep(tt.in); got != tt.want {
				t.Errorf("nextStep(%+v) = %v %q, want %v %q", tt.in, got.Step, got.Factor, tt.want.Step, tt.want.Factor)
			}
		})
	}
}

// TestPolicyOf checks how acr_values and prompt become the policy
// nextStep reads.
func TestPolicyOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		acr    []string
		prompt []string
		client bool // the client's --require-mfa
		want   requestPolicy
	}{
		{nil, nil, false, requestPolicy{EmailAccepted: true}},
		{nil, nil, true, requestPolicy{MFARequired: true, EmailAccepted: true}},
		{[]string{ACRPassword}, []string{"none"}, false, requestPolicy{EmailAccepted: true, PromptNone: true}},
		{[]string{ACREmail}, nil, false, requestPolicy{MFARequired: true, EmailAccepted: true}},
		{[]string{ACRMFA}, nil, false, requestPolicy{MFARequired: true}},
		{[]string{ACRPhishingResistant}, nil, false, requestPolicy{MFARequired: true, KeyRequired: true}},
		{[]string{ACREmail, ACRPhishingResistant}, nil, false, requestPolicy{MFARequired: true, KeyRequired: true}},
	}
	for _, tt := range tests {
		ar := &storage.AuthRequest{ACRValues: tt.acr, Prompt: tt.prompt}
		if got := policyOf(ar, tt.client || secondFactorDemanded(ar)); got != tt.want {
			t.Errorf("policyOf(acr %v, prompt %v, require-mfa %v) = %+v, want %+v", tt.acr, tt.prompt, tt.client, got, tt.want)
		}
	}
}
