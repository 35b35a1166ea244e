package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// dbTimeout bounds the database work of a CLI command (withStore): a
// database that accepts connections but never answers, or a SQLite
// database another process keeps locked, fails the command instead of
// leaving it hanging. Test builds may shorten it (cliDBTimeout).
const dbTimeout = 30 * time.Second

// withStore loads the config, opens the store, runs f and closes it, all
// within dbTimeout.
func withStore(ctx context.Context, configPath string, env *environ, f func(*config.Config, storage.Store) error) error {
	cfg, err := loadConfig(configPath, env)
	if err != nil {
		return err
	}
	timeout := cliDBTimeout(env.getenv)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = func() error {
		store, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		return f(cfg, store)
	}()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		driver, _ := cfg.DatabaseDriver()
		return fmt.Errorf("the database (%s) did not answer within %s: is it running and reachable, and not locked by another process? (%w)", driver, timeout, err)
	}
	return err
}

// withService runs f with the admin service over the configured store,
// acting as the CLI. A service error that is the caller's input becomes a
// usage error of command (exit 2); the others keep exit 1.
func withService(ctx context.Context, command, configPath string, env *environ, f func(*admin.Service) error) error {
	err := withStore(ctx, configPath, env, func(cfg *config.Config, s storage.Store) error {
		passwords, err := newHasher(cfg, nil)
		if err != nil {
			return err
		}
		defer passwords.Breached.Close()
		// Only problems reach the terminal; the command's output says
		// what it did.
		svc := admin.NewService(s, passwords, clockFromEnv(env.getenv), "an administrator (CLI)")
		svc.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		svc.SealBox = func() (*seal.Box, error) { return openSealBox(ctx, cfg, s) }
		// The user is told by email of what an administrator changed,
		// through the server's SMTP server or mail outbox.
		m, err := mailSender(cfg, svc.Logger)
		if err != nil {
			return err
		}
		svc.Mailer = mail.Branded{Sender: m, Name: cfg.Brand.Name}
		return f(svc)
	})
	if admin.KindOf(err) == admin.Invalid {
		return usageError{command + ": " + err.Error()}
	}
	return err
}

// runList runs command, a list that takes no argument: it prints a table
// of header and a row (written by row) for each item that list returns;
// or, if there is none and none is not "", the line none.
func runList[T any](ctx context.Context, command string, args []string, env *environ,
	list func(*admin.Service, context.Context) ([]T, error), header string, row func(io.Writer, T), none string) error {
	configPath, err := noArgs(command, args, env)
	if err != nil {
		return err
	}
	return withService(ctx, command, configPath, env, func(s *admin.Service) error {
		items, err := list(s, ctx)
		if err != nil {
			return err
		}
		tw := table(env.stdout)
		fmt.Fprintln(tw, header)
		for _, item := range items {
			row(tw, item)
		}
		if len(items) == 0 && none != "" {
			fmt.Fprintln(tw, none)
		}
		return tw.Flush()
	})
}

// withServiceArg runs command, which takes one argument (what), with the
// service and that argument.
func withServiceArg(ctx context.Context, command string, args []string, env *environ, what string, f func(*admin.Service, string) error) error {
	arg, configPath, err := oneArg(command, args, env, what)
	if err != nil {
		return err
	}
	return withService(ctx, command, configPath, env, func(s *admin.Service) error { return f(s, arg) })
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// withSubcommand returns the command name, which runs run with the
// subcommand (one of subs) that its arguments begin with and the rest.
func withSubcommand(name string, run func(ctx context.Context, sub string, rest []string, env *environ) error,
	subs ...string) func(context.Context, []string, *environ) error {
	return func(ctx context.Context, args []string, env *environ) error {
		sub, rest, err := subcommand(name, args, subs...)
		if err != nil {
			return err
		}
		return run(ctx, sub, rest, env)
	}
}

func subcommand(name string, args []string, subs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageError{fmt.Sprintf("%s: missing subcommand (one of %s)", name, strings.Join(subs, ", "))}
	}
	for _, s := range subs {
		if args[0] == s {
			return s, args[1:], nil
		}
	}
	return "", nil, usageError{fmt.Sprintf("%s: unknown subcommand %q (one of %s)", name, args[0], strings.Join(subs, ", "))}
}

// oneArg parses flags and requires exactly one positional argument.
func oneArg(fsName string, args []string, env *environ, what string) (string, string, error) {
	fs, configPath := flags(fsName, env)
	if err := parse(fs, flagsFirst(fs, args)); err != nil {
		return "", "", err
	}
	if fs.NArg() != 1 {
		return "", "", wrongArgs(fsName, fs, what)
	}
	return fs.Arg(0), *configPath, nil
}

// wrongArgs is the usage error of a command that takes one what and got
// fs.Args() instead. flagsFirst leaves a flag the command does not know
// among the arguments (an id may start with a dash): one that starts with
// two dashes is named as the likely mistake, a misspelt flag.
func wrongArgs(fsName string, fs *flag.FlagSet, what string) error {
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			name, _, _ := strings.Cut(a, "=")
			return usageError{fmt.Sprintf("%s: unknown flag %s (see gatehouse %s --help)", fsName, name, fsName)}
		}
	}
	return usageError{fmt.Sprintf("%s: expected one %s, got %d arguments", fsName, what, fs.NArg())}
}

// flagsFirst reorders args so that fs's flags come first and every other
// argument after a "--". Client and user ids are random base64url and may
// start with a dash, which the flag package would take for a flag; and the
// flags may then come before or after the id.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flagArgs, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || (f == nil && name != "h" && name != "help") {
			rest = append(rest, a)
			continue
		}
		flagArgs = append(flagArgs, a)
		if f == nil || hasValue || i+1 == len(args) {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			i++ // the flag's value
			flagArgs = append(flagArgs, args[i])
		}
	}
	return append(append(flagArgs, "--"), rest...)
}

// noArgs parses flags that take no positional argument.
func noArgs(fsName string, args []string, env *environ) (string, error) {
	fs, configPath := flags(fsName, env)
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() != 0 {
		return "", usageError{fsName + ": unexpected argument " + fs.Arg(0)}
	}
	return *configPath, nil
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// onOff shows whether a factor is on.
func onOff(b bool) string { return map[bool]string{false: "off", true: "on"}[b] }
