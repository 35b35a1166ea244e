package main

import (
	"fmt"
	"io"
	"math"
	"time"
)

// The classes of table by how long their rows stay (housekeeping.go).
const (
	classUser    = "user"    // a user's own rows, kept while the user is
	classSession = "session" // sessions: until their lifetime or idle timeout, then the next purge
	classToken   = "token"   // auth requests, codes, access tokens: minutes, then the next purge
	classCounter = "counter" // attempt counters: their window, then the next purge
	classRefresh = "refresh" // refresh tokens: until their family's absolute lifetime
	classAudit   = "audit"   // audit events: audit.retention
	classFixed   = "fixed"   // clients and keys: as many whatever the users
)

// tableClass returns the class of a Gatehouse table.
func tableClass(table string) string {
	switch table {
	case "sessions", "session_sids", "session_grants":
		return classSession
	case "auth_requests", "auth_codes", "access_tokens", "pushed_requests", "used_jtis",
		"one_time_codes", "action_tokens", "webauthn_sessions", "logout_deliveries":
		return classToken
	case "attempt_counters":
		return classCounter
	case "refresh_tokens":
		return classRefresh
	case "audit_events":
		return classAudit
	case "clients", "client_jwt_secrets", "signing_keys", "schema_migrations":
		return classFixed
	}
	return classUser
}

// assumptions are the capacity model's stated guesses about the peak and
// the configuration's retention periods.
type assumptions struct {
	peakHour     float64 // share of the users signing in within the peak hour
	peakMinute   float64 // the peak minute's rate over the peak hour's average
	daily        float64 // sign-ins per user per day
	hashShare    float64 // argon2id's share of a sign-in's server CPU
	headroom     float64 // spare CPU over the peak's need: 0.5 provisions 1.5×
	replicaCores float64 // CPUs of one replica
	minReplicas  int     // for availability
	// kept is how long a sign-in's rows of each class stay: the
	// retention, and up to one housekeeping interval until the purge.
	kept map[string]time.Duration
}

// modelInputs are the measured figures the model scales.
type modelInputs struct {
	signinsPerCore float64 // 1 / t_hash
	stmtsPerSignin float64 // PostgreSQL statements of one full sign-in
	walPerSignin   float64 // WAL bytes of one full sign-in
	// walColdPerSignin is the same right after a checkpoint, when each
	// page's first change writes its full image (0: not measured).
	walColdPerSignin float64
	bytesPerUser     float64            // a user's own rows, with the TOTP secret
	perSignin        map[string]float64 // bytes one sign-in adds, by class
}

// modelRow is one line of the capacity table.
type modelRow struct {
	users         int
	signinsPerSec float64 // at the peak minute
	cores         float64 // CPUs the peak's sign-ins take: their hashes over hashShare
	replicas      int
	stmtsPerSec   float64
	walPerSec     float64 // bytes
	walColdPerSec float64 // bytes, right after a checkpoint
	dbBytes       float64
}

// retained returns how many sign-ins' rows of a class kept for d are in
// the database at the end of the peak hour: the peak hour's sign-ins for
// the part of d within it, the day's average rate for the rest.
func (a assumptions) retained(users int, d time.Duration) float64 {
	peak := float64(users) * a.peakHour
	if d <= time.Hour {
		return peak * d.Hours()
	}
	return peak + float64(users)*a.daily/24*(d.Hours()-1)
}

// row computes the capacity of users.
func (a assumptions) row(users int, in modelInputs) modelRow {
	r := modelRow{users: users}
	r.signinsPerSec = float64(users) * a.peakHour / 3600 * a.peakMinute
	if in.signinsPerCore > 0 && a.hashShare > 0 {
		r.cores = r.signinsPerSec / in.signinsPerCore / a.hashShare
	}
	r.replicas = max(a.minReplicas, int(math.Ceil(r.cores*(1+a.headroom)/a.replicaCores)))
	r.stmtsPerSec = r.signinsPerSec * in.stmtsPerSignin
	r.walPerSec = r.signinsPerSec * in.walPerSignin
	r.walColdPerSec = r.signinsPerSec * in.walColdPerSignin
	r.dbBytes = float64(users) * in.bytesPerUser
	for class, b := range in.perSignin {
		if d, ok := a.kept[class]; ok {
			r.dbBytes += a.retained(users, d) * b
		}
	}
	return r
}

// printModel writes the assumptions and the table for each count of users.
func printModel(w io.Writer, a assumptions, in modelInputs, users []int) {
	fmt.Fprintf(w, "Assumptions (flags): %.0f %% of the users sign in within the peak hour (-peak-hour %g), the peak minute at %g × that hour's average (-peak-minute), %g sign-ins per user a day (-daily); argon2id is %.0f %% of a sign-in's server CPU (-hash-share %g); a replica has %g CPUs (-replica-cores), %.0f %% headroom (-headroom %g), at least %d replicas (-min-replicas).\n",
		100*a.peakHour, a.peakHour, a.peakMinute, a.daily, 100*a.hashShare, a.hashShare, a.replicaCores, 100*a.headroom, a.headroom, a.minReplicas)
	fmt.Fprintf(w, "Rows kept: sessions %v, auth requests, codes and access tokens %v, attempt counters %v, audit events %v (each: the default configuration's retention and one housekeeping interval; -session-kept, -token-kept, -counter-kept, -audit-kept).\n",
		a.kept[classSession], a.kept[classToken], a.kept[classCounter], a.kept[classAudit])
	fmt.Fprintf(w, "Inputs: %.1f sign-ins per CPU (1 / t_hash), %.1f statements and %s of WAL per sign-in (%s right after a checkpoint), %s per user, %s kept per sign-in.\n\n",
		in.signinsPerCore, in.stmtsPerSignin, humanBytes(in.walPerSignin), humanBytes(in.walColdPerSignin), humanBytes(in.bytesPerUser), perSigninString(in.perSignin))
	fmt.Fprintln(w, "| users | sign-ins/s at the peak minute | CPUs for sign-ins | replicas | PostgreSQL statements/s | WAL/s | WAL/s right after a checkpoint | database size |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, n := range users {
		r := a.row(n, in)
		fmt.Fprintf(w, "| %s | %.1f | %.2f | %d | %.0f | %s | %s | %s |\n", count(n), r.signinsPerSec, r.cores, r.replicas,
			r.stmtsPerSec, humanBytes(r.walPerSec), humanBytes(r.walColdPerSec), humanBytes(r.dbBytes))
	}
}

func perSigninString(m map[string]float64) string {
	s := ""
	for _, c := range []string{classSession, classToken, classCounter, classAudit, classRefresh} {
		if b, ok := m[c]; ok && b != 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %s", c, humanBytes(b))
		}
	}
	if s == "" {
		return "nothing"
	}
	return s
}

// count writes n as 10k, 1M…
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// humanBytes writes b in B, kB, MB or GB (powers of 1000).
func humanBytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.1f GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}
