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

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
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
)

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

// ---- JSON plumbing ----

// jsonReply is the body of every JSON answer.
type jsonReply struct {
	Ceremony  string `json:"ceremony,omitempty"`
	PublicKey any    `json:"publicKey,omitempty"` // creation or request options
	Redirect  string `json:"redirect,omitempty"`  // where the page goes next
	Error     string `json:"error,omitempty"`
}

// jsonRequest is the body of every JSON POST.
type jsonRequest struct {
	AuthRequestID string          `json:"authRequestID"`
	Ceremony      string          `json:"ceremony"`
	Name          string          `json:"name"` // register: the key's name
	Key           string          `json:"key"`  // remove: the key's id, base64url
	Credential    json.RawMessage `json:"credential"`
}

// serveJSON adapts a JSON step: page errors become {"error": …} with
// their status; anything else is logged and answered 503.
func (h *Handler) serveJSON(step func(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r = h.withLang(r)
		status, reply, err := step(w, r)
		if err != nil {
			var pe *pageError
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &pe):
				status, reply = pe.status, &jsonReply{Error: pe.message}
			case errors.As(err, &tooLarge):
				status, reply = http.StatusRequestEntityTooLarge, &jsonReply{Error: msgTooLarge}
			default:
				h.Logger.ErrorContext(r.Context(), "webauthn step failed", "path", r.URL.Path, "err", err)
				w.Header().Set("Retry-After", "5")
				status, reply = http.StatusServiceUnavailable, &jsonReply{Error: msgUnavailable}
			}
		}
		if reply != nil {
			// Fixed messages are translated here; formatted ones were
			// built in the request's language.
			reply.Error = i18n.T(langOf(r.Context()), reply.Error)
		}
		b, _ := json.Marshal(reply)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	}
}

// readJSON decodes the body of a JSON POST. Only application/json is
// accepted, which no cross-site form can send.
func (h *Handler) readJSON(r *http.Request) (*jsonRequest, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, userError(http.StatusUnsupportedMediaType, "Request refused", msgForbidden)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	var req jsonRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, userError(http.StatusBadRequest, "Request refused", msgForbidden)
	}
	return &req, nil
}

// checkCSRFHeader checks the CSRF token of a JSON POST, sent in the
// X-CSRF-Token header.
func (h *Handler) checkCSRFHeader(r *http.Request, purpose, cookie string) error {
	got := r.Header.Get("X-CSRF-Token")
	if cookie == "" || got == "" || !hmac.Equal([]byte(got), []byte(h.csrfToken(purpose, cookie))) {
		return userError(http.StatusForbidden, "Request refused", msgForbidden)
	}
	return nil
}

// ---- users and credentials as the library sees them ----

// keyUser is a user with their handle and keys, as webauthn.User.
type keyUser struct {
	u      *storage.User
	handle []byte
	keys   []storage.WebAuthnCredential
}

func (k *keyUser) WebAuthnID() []byte { return k.handle }
func (k *keyUser) WebAuthnName() string {
	return k.u.Email
}
func (k *keyUser) WebAuthnDisplayName() string {
	if k.u.Name != "" {
		return k.u.Name
	}
	return k.u.Email
}
func (k *keyUser) WebAuthnCredentials() []webauthn.Credential {
	creds := make([]webauthn.Credential, len(k.keys))
	for i, c := range k.keys {
		flags := protocol.FlagUserPresent
		if c.BackupEligible {
			flags |= protocol.FlagBackupEligible
		}
		if c.BackupState {
			flags |= protocol.FlagBackupState
		}
		transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
		for j, t := range c.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		creds[i] = webauthn.Credential{
			ID:              c.ID,
			PublicKey:       c.PublicKey,
			AttestationType: c.AttestationType,
			Transport:       transports,
			Flags:           webauthn.NewCredentialFlags(flags),
			Authenticator: webauthn.Authenticator{
				AAGUID:       c.AAGUID,
				SignCount:    c.SignCount,
				CloneWarning: c.CloneWarning,
			},
		}
	}
	return creds
}

func (k *keyUser) key(id []byte) *storage.WebAuthnCredential {
	for i := range k.keys {
		if bytes.Equal(k.keys[i].ID, id) {
			return &k.keys[i]
		}
	}
	return nil
}

// usableKeys drops the keys refused after a clone warning from ku; when
// none is left it returns the answer that says so.
func usableKeys(ku *keyUser) *jsonReply {
	all := len(ku.keys)
	ku.keys = slices.DeleteFunc(ku.keys, func(c storage.WebAuthnCredential) bool { return c.CloneWarning })
	switch {
	case all == 0:
		return &jsonReply{Error: msgKeyNone}
	case len(ku.keys) == 0:
		return &jsonReply{Error: msgKeyRefused}
	}
	return nil
}

// keyUserOf loads u's handle (creating it on first use) and keys.
func (h *Handler) keyUserOf(ctx context.Context, u *storage.User) (*keyUser, error) {
	fresh := make([]byte, 64)
	rand.Read(fresh)
	handle, err := h.Store.EnsureWebAuthnHandle(ctx, u.ID, fresh, h.Now())
	if err != nil {
		return nil, fmt.Errorf("webauthn handle: %w", err)
	}
	keys, err := h.Store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load webauthn credentials: %w", err)
	}
	return &keyUser{u: u, handle: handle, keys: keys}, nil
}

// hasKeys reports whether the user has a security key or passkey. A key
// refused after a clone warning still counts: the account keeps asking for
// a second factor (another one, or an administrator's reset-2fa) rather
// than falling back to the password alone. It is false while keys are off.
func (h *Handler) hasKeys(ctx context.Context, userID string) (bool, error) {
	if h.WebAuthn == nil {
		return false, nil
	}
	keys, err := h.Store.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("load webauthn credentials: %w", err)
	}
	return len(keys) > 0, nil
}

// ---- ceremonies ----

// ceremony is what begin stores for finish.
type ceremony struct {
	Kind    string               `json:"kind"`
	Binding string               `json:"binding"` // the auth request or session id
	UserID  string               `json:"user_id,omitempty"`
	Name    string               `json:"name,omitempty"`   // register: the key's name
	KeyID   []byte               `json:"key_id,omitempty"` // remove: the key to remove
	Codes   []byte               `json:"codes,omitempty"`  // show: the recovery codes, sealed
	Next    string               `json:"next,omitempty"`   // show: where the page goes on
	Session webauthn.SessionData `json:"session"`
}

// putCeremony stores c and returns its key.
func (h *Handler) putCeremony(ctx context.Context, c *ceremony) (string, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	key := newSecret()
	if err := h.Store.PutWebAuthnSession(ctx, key, data, h.Now().Add(ceremonyTTL)); err != nil {
		return "", fmt.Errorf("store webauthn ceremony: %w", err)
	}
	return key, nil
}

// takeCeremony takes the ceremony under key, once; nil when it is
// unknown, used, expired or not of this kind and binding.
func (h *Handler) takeCeremony(ctx context.Context, key, kind, binding string) (*ceremony, error) {
	if key == "" || len(key) > 64 {
		return nil, nil
	}
	data, err := h.Store.TakeWebAuthnSession(ctx, key, h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take webauthn ceremony: %w", err)
	}
	var c ceremony
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode webauthn ceremony: %w", err)
	}
	if c.Kind != kind || c.Binding != binding {
		return nil, nil
	}
	return &c, nil
}

// keyAMR is the amr of a key: "swk" for a platform authenticator or a
// synced passkey (it may live outside dedicated hardware), "hwk" for a
// security key.
func keyAMR(cred *webauthn.Credential, attachment protocol.AuthenticatorAttachment) string {
	if cred.Flags.BackupEligible || attachment == protocol.Platform {
		return "swk"
	}
	return "hwk"
}

// recordUse checks and stores the counter and flags of a successful
// assertion. A key flagged before, the library's clone warning or a
// counter that did not go forward (also when a parallel sign-in used the
// same value first) refuses the sign-in: the key is flagged, the event
// recorded and the user told.
func (h *Handler) recordUse(ctx context.Context, ku *keyUser, cred *webauthn.Credential, clientID string) (bool, error) {
	stored := ku.key(cred.ID)
	if stored == nil {
		return false, nil
	}
	clone := stored.CloneWarning || cred.Authenticator.CloneWarning
	if !clone {
		err := h.Store.UpdateWebAuthnCredentialUse(ctx, cred.ID, cred.Authenticator.SignCount, cred.Flags.BackupState, false, h.Now())
		switch {
		case errors.Is(err, storage.ErrReplayed):
			clone = true
		case errors.Is(err, storage.ErrNotFound):
			return false, nil // removed meanwhile
		case err != nil:
			return false, fmt.Errorf("record webauthn use: %w", err)
		}
	}
	if !clone {
		return true, nil
	}
	if err := h.Store.UpdateWebAuthnCredentialUse(ctx, cred.ID, 0, false, true, h.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("flag webauthn credential: %w", err)
	}
	detail := fmt.Sprintf("key %q: signature counter %d not above %d, or flagged before", stored.Name, cred.Authenticator.SignCount, stored.SignCount)
	h.event(ctx, storage.EventWebAuthnCloneWarning, ku.u.ID, clientID, detail)
	h.Logger.WarnContext(ctx, "webauthn clone warning", "user_id", ku.u.ID, "key", stored.Name)
	if !stored.CloneWarning {
		h.notify(ctx, ku.u, "A security key of your account was refused",
			i18n.Tf(langOf(ctx), "Gatehouse refused the security key %q because it may have been copied: its signature counter went backwards.\n\nSign in with another factor, remove the key from your account and change your password.\n", stored.Name))
	}
	return false, nil
}

// keyFailed counts a failed sign-in ceremony against the code limiter
// and answers with the attempts left, or the block. u may be nil (a
// passkey nobody owns).
func (h *Handler) keyFailed(ctx context.Context, ar *storage.AuthRequest, u *storage.User, ip netip.Addr, reason string) (int, *jsonReply, error) {
	uid := ""
	if u != nil {
		uid = u.ID
	}
	res, err := h.OTPLimiter.Fail(ctx, ip, uid)
	if err != nil {
		return 0, nil, err
	}
	return h.keyOutcome(ctx, res, ar, u, ip, reason)
}

// keyOutcome answers a failed sign-in ceremony after its failure was
// counted: the attempts left, or the block.
func (h *Handler) keyOutcome(ctx context.Context, res lockout.Result, ar *storage.AuthRequest, u *storage.User, ip netip.Addr, reason string) (int, *jsonReply, error) {
	uid := ""
	if u != nil {
		uid = u.ID
	}
	h.factorEvent(ctx, storage.EventSigninFailed, uid, ar.ClientID, factorWebAuthn, reason)
	if res.BlockedUntil.IsZero() {
		return http.StatusUnauthorized, &jsonReply{Error: i18n.Tf(langOf(ctx), msgKeyFailed, res.Remaining)}, nil
	}
	if ar.UserID != "" {
		// The pending sign-in ends: the user starts again from the password.
		if err := h.Store.SetAuthRequestUser(ctx, ar.ID, ""); err != nil {
			return 0, nil, fmt.Errorf("end pending sign-in: %w", err)
		}
	}
	h.event(ctx, storage.EventCodeBlocked, uid, "", "client IP "+ip.String()+" or account blocked until "+res.BlockedUntil.UTC().Format(time.RFC3339))
	if u != nil {
		h.notify(ctx, u, "Sign-ins to your Gatehouse account were blocked",
			"Someone failed the security key check for your account several times, so Gatehouse blocked further attempts for a while.\n\nIf this was not you, your password may be known to someone else: change it.\n")
	}
	return http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, res.BlockedUntil)}, nil
}

// keyAttemptFailed answers a failed second-factor ceremony whose attempt
// was reserved: it was counted already, so only the outcome is reported.
func (h *Handler) keyAttemptFailed(ctx context.Context, a *lockout.Attempt, ar *storage.AuthRequest, u *storage.User, ip netip.Addr, reason string) (int, *jsonReply, error) {
	return h.keyOutcome(ctx, a.Failed(), ar, u, ip, reason)
}

// keyBlocked answers 429 when ip or the account is blocked.
func (h *Handler) keyBlocked(ctx context.Context, ip netip.Addr, userID string) (*jsonReply, error) {
	until, err := h.OTPLimiter.Blocked(ctx, ip, userID)
	if err != nil || until.IsZero() {
		return nil, err
	}
	return &jsonReply{Error: h.blockedMessage(ctx, until)}, nil
}

// ---- the second factor ----

// keyStepURL is the page of the key step of auth request id.
func keyStepURL(id string) string { return "/login/webauthn?authRequestID=" + url.QueryEscape(id) }

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

// showKeyStep is the second-factor page with the security-key button.
func (h *Handler) showKeyStep(w http.ResponseWriter, r *http.Request) error {
	r, _ = h.withIP(r)
	ar, flow, u, err := h.pendingUser(w, r, r.URL.Query().Get("authRequestID"))
	if err != nil || u == nil {
		if err == nil {
			return h.toPassword(w, r, ar)
		}
		return err
	}
	ok, err := h.hasKeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, "/login/otp?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
		return nil
	}
	hasTOTP, hasEmail, err := h.factors(r.Context(), u)
	if err != nil {
		return err
	}
	v := &webauthnView{
		Mode: ceremonySecond, Begin: "/login/webauthn/begin", Finish: "/login/webauthn/finish",
		CSRF: h.csrfToken("login", flow), AuthRequestID: ar.ID,
	}
	if hasTOTP || hasEmail {
		v.CodeURL = "/login/otp?authRequestID=" + url.QueryEscape(ar.ID)
	}
	if !keyRequired(ar) {
		// A lost key: a recovery code stands in, under the same limits.
		v.RecoveryURL = "/login/otp?method=recovery&authRequestID=" + url.QueryEscape(ar.ID)
	}
	h.render(w, r, http.StatusOK, "webauthn.html", &page{
		Title:         "Two-factor authentication",
		Message:       "Use your security key or passkey to finish signing in.",
		AuthRequestID: ar.ID,
		CancelURL:     "/login?authRequestID=" + url.QueryEscape(ar.ID),
		WebAuthn:      v,
	})
	return nil
}

// keyStepView is the link from the code page to the key step, or nil
// when the pending user has no key.
func (h *Handler) keyStepView(ctx context.Context, ar *storage.AuthRequest) *webauthnView {
	if ar.UserID == "" {
		return nil
	}
	ok, err := h.hasKeys(ctx, ar.UserID)
	if err != nil || !ok {
		return nil
	}
	return &webauthnView{StepURL: keyStepURL(ar.ID)}
}

// pendingJSON loads the pending sign-in of a JSON step and checks its
// CSRF token.
func (h *Handler) pendingJSON(w http.ResponseWriter, r *http.Request, req *jsonRequest) (*storage.AuthRequest, *storage.User, error) {
	ar, flow, u, err := h.pendingUser(w, r, req.AuthRequestID)
	if err != nil {
		return nil, nil, err
	}
	if err := h.checkCSRFHeader(r, "login", flow); err != nil {
		return nil, nil, err
	}
	if u == nil {
		return nil, nil, userError(http.StatusBadRequest, "Sign-in expired", msgExpired)
	}
	return ar, u, nil
}

// beginKeyStep starts the second-factor ceremony with the user's keys.
func (h *Handler) beginKeyStep(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	ar, u, err := h.pendingJSON(w, r, req)
	if err != nil {
		return 0, nil, err
	}
	if reply, err := h.keyBlocked(r.Context(), ip, u.ID); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	ku, err := h.keyUserOf(r.Context(), u)
	if err != nil {
		return 0, nil, err
	}
	if reply := usableKeys(ku); reply != nil {
		return http.StatusUnauthorized, reply, nil
	}
	assertion, sd, err := h.WebAuthn.BeginLogin(ku, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return 0, nil, fmt.Errorf("begin webauthn login: %w", err)
	}
	key, err := h.putCeremony(r.Context(), &ceremony{Kind: ceremonySecond, Binding: ar.ID, UserID: u.ID, Session: *sd})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Ceremony: key, PublicKey: assertion.Response}, nil
}

// finishKeyStep checks the assertion of the second factor and completes
// the sign-in.
func (h *Handler) finishKeyStep(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	ctx := r.Context()
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	ar, u, err := h.pendingJSON(w, r, req)
	if err != nil {
		return 0, nil, err
	}
	// The attempt is counted before the assertion is checked, as a code's
	// is (tryCode).
	attempt, until, err := h.OTPLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return 0, nil, err
	}
	if attempt == nil {
		return http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, until)}, nil
	}
	checked := false // whether the assertion was verified, for the error paths
	defer func() {
		if !checked {
			if err := attempt.Cancel(context.WithoutCancel(ctx)); err != nil {
				h.Logger.WarnContext(ctx, "give back a security key attempt", "err", err)
			}
		}
	}()
	c, err := h.takeCeremony(ctx, req.Ceremony, ceremonySecond, ar.ID)
	if err != nil {
		return 0, nil, err
	}
	checked = true // from here on, every outcome is reported to attempt
	if c == nil || c.UserID != u.ID {
		return h.keyAttemptFailed(ctx, attempt, ar, u, ip, "no such challenge (expired or used)")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return h.keyAttemptFailed(ctx, attempt, ar, u, ip, "bad assertion: "+describeWebAuthnError(err))
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	cred, err := h.WebAuthn.ValidateLogin(ku, c.Session, parsed)
	if err != nil {
		return h.keyAttemptFailed(ctx, attempt, ar, u, ip, describeWebAuthnError(err))
	}
	if ok, err := h.recordUse(ctx, ku, cred, ar.ClientID); err != nil {
		return 0, nil, err
	} else if !ok {
		h.factorEvent(ctx, storage.EventSigninFailed, u.ID, ar.ClientID, factorWebAuthn, "refused key")
		return http.StatusUnauthorized, &jsonReply{Error: msgKeyRefused}, nil
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return 0, nil, err
	}
	amr := []string{"pwd", keyAMR(cred, parsed.AuthenticatorAttachment), "mfa"}
	sess, err := h.startSession(w, r, u, amr)
	if err != nil {
		return 0, nil, fmt.Errorf("start session: %w", err)
	}
	h.factorEvent(ctx, storage.EventSigninSucceeded, u.ID, ar.ClientID, factorWebAuthn, "")
	if err := h.markDone(r, ar, sess); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: h.Callback(ctx, ar.ID)}, nil
}

// ---- passwordless ----

// passkeyRequest loads the auth request of a passkey step (no user yet)
// and checks its CSRF token.
func (h *Handler) passkeyRequest(w http.ResponseWriter, r *http.Request, req *jsonRequest) (*storage.AuthRequest, error) {
	ar, flow, err := h.loadRequest(w, r, req.AuthRequestID)
	if err != nil {
		return nil, err
	}
	if err := h.checkCSRFHeader(r, "login", flow); err != nil {
		return nil, err
	}
	return ar, nil
}

// beginPasskey starts a passwordless sign-in with a discoverable
// credential; the user must be verified (PIN, biometrics).
func (h *Handler) beginPasskey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	ar, err := h.passkeyRequest(w, r, req)
	if err != nil {
		return 0, nil, err
	}
	if reply, err := h.keyBlocked(r.Context(), ip, ""); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	assertion, sd, err := h.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return 0, nil, fmt.Errorf("begin passkey login: %w", err)
	}
	key, err := h.putCeremony(r.Context(), &ceremony{Kind: ceremonyPasskey, Binding: ar.ID, Session: *sd})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Ceremony: key, PublicKey: assertion.Response}, nil
}

// finishPasskey checks a passkey's assertion and completes the sign-in. A
// verified passkey is two factors in one (possession and the PIN or
// biometrics that unlocked it), so it counts as MFA.
func (h *Handler) finishPasskey(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	ctx := r.Context()
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	ar, err := h.passkeyRequest(w, r, req)
	if err != nil {
		return 0, nil, err
	}
	if reply, err := h.keyBlocked(ctx, ip, ""); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	c, err := h.takeCeremony(ctx, req.Ceremony, ceremonyPasskey, ar.ID)
	if err != nil {
		return 0, nil, err
	}
	if c == nil {
		return h.keyFailed(ctx, ar, nil, ip, "no such challenge (expired or used)")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return h.keyFailed(ctx, ar, nil, ip, "bad assertion: "+describeWebAuthnError(err))
	}
	var ku *keyUser
	var lookupErr error
	find := func(rawID, userHandle []byte) (webauthn.User, error) {
		u, err := h.Store.UserByWebAuthnHandle(ctx, userHandle)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		ku, err = h.keyUserOf(ctx, u)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return ku, nil
	}
	_, cred, err := h.WebAuthn.ValidatePasskeyLogin(find, c.Session, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, storage.ErrNotFound) {
		return 0, nil, lookupErr
	}
	var u *storage.User
	if ku != nil {
		u = ku.u
	}
	if err != nil {
		return h.keyFailed(ctx, ar, u, ip, describeWebAuthnError(err))
	}
	if u.Disabled || !u.EmailVerified {
		return h.keyFailed(ctx, ar, u, ip, "account disabled or not confirmed")
	}
	if reply, err := h.keyBlocked(ctx, ip, u.ID); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	if ok, err := h.recordUse(ctx, ku, cred, ar.ClientID); err != nil {
		return 0, nil, err
	} else if !ok {
		h.factorEvent(ctx, storage.EventSigninFailed, u.ID, ar.ClientID, "passkey", "refused key")
		return http.StatusUnauthorized, &jsonReply{Error: msgKeyRefused}, nil
	}
	if err := h.OTPLimiter.Succeed(ctx, ip, u.ID); err != nil {
		return 0, nil, err
	}
	sess, err := h.startSession(w, r, u, []string{keyAMR(cred, parsed.AuthenticatorAttachment), "mfa"})
	if err != nil {
		return 0, nil, fmt.Errorf("start session: %w", err)
	}
	h.factorEvent(ctx, storage.EventSigninSucceeded, u.ID, ar.ClientID, "passkey", "")
	if err := h.markDone(r, ar, sess); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Redirect: h.Callback(ctx, ar.ID)}, nil
}

// describeWebAuthnError is the library's reason, for the audit log.
func describeWebAuthnError(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s := pe.Type + ": " + pe.Details
		if pe.DevInfo != "" {
			s += " (" + pe.DevInfo + ")"
		}
		return truncate(s, 300)
	}
	return truncate(err.Error(), 300)
}

// ---- registration ----

// signedInJSON loads the signed-in user of a JSON step and checks its
// CSRF token.
func (h *Handler) signedInJSON(r *http.Request) (*storage.Session, *storage.User, error) {
	if err := h.checkCSRFHeader(r, "session", h.cookieValue(r, sessionCookie)); err != nil {
		return nil, nil, err
	}
	return h.signedIn(r)
}

// keyName is the cleaned name of a new key, "Security key" in lang when
// none is given.
func keyName(lang i18n.Lang, s string) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = i18n.T(lang, "Security key")
	}
	return s, utf8.RuneCountInString(s) <= 64 && utf8.ValidString(s)
}

// beginRegister starts adding a key. A signed-in session is enough; when
// the user already has a second factor the session must have used one
// (amr "mfa"), so a password alone never adds a key to such an account.
func (h *Handler) beginRegister(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	sess, u, err := h.signedInJSON(r)
	if err != nil {
		return 0, nil, err
	}
	if status, reply := h.stepUpJSON(sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	ctx := r.Context()
	name, ok := keyName(langOf(r.Context()), req.Name)
	if !ok {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNameLength}, nil
	}
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	if (hasTOTP || hasEmail || len(ku.keys) > 0) && !slices.Contains(sess.AMR, "mfa") {
		return http.StatusForbidden, &jsonReply{Error: msgKeyNeedMFA}, nil
	}
	creation, sd, err := h.WebAuthn.BeginRegistration(ku,
		webauthn.WithExclusions(webauthn.Credentials(ku.WebAuthnCredentials()).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}))
	if err != nil {
		return 0, nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	key, err := h.putCeremony(ctx, &ceremony{Kind: ceremonyRegister, Binding: sess.ID, UserID: u.ID, Name: name, Session: *sd})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Ceremony: key, PublicKey: creation.Response}, nil
}

// finishRegister checks the attestation and stores the new key.
func (h *Handler) finishRegister(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, _ = h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	sess, u, err := h.signedInJSON(r)
	if err != nil {
		return 0, nil, err
	}
	if status, reply := h.stepUpJSON(sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	ctx := r.Context()
	c, err := h.takeCeremony(ctx, req.Ceremony, ceremonyRegister, sess.ID)
	if err != nil {
		return 0, nil, err
	}
	if c == nil || c.UserID != u.ID {
		return http.StatusBadRequest, &jsonReply{Error: msgKeyExpired}, nil
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Credential)
	if err != nil {
		h.event(ctx, storage.EventWebAuthnRegisterFailed, u.ID, "", describeWebAuthnError(err))
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNotAdded}, nil
	}
	cred, err := h.WebAuthn.CreateCredential(ku, c.Session, parsed)
	if err != nil {
		h.event(ctx, storage.EventWebAuthnRegisterFailed, u.ID, "", describeWebAuthnError(err))
		return http.StatusBadRequest, &jsonReply{Error: msgKeyNotAdded}, nil
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	err = h.Store.AddWebAuthnCredential(ctx, &storage.WebAuthnCredential{
		ID:              cred.ID,
		UserID:          u.ID,
		Name:            c.Name,
		PublicKey:       cred.PublicKey,
		SignCount:       cred.Authenticator.SignCount,
		BackupEligible:  cred.Flags.BackupEligible,
		BackupState:     cred.Flags.BackupState,
		Transports:      transports,
		AAGUID:          cred.Authenticator.AAGUID,
		AttestationType: cred.AttestationType,
		CreatedAt:       h.Now(),
	})
	if errors.Is(err, storage.ErrConflict) {
		return http.StatusConflict, &jsonReply{Error: msgKeyTaken}, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store webauthn credential: %w", err)
	}
	h.event(ctx, storage.EventFactorEnabled, u.ID, "", fmt.Sprintf("%s: %q", factorWebAuthn, c.Name))
	h.notify(ctx, u, "Two-factor authentication changed",
		i18n.Tf(langOf(ctx), "The security key or passkey %q was added to your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n", c.Name))
	// Like the other factors, the first one comes with recovery codes,
	// shown once.
	next := "/account/security?done=webauthn-on"
	left, err := h.Store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("count recovery codes: %w", err)
	}
	if left == 0 {
		if next, err = h.issueCodesToShow(ctx, u, sess.ID, next); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, &jsonReply{Redirect: next}, nil
}

// issueCodesToShow issues new recovery codes for u and keeps them, sealed,
// for the page that shows them once to the browser session sessionID; it
// returns that page's URL. A JSON step cannot show a page itself, and the
// codes never travel in a URL. Codes not shown within ceremonyTTL are not
// shown at all: the user creates new ones.
func (h *Handler) issueCodesToShow(ctx context.Context, u *storage.User, sessionID, next string) (string, error) {
	codes, err := h.issueRecoveryCodes(ctx, u)
	if err != nil {
		return "", err
	}
	sealed := h.Seal.Seal([]byte(strings.Join(codes, "\n")), showAAD(u.ID, sessionID))
	key, err := h.putCeremony(ctx, &ceremony{Kind: ceremonyShow, Binding: sessionID, UserID: u.ID, Codes: sealed, Next: next})
	if err != nil {
		return "", err
	}
	return "/account/security/recovery/show?c=" + url.QueryEscape(key), nil
}

func showAAD(userID, sessionID string) []byte {
	return []byte("recovery-show:" + userID + ":" + sessionID)
}

// showIssuedCodes shows the recovery codes kept by issueCodesToShow, once;
// afterwards (or for another browser) it leads to the security page.
func (h *Handler) showIssuedCodes(w http.ResponseWriter, r *http.Request) error {
	sess, u, err := h.signedIn(r)
	if err != nil {
		return err
	}
	c, err := h.takeCeremony(r.Context(), r.URL.Query().Get("c"), ceremonyShow, sess.ID)
	if err != nil {
		return err
	}
	if c == nil || c.UserID != u.ID {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return nil
	}
	plain, err := h.Seal.Open(c.Codes, showAAD(u.ID, sess.ID))
	if err != nil {
		return fmt.Errorf("open recovery codes to show: %w", err)
	}
	h.renderRecoveryCodes(w, r, strings.Split(string(plain), "\n"), c.Next)
	return nil
}

// ---- the security page and removal ----

// keysView lists u's keys for the security page, with the register
// button; nil while keys are off.
func (h *Handler) keysView(r *http.Request, u *storage.User) (*webauthnView, error) {
	if h.WebAuthn == nil {
		return nil, nil
	}
	keys, err := h.Store.WebAuthnCredentials(r.Context(), u.ID)
	if err != nil {
		return nil, fmt.Errorf("load webauthn credentials: %w", err)
	}
	v := &webauthnView{
		Mode:  ceremonyRegister,
		Begin: "/account/security/webauthn/register/begin", Finish: "/account/security/webauthn/register/finish",
		CSRF: h.csrfToken("session", h.cookieValue(r, sessionCookie)),
	}
	for _, k := range keys {
		kv := keyView{
			ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name,
			Created: i18n.FormatTime(langOf(r.Context()), k.CreatedAt),
			Synced:  k.BackupEligible, Flagged: k.CloneWarning,
		}
		if !k.LastUsedAt.IsZero() {
			kv.LastUsed = i18n.FormatTime(langOf(r.Context()), k.LastUsedAt)
		}
		v.Keys = append(v.Keys, kv)
	}
	return v, nil
}

// removePage is the confirmation page of removing key id.
func (h *Handler) removePage(r *http.Request, id string) *page {
	return &page{
		Title:     "Remove a security key",
		CSRF:      h.csrfToken("session", h.cookieValue(r, sessionCookie)),
		Action:    "/account/security/webauthn/remove-confirm",
		Hidden:    map[string]string{"id": id},
		ShowForm:  true,
		CancelURL: "/account/security",
	}
}

// removeKey starts removing a key. Like disabling any factor it needs
// proof of a factor: a code of the authenticator app or email when the
// user has one, else (keys are the only factor) a check with one of the
// user's keys, which may be the key being removed.
func (h *Handler) removeKey(w http.ResponseWriter, r *http.Request) error {
	r, ip := h.withIP(r)
	sess, u, err := h.accountForm(r)
	if err != nil {
		return err
	}
	if h.stepUp(w, r, sess, "/account/security") {
		return nil
	}
	ctx := r.Context()
	id := r.PostForm.Get("id")
	key, err := h.ownKey(ctx, u, id)
	if err != nil || key == nil {
		return err
	}
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return err
	}
	p := h.removePage(r, id)
	if until, err := h.OTPLimiter.Blocked(ctx, ip, u.ID); err != nil {
		return err
	} else if !until.IsZero() {
		p.Error, p.ShowForm = h.blockedMessage(ctx, until), false
		h.render(w, r, http.StatusTooManyRequests, "code.html", p)
		return nil
	}
	status := http.StatusOK
	switch {
	case r.PostForm.Get("method") == factorRecovery:
		// The key may be lost: one of the recovery codes confirms too.
		p.Message, p.Recovery = "Enter one of your recovery codes. Each code works once.", true
		p.Hidden["method"] = factorRecovery
	case hasTOTP:
		p.Message = i18n.Tf(langOf(ctx), "To remove %q, enter the code your authenticator app shows now, then click Apply.", key.Name)
		p.Hidden["method"] = factorTOTP
	case hasEmail:
		p.Message = i18n.Tf(langOf(ctx), "To remove %q, enter the code we emailed you, then click Apply.", key.Name)
		p.Hidden["method"] = factorEmail
		p.ResendAction = "/account/security/webauthn/remove-resend"
		res, err := h.sendCode(ctx, u, purposeRemoveKey, sess.ID, r.URL.Path == "/account/security/webauthn/remove-resend", ip)
		if err != nil {
			return err
		}
		p.Info, p.Error, status = res.info, res.alert, res.status()
	default:
		left, err := h.Store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		h.render(w, r, http.StatusOK, "webauthn.html", &page{
			Title:     "Remove a security key",
			Message:   i18n.Tf(langOf(ctx), "To remove %q, confirm with one of your security keys or passkeys.", key.Name),
			CancelURL: "/account/security",
			WebAuthn: &webauthnView{
				Mode: ceremonyRemove, Begin: "/account/security/webauthn/remove/begin",
				Finish: "/account/security/webauthn/remove/finish", CSRF: p.CSRF, KeyID: id,
				Recovery: left > 0,
			},
		})
		return nil
	}
	h.render(w, r, status, "code.html", p)
	return nil
}

// purposeRemoveKey is the purpose of emailed codes that remove a key.
const purposeRemoveKey = "remove-webauthn"

// ownKey returns u's key with the base64url id; a not-found page error
// when u has none.
func (h *Handler) ownKey(ctx context.Context, u *storage.User, id string) (*storage.WebAuthnCredential, error) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return nil, userError(http.StatusNotFound, "Not found", "There is no such security key.")
	}
	key, err := h.Store.WebAuthnCredentialByID(ctx, raw)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && key.UserID != u.ID) {
		return nil, userError(http.StatusNotFound, "Not found", "There is no such security key.")
	}
	if err != nil {
		return nil, fmt.Errorf("load webauthn credential: %w", err)
	}
	return key, nil
}

// removeKeyConfirm checks the code and removes the key.
func (h *Handler) removeKeyConfirm(w http.ResponseWriter, r *http.Request) error {
	r, ip := h.withIP(r)
	sess, u, err := h.accountForm(r)
	if err != nil {
		return err
	}
	if h.stepUp(w, r, sess, "/account/security") {
		return nil
	}
	ctx := r.Context()
	id := r.PostForm.Get("id")
	key, err := h.ownKey(ctx, u, id)
	if err != nil {
		return err
	}
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return err
	}
	factor := factorTOTP
	if !hasTOTP {
		factor = factorEmail
	}
	switch {
	case r.PostForm.Get("method") == factorRecovery:
		factor = factorRecovery
	case !hasTOTP && !hasEmail:
		// Keys are the only factor: the key check confirms instead.
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return nil
	}
	p := h.removePage(r, id)
	p.Hidden["method"] = factor
	if factor == factorRecovery {
		p.Message, p.Recovery = "Enter one of your recovery codes. Each code works once.", true
	}
	res, err := h.checkCode(ctx, u, factor, purposeRemoveKey, sess.ID, r.PostForm.Get("code"), true, ip)
	if err != nil {
		return err
	}
	if !res.ok {
		p.Error = res.message
		status := http.StatusForbidden // refused to a signed-in user, as in security.go
		if res.blocked {
			status, p.ShowForm = http.StatusTooManyRequests, false
		} else if factor == factorEmail {
			p.ResendAction = "/account/security/webauthn/remove-resend"
		}
		h.render(w, r, status, "code.html", p)
		return nil
	}
	return h.deleteKey(w, r, u, key)
}

// deleteKey removes key, records it and tells the user.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, u *storage.User, key *storage.WebAuthnCredential) error {
	ctx := r.Context()
	if err := h.Store.DeleteWebAuthnCredential(ctx, u.ID, key.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete webauthn credential: %w", err)
	}
	// Recovery codes stand in for a factor: with the last one they go.
	hasTOTP, hasEmail, err := h.factors(ctx, u)
	if err != nil {
		return err
	}
	if keys, err := h.hasKeys(ctx, u.ID); err != nil {
		return err
	} else if !hasTOTP && !hasEmail && !keys {
		if err := h.Store.ReplaceRecoveryCodes(ctx, u.ID, nil, h.Now()); err != nil {
			return fmt.Errorf("drop recovery codes: %w", err)
		}
	}
	h.event(ctx, storage.EventFactorDisabled, u.ID, "", fmt.Sprintf("%s: %q", factorWebAuthn, key.Name))
	h.notify(ctx, u, "Two-factor authentication changed",
		i18n.Tf(langOf(ctx), "The security key or passkey %q was removed from your Gatehouse account.\n\nIf this was not you, change your password and contact your administrator.\n", key.Name))
	if w != nil {
		http.Redirect(w, r, "/account/security?done=webauthn-off", http.StatusSeeOther)
	}
	return nil
}

// beginRemoveCheck starts the key check that confirms removing a key when
// keys are the user's only factor.
func (h *Handler) beginRemoveCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	req, err := h.readJSON(r)
	if err != nil {
		return 0, nil, err
	}
	sess, u, err := h.signedInJSON(r)
	if err != nil {
		return 0, nil, err
	}
	if status, reply := h.stepUpJSON(sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	key, err := h.ownKey(r.Context(), u, req.Key)
	if err != nil {
		return 0, nil, err
	}
	return h.beginAccountCheck(r.Context(), ip, sess, u, &ceremony{Kind: ceremonyRemove, KeyID: key.ID})
}

// finishRemoveCheck checks the key and removes the key named at begin.
func (h *Handler) finishRemoveCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	chk, status, reply, err := h.finishAccountCheck(r, ip, ceremonyRemove)
	if chk == nil {
		return status, reply, err
	}
	if status, reply := h.stepUpJSON(chk.sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	if key := chk.ku.key(chk.c.KeyID); key != nil {
		if err := h.deleteKey(nil, r, chk.ku.u, key); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, &jsonReply{Redirect: "/account/security?done=webauthn-off"}, nil
}

// codesKeyCheck is the page that confirms new recovery codes with a key,
// for users whose only factor is keys (the others enter a code).
func (h *Handler) codesKeyCheck(w http.ResponseWriter, r *http.Request, u *storage.User) error {
	if ok, err := h.hasKeys(r.Context(), u.ID); err != nil {
		return err
	} else if !ok {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return nil
	}
	h.render(w, r, http.StatusOK, "webauthn.html", &page{
		Title:     "Recovery codes",
		Message:   "To get new recovery codes, confirm with one of your security keys or passkeys. The old codes stop working.",
		CancelURL: "/account/security",
		WebAuthn: &webauthnView{
			Mode: ceremonyCodes, Begin: "/account/security/recovery/key/begin",
			Finish: "/account/security/recovery/key/finish", CSRF: h.csrfToken("session", h.cookieValue(r, sessionCookie)),
		},
	})
	return nil
}

// beginCodesCheck starts the key check that confirms new recovery codes.
func (h *Handler) beginCodesCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	if _, err := h.readJSON(r); err != nil {
		return 0, nil, err
	}
	sess, u, err := h.signedInJSON(r)
	if err != nil {
		return 0, nil, err
	}
	if status, reply := h.stepUpJSON(sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	return h.beginAccountCheck(r.Context(), ip, sess, u, &ceremony{Kind: ceremonyCodes})
}

// finishCodesCheck checks the key and issues new recovery codes, shown
// once by the page it leads to.
func (h *Handler) finishCodesCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	r, ip := h.withIP(r)
	chk, status, reply, err := h.finishAccountCheck(r, ip, ceremonyCodes)
	if chk == nil {
		return status, reply, err
	}
	if status, reply := h.stepUpJSON(chk.sess, "/account/security"); reply != nil {
		return status, reply, nil
	}
	u := chk.ku.u
	next, err := h.issueCodesToShow(r.Context(), u, chk.sess.ID, "/account/security?done=codes")
	if err != nil {
		return 0, nil, err
	}
	h.notify(r.Context(), u, "New recovery codes", "New recovery codes were created for your Gatehouse account; the old ones no longer work.\n\nIf this was not you, change your password and contact your administrator.\n")
	return http.StatusOK, &jsonReply{Redirect: next}, nil
}

// beginAccountCheck starts a check with one of the signed-in user's keys
// that confirms the account change c describes (its kind, and what it
// changes), under the attempt limits of every code.
func (h *Handler) beginAccountCheck(ctx context.Context, ip netip.Addr, sess *storage.Session, u *storage.User, c *ceremony) (int, *jsonReply, error) {
	if reply, err := h.keyBlocked(ctx, ip, u.ID); reply != nil || err != nil {
		return http.StatusTooManyRequests, reply, err
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	if reply := usableKeys(ku); reply != nil {
		return http.StatusUnauthorized, reply, nil
	}
	assertion, sd, err := h.WebAuthn.BeginLogin(ku, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return 0, nil, fmt.Errorf("begin webauthn check: %w", err)
	}
	c.Binding, c.UserID, c.Session = sess.ID, u.ID, *sd
	key, err := h.putCeremony(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, &jsonReply{Ceremony: key, PublicKey: assertion.Response}, nil
}

// accountCheck is a passed key check of an account change.
type accountCheck struct {
	sess *storage.Session
	ku   *keyUser  // the user and their keys
	c    *ceremony // as begun
}

// finishAccountCheck checks the assertion of an account change of kind.
// It returns the passed check, or nil and the answer to give: a failure
// counts like a wrong code.
func (h *Handler) finishAccountCheck(r *http.Request, ip netip.Addr, kind string) (*accountCheck, int, *jsonReply, error) {
	req, err := h.readJSON(r)
	if err != nil {
		return nil, 0, nil, err
	}
	sess, u, err := h.signedInJSON(r)
	if err != nil {
		return nil, 0, nil, err
	}
	ctx := r.Context()
	// The attempt is counted before the assertion is checked, as a code's
	// is (tryCode); one whose ceremony could not be read is given back.
	attempt, until, err := h.OTPLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	if attempt == nil {
		return nil, http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, until)}, nil
	}
	fail := func(reason string) (*accountCheck, int, *jsonReply, error) {
		res := attempt.Failed()
		h.factorEvent(ctx, storage.EventCodeFailed, u.ID, "", factorWebAuthn, reason)
		if !res.BlockedUntil.IsZero() {
			return nil, http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, res.BlockedUntil)}, nil
		}
		return nil, http.StatusUnauthorized, &jsonReply{Error: i18n.Tf(langOf(ctx), msgKeyFailed, res.Remaining)}, nil
	}
	c, err := h.takeCeremony(ctx, req.Ceremony, kind, sess.ID)
	if err != nil {
		return nil, 0, nil, errors.Join(err, attempt.Cancel(context.WithoutCancel(ctx)))
	}
	if c == nil || c.UserID != u.ID {
		return fail("no such challenge (expired or used)")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return fail("bad assertion: " + describeWebAuthnError(err))
	}
	ku, err := h.keyUserOf(ctx, u)
	if err != nil {
		return nil, 0, nil, err
	}
	cred, err := h.WebAuthn.ValidateLogin(ku, c.Session, parsed)
	if err != nil {
		return fail(describeWebAuthnError(err))
	}
	if ok, err := h.recordUse(ctx, ku, cred, ""); err != nil {
		return nil, 0, nil, err
	} else if !ok {
		return nil, http.StatusUnauthorized, &jsonReply{Error: msgKeyRefused}, nil
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return nil, 0, nil, err
	}
	return &accountCheck{sess: sess, ku: ku, c: c}, 0, nil, nil
}

// passkeyView is the "Sign in with a passkey" button of the sign-in page,
// or nil while keys are off.
func (h *Handler) passkeyView(authRequestID, flow string) *webauthnView {
	if h.WebAuthn == nil {
		return nil
	}
	return &webauthnView{
		Mode: ceremonyPasskey, Begin: "/login/passkey/begin", Finish: "/login/passkey/finish",
		CSRF: h.csrfToken("login", flow), AuthRequestID: authRequestID,
	}
}
