package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/totp"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Messages of the second factor. DESIGN.md fixes the first two.
const (
	msgWrongCode    = "Invalid One Time Password! (Attempts left: %d)"
	msgCodeSent     = "We sent a 6-digit code to %s."
	msgCodeResent   = "We sent a new code to %s. The previous code no longer works."
	msgCooldown     = "A code was sent a moment ago. You can ask for another one in %d seconds."
	msgTooManyCodes = "Too many codes were sent. Please try again later in %d minutes."
	msgSendFailed   = "We couldn't send the code, try again."
	msgCodeExpired  = "This code has expired or was replaced by a newer one. Ask for a new code."
	msgStartAgain   = "Too many wrong codes. Please sign in again."
	msgNoPending    = "There is no code waiting for you. Ask for a new code."
	msgCodeRequired = "Enter the 6-digit code."
	msgNoTOTPSetup  = "No authenticator app setup is in progress. Please start again."
)

// Code purposes (the "purpose" of storage.OneTimeCode).
const (
	purposeSignIn       = "signin"
	purposeEnableEmail  = "enable-email"
	purposeDisableEmail = "disable-email"
	purposeRegenerate   = "regenerate-recovery"
)

// Factor names as they appear in forms and events.
const (
	factorTOTP  = "totp"
	factorEmail = "email"
)

// amrFor is the RFC 8176 amr of a sign-in with the password and factor.
// An emailed code is "email" rather than "otp", so relying parties can
// tell it from the authenticator app.
func amrFor(factor string) []string {
	if factor == factorEmail {
		return []string{"pwd", "email", "mfa"}
	}
	return []string{"pwd", "otp", "mfa"}
}

// ACRMFA is the acr of a sign-in with a second factor; a client asking
// acr_values for it gets no token without one.
const ACRMFA = "urn:gatehouse:loa:2"

// ACRPhishingResistant is the acr of a sign-in with a security key or
// passkey; a client asking acr_values for it accepts no other factor.
const ACRPhishingResistant = "urn:gatehouse:loa:3"

// msgKeyRequired refuses a factor other than a key where the client asked
// for phishing-resistant authentication.
const msgKeyRequired = "This application accepts only a security key or passkey as second factor. Add one to your account, then sign in again."

// keyRequired reports whether ar accepts only a security key or passkey.
func keyRequired(ar *storage.AuthRequest) bool {
	return slices.Contains(ar.ACRValues, ACRPhishingResistant)
}

// usedKey reports whether amr shows a security key or passkey.
func usedKey(amr []string) bool {
	return slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")
}

// factors reports which second factors u has enabled.
func (h *Handler) factors(ctx context.Context, u *storage.User) (hasTOTP, hasEmail bool, err error) {
	t, err := h.Store.TOTPByUser(ctx, u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return false, false, fmt.Errorf("load totp: %w", err)
	default:
		hasTOTP = t.Confirmed
	}
	return hasTOTP, u.EmailOTP, nil
}

// codeHash is the stored form of an emailed code: an HMAC bound to its
// user, purpose and binding, so a stolen table reveals nothing.
func (h *Handler) codeHash(userID, purpose, binding, code string) []byte {
	m := hmac.New(sha256.New, h.CodeKey[:])
	fmt.Fprintf(m, "%s\x00%s\x00%s\x00%s", userID, purpose, binding, code)
	return m.Sum(nil)
}

// newCode returns 6 uniformly random digits.
func newCode() string {
	var b [8]byte
	for {
		rand.Read(b[:])
		// Reject the top sliver so every code is equally likely.
		if v := binary.BigEndian.Uint64(b[:]); v < (1<<64-1)/1_000_000*1_000_000 {
			return fmt.Sprintf("%06d", v%1_000_000)
		}
	}
}

// sendResult is what sending a code led to, for the page to say.
type sendResult struct {
	info  string // shown as information
	alert string // shown as an error
	// limited says that nothing was sent because of the resend cooldown
	// or the cap on code emails: the page answers 429.
	limited bool
	// codeLeft is how long the live code stays valid, resendWait how long
	// the cooldown still runs; nil when none.
	codeLeft, resendWait *countdown
}

// show puts r on p: the messages, the time the code has left and, when p
// offers Resend, its cooldown.
func (r sendResult) show(p *page) {
	p.Info, p.Error, p.CodeLeft = r.info, r.alert, r.codeLeft
	if p.ResendAction != "" {
		p.ResendWait = r.resendWait
	}
}

// codeTimes puts on p the time the live code of (userID, purpose,
// binding) has left and, when p offers Resend, its cooldown.
func (h *Handler) codeTimes(ctx context.Context, userID, purpose, binding string, p *page) error {
	now := h.Now()
	c, err := h.Store.LatestCode(ctx, userID, purpose, binding, now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load code: %w", err)
	}
	p.CodeLeft = newCountdown(c.ExpiresAt.Sub(now))
	if p.ResendAction != "" {
		p.ResendWait = newCountdown(c.CreatedAt.Add(h.ResendCooldown).Sub(now))
	}
	return nil
}

// status is the HTTP status of a page that reports r.
func (r sendResult) status() int {
	if r.limited {
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// sendCode makes a new code the only live one of (u, purpose, binding) and
// emails it. The resend cooldown applies; a code that could not be sent
// changes nothing.
//
// The new code is stored pending: it holds the cooldown, but the user's
// previous code stays live, as it is, while the email is sent. Once sent,
// ActivateCode makes the new code the only live one; not sent,
// DiscardCode drops it and nothing else. No code is ever copied back, so
// a code used in the meantime stays used.
func (h *Handler) sendCode(ctx context.Context, u *storage.User, purpose, binding string, resend bool, ip netip.Addr) (sendResult, error) {
	now := h.Now()
	code := newCode()
	c := &storage.OneTimeCode{
		ID:        newSecret()[:22],
		UserID:    u.ID,
		Purpose:   purpose,
		Binding:   binding,
		Hash:      h.codeHash(u.ID, purpose, binding, code),
		CreatedAt: now,
		ExpiresAt: now.Add(h.EmailCodeTTL),
		Pending:   true,
	}
	// The cooldown is checked and the new code stored atomically: of
	// parallel requests one wins.
	err := h.Store.IssueCode(ctx, c, h.ResendCooldown, now)
	if errors.Is(err, storage.ErrConflict) {
		wait := h.ResendCooldown
		var left *countdown
		if last, err := h.Store.LatestCode(ctx, u.ID, purpose, binding, now); err == nil {
			left = newCountdown(last.ExpiresAt.Sub(now))
			// A live code older than the cooldown: the newer code that
			// holds it is pending, its email being sent.
			if w := last.CreatedAt.Add(h.ResendCooldown).Sub(now); w > 0 {
				wait = w
			}
		}
		return sendResult{limited: true, alert: i18n.Tf(langOf(ctx), msgCooldown, max(1, int((wait+time.Second-1)/time.Second))),
			codeLeft: left, resendWait: newCountdown(wait)}, nil
	}
	if err != nil {
		return sendResult{}, fmt.Errorf("issue code: %w", err)
	}
	// The bookkeeping after the send does not depend on the browser
	// waiting for it: an email that went out makes its code live.
	dctx := context.WithoutCancel(ctx)
	// A code that is not sent is dropped, and the code the user already
	// had was never touched: an unsent code changes nothing and costs no
	// cooldown.
	unsent := func() error {
		if err := h.Store.DiscardCode(dctx, c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("discard unsent code: %w", err)
		}
		return nil
	}
	// Every email counts against the cap per account and per client IP,
	// taken once the cooldown let this one through; one that is not sent
	// gives its place back.
	sent, capped, err := h.MailLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return sendResult{}, errors.Join(err, unsent())
	}
	if sent == nil {
		h.record(ctx, &storage.Event{Type: storage.EventCodeCapped, UserID: u.ID, Detail: purpose, Purpose: purpose})
		if err := unsent(); err != nil {
			return sendResult{}, err
		}
		return sendResult{limited: true, alert: i18n.Tf(langOf(ctx), msgTooManyCodes, max(1, lockout.MinutesLeft(now, capped)))}, nil
	}
	lang := langOf(ctx)
	msg := h.codeMessage(lang, u.Email, purpose, code)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 12*time.Second)
	defer cancel()
	if err := h.Mailer.Send(sctx, msg); err != nil {
		h.Logger.WarnContext(ctx, "code email not sent", "user_id", u.ID, "purpose", purpose, "err", err)
		h.record(ctx, &storage.Event{Type: storage.EventCodeSendFailed, UserID: u.ID, Detail: purpose, Purpose: purpose})
		if err := errors.Join(unsent(), sent.Cancel(dctx)); err != nil {
			return sendResult{}, err
		}
		return sendResult{alert: msgSendFailed}, nil
	}
	// The email is out: its code becomes the only live one. One voided
	// meanwhile (wrong entries of the previous code, a block, a newer
	// code sent first) stays void.
	if err := h.Store.ActivateCode(dctx, c.ID); errors.Is(err, storage.ErrNotFound) {
		h.Logger.InfoContext(ctx, "code voided while its email was sent", "user_id", u.ID, "purpose", purpose)
	} else if err != nil {
		return sendResult{}, fmt.Errorf("activate code: %w", err)
	}
	if err := sent.Counted(dctx); err != nil {
		return sendResult{}, err
	}
	h.record(ctx, &storage.Event{Type: storage.EventCodeSent, UserID: u.ID, Detail: purpose, Purpose: purpose})
	info := i18n.Tf(lang, msgCodeSent, maskEmail(u.Email))
	if resend {
		info = i18n.Tf(lang, msgCodeResent, maskEmail(u.Email))
	}
	if note := h.outboxNote(); note != "" {
		info += " " + i18n.T(lang, note)
	}
	return sendResult{info: info, codeLeft: newCountdown(h.EmailCodeTTL), resendWait: newCountdown(h.ResendCooldown)}, nil
}

// msgInOutbox tells, in development, where the emails are.
const msgInOutbox = "Development mode: no SMTP server is configured, so emails are not sent but written to the mail outbox on the server (its directory is shown at start-up)."

// outboxNote is msgInOutbox with MailOutbox, or "".
func (h *Handler) outboxNote() string {
	if h.MailOutbox {
		return msgInOutbox
	}
	return ""
}

// codeText is what a code email says about the code's purpose: why it
// was sent, and what to do if the user did not ask for it.
type codeText struct {
	why, notYou string
}

// notYouAccount is the warning of the codes asked for from the account
// area, which only a signed-in user reaches.
const notYouAccount = "If you did not ask for this, someone may be signed in to your account: change your password and sign out everywhere."

// codeTexts gives each code purpose its own sentences, in English (the
// catalog keys).
var codeTexts = map[string]codeText{
	purposeSignIn: {
		why:    "Use this code to finish signing in to your Gatehouse account:",
		notYou: "If you did not try to sign in, someone knows your password: change it.",
	},
	purposeEnableEmail: {
		why:    "Use this code to turn on email codes as a second factor for your Gatehouse account:",
		notYou: notYouAccount,
	},
	purposeDisableEmail: {
		why:    "Use this code to turn off email codes as a second factor for your Gatehouse account:",
		notYou: notYouAccount,
	},
	purposeRegenerate: {
		why:    "Use this code to create new recovery codes for your Gatehouse account:",
		notYou: notYouAccount,
	},
	purposeChangePassword: {
		why:    "Use this code to change the password of your Gatehouse account:",
		notYou: notYouAccount,
	},
	purposeReauth: {
		why:    "Use this code to confirm it is you before you change the security settings of your Gatehouse account:",
		notYou: notYouAccount,
	},
	purposeRemoveKey: {
		why:    "Use this code to remove a security key from your Gatehouse account:",
		notYou: notYouAccount,
	},
}

// codeMessage is the email that carries code, for purpose, to the address
// to, in lang. The code is on a line of its own, and in the subject only
// with CodeInSubject.
func (h *Handler) codeMessage(lang i18n.Lang, to, purpose, code string) mail.Message {
	t, ok := codeTexts[purpose]
	if !ok {
		t = codeText{why: "Your one-time code for your Gatehouse account:", notYou: notYouAccount}
	}
	subject := i18n.T(lang, "Your Gatehouse code")
	if h.CodeInSubject {
		subject = i18n.Tf(lang, "Your Gatehouse code: %s", code)
	}
	text := i18n.T(lang, t.why) + "\n\n" + code + "\n\n" +
		i18n.Tf(lang, "It is valid for %d seconds. Do not share it with anyone.", int(h.EmailCodeTTL/time.Second)) + "\n\n" +
		i18n.T(lang, t.notYou) + "\n"
	return mail.Message{To: to, Subject: subject, Text: text, Lang: string(lang)}
}

// codeCheck is the outcome of checking a code under the limiter.
type codeCheck struct {
	ok      bool
	message string // for the page when !ok
	blocked bool   // the IP or account is now blocked
	// attempt is the reserved attempt of a right code whose release the
	// caller makes (tryCode); nil otherwise.
	attempt *lockout.Attempt
	// use is the use of a right code that the sign-in's end makes
	// (tryCode with pending): the code is checked, not used yet.
	use *storage.FactorUse
}

// checkCode verifies a code for factor under the one limiter of every code
// check. For TOTP it consumes the time step (confirmed says whether the
// secret must already be active); for email the newest code of
// (purpose, binding).
func (h *Handler) checkCode(ctx context.Context, u *storage.User, factor, purpose, binding, code string, confirmed bool, ip netip.Addr) (codeCheck, error) {
	res, err := h.tryCode(ctx, u, factor, purpose, binding, code, confirmed, ip, nil)
	if err != nil || !res.ok {
		return res, err
	}
	return res, res.attempt.Succeeded(ctx)
}

// errNotPending says that the step a code was posted to ended while the
// attempt was reserved: another request completed or ended it.
var errNotPending = userError(http.StatusBadRequest, "Sign-in expired", msgExpired)

// tryCode is checkCode in two halves: the attempt is reserved (counted)
// before the code is verified, so that parallel guesses get no more checks
// than the limits allow, and a right code's attempt is left for the caller
// to release with res.attempt.Succeeded once the step it unlocks is done.
// pending, when set, is asked after the reservation whether the step is
// still waiting for this code: a sign-in completed or ended by a parallel
// request meanwhile answers errNotPending, and the attempt is given back.
//
// With pending (a sign-in's code step), a right code is checked but not
// used: res.use is its use, which the sign-in's end makes in the
// transaction that completes it (codeSignInDone), so that a completion
// that fails leaves the code for the retry. A use that loses to another
// request then fails the attempt (codeFailed), as a replayed code does
// here.
func (h *Handler) tryCode(ctx context.Context, u *storage.User, factor, purpose, binding, code string, confirmed bool, ip netip.Addr, pending func(context.Context) (bool, error)) (codeCheck, error) {
	attempt, until, err := h.OTPLimiter.Reserve(ctx, ip, u.ID)
	if err != nil {
		return codeCheck{}, err
	}
	if attempt == nil {
		return codeCheck{message: h.blockedMessage(ctx, until), blocked: true}, nil
	}
	if pending != nil {
		still, err := pending(ctx)
		if err == nil && !still {
			err = errNotPending
		}
		if err != nil {
			return codeCheck{}, errors.Join(err, attempt.Cancel(ctx))
		}
	}
	code = strings.TrimSpace(code)
	use, ok, err := h.verify(ctx, u, factor, purpose, binding, code, confirmed, pending == nil)
	if err != nil {
		// Not checked: the attempt is given back.
		return codeCheck{}, errors.Join(err, attempt.Cancel(ctx))
	}
	if ok {
		return codeCheck{ok: true, attempt: attempt, use: use}, nil
	}
	return h.codeFailed(ctx, u, factor, purpose, binding, ip, attempt)
}

// codeFailed counts the reserved attempt at a code for factor as a
// failure, voids the codes of (purpose, binding) if that blocks, and says
// so.
func (h *Handler) codeFailed(ctx context.Context, u *storage.User, factor, purpose, binding string, ip netip.Addr, attempt *lockout.Attempt) (codeCheck, error) {
	res, err := attempt.Failed(ctx)
	if err != nil {
		return codeCheck{}, err
	}
	h.factorEvent(ctx, storage.EventCodeFailed, u.ID, "", factor, "")
	if res.BlockedUntil.IsZero() {
		return codeCheck{message: i18n.Tf(langOf(ctx), msgWrongCode, res.Remaining)}, nil
	}
	// The limit is reached: the pending email code dies with it.
	if err := h.Store.VoidCodes(ctx, u.ID, purpose, binding); err != nil {
		return codeCheck{}, fmt.Errorf("void codes: %w", err)
	}
	h.event(ctx, storage.EventCodeBlocked, u.ID, "", "client IP "+ip.String()+" or account blocked until "+res.BlockedUntil.UTC().Format(time.RFC3339))
	h.Logger.WarnContext(ctx, "code attempts exhausted: blocked", "user_id", u.ID, "until", res.BlockedUntil)
	h.notify(ctx, u, "Sign-ins to your Gatehouse account were blocked",
		"Someone entered wrong one-time codes for your account several times, so Gatehouse blocked further attempts for a while.\n\nIf this was not you, your password is known to someone else: change it.\n")
	return codeCheck{message: h.blockedMessage(ctx, res.BlockedUntil), blocked: true}, nil
}

// verify checks code for factor. With consume it uses the code up, and
// a code used already is wrong; without, a right code is left unused and
// verify returns its use, for the sign-in's end (CompleteSignIn) to make.
// A recovery code is then checked by its use alone: its hash is the use.
func (h *Handler) verify(ctx context.Context, u *storage.User, factor, purpose, binding, code string, confirmed, consume bool) (*storage.FactorUse, bool, error) {
	switch factor {
	case factorTOTP:
		t, err := h.Store.TOTPByUser(ctx, u.ID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && t.Confirmed != confirmed) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("load totp: %w", err)
		}
		secret, err := h.Seal.Open(t.Secret, totpAAD(u.ID))
		if err != nil {
			return nil, false, fmt.Errorf("open totp secret of %s: %w", u.ID, err)
		}
		step, ok := totp.Verify(string(secret), code, h.Now(), t.LastStep)
		if !ok {
			return nil, false, nil
		}
		if !consume {
			return &storage.FactorUse{TOTPSecret: t.Secret, TOTPStep: step}, true, nil
		}
		// Only this secret: a new enrolment may have replaced it since.
		err = h.Store.UseTOTPStep(ctx, u.ID, step, confirmed, t.Secret)
		if errors.Is(err, storage.ErrReplayed) || errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil // another request used this step first
		}
		return nil, err == nil, err
	case factorRecovery:
		if !consume {
			if code = normalizeRecoveryCode(code); code == "" {
				return nil, false, nil
			}
			return &storage.FactorUse{RecoveryHash: h.recoveryHash(u.ID, code)}, true, nil
		}
		ok, err := h.useRecoveryCode(ctx, u, code)
		return nil, ok, err
	case factorEmail:
		c, err := h.Store.LatestCode(ctx, u.ID, purpose, binding, h.Now())
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("load code: %w", err)
		}
		ok, err := h.checkEmailCode(ctx, u, c, code, consume)
		if !ok || err != nil || consume {
			return nil, ok, err
		}
		return &storage.FactorUse{CodeID: c.ID}, true, nil
	}
	return nil, false, nil
}

func totpAAD(userID string) []byte { return []byte("totp:" + userID) }

// checkEmailCode checks code against the emailed code c under c's own
// counter: after as many wrong entries as one address may make
// (OTPLimiter.IP.Max), from any addresses, c is void, so that rotating
// addresses gets a code no more guesses than one address does. Each entry
// takes its place on the counter before it is compared (a reservation, one
// atomic statement), so that entries posted at once from many addresses,
// each within its own address's limit, are not all compared with c while
// none has failed yet: those beyond the limit are refused unchecked, and
// so is every entry once the limit is spent, c being void. The counter
// blocks nothing (a zero block) and ends with c. With consume a right
// code is used up; without, it is left for the sign-in's end (verify).
func (h *Handler) checkEmailCode(ctx context.Context, u *storage.User, c *storage.OneTimeCode, code string, consume bool) (bool, error) {
	key := lockout.CodeCounter(h.OTPLimiter.Scope, c.ID).String()
	lim := storage.Limit{Max: h.OTPLimiter.IP.Max, Window: h.EmailCodeTTL}
	res, err := h.OTPLimiter.Store.ReserveAttempt(ctx, key, lim, h.Now())
	if err != nil {
		return false, fmt.Errorf("count code entry: %w", err)
	}
	if !res.Granted {
		return false, nil // c's entries are being checked
	}
	if res.Counter.Failures > lim.Max {
		// c's entries are spent: with no block to refuse it, the
		// counter grants one attempt at a time past its limit.
		if err := h.OTPLimiter.Store.ReleaseAttempts(ctx, key, 1, res.WindowStart, lim.Max); err != nil {
			return false, fmt.Errorf("give back code entry: %w", err)
		}
		return false, nil
	}
	if len(code) != 6 || !hmac.Equal(c.Hash, h.codeHash(u.ID, c.Purpose, c.Binding, code)) {
		cnt, err := h.OTPLimiter.Store.FailAttempt(ctx, key, lim, res.WindowStart, h.Now())
		if err != nil {
			return false, fmt.Errorf("count wrong code: %w", err)
		}
		if cnt.Failures < lim.Max {
			return false, nil
		}
		if err := h.Store.VoidCodes(ctx, c.UserID, c.Purpose, c.Binding); err != nil {
			return false, fmt.Errorf("void code: %w", err)
		}
		return false, nil
	}
	if !consume {
		return true, nil
	}
	// Right: c is used up, and its counter with it.
	err = h.Store.UseCode(ctx, c.ID, h.Now())
	if errors.Is(err, storage.ErrReplayed) || errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// blockedMessage is the block message in the language of the request in
// ctx, with the minutes left until.
func (h *Handler) blockedMessage(ctx context.Context, until time.Time) string {
	return i18n.Tf(langOf(ctx), msgBlocked, lockout.MinutesLeft(h.Now(), until))
}

// notify sends a security email; failures are logged, not shown.
func (h *Handler) notify(ctx context.Context, u *storage.User, subject, text string) {
	_ = h.sendMail(ctx, u, subject, text) // logged by sendMail
}

// sendMail sends a message to u and reports failure (logged) to the caller.
// A subject or text that is an English catalog key goes out in the
// language of the request in ctx; texts built with i18n.Tf arrive
// translated already.
func (h *Handler) sendMail(ctx context.Context, u *storage.User, subject, text string) error {
	lang := langOf(ctx)
	subject, text = i18n.T(lang, subject), i18n.T(lang, text)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 12*time.Second)
	defer cancel()
	if err := h.Mailer.Send(sctx, mail.Message{To: u.Email, Subject: subject, Text: text, Lang: string(lang)}); err != nil {
		h.Logger.WarnContext(ctx, "email not sent", "user_id", u.ID, "subject", subject, "err", err)
		return err
	}
	return nil
}

// event records an audit event and logs it.
func (h *Handler) event(ctx context.Context, typ storage.EventType, userID, clientID, detail string) {
	h.record(ctx, &storage.Event{Type: typ, UserID: userID, ClientID: clientID, Detail: detail})
}

// factorEvent records an audit event about a sign-in step or a check of
// factor, and logs it. Its detail is the factor, followed by ": " and why
// unless why is "".
func (h *Handler) factorEvent(ctx context.Context, typ storage.EventType, userID, clientID, factor, why string) {
	detail := factor
	if why != "" {
		detail += ": " + why
	}
	h.record(ctx, &storage.Event{Type: typ, UserID: userID, ClientID: clientID, Detail: detail, Factor: factor})
}

// record stamps e with the time and the client's IP address, stores it and
// logs it.
func (h *Handler) record(ctx context.Context, e *storage.Event) {
	e.Time = h.Now()
	if ip, ok := ctx.Value(clientIPKey{}).(netip.Addr); ok {
		e.IP = ip.String()
	}
	h.Logger.InfoContext(ctx, "audit", "event", string(e.Type), "user_id", e.UserID, "client_id", e.ClientID, "detail", e.Detail)
	if err := h.Store.AddEvent(ctx, e); err != nil {
		h.Logger.ErrorContext(ctx, "audit event not stored", "event", string(e.Type), "err", err)
	}
}

type clientIPKey struct{}

// withIP remembers the request's client IP for audit events.
func (h *Handler) withIP(r *http.Request) (*http.Request, netip.Addr) {
	ip := h.ClientIP(r)
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)), ip
}

// maskEmail shows enough of an address to recognise it.
func maskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return s
	}
	return local[:1] + strings.Repeat("•", min(len(local)-1, 5)) + "@" + domain
}
