package admin

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-chi/chi/v5"
)

// BlockView is an active block: an IP address or an account locked out of
// a sign-in step.
type BlockView struct {
	Kind         string    `json:"kind"` // "ip" or "account"
	Step         string    `json:"step"` // "pwd" (password) or "otp" (codes)
	Subject      string    `json:"subject"`
	Failures     int       `json:"failures"`
	BlockedUntil time.Time `json:"blocked_until"`
}

// Blocks lists the blocks running now; account blocks name the user's
// email.
func (s *Service) Blocks(ctx context.Context) ([]BlockView, error) {
	blocks, err := s.Store.Blocks(ctx, s.Now())
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	out := make([]BlockView, 0, len(blocks))
	for _, b := range blocks {
		k, _ := lockout.ParseKey(b.Key)
		kind, subject := k.Kind, k.Subject
		if kind == lockout.KindAccount {
			kind = "account"
			if u, err := s.Store.UserByID(ctx, subject); err == nil {
				subject = u.Email
			}
		}
		out = append(out, BlockView{Kind: kind, Step: k.Scope, Subject: subject, Failures: b.Failures, BlockedUntil: b.BlockedUntil.UTC()})
	}
	return out, nil
}

// ClearBlocks forgets the failures and blocks of subject, an IP address or
// a user's email, and returns how many counters it removed.
func (s *Service) ClearBlocks(ctx context.Context, subject string) (int, error) {
	var suffixes []string
	if ip, err := netip.ParseAddr(subject); err == nil {
		suffixes = []string{lockout.IPCounter("", ip).Suffix()}
	} else if strings.Contains(subject, "@") {
		u, err := s.user(ctx, subject)
		if err != nil {
			return 0, err
		}
		// Password counters are keyed by email, code counters by user id.
		suffixes = []string{lockout.AccountCounter("", u.Email).Suffix(), lockout.AccountCounter("", u.ID).Suffix()}
	} else {
		return 0, Errorf(Invalid, "%q is neither an IP address nor a user's email", subject)
	}
	n := 0
	for _, suffix := range suffixes {
		k, err := s.Store.ClearBlocks(ctx, suffix)
		if err != nil {
			return n, fmt.Errorf("clear blocks: %w", err)
		}
		n += k
	}
	s.audit(ctx, storage.EventBlockCleared, "", "", subject)
	return n, nil
}

// blockRoutes are the routes of /api/blocks.
func (a *api) blockRoutes(r chi.Router) {
	r.Get("/api/blocks", a.handle(listed("blocks", (*Service).Blocks)))
	r.Delete("/api/blocks/{subject}", a.handle(onParam("subject", clearBlocks)))
}

// clearBlocks is DELETE /api/blocks/{subject}.
func clearBlocks(s *Service, ctx context.Context, subject string) (map[string]any, error) {
	n, err := s.ClearBlocks(ctx, subject)
	if err != nil {
		return nil, err
	}
	return map[string]any{"subject": subject, "cleared": n}, nil
}
