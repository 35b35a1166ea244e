// Package lockout limits failed attempts per client IP and per account,
// with the counters kept in the database so that every replica sees the
// same blocks.
//
// A Limiter guards one kind of secret (the password, later the one-time
// codes). Its counters are keyed "<scope>:ip:<addr>" and
// "<scope>:acct:<account>" (see Key); a Limiter may also honour the IP
// blocks of other scopes, so that a block earned at one step closes every
// step.
package lockout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Store is the part of storage.AttemptStore the limiter needs: its
// counters, without listing or clearing blocks.
type Store interface {
	ReserveAttempt(ctx context.Context, key string, l storage.Limit, now time.Time) (storage.Reservation, error)
	ReleaseAttempts(ctx context.Context, key string, n int, windowStart time.Time, max int) error
	RecordFailure(ctx context.Context, key string, l storage.Limit, now time.Time) (storage.Counter, error)
	Blocked(ctx context.Context, keys []string, now time.Time) (storage.Counter, error)
	ResetFailures(ctx context.Context, key string) error
}

// Limiter counts failures of one scope.
type Limiter struct {
	Store Store
	Now   func() time.Time
	Scope string        // e.g. "pwd", "otp"
	IP    storage.Limit // per client IP
	// Account limits failures on one account across all IPs.
	Account storage.Limit
	// AlsoBlockedBy lists other scopes whose IP blocks close this one too.
	AlsoBlockedBy []string
}

// Result is the state after a failure.
type Result struct {
	// Remaining is how many more failures the tighter of the two counters
	// allows before a block; 0 when blocked.
	Remaining    int
	BlockedUntil time.Time // zero when not blocked
}

// Blocked reports whether ip or account is blocked; it returns the time the
// block ends, or the zero time.
func (l *Limiter) Blocked(ctx context.Context, ip netip.Addr, account string) (time.Time, error) {
	keys := []string{l.ipKey(l.Scope, ip)}
	for _, s := range l.AlsoBlockedBy {
		keys = append(keys, l.ipKey(s, ip))
	}
	if account != "" {
		keys = append(keys, l.accountKey(account))
	}
	c, err := l.Store.Blocked(ctx, keys, l.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("lockout: check block: %w", err)
	}
	return c.BlockedUntil, nil
}

// Attempt is one attempt at a secret, counted (reserved) before the secret
// is checked: parallel attempts cannot get more checks than the limits
// allow, since each one takes its place in the counters first. Its owner
// reports the outcome with exactly one of Failed, Succeeded or Cancel.
type Attempt struct {
	l        *Limiter
	ip, acct reserved
	// Remaining is how many more attempts the tighter counter allows after
	// this one, should it fail.
	Remaining int
	// BlockedUntil is set when this attempt is the last the limits allow:
	// should it fail, the block is what the user sees.
	BlockedUntil time.Time
}

type reserved struct {
	key string
	storage.Reservation
}

// Reserve counts one attempt for ip and account, before the secret is
// checked. While ip or account is blocked nothing is counted: it returns a
// nil Attempt and the time the block ends, and the secret must not be
// checked.
func (l *Limiter) Reserve(ctx context.Context, ip netip.Addr, account string) (*Attempt, time.Time, error) {
	acct := ""
	if account != "" {
		acct = l.accountKey(account)
	}
	return l.reserve(ctx, ip, acct)
}

// BlockedOnDevice is Blocked with the account's counter that
// ReserveOnDevice uses for device, or the account's own when device is "".
func (l *Limiter) BlockedOnDevice(ctx context.Context, ip netip.Addr, account, device string) (time.Time, error) {
	if device == "" {
		return l.Blocked(ctx, ip, account)
	}
	keys := []string{l.ipKey(l.Scope, ip), l.deviceKey(account, device)}
	for _, s := range l.AlsoBlockedBy {
		keys = append(keys, l.ipKey(s, ip))
	}
	return l.blocked(ctx, keys, l.Now())
}

func (l *Limiter) deviceKey(account, device string) string {
	return DeviceCounter(l.Scope, account, device).String()
}

// ReserveOnDevice is Reserve for a browser that signed in to account before
// (a device cookie, device being its id): the account's failures are
// counted for that device alone, so that guesses at the account from
// elsewhere cannot lock its owner out of their own browser. The IP limit
// applies as ever.
func (l *Limiter) ReserveOnDevice(ctx context.Context, ip netip.Addr, account, device string) (*Attempt, time.Time, error) {
	return l.reserve(ctx, ip, l.deviceKey(account, device))
}

func (l *Limiter) reserve(ctx context.Context, ip netip.Addr, acctKey string) (*Attempt, time.Time, error) {
	now := l.Now()
	keys := []string{l.ipKey(l.Scope, ip)}
	for _, s := range l.AlsoBlockedBy {
		keys = append(keys, l.ipKey(s, ip))
	}
	if acctKey != "" {
		keys = append(keys, acctKey)
	}
	// Blocks of the other scopes, and a block already running here: the
	// common case of a blocked client costs one read and writes nothing.
	if until, err := l.blocked(ctx, keys, now); err != nil || !until.IsZero() {
		return nil, until, err
	}
	a := &Attempt{l: l, ip: reserved{key: keys[0]}}
	var err error
	a.ip.Reservation, err = l.Store.ReserveAttempt(ctx, a.ip.key, l.IP, now)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("lockout: reserve: %w", err)
	}
	if !a.ip.Granted {
		until, err := l.blockEnd(ctx, keys, now)
		return nil, until, err
	}
	a.Remaining = max(l.IP.Max-a.ip.Counter.Failures, 0)
	a.BlockedUntil = a.ip.Counter.BlockedUntil
	if acctKey != "" {
		a.acct.key = acctKey
		a.acct.Reservation, err = l.Store.ReserveAttempt(ctx, acctKey, l.Account, now)
		if err != nil {
			return nil, time.Time{}, errors.Join(fmt.Errorf("lockout: reserve: %w", err), a.ip.release(ctx, l.Store, 1, l.IP.Max))
		}
		if !a.acct.Granted {
			// Not evaluated: the IP gets its attempt back.
			if err := a.ip.release(ctx, l.Store, 1, l.IP.Max); err != nil {
				return nil, time.Time{}, err
			}
			until, err := l.blockEnd(ctx, keys, now)
			return nil, until, err
		}
		a.Remaining = min(a.Remaining, max(l.Account.Max-a.acct.Counter.Failures, 0))
		if a.acct.Counter.BlockedUntil.After(a.BlockedUntil) {
			a.BlockedUntil = a.acct.Counter.BlockedUntil
		}
	}
	if !a.BlockedUntil.IsZero() {
		a.Remaining = 0
	}
	return a, time.Time{}, nil
}

func (l *Limiter) blocked(ctx context.Context, keys []string, now time.Time) (time.Time, error) {
	c, err := l.Store.Blocked(ctx, keys, now)
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("lockout: check block: %w", err)
	}
	return c.BlockedUntil, nil
}

// blockEnd returns when the block that refused a reservation ends; should
// it have ended in between, the attempt is still refused, as ending now.
func (l *Limiter) blockEnd(ctx context.Context, keys []string, now time.Time) (time.Time, error) {
	until, err := l.blocked(ctx, keys, now)
	if err == nil && until.IsZero() {
		until = now.Add(time.Second)
	}
	return until, err
}

// Failed reports that the secret was wrong. The attempt was counted when
// it was reserved; Failed only says what the counters allow now.
func (a *Attempt) Failed() Result {
	return Result{Remaining: a.Remaining, BlockedUntil: a.BlockedUntil}
}

// Succeeded reports that the secret was right: the counters forget this
// attempt and the failures before it in their windows (the limits count
// consecutive failures), but not attempts reserved after it, still being
// checked.
func (a *Attempt) Succeeded(ctx context.Context) error {
	err := a.ip.release(ctx, a.l.Store, a.ip.Counter.Failures, a.l.IP.Max)
	if a.acct.key != "" {
		err = errors.Join(err, a.acct.release(ctx, a.l.Store, a.acct.Counter.Failures, a.l.Account.Max))
	}
	return err
}

// Cancel gives the attempt back: its secret was not checked (the password
// hasher was busy, say), so it is no attempt.
func (a *Attempt) Cancel(ctx context.Context) error {
	err := a.ip.release(ctx, a.l.Store, 1, a.l.IP.Max)
	if a.acct.key != "" {
		err = errors.Join(err, a.acct.release(ctx, a.l.Store, 1, a.l.Account.Max))
	}
	return err
}

func (r reserved) release(ctx context.Context, s Store, n, max int) error {
	if err := s.ReleaseAttempts(ctx, r.key, n, r.WindowStart, max); err != nil {
		return fmt.Errorf("lockout: release: %w", err)
	}
	return nil
}

func (l *Limiter) Fail(ctx context.Context, ip netip.Addr, account string) (Result, error) {
	now := l.Now()
	ipc, err := l.Store.RecordFailure(ctx, l.ipKey(l.Scope, ip), l.IP, now)
	if err != nil {
		return Result{}, fmt.Errorf("lockout: record failure: %w", err)
	}
	res := Result{Remaining: max(l.IP.Max-ipc.Failures, 0), BlockedUntil: ipc.BlockedUntil}
	if account != "" {
		ac, err := l.Store.RecordFailure(ctx, l.accountKey(account), l.Account, now)
		if err != nil {
			return Result{}, fmt.Errorf("lockout: record failure: %w", err)
		}
		res.Remaining = min(res.Remaining, max(l.Account.Max-ac.Failures, 0))
		if ac.BlockedUntil.After(res.BlockedUntil) {
			res.BlockedUntil = ac.BlockedUntil
		}
	}
	if !res.BlockedUntil.After(now) {
		res.BlockedUntil = time.Time{}
	} else {
		res.Remaining = 0
	}
	return res, nil
}

// Succeed forgets the failures of ip and account after a success: the IP
// limit counts consecutive failures. Someone who mixes correct codes of
// their own account between guesses at another's is still stopped by that
// account's own cap (Account), which a success elsewhere does not reset.
func (l *Limiter) Succeed(ctx context.Context, ip netip.Addr, account string) error {
	if err := l.Store.ResetFailures(ctx, l.ipKey(l.Scope, ip)); err != nil {
		return fmt.Errorf("lockout: reset: %w", err)
	}
	if account != "" {
		if err := l.Store.ResetFailures(ctx, l.accountKey(account)); err != nil {
			return fmt.Errorf("lockout: reset: %w", err)
		}
	}
	return nil
}

func (l *Limiter) ipKey(scope string, ip netip.Addr) string {
	return IPCounter(scope, ip).String()
}

func (l *Limiter) accountKey(account string) string {
	return AccountCounter(l.Scope, account).String()
}

// MinutesLeft is the whole minutes until until, rounded up, as the block
// message shows them.
func MinutesLeft(now, until time.Time) int {
	d := until.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Minute - 1) / time.Minute)
}
