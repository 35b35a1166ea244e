package op

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// LogoutSender sends the logout tokens that ending sessions queue in the
// store (OpenID Connect Back-Channel Logout 1.0 §2.5). Every replica runs
// one: each delivery is claimed by one sender at a time (a lease in the
// database), so a replica that dies mid-send leaves it to another once the
// lease runs out. A delivery that fails is tried again after a growing
// delay, and dropped, with a log line, after the last.
type LogoutSender struct {
	Store    Store
	Provider *Provider
	// Client sends the requests; nil means one without redirects whose
	// requests time out after Timeout.
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// Observe, if set, is told of each outcome: "sent", "failed" (an
	// attempt that failed), "retried" (scheduled again) or "dropped".
	Observe func(result string)

	Workers int           // concurrent sends; 0 means 4
	Poll    time.Duration // how often an idle sender looks for work; 0 means 1s
	Timeout time.Duration // per request; 0 means 5s
	// Backoff is the delay before each retry; a delivery is dropped after
	// len(Backoff)+1 attempts. nil means DefaultLogoutBackoff.
	Backoff []time.Duration
	// MaxAge drops a delivery queued longer ago than this; 0 means a day.
	MaxAge time.Duration
}

// DefaultLogoutBackoff is the retry schedule of logout deliveries: 10s,
// 30s, 1.5m, 4.5m, 13.5m, 40.5m and 2h, about three and a half hours in
// all.
var DefaultLogoutBackoff = []time.Duration{
	10 * time.Second, 30 * time.Second, 90 * time.Second, 270 * time.Second,
	810 * time.Second, 2430 * time.Second, 2 * time.Hour,
}

func (s *LogoutSender) defaults() {
	if s.Workers <= 0 {
		s.Workers = 4
	}
	if s.Poll <= 0 {
		s.Poll = time.Second
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Second
	}
	if s.Backoff == nil {
		s.Backoff = DefaultLogoutBackoff
	}
	if s.MaxAge <= 0 {
		s.MaxAge = 24 * time.Hour
	}
	if s.Client == nil {
		s.Client = &http.Client{
			Timeout:       s.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.Observe == nil {
		s.Observe = func(string) {}
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
}

// lease is how long a claimed delivery stays another sender's: its request
// and the write that follows are long done by then.
func (s *LogoutSender) lease() time.Duration { return 3*s.Timeout + 15*time.Second }

// Run sends deliveries until ctx ends, then waits for the sends in
// flight (each bounded by Timeout) and returns.
func (s *LogoutSender) Run(ctx context.Context) {
	s.defaults()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.Workers)
	wait := s.Poll // grows while the database fails, up to a minute
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		d, err := s.Store.ClaimLogoutDelivery(ctx, s.Now(), s.lease())
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, storage.ErrNotFound) {
				wait = s.Poll
			} else {
				s.Logger.WarnContext(ctx, "back-channel logout: claim failed", "err", err, "retry_in", wait.String())
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			if !errors.Is(err, storage.ErrNotFound) {
				wait = min(2*wait, time.Minute)
			}
			continue
		}
		wait = s.Poll
		wg.Go(func() {
			defer func() { <-slots }()
			// A send in flight finishes (within Timeout) at shutdown,
			// and its outcome is recorded.
			s.deliver(context.WithoutCancel(ctx), d)
		})
	}
}

// deliver sends d once and deletes or reschedules it.
func (s *LogoutSender) deliver(ctx context.Context, d *storage.LogoutDelivery) {
	log := s.Logger.With("client_id", d.ClientID, "user_id", d.UserID, "attempt", d.Attempts)
	c, err := s.Store.ClientByID(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && c.BackchannelLogoutURI == "") {
		log.InfoContext(ctx, "back-channel logout dropped: the client no longer takes logout tokens")
		s.drop(ctx, d)
		return
	}
	if err == nil {
		err = s.send(ctx, c, d)
	}
	if err == nil {
		if derr := s.Store.DeleteLogoutDelivery(ctx, d.SessionID, d.ClientID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			log.WarnContext(ctx, "back-channel logout: sent, but not removed from the queue", "err", derr)
		}
		s.Observe("sent")
		log.InfoContext(ctx, "back-channel logout sent")
		return
	}
	s.Observe("failed")
	now := s.Now()
	if d.Attempts > len(s.Backoff) || now.Sub(d.CreatedAt) > s.MaxAge {
		log.WarnContext(ctx, "back-channel logout dropped after its last attempt", "err", err,
			"queued_at", d.CreatedAt.Format(time.RFC3339))
		s.drop(ctx, d)
		return
	}
	next := now.Add(s.Backoff[d.Attempts-1])
	if rerr := s.Store.RetryLogoutDelivery(ctx, d.SessionID, d.ClientID, next); rerr != nil {
		log.WarnContext(ctx, "back-channel logout: could not reschedule; retried once its lease ends", "err", rerr)
	}
	s.Observe("retried")
	log.InfoContext(ctx, "back-channel logout failed; will retry", "err", err, "next_attempt_at", next.Format(time.RFC3339))
}

func (s *LogoutSender) drop(ctx context.Context, d *storage.LogoutDelivery) {
	if err := s.Store.DeleteLogoutDelivery(ctx, d.SessionID, d.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.Logger.WarnContext(ctx, "back-channel logout: could not remove a dropped delivery", "err", err)
	}
	s.Observe("dropped")
}

// send posts d's logout token to c; only 200 and 204 are success (§2.8).
func (s *LogoutSender) send(ctx context.Context, c *storage.Client, d *storage.LogoutDelivery) error {
	token, err := s.Provider.LogoutToken(ctx, c, d.UserID, d.SessionID, s.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client.Do(req)
	if err != nil {
		// The error names the URL, never the body.
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("logout endpoint answered %d", resp.StatusCode)
	}
	return nil
}
