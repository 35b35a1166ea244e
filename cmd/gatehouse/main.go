// Command gatehouse is an OpenID Connect identity provider: it serves the
// protocol endpoints and the hosted login, and administers users, clients
// and signing keys from the command line.
//
// Usage:
//
//	gatehouse serve    [--config FILE] [--demo]
//	gatehouse migrate  [--config FILE]
//	gatehouse users    create --email E [--name N] --password-stdin | list | show E | disable E | enable E | reset-2fa E
//	                   | sign-out E | grant-admin E | revoke-admin E
//	gatehouse clients  create --name N --redirect-uri U [--redirect-uri U…] [--post-logout-redirect-uri U…]
//	                          [--public] [--require-mfa] [--admin] [--signing-alg RS256|ES256|EdDSA]
//	                          [--access-token-format opaque|jwt] [--grant client_credentials] [--json]
//	                          [--consent]
//	                   | list | show ID | update ID --redirect-uri U… [--post-logout-redirect-uri U…]
//	                   | update ID --consent=true|false
//	                   | disable ID | enable ID | delete ID | rotate-secret ID
//	                   | update ID --dpop=true|false; create … --dpop (DPoP-bound access tokens)
//	                   | update ID [--require-mfa=true|false] [--signing-alg A] [--access-token-format F]
//	gatehouse keys     list | rotate
//	gatehouse blocks   list | clear IP|EMAIL
//	gatehouse audit    [--user E] [--ip IP] [--type T] [--since D] [--limit N] [--json]
//	gatehouse backup   [--config FILE] FILE
//	gatehouse version
//
// Without --config, GATEHOUSE_CONFIG names the file; without either, the
// defaults apply. GATEHOUSE_… variables override single keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ}
	if err := run(ctx, os.Args[1:], env); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(exitCode(err))
	}
}

// environ is what a command may touch of the process.
type environ struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ lists the variables (NAME=value), to warn of misspelt
	// GATEHOUSE_ ones; nil lists none.
	environ func() []string
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg + " (run 'gatehouse help')" }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Gatehouse — an OpenID Connect identity provider.

Usage:
  gatehouse serve    [--config FILE] [--demo]
                                            migrate, then serve; SIGTERM drains and exits 0;
                                            --demo: a demo user, client and app at /demo
  gatehouse migrate  [--config FILE]        apply database migrations
  gatehouse users    create --email E [--name N] --password-stdin | list | show E | disable E | enable E
                     | reset-2fa E | sign-out E | grant-admin E | revoke-admin E
                                            sign-out: end every session, revoke tokens;
                                            grant-admin: may use the console at /admin
  gatehouse clients  create --name N --redirect-uri U [--redirect-uri U...]
                            [--post-logout-redirect-uri U...] [--public] [--require-mfa]
                            [--admin] [--signing-alg RS256|ES256|EdDSA]
                            [--access-token-format opaque|jwt] [--grant client_credentials] [--json]
                            [--consent]
                     | list | show ID | disable ID | enable ID | delete ID | rotate-secret ID
                     | update ID --redirect-uri U [--redirect-uri U...]
                            [--post-logout-redirect-uri U... | --clear-post-logout-redirect-uris]
                     | update ID --consent=true|false
                                            --admin: may call the admin API (gatehouse:admin scope);
                                            --access-token-format jwt: JWT access tokens
                                            (RS256 or ES256) that APIs verify with /keys
                     | update ID --dpop=true|false
                                            --dpop (create, update): access tokens must be
                                            DPoP-bound (RFC 9449)
                     | update ID [--require-mfa=true|false] [--signing-alg A]
                            [--access-token-format opaque|jwt]
  gatehouse keys     list | rotate
  gatehouse blocks   list | clear IP|EMAIL     IP and account lockouts
  gatehouse audit    [--user E] [--ip IP] [--type T] [--since 24h|DATE] [--limit N] [--json]
                                            audit events, newest first
  gatehouse backup   [--config FILE] FILE   copy the SQLite database to a new FILE while
                                            it serves (PostgreSQL: use pg_dump); keep
                                            secrets.key_file with the copy
  gatehouse version                         print the version this binary was built from
  gatehouse help

Every command takes --config FILE (or GATEHOUSE_CONFIG); GATEHOUSE_... variables
override single keys, e.g. GATEHOUSE_DATABASE_URL.
`

func run(ctx context.Context, args []string, env *environ) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	commands := map[string]func(context.Context, []string, *environ) error{
		"serve":   runServe,
		"migrate": runMigrate,
		"users":   withSubcommand("users", runUsers, "create", "list", "show", "disable", "enable", "reset-2fa", "sign-out", "grant-admin", "revoke-admin"),
		"clients": withSubcommand("clients", runClients, "create", "list", "show", "update", "disable", "enable", "delete", "rotate-secret"),
		"keys":    withSubcommand("keys", runKeys, "list", "rotate"),
		"blocks":  withSubcommand("blocks", runBlocks, "list", "clear"),
		"audit":   runAudit,
		"backup":  runBackup,
	}
	if command, ok := commands[cmd]; ok {
		return command(ctx, rest, env)
	}
	switch cmd {
	case "version", "--version":
		return runVersion(rest, env)
	case "help", "-h", "--help":
		fmt.Fprint(env.stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// flags returns a FlagSet for a subcommand with the common --config flag.
func flags(name string, env *environ) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	configPath := fs.String("config", "", "config file (default: $GATEHOUSE_CONFIG, else built-in defaults)")
	return fs, configPath
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// loadConfig loads the config named by --config or GATEHOUSE_CONFIG.
func loadConfig(path string, env *environ) (*config.Config, error) {
	if path == "" {
		path = env.getenv("GATEHOUSE_CONFIG")
	}
	cfg, err := config.Load(path, env.getenv)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if env.environ != nil && env.stderr != nil {
		for _, w := range config.UnknownVariables(env.environ()) {
			fmt.Fprintln(env.stderr, "gatehouse: warning:", w)
		}
	}
	return cfg, nil
}
