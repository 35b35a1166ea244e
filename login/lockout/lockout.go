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
	FailAttempt(ctx context.Context, key string, l storage.Limit, windowStart, now time.Time) (storage.Counter, error)
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
	// BusyWait is how long Reserve waits, at most, for attempts still
	// being checked to make room under a limit they fill, before it gives
	// up with ErrBusy: DefaultBusyWait when zero, no wait when negative.
	BusyWait time.Duration
}

// DefaultBusyWait is the BusyWait of a Limiter that sets none.
const DefaultBusyWait = 2 * time.Second

// busyPoll is how often Reserve tries again while it waits.
const busyPoll = 20 * time.Millisecond

// ErrBusy is returned by Reserve when the limits were full of attempts
// still being checked for all of BusyWait: nothing is blocked, and the
// client may try again in a moment.
var ErrBusy = errors.New("lockout: attempts in flight fill the limit")

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
// allow, since each one takes its place in the counters first, as pending.
// Only failures block: an attempt that fills the limit blocks nobody until
// it has failed. Its owner reports the outcome with exactly one of Failed,
// Succeeded or Cancel.
type Attempt struct {
	l        *Limiter
	ip, acct reserved
}

type reserved struct {
	key string
	storage.Reservation
}

// Reserve counts one attempt for ip and account, before the secret is
// checked. While ip or account is blocked nothing is counted: it returns a
// nil Attempt and the time the block ends, and the secret must not be
// checked. While the limits are full of attempts still being checked, it
// waits up to BusyWait for room, and then returns ErrBusy.
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
	wait := l.BusyWait
	if wait == 0 {
		wait = DefaultBusyWait
	}
	// The wait is for checks running in real time, whatever l.Now says.
	deadline := time.Now().Add(wait)
	for {
		a, until, err := l.tryReserve(ctx, ip, acctKey)
		if a != nil || !until.IsZero() || !errors.Is(err, ErrBusy) || !time.Now().Before(deadline) {
			return a, until, err
		}
		t := time.NewTimer(busyPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, fmt.Errorf("lockout: wait for attempts in flight: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// tryReserve is one try of reserve: ErrBusy when a counter was full.
func (l *Limiter) tryReserve(ctx context.Context, ip netip.Addr, acctKey string) (*Attempt, time.Time, error) {
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
		return l.refused(ctx, keys, now)
	}
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
			return l.refused(ctx, keys, now)
		}
	}
	return a, time.Time{}, nil
}

// refused tells why a reservation was refused: the block that refused it
// and when it ends, or, when nothing is blocked, ErrBusy: the counter was
// full of attempts still being checked (or the block ended in between).
func (l *Limiter) refused(ctx context.Context, keys []string, now time.Time) (*Attempt, time.Time, error) {
	until, err := l.blocked(ctx, keys, now)
	if err == nil && until.IsZero() {
		err = ErrBusy
	}
	return nil, until, err
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

// Failed reports that the secret was wrong: the attempt, counted when it
// was reserved, becomes a failure, and the failure that reaches a limit
// blocks. The result says what the counters allow now.
func (a *Attempt) Failed(ctx context.Context) (Result, error) {
	now := a.l.Now()
	ipc, err := a.l.Store.FailAttempt(ctx, a.ip.key, a.l.IP, a.ip.WindowStart, now)
	if err != nil {
		return Result{}, fmt.Errorf("lockout: record failure: %w", err)
	}
	var ac *storage.Counter
	if a.acct.key != "" {
		c, err := a.l.Store.FailAttempt(ctx, a.acct.key, a.l.Account, a.acct.WindowStart, now)
		if err != nil {
			return Result{}, fmt.Errorf("lockout: record failure: %w", err)
		}
		ac = &c
	}
	return a.l.result(now, ipc, ac), nil
}

// Counted reports that the attempt counts, though no secret was wrong: an
// email sent counts against the caps of emails once it is out, as a
// failure does, and the one that reaches a cap closes it.
func (a *Attempt) Counted(ctx context.Context) error {
	_, err := a.Failed(ctx)
	return err
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

// Fail records a failure for ip and account, not reserved before.
func (l *Limiter) Fail(ctx context.Context, ip netip.Addr, account string) (Result, error) {
	now := l.Now()
	ipc, err := l.Store.RecordFailure(ctx, l.ipKey(l.Scope, ip), l.IP, now)
	if err != nil {
		return Result{}, fmt.Errorf("lockout: record failure: %w", err)
	}
	var ac *storage.Counter
	if account != "" {
		c, err := l.Store.RecordFailure(ctx, l.accountKey(account), l.Account, now)
		if err != nil {
			return Result{}, fmt.Errorf("lockout: record failure: %w", err)
		}
		ac = &c
	}
	return l.result(now, ipc, ac), nil
}

// result is the Result of a failure that left the IP counter at ipc and
// the account's at ac (nil without one).
func (l *Limiter) result(now time.Time, ipc storage.Counter, ac *storage.Counter) Result {
	res := Result{Remaining: max(l.IP.Max-ipc.Failures, 0), BlockedUntil: ipc.BlockedUntil}
	if ac != nil {
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
	return res
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
