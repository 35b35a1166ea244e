// Command gatehouse-bench measures a Gatehouse server the way its clients
// use it, and the ceilings of the machine it runs on.
//
// It starts bin/gatehouse on a fresh database (a SQLite file in a temporary
// directory, or a new database on a PostgreSQL server), creates its users
// and clients with the gatehouse CLI, enrols the users' authenticator apps
// over HTTP as a person would, then drives the server over loopback:
// complete sign-ins (authorize, password, TOTP code, token), the token
// endpoint's grants, discovery, JWKS, userinfo and introspection. In the
// same run it measures the ceilings — one argon2id hash with the configured
// parameters, one RS256 and ES256 signature, and a plain net/http server
// in a process of its own serving the same bytes and signing the same JWTs
// — and prints each figure as a ratio to its ceiling, against the targets
// of the performance issue.
//
// Every phase is bounded in time and in requests. Usage:
//
//	gatehouse-bench [-gatehouse bin/gatehouse] [-database sqlite|postgres://…] [flags]
//	gatehouse-bench peers [flags]   # beside zitadel/oidc's example server and oidc-provider
//
// The capacity subcommand measures instead what one sign-in and one token
// request cost: PostgreSQL statements, transactions, rows and WAL bytes
// (on a PostgreSQL cluster of its own, through a relay that counts the
// statements), database bytes per user and per sign-in, and argon2id's
// CPU time; it prints the replicas and database size that a number of
// users needs at a stated peak:
//
//	gatehouse-bench capacity [-gatehouse bin/gatehouse] [flags]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "plain":
		err = runPlain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "peers":
		err = runPeers(os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "capacity":
		ctx, stop := signalContext()
		err = runCapacity(ctx, os.Args[2:], os.Stdout)
		stop()
	default:
		ctx, stop := signalContext()
		err = runBench(ctx, os.Args[1:], os.Stdout)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
