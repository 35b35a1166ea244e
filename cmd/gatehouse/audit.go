package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

// runAudit prints audit events, newest first, as a table or as JSON:
//
//	gatehouse audit [--user E] [--ip IP] [--type T] [--since D] [--limit N] [--json]
func runAudit(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("audit", env)
	user := fs.String("user", "", "only events of this user (email or id)")
	ip := fs.String("ip", "", "only events from this IP address")
	typ := fs.String("type", "", "only events of this type, e.g. signin.failed, code.failed, ip.blocked")
	since := fs.String("since", "", "only events since: a duration back from now (24h), a date (2026-01-31) or an RFC 3339 time")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most this many events (1-%d)", admin.MaxAuditLimit))
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"audit: unexpected argument " + fs.Arg(0)}
	}
	if *limit < 1 || *limit > admin.MaxAuditLimit {
		return usageError{fmt.Sprintf("audit: --limit %d: must be between 1 and %d", *limit, admin.MaxAuditLimit)}
	}
	now := clockFromEnv(env.getenv)
	from, err := admin.ParseSince(*since, now())
	if err != nil {
		return usageError{"audit: --" + err.Error()}
	}
	return withService(ctx, "audit", *configPath, env, func(s *admin.Service) error {
		events, err := s.Events(ctx, admin.AuditQuery{User: *user, IP: *ip, Type: *typ, Since: from, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(events)
		}
		tw := table(env.stdout)
		fmt.Fprintln(tw, "TIME\tTYPE\tUSER\tCLIENT\tIP\tDETAIL")
		for _, e := range events {
			who := e.UserEmail
			if who == "" {
				who = e.UserID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rfc3339(e.Time), e.Type, dash(who), dash(e.ClientID), dash(e.IP), oneLine(e.Detail))
		}
		if len(events) == 0 {
			fmt.Fprintln(tw, "(no matching events)")
		}
		return tw.Flush()
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
