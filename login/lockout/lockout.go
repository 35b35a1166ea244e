// Package lockout limits failed attempts per client IP and per account,
// with the counters kept in the database so that every replica sees the
// same blocks.
//
// A Limiter guards one kind of secret (the password, later the one-time
// codes). Its counters are keyed "<scope>:ip:<addr>" and
// "<scope>:acct:<account>"; a Limiter may also honour the IP blocks of other
// scopes, so that a block earned at one step closes every step.
package lockout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Store is the part of storage.Store the limiter needs.
type Store interface {
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

// Fail records one failure for ip and account.
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
	return scope + ":ip:" + IPKey(ip)
}

func (l *Limiter) accountKey(account string) string {
	return l.Scope + ":acct:" + account
}

// IPKey is the form of ip counters are kept under: IPv4-mapped addresses
// are folded to IPv4 and IPv6 addresses are grouped by /64, since one
// client usually owns a whole /64.
func IPKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
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
