package login

// The sign-in as one state machine. nextStep is the single place that
// decides which step of a sign-in comes next, from what the auth request
// and its client demand (requestPolicy), what the user has enrolled
// (factorSet) and what just happened (event, outcome). The handlers load
// those facts (openStep, signInState, openState, consentState), ask
// nextStep and act on its answer; none works the next step out by itself.
// doc.go carries its table, nextstep_test.go a case for every row.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// step is a step of the sign-in: a page, or where the browser goes when
// the sign-in ends.
type step int

const (
	stepPassword step = iota // the sign-in page: email and password, or a passkey
	stepCode                 // the code page: authenticator app or emailed code
	stepRecovery             // the code page with a recovery code
	stepEnroll               // setting up a first factor within the sign-in
	stepKey                  // the key step: a security key or passkey as second factor
	stepDone                 // signed in: the auth request is done, on to the callback
	stepConsent              // the consent page, which the callback holds the response for
	stepClient               // the authorization response goes to the client
	stepError                // the client gets an error (login_required, consent_required)
	stepNeedKey              // refused: only a security key or passkey would do
	stepNeedApp              // refused: email codes are refused and are all the user has
	stepExpired              // refused: the sign-in is over (its request is done)
	stepChoose               // the sign-in page offering to continue as the session's user (prompt=select_account)
)

var stepNames = [...]string{
	stepPassword: "password", stepCode: "code", stepRecovery: "recovery",
	stepEnroll: "enroll", stepKey: "key", stepDone: "done", stepConsent: "consent",
	stepClient: "client", stepError: "error", stepNeedKey: "need-key", stepNeedApp: "need-app",
	stepExpired: "expired", stepChoose: "choose",
}

func (s step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// event is what a handler is asked to do: the transition nextStep decides.
type event int

const (
	onOpen         event = iota // GET /login: the sign-in opens (an SSO session may answer)
	onPassword                  // POST /login: the password was right
	onPasskey                   // POST /login/passkey/finish: a passkey was checked
	onShowCode                  // GET /login/otp
	onPostCode                  // POST /login/otp
	onResendCode                // POST /login/otp/resend
	onShowEnroll                // GET /login/enroll
	onPostEnroll                // POST /login/enroll
	onResendEnroll              // POST /login/enroll/resend
	onShowKey                   // GET /login/webauthn
	onPostKey                   // POST /login/webauthn/finish: a key was checked
	onCallback                  // the provider's callback: the request is done
	onContinue                  // POST /login/continue: the session's user was chosen (prompt=select_account)
)

// outcome is what checking a code, a key or a passkey came to.
type outcome int

const (
	unchecked outcome = iota // nothing checked (yet): may the step be taken?
	passed                   // right
	failed                   // wrong, with attempts left
	blocked                  // wrong, and the client IP or account is now blocked
)

// factorSet is what second factors a user has enrolled.
type factorSet struct {
	TOTP  bool // a confirmed authenticator app
	Email bool // email codes
	Keys  bool // a security key or passkey (never while keys are off)
}

// any reports whether the user has a second factor.
func (f factorSet) any() bool { return f.TOTP || f.Email || f.Keys }

// codeFactor is the factor an account change asks a code of: the
// authenticator app when enrolled, else email codes, else "".
func (f factorSet) codeFactor() string {
	switch {
	case f.TOTP:
		return factorTOTP
	case f.Email:
		return factorEmail
	}
	return ""
}

// requestPolicy is what an auth request and its client demand of the sign-in.
type requestPolicy struct {
	MFARequired   bool // a second factor, whatever the user's settings (--require-mfa or acr_values)
	EmailAccepted bool // an emailed code may be that factor (acr_values below loa:2)
	KeyRequired   bool // only a security key or passkey (acr_values loa:3)
	PromptNone    bool // prompt=none: no page may be shown
	SelectAccount bool // prompt=select_account: the user chooses the account, even with a session that answers
}

// sessionState is what the browser's SSO session offers a request at
// onOpen.
type sessionState struct {
	Live      bool // the browser has a live session of an enabled user
	Satisfies bool // it meets the request's acr, prompt, max_age and id_token_hint (sessionSatisfies)
	MFA       bool // it used a second factor
}

// consentState is what decides the consent page at onCallback.
type consentState struct {
	ThirdParty    bool // the client asks its users for consent
	Consented     bool // this request was allowed on the consent page
	PromptConsent bool // prompt=consent
	Remembered    bool // the user's remembered grant covers the requested scopes
}

// signIn is what nextStep decides from.
type signIn struct {
	On      event
	Outcome outcome // onPostCode, onPostEnroll, onPostKey, onPasskey: the check's result
	User    bool    // a user passed the password step, and is enabled
	Factors factorSet
	Policy  requestPolicy
	Method  string       // the factor the form or link asks for: totp, email, recovery or ""
	Session sessionState // onOpen
	Consent consentState // onCallback
	// Done says that the request is done already: a post to one of its
	// steps is the retry of a post whose answer was lost after the
	// request was done (the database failed over between the writes).
	// Resumed says that the browser's session is the one the request was
	// done with.
	Done, Resumed bool
}

// next is the answer of nextStep.
type next struct {
	Step step
	// Factor is the factor of the code step (totp, email or recovery) or
	// of the enrolment (totp or email); "" where the page chooses.
	Factor string
}

// nextStep decides the step that s leads to. It is the one place of the
// sign-in's transitions; doc.go has them as a table.
func nextStep(s signIn) next {
	f, p := s.Factors, s.Policy
	// Emailed codes count only where the request accepts them.
	email := f.Email && p.EmailAccepted
	if s.Done {
		// The retry goes where the first answer sent the browser: on
		// to the callback, which gives one response per request.
		if s.Resumed {
			return next{Step: stepDone}
		}
		return next{Step: stepExpired}
	}
	// The browser's SSO session may answer the request by itself.
	answers := s.Session.Live && s.Session.Satisfies && (s.Session.MFA || !p.MFARequired)
	switch s.On {
	case onOpen:
		switch {
		case answers && p.SelectAccount && !p.PromptNone:
			return next{Step: stepChoose}
		case answers:
			return next{Step: stepDone}
		case p.PromptNone:
			return next{Step: stepError} // login_required
		}
		return next{Step: stepPassword}

	case onContinue:
		// The session's user chosen on the choose page: the session must
		// still answer (it may have ended since the page was shown).
		if answers {
			return next{Step: stepDone}
		}
		return next{Step: stepPassword}

	case onPassword:
		switch {
		case !f.any() && !p.MFARequired:
			return next{Step: stepDone}
		case p.KeyRequired && !f.Keys:
			// Never a silent downgrade: without a key the request cannot be met.
			return next{Step: stepNeedKey}
		case !p.EmailAccepted && f.Email && !f.TOTP && !f.Keys:
			// Nor to email: enrolling an app here would skip the factor the user has.
			return next{Step: stepNeedApp}
		case p.KeyRequired, f.Keys && !f.TOTP && !f.Email:
			return next{Step: stepKey} // keys only: straight to the key step
		case !f.any():
			return next{Step: stepEnroll}
		}
		return next{Step: stepCode}

	case onPasskey:
		return checked(s.Outcome, next{Step: stepPassword}, false)

	case onShowCode, onPostCode, onResendCode:
		// A code step: refused where only a key will do (a form even
		// without a pending user), and the password again without one.
		switch {
		case p.KeyRequired && (s.User || s.On != onShowCode):
			return next{Step: stepNeedKey}
		case !s.User:
			return next{Step: stepPassword}
		}
		if s.On == onResendCode {
			if !email {
				return next{Step: stepPassword}
			}
			return next{Step: stepCode, Factor: factorEmail}
		}
		factor := chooseFactor(s.Method, f.TOTP, email)
		switch {
		case s.On == onShowCode && !f.TOTP && !email && !f.Keys:
			return next{Step: stepPassword}
		case s.On == onShowCode && !f.TOTP && !email && factor != factorRecovery:
			return next{Step: stepKey} // keys only, or a recovery code
		case factor == factorTOTP && !f.TOTP, factor == factorEmail && !email:
			return next{Step: stepPassword}
		case factor == factorRecovery && !f.TOTP && !email && !f.Keys:
			// Recovery codes stand in for a factor the request accepts.
			return next{Step: stepPassword}
		}
		n := next{Step: stepCode, Factor: factor}
		if factor == factorRecovery {
			n.Step = stepRecovery
		}
		return checked(s.Outcome, n, true)

	case onShowEnroll, onPostEnroll, onResendEnroll:
		// Enrolment is for users with no factor at all, or the password
		// alone could add one and pass.
		switch {
		case s.On == onShowEnroll && !s.User:
			return next{Step: stepPassword}
		case p.KeyRequired:
			return next{Step: stepNeedKey}
		case !s.User:
			return next{Step: stepPassword}
		case f.any():
			return next{Step: stepCode}
		}
		n := next{Step: stepEnroll, Factor: factorTOTP}
		if s.On == onResendEnroll || s.Method == factorEmail && p.EmailAccepted {
			n.Factor = factorEmail
		}
		return checked(s.Outcome, n, true)

	case onShowKey:
		switch {
		case !s.User:
			return next{Step: stepPassword}
		case !f.Keys:
			return next{Step: stepCode}
		}
		return next{Step: stepKey}

	case onPostKey:
		// The ceremony's begin checked the pending user and the keys.
		return checked(s.Outcome, next{Step: stepKey}, s.User)

	case onCallback:
		c := s.Consent
		switch {
		case !c.ThirdParty, c.Consented, !c.PromptConsent && c.Remembered:
			return next{Step: stepClient}
		case p.PromptNone:
			return next{Step: stepError} // consent_required
		}
		return next{Step: stepConsent}
	}
	return next{Step: stepPassword}
}

// checked applies the outcome of a check on step at: a pass is done, a
// failure stays on at, and a block ends the pending sign-in (the password
// again; with pending false there was none).
func checked(o outcome, at next, pending bool) next {
	switch o {
	case passed:
		return next{Step: stepDone}
	case blocked:
		if pending {
			return next{Step: stepPassword}
		}
	}
	return at
}

// chooseFactor picks the factor the code page asks for: the authenticator
// by default when enrolled, email when asked for or the only one, a
// recovery code when asked for.
func chooseFactor(asked string, hasTOTP, hasEmail bool) string {
	if asked == factorRecovery {
		return factorRecovery
	}
	if asked == factorEmail && hasEmail || !hasTOTP {
		return factorEmail
	}
	return factorTOTP
}

// enrolled loads the second factors u has enrolled.
func (h *Handler) enrolled(ctx context.Context, u *storage.User) (factorSet, error) {
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return factorSet{}, err
	}
	keys, err := h.hasKeys(ctx, u.ID)
	return factorSet{TOTP: hasTOTP, Email: hasEmail, Keys: keys}, err
}

// policyOf is what ar demands; mfaRequired is whether it needs a second
// factor (Handler.mfaRequired).
func policyOf(ar *storage.AuthRequest, mfaRequired bool) requestPolicy {
	return requestPolicy{
		MFARequired:   mfaRequired,
		EmailAccepted: emailAccepted(ar),
		KeyRequired:   keyRequired(ar),
		PromptNone:    slices.Contains(ar.Prompt, "none"),
		SelectAccount: slices.Contains(ar.Prompt, "select_account"),
	}
}

// mfaRequired reports whether ar demands a second factor whatever the
// user's settings: the client was registered with --require-mfa or asks
// acr_values for it. The client is loaded only when acr_values do not say.
func (h *Handler) mfaRequired(ctx context.Context, ar *storage.AuthRequest) (bool, error) {
	if secondFactorDemanded(ar) {
		return true, nil
	}
	c, err := h.Store.ClientByID(ctx, ar.ClientID)
	if err != nil {
		return false, fmt.Errorf("load client: %w", err)
	}
	return c.RequireMFA, nil
}

// stepRequest is a request to a sign-in step after the password, with
// what nextStep answered about it.
type stepRequest struct {
	r    *http.Request // with its client IP remembered (withIP)
	ip   netip.Addr
	ar   *storage.AuthRequest
	flow string        // the flow cookie
	u    *storage.User // who passed the password step
	s    signIn        // what nextStep decided from
	n    next          // its answer: the step of the handler
}

// openStep loads the request r to the step of the sign-in that on names,
// the auth request named by the form (a POST, whose CSRF token it checks)
// or the query (a GET), and asks nextStep. When the answer is that step it
// returns the request; otherwise it answered the browser itself (a
// redirect to the step nextStep named, or a refusal) and returns nil.
func (h *Handler) openStep(w http.ResponseWriter, r *http.Request, on event) (*stepRequest, error) {
	r, ip := h.withIP(r)
	id := r.URL.Query().Get("authRequestID")
	method := r.URL.Query().Get("method")
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		id, method = r.PostForm.Get("authRequestID"), r.PostForm.Get("method")
	}
	ar, flow, u, err := h.pendingUser(w, r, id)
	if done := (*doneError)(nil); errors.As(err, &done) && r.Method == http.MethodPost {
		return nil, h.resumeDone(w, r, on, done)
	}
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		if err := h.checkCSRF(r, "login", flow); err != nil {
			return nil, err
		}
	}
	s, err := h.signInState(r.Context(), on, ar, u, method)
	if err != nil {
		return nil, err
	}
	n := nextStep(s)
	if !n.at(on) {
		return nil, h.goTo(w, r, ar, n)
	}
	return &stepRequest{r: r, ip: ip, ar: ar, flow: flow, u: u, s: s, n: n}, nil
}

// at reports whether n is the step whose handler on is.
func (n next) at(on event) bool {
	switch on {
	case onShowCode, onPostCode, onResendCode:
		return n.Step == stepCode || n.Step == stepRecovery
	case onShowEnroll, onPostEnroll, onResendEnroll:
		return n.Step == stepEnroll
	case onShowKey, onPostKey:
		return n.Step == stepKey
	}
	return false
}

// signInState loads what nextStep decides a step after the password from:
// the pending user's factors and the request's policy. The client is
// loaded only at onPassword, where its --require-mfa counts.
func (h *Handler) signInState(ctx context.Context, on event, ar *storage.AuthRequest, u *storage.User, method string) (signIn, error) {
	s := signIn{On: on, User: u != nil, Method: method}
	if u != nil {
		f, err := h.enrolled(ctx, u)
		if err != nil {
			return s, err
		}
		s.Factors = f
	}
	required := secondFactorDemanded(ar)
	if on == onPassword && !required {
		var err error
		if required, err = h.mfaRequired(ctx, ar); err != nil {
			return s, err
		}
	}
	s.Policy = policyOf(ar, required)
	return s, nil
}

// checked asks nextStep where the check of sr's step with outcome o leads.
func (sr *stepRequest) checked(o outcome) step {
	s := sr.s
	s.Outcome = o
	return nextStep(s).Step
}

// endPending ends the pending sign-in of ar after a block: the user starts
// again from the password.
func (h *Handler) endPending(ctx context.Context, ar *storage.AuthRequest) error {
	if err := h.Store.SetAuthRequestUser(ctx, ar.ID, ""); err != nil {
		return fmt.Errorf("end pending sign-in: %w", err)
	}
	return nil
}

// Refusals of a step that the request's policy rules out.
var (
	errNeedKey = userError(http.StatusForbidden, "Security key required", msgKeyRequired)
	errNeedApp = userError(http.StatusForbidden, "Authenticator app required", msgAppRequired)
	errExpired = userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
)

// goTo answers with step n of the sign-in of ar when the handler does not
// show it itself: a redirect to its page, or its refusal.
func (h *Handler) goTo(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, n next) error {
	id := url.QueryEscape(ar.ID)
	switch n.Step {
	case stepNeedKey:
		return errNeedKey
	case stepNeedApp:
		return errNeedApp
	case stepExpired:
		return errExpired
	case stepCode:
		http.Redirect(w, r, "/login/otp?authRequestID="+id, http.StatusSeeOther)
	case stepKey:
		http.Redirect(w, r, keyStepURL(ar.ID), http.StatusSeeOther)
	case stepEnroll:
		http.Redirect(w, r, "/login/enroll?authRequestID="+id, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/login?authRequestID="+id, http.StatusSeeOther)
	}
	return nil
}
