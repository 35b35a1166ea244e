package login

// Security keys and passkeys (WebAuthn, go-webauthn/webauthn).
//
// Every ceremony has a begin and a finish step, both JSON POSTs made by
// templates/static/webauthn.js. Begin stores the library's session data
// (the challenge and all) server-side with PutWebAuthnSession, under a
// random key bound to what it is for: the pending sign-in (auth request)
// or the browser's session. Finish takes it back with TakeWebAuthnSession,
// so a challenge is used once, on whichever replica, and expires after
// ceremonyTTL. Failed sign-in ceremonies count against the same limiter
// and IP block as wrong codes (OTPLimiter). A counter going backwards (or
// the library's clone warning) fails the sign-in, flags the key and is
// recorded as a security event.
//
// The relying-party id is the issuer's host name: WebAuthn refuses IP
// addresses, so an issuer like http://127.0.0.1:8080 runs without keys
// (cmd leaves Handler.WebAuthn nil) and http://localhost:8080 has them.
//
// The files, by what they hold:
//
//	webauthn.go               this overview, constants, routes, page views
//	webauthn_json.go          the JSON requests and answers of the ceremonies
//	webauthn_user.go          users and their keys as the library sees them
//	webauthn_ceremony.go      storing ceremonies, recording key use, failures
//	webauthn_secondfactor.go  the key step of a sign-in (second factor)
//	webauthn_passkey.go       passwordless sign-in with a passkey
//	webauthn_register.go      adding a key on the security page
//	webauthn_recovery.go      recovery codes confirmed by a key, shown once
//	webauthn_account.go       the security page's keys, removing a key, and
//	                          the key checks that confirm account changes

import (
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-webauthn/webauthn/webauthn"
)

// WebAuthnRP is the WebAuthn relying party (webauthn.New) that
// Handler.WebAuthn holds.
type WebAuthnRP = webauthn.WebAuthn

// factorWebAuthn names security keys and passkeys in events.
const factorWebAuthn = "webauthn"

// ceremonyTTL is how long a begun ceremony may be finished.
const ceremonyTTL = 5 * time.Minute

// Ceremony kinds, stored with the session data.
const (
	ceremonyRegister = "register" // add a key, bound to the browser session
	ceremonySecond   = "second"   // second factor, bound to the auth request
	ceremonyPasskey  = "passkey"  // passwordless, bound to the auth request
	ceremonyRemove   = "remove"   // confirm removing a key, bound to the browser session
	ceremonyCodes    = "codes"    // confirm new recovery codes, bound to the browser session
	ceremonyShow     = "show"     // recovery codes waiting to be shown once, bound to the browser session
)

// Messages of the key steps.
const (
	msgKeyFailed     = "Your security key or passkey could not be verified. (Attempts left: %d)"
	msgKeyRefused    = "This security key was refused: it may have been copied. Sign in with another factor and remove it from your account."
	msgKeyExpired    = "The security key check took too long or was already used. Try again."
	msgKeyNone       = "No security key or passkey is registered for this account."
	msgKeyTaken      = "This security key or passkey is already registered."
	msgKeyNotAdded   = "The security key or passkey could not be registered. Try again."
	msgKeyNameLength = "Give the key a name of at most 64 characters."
	msgKeyNeedMFA    = "To add a security key, sign in with your second factor first."
	msgKeyLimit      = "Your account has the most security keys and passkeys it can have. Remove one to add another."
)

// maxKeys is the most keys an account can have: every key is listed in
// each sign-in's allowCredentials, and the store should not grow without
// bound.
const maxKeys = 20

// webauthnRoutes adds the key routes when keys are on.
func (h *Handler) webauthnRoutes(r chi.Router) {
	if h.WebAuthn == nil {
		return
	}
	r.Get("/login/webauthn", h.serve(h.showKeyStep))
	r.Post("/login/webauthn/begin", h.serveJSON(h.beginKeyStep))
	r.Post("/login/webauthn/finish", h.serveJSON(h.finishKeyStep))
	r.Post("/login/passkey/begin", h.serveJSON(h.beginPasskey))
	r.Post("/login/passkey/finish", h.serveJSON(h.finishPasskey))
	r.Post("/account/security/webauthn/register/begin", h.serveJSON(h.beginRegister))
	r.Post("/account/security/webauthn/register/finish", h.serveJSON(h.finishRegister))
	r.Post("/account/security/webauthn/remove", h.serve(h.removeKey))
	r.Post("/account/security/webauthn/remove-confirm", h.serve(h.removeKeyConfirm))
	r.Post("/account/security/webauthn/remove-resend", h.serve(h.removeKey))
	r.Post("/account/security/webauthn/remove/begin", h.serveJSON(h.beginRemoveCheck))
	r.Post("/account/security/webauthn/remove/finish", h.serveJSON(h.finishRemoveCheck))
	r.Post("/account/security/recovery/key/begin", h.serveJSON(h.beginCodesCheck))
	r.Post("/account/security/recovery/key/finish", h.serveJSON(h.finishCodesCheck))
	r.Get("/account/security/recovery/show", h.serve(h.showIssuedCodes))
}

// webauthnView is what the key parts of the pages need.
type webauthnView struct {
	// Buttons run by webauthn.js: data-begin, data-finish, data-csrf.
	Mode          string // "second", "passkey", "register", "remove"
	Begin, Finish string
	CSRF          string
	AuthRequestID string
	KeyID         string // remove: the key, base64url

	StepURL     string // the code page: link to the key step
	CodeURL     string // the key step: link back to the code page
	RecoveryURL string // the key step: link to the recovery code page
	Recovery    bool   // removal: a recovery code may confirm instead
	Keys        []keyView
}

// keyView is a registered key on the security page.
type keyView struct {
	ID       string // base64url
	Name     string
	Created  string
	LastUsed string // "" when never used
	Synced   bool   // a passkey that may be synced
	Flagged  bool   // refused since a clone warning
}
