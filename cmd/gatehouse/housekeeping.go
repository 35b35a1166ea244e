package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// housekeeper purges expired state from the database every interval
// (housekeeping.interval), and audit events older than audit.retention.
// Every replica runs one; the store lets one at a time do the work
// (storage.PurgeStore), so a replica that finds another purging skips its
// turn.
type housekeeper struct {
	Store    storage.PurgeStore
	Now      func() time.Time
	Interval time.Duration
	// Request returns what a purge at now deletes.
	Request func(now time.Time) storage.PurgeRequest
	Logger  *slog.Logger
}

// newHousekeeper returns the housekeeper that cfg describes.
func newHousekeeper(cfg *config.Config, store storage.PurgeStore, now func() time.Time, logger *slog.Logger) *housekeeper {
	return &housekeeper{
		Store:    store,
		Now:      now,
		Interval: cfg.Housekeeping.Interval.Duration,
		Request:  func(now time.Time) storage.PurgeRequest { return purgeRequest(cfg, now) },
		Logger:   logger,
	}
}

// purgeRequest returns what a purge at now may delete under cfg.
func purgeRequest(cfg *config.Config, now time.Time) storage.PurgeRequest {
	r := storage.PurgeRequest{
		Now:            now,
		ResendCooldown: cfg.SecondFactor.EmailResendCooldown.Duration,
		CounterWindow:  counterWindow(cfg),
		KeyRetention:   keyRetention(cfg),
	}
	if d := cfg.Audit.Retention.Duration; d > 0 {
		r.EventsBefore = now.Add(-d)
	}
	return r
}

// counterWindow is the longest window of the attempt limits newServer
// sets up: a counter idle for longer counts nothing any more. The code
// email caps (second_factor.email_max_window) and the count of wrong
// entries of one emailed code (its validity, email_code_ttl) are limits
// too: a purge before their window ends would reset them.
func counterWindow(cfg *config.Config) time.Duration {
	return max(cfg.Password.BlockDuration.Duration, cfg.Lockout.BlockDuration.Duration,
		cfg.Lockout.AccountWindow.Duration, cfg.SecondFactor.EmailMaxWindow.Duration,
		cfg.SecondFactor.EmailCodeTTL.Duration, registrationLimitWindow)
}

// registrationLimitWindow is the window of the registration and recovery
// limits (a few per hour per IP and per address).
const registrationLimitWindow = time.Hour

// keyRetention is how long a replaced signing key stays published after
// its successor starts signing: the longest lifetime of a token it signed,
// and a minute.
func keyRetention(cfg *config.Config) time.Duration {
	return max(cfg.Tokens.IDTokenTTL.Duration, cfg.Tokens.AccessTokenTTL.Duration) + time.Minute
}

// firstPurgeDelay bounds the wait before the first purge after start.
const firstPurgeDelay = time.Minute

// run purges soon after start (after the interval, or a minute if that is
// shorter), then every interval, until ctx ends.
func (h *housekeeper) run(ctx context.Context) {
	every(ctx, min(h.Interval, firstPurgeDelay), h.Interval, func() { h.purge(ctx) })
}

// every calls f after first, then every interval after the call before
// returned, until ctx ends.
func every(ctx context.Context, first, interval time.Duration, f func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
		t.Reset(interval)
	}
}

// purge runs one purge and logs what it did; it returns what the store
// reported.
func (h *housekeeper) purge(ctx context.Context) (storage.Purged, error) {
	pctx, cancel := context.WithTimeout(ctx, max(h.Interval, time.Minute))
	defer cancel()
	start := time.Now()
	p, err := h.Store.Purge(pctx, h.Request(h.Now()))
	took := time.Since(start).Round(time.Millisecond).String()
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down.
	case err != nil:
		h.Logger.WarnContext(ctx, "housekeeping: purge failed; retrying at the next interval",
			"err", err, "deleted", p.Total(), "took", took)
	case p.Skipped:
		h.Logger.DebugContext(ctx, "housekeeping: another replica is purging; skipped",
			"deleted", p.Total())
	case p.Total() > 0:
		h.Logger.InfoContext(ctx, "housekeeping: purged expired state",
			append(purgedAttrs(p), "took", took)...)
	default:
		h.Logger.DebugContext(ctx, "housekeeping: nothing to purge", "took", took)
	}
	return p, err
}

// purgedAttrs returns the non-zero counts of p as log attributes.
func purgedAttrs(p storage.Purged) []any {
	attrs := []any{"deleted", p.Total()}
	for _, c := range []struct {
		key string
		n   int
	}{
		{"auth_requests", p.AuthRequests},
		{"auth_codes", p.AuthCodes},
		{"access_tokens", p.AccessTokens},
		{"refresh_tokens", p.RefreshTokens},
		{"sessions", p.Sessions},
		{"one_time_codes", p.OneTimeCodes},
		{"action_tokens", p.ActionTokens},
		{"webauthn_sessions", p.WebAuthnSessions},
		{"used_jtis", p.UsedJTIs},
		{"pushed_requests", p.PushedRequests},
		{"attempt_counters", p.Counters},
		{"signing_keys", p.SigningKeys},
		{"audit_events", p.Events},
	} {
		if c.n > 0 {
			attrs = append(attrs, c.key, c.n)
		}
	}
	return attrs
}
