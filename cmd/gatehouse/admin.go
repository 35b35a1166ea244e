package main

import (
	"bufio"
	"context"
	"encoding/json"
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
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// withStore loads the config, opens the store, runs f and closes it.
func withStore(ctx context.Context, configPath string, env *environ, f func(*config.Config, storage.Store) error) error {
	cfg, err := loadConfig(configPath, env)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return f(cfg, store)
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
		svc.SealBox = func() (*seal.Box, error) { return openSealBox(cfg) }
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
		return "", "", usageError{fmt.Sprintf("%s: expected one %s", fsName, what)}
	}
	return fs.Arg(0), *configPath, nil
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

func runUsers(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("users", args, "create", "list", "show", "disable", "enable", "reset-2fa")
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return usersCreate(ctx, rest, env)
	case "list":
		return runList(ctx, "users list", rest, env, (*admin.Service).ListUsers, "ID\tEMAIL\tNAME\tSTATUS\tCREATED",
			func(w io.Writer, u admin.UserView) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Status, rfc3339(u.CreatedAt))
			}, "")
	}
	return withServiceArg(ctx, "users "+sub, rest, env, "email", func(s *admin.Service, email string) error {
		switch sub {
		case "show":
			u, err := s.User(ctx, email)
			if err != nil {
				return err
			}
			tw := table(env.stdout)
			fmt.Fprintf(tw, "id:\t%s\nemail:\t%s\nname:\t%s\nstatus:\t%s\nemail verified:\t%t\nauthenticator app:\t%s\nemail codes:\t%s\nsecurity keys:\t%d\ncreated:\t%s\n",
				u.ID, u.Email, u.Name, u.Status, u.EmailVerified, onOff(u.Factors.AuthenticatorApp), onOff(u.Factors.EmailCodes),
				u.Factors.SecurityKeys, rfc3339(u.CreatedAt))
			return tw.Flush()
		case "reset-2fa":
			u, err := s.ResetTwoFactor(ctx, email)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "two-factor authentication reset for %s: they sign in with the password alone until they enable a factor again\n", u.Email)
			return nil
		default: // disable, enable
			u, err := s.SetUserDisabled(ctx, email, sub == "disable")
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "user %s %sd\n", u.Email, sub)
			return nil
		}
	})
}

func usersCreate(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("users create", env)
	email := fs.String("email", "", "the user's email address (their login)")
	name := fs.String("name", "", "the user's display name")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"users create: unexpected argument " + fs.Arg(0)}
	}
	if !*stdin {
		return usageError{"users create: --password-stdin is required (passwords are never taken as arguments)"}
	}
	pw, err := readPassword(env.stdin)
	if err != nil {
		return err
	}
	return withService(ctx, "users create", *configPath, env, func(s *admin.Service) error {
		u, err := s.CreateUser(ctx, admin.UserSpec{Email: *email, Name: *name, Password: pw})
		if admin.KindOf(err) == admin.Invalid {
			return admin.Errorf(admin.Invalid, "--email: %v", err)
		} else if admin.KindOf(err) == admin.Conflict {
			return fmt.Errorf("users create: %w", err)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "created user %s (id %s)\n", u.Email, u.ID)
		return nil
	})
}

// readPassword reads one line: the password exactly as typed, without the
// line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, policy.MaxBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	return line, nil
}

func runClients(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("clients", args, "create", "list", "show", "update", "delete", "rotate-secret")
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return clientsCreate(ctx, rest, env)
	case "update":
		return clientsUpdate(ctx, rest, env)
	case "list":
		return runList(ctx, "clients list", rest, env, (*admin.Service).ListClients, "CLIENT ID\tNAME\tTYPE\tACCESS TOKENS\tAUTH METHOD\tREDIRECT URIS",
			func(w io.Writer, c admin.ClientView) {
				typ := c.Type
				if c.Admin {
					typ += " (admin)"
				}
				method := c.TokenEndpointAuthMethod
				if method == "" {
					method = "legacy"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, c.AccessTokenFormat, method, strings.Join(c.RedirectURIs, " "))
			}, "")
	}
	return withServiceArg(ctx, "clients "+sub, rest, env, "client id", func(s *admin.Service, id string) error {
		switch sub {
		case "show":
			c, err := s.Client(ctx, id)
			if err != nil {
				return err
			}
			tw := table(env.stdout)
			fmt.Fprintf(tw, "client id:\t%s\nname:\t%s\ntype:\t%s\nadmin:\t%t\nredirect uris:\t%s\npost-logout redirect uris:\t%s\nrequire mfa:\t%t\nsigning algorithm:\t%s\naccess token format:\t%s\ncreated:\t%s\nupdated:\t%s\n",
				c.ID, c.Name, c.Type, c.Admin, strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "),
				c.RequireMFA, c.SigningAlgorithm, c.AccessTokenFormat, rfc3339(c.CreatedAt), rfc3339(c.UpdatedAt))
			fmt.Fprintf(tw, "token endpoint auth method:\t%s\n", authMethodLabel(c.TokenEndpointAuthMethod))
			if c.JWKSURI != "" {
				fmt.Fprintf(tw, "jwks uri:\t%s\n", c.JWKSURI)
			}
			if c.JWKS != nil {
				fmt.Fprintf(tw, "jwks:\t%s\n", c.JWKS)
			}
			fmt.Fprintf(tw, "require pushed authorization requests:\t%t\n", c.RequirePAR)
			if c.BackchannelLogoutURI != "" {
				fmt.Fprintf(tw, "back-channel logout uri:\t%s\n", c.BackchannelLogoutURI)
			}
			fmt.Fprintf(tw, "consent:\t%t\n", c.Consent)
			fmt.Fprintf(tw, "dpop-bound access tokens:\t%t\n", c.DPoPBoundAccessTokens)
			return tw.Flush()
		case "delete":
			if err := s.DeleteClient(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "deleted client %s\n", id)
			return nil
		default: // rotate-secret
			secret, err := s.RotateSecret(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now; the old secret no longer works)\n", secret)
			return nil
		}
	})
}

func clientsCreate(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("clients create", env)
	name := fs.String("name", "", "the application's name, shown on the sign-in page")
	var redirects, logouts stringList
	fs.Var(&redirects, "redirect-uri", "an allowed redirect URI (repeatable; matched exactly)")
	fs.Var(&logouts, "post-logout-redirect-uri", "an allowed post-logout redirect URI (repeatable)")
	public := fs.Bool("public", false, "a public client (no secret; PKCE required), e.g. a native or browser app")
	requireMFA := fs.Bool("require-mfa", false, "issue tokens only after a second factor")
	adminClient := fs.Bool("admin", false, "may obtain the gatehouse:admin scope (client_credentials) and call the admin API; needs no redirect URI")
	grant := fs.String("grant", "", "client_credentials: a confidential client for that grant only, without redirect URIs")
	alg := fs.String("signing-alg", op.RS256, "ID token (and JWT access token) signing algorithm: RS256, ES256 or EdDSA")
	format := fs.String("access-token-format", op.AccessTokenOpaque, "access tokens: opaque, or jwt (signed JWTs that resource servers verify with the JWKS)")
	requirePAR := fs.Bool("require-par", false, "accept only pushed authorization requests (RFC 9126) from this client")
	backchannel := fs.String("backchannel-logout-uri", "", "where logout tokens are posted when a session the client signed in through ends (https, or http to loopback)")
	asJSON := fs.Bool("json", false, "print {\"client_id\":…, \"client_secret\":…, \"access_token_format\":…} as JSON")
	method := fs.String("token-endpoint-auth-method", "", "how the client authenticates: "+authMethodList()+" (default client_secret_basic; none for --public)")
	jwks := fs.String("jwks", "", "private_key_jwt: the client's public keys, a JWK Set in JSON")
	jwksFile := fs.String("jwks-file", "", "private_key_jwt: a file holding the client's JWK Set")
	jwksURI := fs.String("jwks-uri", "", "private_key_jwt: the URL of the client's JWK Set (https; http only to loopback)")
	consent := fs.Bool("consent", false, "a third-party client: users allow it the scopes it asks for on a consent page")
	dpop := fs.Bool("dpop", false, "access tokens must be DPoP-bound (RFC 9449): token requests without a DPoP proof are refused")
	if err := parse(fs, args); err != nil {
		return err
	}
	keys, err := jwksFlag("clients create", *jwks, *jwksFile)
	if err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"clients create: unexpected argument " + fs.Arg(0)}
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"clients create: --name is required"}
	}
	switch {
	case *grant != "" && *grant != "client_credentials":
		return usageError{fmt.Sprintf("clients create: --grant %q: only client_credentials can be chosen (other clients get the authorization code grant)", *grant)}
	case *grant != "" && (len(redirects) != 0 || len(logouts) != 0):
		return usageError{"clients create: --grant client_credentials takes no --redirect-uri or --post-logout-redirect-uri"}
	case *grant != "" && *public:
		return usageError{"clients create: --grant client_credentials contradicts --public (the client authenticates with its secret)"}
	case len(redirects) == 0 && !*adminClient && *grant == "":
		return usageError{"clients create: at least one --redirect-uri is required (or --grant client_credentials for a client without users)"}
	}
	if !op.IsAlgorithm(*alg) {
		return usageError{fmt.Sprintf("clients create: --signing-alg %q: must be RS256, ES256 or EdDSA", *alg)}
	}
	if !op.IsAccessTokenFormat(*format) {
		return usageError{fmt.Sprintf("clients create: --access-token-format %q: must be opaque or jwt", *format)}
	}
	return withService(ctx, "clients create", *configPath, env, func(s *admin.Service) error {
		c, err := s.CreateClient(ctx, admin.ClientSpec{
			Name: *name, RedirectURIs: redirects, PostLogoutRedirectURIs: logouts,
			Public: *public, RequireMFA: *requireMFA, SigningAlgorithm: *alg, Admin: *adminClient,
			AccessTokenFormat: *format, ClientCredentialsOnly: *grant == "client_credentials",
			TokenEndpointAuthMethod: *method, JWKS: keys, JWKSURI: *jwksURI,
			RequirePAR:            *requirePAR,
			BackchannelLogoutURI:  *backchannel,
			Consent:               *consent,
			DPoPBoundAccessTokens: *dpop,
		})
		if err != nil {
			return cliURIError(err)
		}
		if *asJSON {
			out := map[string]string{"client_id": c.ID, "access_token_format": c.AccessTokenFormat,
				"token_endpoint_auth_method": c.TokenEndpointAuthMethod}
			if c.Secret != "" {
				out["client_secret"] = c.Secret
			}
			return json.NewEncoder(env.stdout).Encode(out)
		}
		fmt.Fprintf(env.stdout, "client_id: %s\n", c.ID)
		if c.Secret != "" {
			fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now)\n", c.Secret)
		}
		if c.Admin {
			fmt.Fprintf(env.stdout, "admin client: get an admin API token with grant_type=client_credentials&scope=%s\n", op.AdminScope)
		}
		return nil
	})
}

// cliURIError names the flag of a refused redirect URI.
func cliURIError(err error) error {
	var se *admin.Error
	if errors.As(err, &se) && se.Kind == admin.Invalid {
		msg := se.Msg
		if rest, ok := strings.CutPrefix(msg, "redirect URI "); ok {
			msg = "--redirect-uri " + rest
		} else if rest, ok := strings.CutPrefix(msg, "post-logout redirect URI "); ok {
			msg = "--post-logout-redirect-uri " + rest
		} else if rest, ok := strings.CutPrefix(msg, "back-channel logout URI "); ok {
			msg = "--backchannel-logout-uri " + rest
		}
		return admin.Errorf(admin.Invalid, "%s", msg)
	}
	return err
}

func clientsUpdate(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("clients update", env)
	var redirects, logouts stringList
	fs.Var(&redirects, "redirect-uri", "an allowed redirect URI (repeatable): replaces the current list")
	fs.Var(&logouts, "post-logout-redirect-uri", "an allowed post-logout redirect URI (repeatable): replaces the current list")
	clearLogouts := fs.Bool("clear-post-logout-redirect-uris", false, "remove every post-logout redirect URI")
	method := fs.String("token-endpoint-auth-method", "", "pin how the client authenticates: "+authMethodList())
	jwks := fs.String("jwks", "", "private_key_jwt: the client's public keys, a JWK Set in JSON (replaces the registered keys)")
	jwksFile := fs.String("jwks-file", "", "private_key_jwt: a file holding the client's JWK Set (replaces the registered keys)")
	jwksURI := fs.String("jwks-uri", "", "private_key_jwt: the URL of the client's JWK Set (replaces the registered keys)")
	var settings settingsFlags
	settings.register(fs)
	if err := parse(fs, flagsFirst(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"clients update: expected one client id"}
	}
	id := fs.Arg(0)
	keys, err := jwksFlag("clients update", *jwks, *jwksFile)
	if err != nil {
		return err
	}
	uris := len(redirects) > 0 || len(logouts) > 0 || *clearLogouts
	auth := *method != "" || keys != nil || *jwksURI != ""
	set := settings.settings()
	switch {
	case !uris && !auth && set.Empty():
		return usageError{"clients update: nothing to change: give at least one --redirect-uri (the list replaces the current one), a setting (--require-par, --consent, --dpop, --backchannel-logout-uri) or --token-endpoint-auth-method"}
	case uris && len(redirects) == 0:
		return usageError{"clients update: the post-logout redirect URIs change only with --redirect-uri (at least one; the list replaces the current one)"}
	case *clearLogouts && len(logouts) > 0:
		return usageError{"clients update: --clear-post-logout-redirect-uris contradicts --post-logout-redirect-uri"}
	}
	return withService(ctx, "clients update", *configPath, env, func(s *admin.Service) error {
		// The redirect URIs, the settings and the authentication change in
		// that order, each in one write; the URIs given are checked first,
		// so that a refused one changes nothing.
		c, err := s.Client(ctx, id)
		if err != nil {
			return err
		}
		if uris {
			if err := admin.CheckURIs(redirects, logouts, c.Type == "public"); err != nil {
				return cliURIError(err)
			}
		}
		if set.BackchannelLogoutURI != nil {
			if err := admin.CheckBackchannelLogoutURI(*set.BackchannelLogoutURI); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.stdout, "updated client %s\n", id)
		if uris {
			u := admin.ClientURIs{RedirectURIs: redirects}
			if len(logouts) > 0 || *clearLogouts {
				l := []string(logouts)
				u.PostLogoutRedirectURIs = &l
			}
			c, err := s.SetClientURIs(ctx, id, u)
			if err != nil {
				return cliURIError(err)
			}
			fmt.Fprintf(env.stdout, "redirect uris: %s\npost-logout redirect uris: %s\n",
				strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "))
		}
		if !set.Empty() {
			c, err := s.SetClientSettings(ctx, id, set)
			if err != nil {
				return err
			}
			if set.RequirePAR != nil {
				fmt.Fprintf(env.stdout, "require pushed authorization requests: %t\n", c.RequirePAR)
			}
			if set.Consent != nil {
				fmt.Fprintf(env.stdout, "consent: %t\n", c.Consent)
			}
			if set.DPoPBoundAccessTokens != nil {
				fmt.Fprintf(env.stdout, "dpop-bound access tokens: %t\n", c.DPoPBoundAccessTokens)
			}
			if set.BackchannelLogoutURI != nil {
				fmt.Fprintf(env.stdout, "back-channel logout uri: %s\n", c.BackchannelLogoutURI)
			}
		}
		if auth {
			return clientsUpdateAuth(ctx, s, env, id, *method, keys, *jwksURI)
		}
		return nil
	})
}

// onOff shows whether a factor is on.
func onOff(b bool) string { return map[bool]string{false: "off", true: "on"}[b] }

func runKeys(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("keys", args, "list", "rotate")
	if err != nil {
		return err
	}
	fs, configPath := flags("keys "+sub, env)
	if err := parse(fs, rest); err != nil {
		return err
	}
	return withStore(ctx, *configPath, env, func(cfg *config.Config, s storage.Store) error {
		keys, _, err := keyManager(cfg, s)
		if err != nil {
			return err
		}
		var infos []op.KeyInfo
		if sub == "rotate" {
			infos, err = keys.Rotate(ctx)
		} else {
			if err = keys.Ensure(ctx); err == nil {
				infos, err = keys.List(ctx)
			}
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tSIGNS FROM\tCREATED")
		for _, k := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, k.ActiveAt.UTC().Format(time.RFC3339), k.CreatedAt.UTC().Format(time.RFC3339))
		}
		if sub == "rotate" {
			fmt.Fprintf(tw, "\nNew keys are published now and sign from %s on; old keys stay published until their tokens expire.\n", op.PublishDelay)
		}
		return tw.Flush()
	})
}

func runBlocks(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("blocks", args, "list", "clear")
	if err != nil {
		return err
	}
	if sub == "list" {
		return runList(ctx, "blocks list", rest, env, (*admin.Service).Blocks, "KIND\tSTEP\tSUBJECT\tFAILURES\tBLOCKED UNTIL",
			func(w io.Writer, b admin.BlockView) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", b.Kind, b.Step, b.Subject, b.Failures, rfc3339(b.BlockedUntil))
			}, "(no active blocks)")
	}
	return withServiceArg(ctx, "blocks clear", rest, env, "IP address or email", func(s *admin.Service, subject string) error {
		n, err := s.ClearBlocks(ctx, subject)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "cleared %d counter(s) for %s\n", n, subject)
		return nil
	})
}
