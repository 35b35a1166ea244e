package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-chi/chi/v5"
)

// AuditQuery selects audit events; zero fields match everything.
type AuditQuery struct {
	User  string    // an email or a user id
	IP    string    // an IP address
	Type  string    // an event type, e.g. "signin.failed"
	Since time.Time // events at or after
	// Before and BeforeID are the cursor of a page: events older than the
	// event BeforeID at Before, the last one of the page before.
	Before   time.Time
	BeforeID string
	Limit    int // 1…1000; 0 means 100
}

// MaxAuditLimit is the most events one query returns.
const MaxAuditLimit = 1000

// EventView is an audit event as the CLI and the API show it.
type EventView struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	UserID    string    `json:"user_id,omitempty"`
	UserEmail string    `json:"user_email,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Events returns the events q selects, newest first.
func (s *Service) Events(ctx context.Context, q AuditQuery) ([]EventView, error) {
	f := storage.EventFilter{Type: storage.EventType(q.Type), Since: q.Since, Before: q.Before, BeforeID: q.BeforeID, Limit: q.Limit}
	if q.Limit < 0 || q.Limit > MaxAuditLimit {
		return nil, Errorf(Invalid, "limit %d: must be between 1 and %d", q.Limit, MaxAuditLimit)
	}
	if len(q.Type) > 100 {
		return nil, Errorf(Invalid, "the event type is longer than 100 bytes")
	}
	if !login.PlainText(q.Type) || !login.PlainText(q.BeforeID) {
		return nil, Errorf(Invalid, "the event type and the cursor must be UTF-8 text without control characters")
	}
	if q.IP != "" {
		ip, err := netip.ParseAddr(q.IP)
		if err != nil {
			return nil, Errorf(Invalid, "%q is not an IP address", q.IP)
		}
		f.IP = ip.Unmap().String()
	}
	if q.User != "" {
		u, err := s.user(ctx, q.User)
		if err != nil {
			return nil, err
		}
		f.UserID = u.ID
	}
	events, err := s.Store.Events(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	emails := map[string]string{}
	out := make([]EventView, len(events))
	for i, e := range events {
		v := EventView{ID: e.ID, Time: e.Time.UTC(), Type: string(e.Type), UserID: e.UserID, ClientID: e.ClientID, IP: e.IP, Detail: e.Detail}
		if e.UserID != "" {
			email, ok := emails[e.UserID]
			if !ok {
				if u, err := s.Store.UserByID(ctx, e.UserID); err == nil {
					email = u.Email
				}
				emails[e.UserID] = email
			}
			v.UserEmail = email
		}
		out[i] = v
	}
	return out, nil
}

// ParseSince reads a --since or ?since= value: a duration back from now
// ("24h", "90m"), an RFC 3339 time, or a date (UTC midnight).
func ParseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, Errorf(Invalid, "since %q: give a positive duration such as 24h", v)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, Errorf(Invalid, "since %q: give a duration (24h), a date (2026-01-31) or an RFC 3339 time", v)
}

// auditParams are the query parameters of GET /api/audit.
var auditParams = []string{"user", "ip", "type", "since", "limit"}

// auditRoutes are the routes of /api/audit.
func (a *api) auditRoutes(r chi.Router) {
	r.Get("/api/audit", a.handle(queryAudit))
}

// queryAudit is GET /api/audit.
func queryAudit(w http.ResponseWriter, r *http.Request, s *Service) error {
	v := r.URL.Query()
	for k := range v {
		if !slices.Contains(auditParams, k) {
			return badRequest("unknown query parameter %q (known: %s)", k, strings.Join(auditParams, ", "))
		}
	}
	q := AuditQuery{User: v.Get("user"), IP: v.Get("ip"), Type: v.Get("type")}
	since, err := ParseSince(v.Get("since"), s.Now())
	if err != nil {
		return err
	}
	q.Since = since
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return badRequest("limit %q: must be a number between 1 and %d", l, MaxAuditLimit)
		}
		q.Limit = n
	}
	events, err := s.Events(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
	return nil
}
