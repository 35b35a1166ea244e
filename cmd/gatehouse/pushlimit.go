package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
)

// The limit of pushed authorization requests of public clients (RFC 9126)
// per client IP: anyone may push as a public client, which has no secret,
// and each push stores a request for a minute. The counters are the
// lockout's, as for registrations and recovery requests, the other
// entry points that store something for anyone who asks: shared by every
// replica, and cleared with `gatehouse blocks clear`. A sign-in pushes
// once, so 20 a minute leave room for many users behind one address.
const (
	pushLimitScope  = "par"
	pushLimitMax    = 20
	pushLimitWindow = time.Minute
)

// pushBusyRetry is the wait a push is told when the limit was full of
// pushes still being counted (lockout.ErrBusy).
const pushBusyRetry = 2 * time.Second

// publicPushLimit returns the provider's PublicPushLimit over l: each
// push counts once against its client IP, and past l's limit the address
// waits until its block ends.
func publicPushLimit(l *lockout.Limiter, now func() time.Time) func(*http.Request) (time.Duration, error) {
	return func(r *http.Request) (time.Duration, error) {
		ctx := r.Context()
		a, until, err := l.Reserve(ctx, clientIP(r), "")
		switch {
		case errors.Is(err, lockout.ErrBusy):
			return pushBusyRetry, nil
		case err != nil:
			return 0, fmt.Errorf("push limit: %w", err)
		case a == nil:
			return max(until.Sub(now()), time.Second), nil
		}
		if err := a.Counted(ctx); err != nil {
			return 0, fmt.Errorf("push limit: %w", err)
		}
		return 0, nil
	}
}
