package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

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
	if nextStep(signIn{On: onPostKey, Outcome: blocked, User: ar.UserID != ""}).Step == stepPassword {
		if err := h.endPending(ctx, ar); err != nil {
			return 0, nil, err
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
	res, err := a.Failed(ctx)
	if err != nil {
		return 0, nil, err
	}
	return h.keyOutcome(ctx, res, ar, u, ip, reason)
}

// beginKeyCheck begins the check of one of u's keys that ceremony c (its
// kind and binding set) is for, under the attempt limits of every code.
func (h *Handler) beginKeyCheck(ctx context.Context, ip netip.Addr, u *storage.User, c *ceremony) (int, *jsonReply, error) {
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
		return 0, nil, fmt.Errorf("begin webauthn %s check: %w", c.Kind, err)
	}
	c.UserID, c.Session = u.ID, *sd
	return h.ceremonyBegun(ctx, c, assertion.Response)
}

// keyCheck is a passed check of one of a user's keys (finishKeyCheck).
type keyCheck struct {
	ku     *keyUser                                // the user and their keys
	c      *ceremony                               // as begun
	cred   *webauthn.Credential                    // the key that answered
	parsed *protocol.ParsedCredentialAssertionData // its assertion
}

// finishKeyCheck checks credential, the assertion of one of u's keys,
// against the ceremony key of kind bound to binding (as beginKeyCheck
// began it), under the attempt limits of every code: the attempt is
// counted before the assertion is checked, as a code's is (tryCode). It
// returns the passed check, or nil and the answer to give.
//
// Every way out reports the attempt's outcome exactly once: a success; a
// wrong assertion, which failed reports (with the reason, for the audit
// log) and answers; and otherwise (the ceremony could not be read, an
// error, a refused key) the attempt is given back, so that none stays
// pending and fills the limits until their window ends. A refused key
// (flagged as a possible copy, or removed) is no wrong guess: refused, if
// not nil, records it, and it is answered uncounted, as at the passkey
// step. clientID is the client a sign-in's key is used for, or "".
func (h *Handler) finishKeyCheck(ctx context.Context, ip netip.Addr, u *storage.User, key, kind, binding string, credential []byte, clientID string,
	failed func(a *lockout.Attempt, reason string) (int, *jsonReply, error), refused func()) (*keyCheck, int, *jsonReply, error) {
	attempt, until, err := h.OTPLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	if attempt == nil {
		return nil, http.StatusTooManyRequests, &jsonReply{Error: h.blockedMessage(ctx, until)}, nil
	}
	reported := false
	defer func() {
		if !reported {
			if err := attempt.Cancel(context.WithoutCancel(ctx)); err != nil {
				h.Logger.WarnContext(ctx, "give back a security key attempt", "err", err)
			}
		}
	}()
	fail := func(reason string) (*keyCheck, int, *jsonReply, error) {
		reported = true
		status, reply, err := failed(attempt, reason)
		return nil, status, reply, err
	}
	c, err := h.takeCeremony(ctx, key, kind, binding)
	if err != nil {
		return nil, 0, nil, err
	}
	if c == nil || c.UserID != u.ID {
		return fail("no such challenge (expired or used)")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
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
	if ok, err := h.recordUse(ctx, ku, cred, clientID); err != nil {
		return nil, 0, nil, err
	} else if !ok {
		if refused != nil {
			refused()
		}
		return nil, http.StatusUnauthorized, &jsonReply{Error: msgKeyRefused}, nil
	}
	reported = true
	if err := attempt.Succeeded(ctx); err != nil {
		return nil, 0, nil, err
	}
	return &keyCheck{ku: ku, c: c, cred: cred, parsed: parsed}, 0, nil, nil
}

// keyBlocked answers 429 when ip or the account is blocked.
func (h *Handler) keyBlocked(ctx context.Context, ip netip.Addr, userID string) (*jsonReply, error) {
	until, err := h.OTPLimiter.Blocked(ctx, ip, userID)
	if err != nil || until.IsZero() {
		return nil, err
	}
	return &jsonReply{Error: h.blockedMessage(ctx, until)}, nil
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
