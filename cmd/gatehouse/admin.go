package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/login/lockout"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// withStore loads the config, opens the store, runs f and closes it.
func withStore(ctx context.Context, configPath string, env *environ, f func(*Config, storage.Store) error) error {
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
	fs, config := flags(fsName, env)
	if err := parse(fs, args); err != nil {
		return "", "", err
	}
	if fs.NArg() != 1 {
		return "", "", usageError{fmt.Sprintf("%s: expected one %s", fsName, what)}
	}
	return fs.Arg(0), *config, nil
}

func runUsers(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("users", args, "create", "list", "show", "disable", "enable", "reset-2fa")
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return usersCreate(ctx, rest, env)
	case "list":
		fs, config := flags("users list", env)
		if err := parse(fs, rest); err != nil {
			return err
		}
		return withStore(ctx, *config, env, func(_ *Config, s storage.Store) error {
			users, err := s.ListUsers(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tSTATUS\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, userStatus(&u), u.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		})
	case "show":
		email, config, err := oneArg("users show", rest, env, "email")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			u, err := findUser(ctx, s, email)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			hasTOTP := false
			if t, err := s.TOTPByUser(ctx, u.ID); err == nil {
				hasTOTP = t.Confirmed
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			fmt.Fprintf(tw, "id:\t%s\nemail:\t%s\nname:\t%s\nstatus:\t%s\nemail verified:\t%t\nauthenticator app:\t%s\nemail codes:\t%s\ncreated:\t%s\n",
				u.ID, u.Email, u.Name, userStatus(u), u.EmailVerified, onOff(hasTOTP), onOff(u.EmailOTP), u.CreatedAt.UTC().Format(time.RFC3339))
			return tw.Flush()
		})
	case "reset-2fa":
		email, config, err := oneArg("users reset-2fa", rest, env, "email")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			u, err := findUser(ctx, s, email)
			if err != nil {
				return err
			}
			if err := s.DeleteTOTP(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if err := s.SetEmailOTP(ctx, u.ID, false, time.Now()); err != nil {
				return err
			}
			keys, err := s.WebAuthnCredentials(ctx, u.ID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := s.DeleteWebAuthnCredential(ctx, u.ID, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
			}
			if err := s.VoidCodes(ctx, u.ID, "", ""); err != nil {
				return err
			}
			if err := s.ReplaceRecoveryCodes(ctx, u.ID, nil, time.Now()); err != nil {
				return err
			}
			s.AddEvent(ctx, &storage.Event{Time: time.Now(), Type: "factor.reset", UserID: u.ID, Detail: "by an administrator (CLI)"})
			fmt.Fprintf(env.stdout, "two-factor authentication reset for %s: they sign in with the password alone until they enable a factor again\n", u.Email)
			return nil
		})
	default: // disable, enable
		email, config, err := oneArg("users "+sub, rest, env, "email")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			u, err := findUser(ctx, s, email)
			if err != nil {
				return err
			}
			disabled := sub == "disable"
			if err := s.SetUserDisabled(ctx, u.ID, disabled, time.Now()); err != nil {
				return err
			}
			if disabled {
				if err := s.DeleteUserSessions(ctx, u.ID); err != nil {
					return err
				}
			}
			fmt.Fprintf(env.stdout, "user %s %sd\n", u.Email, sub)
			return nil
		})
	}
}

func userStatus(u *storage.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

func findUser(ctx context.Context, s storage.Store, email string) (*storage.User, error) {
	u, err := s.UserByEmail(ctx, login.NormalizeEmail(email))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user with email %q", email)
	}
	return u, err
}

func usersCreate(ctx context.Context, args []string, env *environ) error {
	fs, config := flags("users create", env)
	email := fs.String("email", "", "the user's email address (their login)")
	name := fs.String("name", "", "the user's display name")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"users create: unexpected argument " + fs.Arg(0)}
	}
	addr, err := mail.ParseAddress(*email)
	if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(*email) {
		return usageError{fmt.Sprintf("users create: --email %q is not an email address", *email)}
	}
	if !*stdin {
		return usageError{"users create: --password-stdin is required (passwords are never taken as arguments)"}
	}
	pw, err := readPassword(env.stdin)
	if err != nil {
		return err
	}
	if err := policy.Check(pw, addr.Address, *name); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	return withStore(ctx, *config, env, func(_ *Config, s storage.Store) error {
		now := time.Now()
		u := &storage.User{
			ID:            op.NewClientID(),
			Email:         login.NormalizeEmail(addr.Address),
			Name:          strings.TrimSpace(*name),
			PasswordHash:  password.NewHasher(password.OWASP).Hash(pw),
			EmailVerified: true, // created by an administrator
			CreatedAt:     now,
			UpdatedAt:     now,
		}
		if err := s.CreateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("users create: a user with email %q already exists", u.Email)
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
	sub, rest, err := subcommand("clients", args, "create", "list", "show", "delete", "rotate-secret")
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return clientsCreate(ctx, rest, env)
	case "list":
		fs, config := flags("clients list", env)
		if err := parse(fs, rest); err != nil {
			return err
		}
		return withStore(ctx, *config, env, func(_ *Config, s storage.Store) error {
			cs, err := s.ListClients(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tREDIRECT URIS")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, clientType(&c), strings.Join(c.RedirectURIs, " "))
			}
			return tw.Flush()
		})
	case "show":
		id, config, err := oneArg("clients show", rest, env, "client id")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			c, err := findClient(ctx, s, id)
			if err != nil {
				return err
			}
			alg := c.SigningAlgorithm
			if alg == "" {
				alg = op.RS256
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "client id:\t%s\nname:\t%s\ntype:\t%s\nredirect uris:\t%s\npost-logout redirect uris:\t%s\nrequire mfa:\t%t\nsigning algorithm:\t%s\ncreated:\t%s\n",
				c.ID, c.Name, clientType(c), strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "),
				c.RequireMFA, alg, c.CreatedAt.UTC().Format(time.RFC3339))
			return tw.Flush()
		})
	case "delete":
		id, config, err := oneArg("clients delete", rest, env, "client id")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			if err := s.DeleteClient(ctx, id); errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client with id %q", id)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "deleted client %s\n", id)
			return nil
		})
	default: // rotate-secret
		id, config, err := oneArg("clients rotate-secret", rest, env, "client id")
		if err != nil {
			return err
		}
		return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
			c, err := findClient(ctx, s, id)
			if err != nil {
				return err
			}
			if c.Public {
				return fmt.Errorf("client %s is public and has no secret", id)
			}
			secret := op.NewClientSecret()
			if err := s.SetClientSecretHash(ctx, c.ID, op.HashClientSecret(secret), time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now; the old secret no longer works)\n", secret)
			return nil
		})
	}
}

func clientType(c *storage.Client) string {
	if c.Public {
		return "public"
	}
	return "confidential"
}

func findClient(ctx context.Context, s storage.Store, id string) (*storage.Client, error) {
	c, err := s.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no client with id %q", id)
	}
	return c, err
}

func clientsCreate(ctx context.Context, args []string, env *environ) error {
	fs, config := flags("clients create", env)
	name := fs.String("name", "", "the application's name, shown on the sign-in page")
	var redirects, logouts stringList
	fs.Var(&redirects, "redirect-uri", "an allowed redirect URI (repeatable; matched exactly)")
	fs.Var(&logouts, "post-logout-redirect-uri", "an allowed post-logout redirect URI (repeatable)")
	public := fs.Bool("public", false, "a public client (no secret; PKCE required), e.g. a native or browser app")
	requireMFA := fs.Bool("require-mfa", false, "issue tokens only after a second factor")
	alg := fs.String("signing-alg", op.RS256, "ID token signing algorithm: RS256 or ES256")
	asJSON := fs.Bool("json", false, "print {\"client_id\":…, \"client_secret\":…} as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"clients create: unexpected argument " + fs.Arg(0)}
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"clients create: --name is required"}
	}
	if len(redirects) == 0 {
		return usageError{"clients create: at least one --redirect-uri is required"}
	}
	for _, u := range redirects {
		if err := checkRedirectURI(u, *public); err != nil {
			return usageError{"clients create: --redirect-uri " + err.Error()}
		}
	}
	for _, u := range logouts {
		if err := checkRedirectURI(u, *public); err != nil {
			return usageError{"clients create: --post-logout-redirect-uri " + err.Error()}
		}
	}
	if *alg != op.RS256 && *alg != op.ES256 {
		return usageError{fmt.Sprintf("clients create: --signing-alg %q: must be RS256 or ES256", *alg)}
	}
	return withStore(ctx, *config, env, func(_ *Config, s storage.Store) error {
		now := time.Now()
		c := &storage.Client{
			ID:                     op.NewClientID(),
			Name:                   strings.TrimSpace(*name),
			Public:                 *public,
			RedirectURIs:           redirects,
			PostLogoutRedirectURIs: logouts,
			RequireMFA:             *requireMFA,
			SigningAlgorithm:       *alg,
			CreatedAt:              now,
			UpdatedAt:              now,
		}
		var secret string
		if !c.Public {
			secret = op.NewClientSecret()
			c.SecretHash = op.HashClientSecret(secret)
		}
		if err := s.CreateClient(ctx, c); err != nil {
			return err
		}
		if *asJSON {
			out := map[string]string{"client_id": c.ID}
			if secret != "" {
				out["client_secret"] = secret
			}
			return json.NewEncoder(env.stdout).Encode(out)
		}
		fmt.Fprintf(env.stdout, "client_id: %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now)\n", secret)
		}
		return nil
	})
}

// checkRedirectURI enforces exact, safe redirect URIs: absolute, no
// fragment, no wildcard, https — or http only to a loopback host (RFC 8252)
// — and, for public native apps, a private-use scheme.
func checkRedirectURI(raw string, public bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q: must be an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q: must not have a fragment", raw)
	}
	if strings.Contains(raw, "*") {
		return fmt.Errorf("%q: wildcards are not allowed", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: must not contain user information", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("%q: must have a host", raw)
		}
	case "http":
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
		default:
			return fmt.Errorf("%q: http is allowed only for loopback hosts; use https", raw)
		}
	default:
		if !public || !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("%q: scheme must be https (or a reverse-domain private scheme for public apps)", raw)
		}
	}
	return nil
}

func runKeys(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("keys", args, "list", "rotate")
	if err != nil {
		return err
	}
	fs, config := flags("keys "+sub, env)
	if err := parse(fs, rest); err != nil {
		return err
	}
	return withStore(ctx, *config, env, func(cfg *Config, s storage.Store) error {
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

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func runBlocks(ctx context.Context, args []string, env *environ) error {
	sub, rest, err := subcommand("blocks", args, "list", "clear")
	if err != nil {
		return err
	}
	if sub == "list" {
		fs, config := flags("blocks list", env)
		if err := parse(fs, rest); err != nil {
			return err
		}
		return withStore(ctx, *config, env, func(_ *Config, s storage.Store) error {
			now := time.Now()
			blocks, err := s.Blocks(ctx, now)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tSTEP\tSUBJECT\tFAILURES\tBLOCKED UNTIL")
			for _, b := range blocks {
				step, kind, subject := splitCounterKey(b.Key)
				if kind == "acct" {
					kind = "account"
					if u, err := s.UserByID(ctx, subject); err == nil {
						subject = u.Email
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", kind, step, subject, b.Failures, b.BlockedUntil.UTC().Format(time.RFC3339))
			}
			if len(blocks) == 0 {
				fmt.Fprintln(tw, "(no active blocks)")
			}
			return tw.Flush()
		})
	}
	subject, config, err := oneArg("blocks clear", rest, env, "IP address or email")
	if err != nil {
		return err
	}
	return withStore(ctx, config, env, func(_ *Config, s storage.Store) error {
		var suffixes []string
		if ip, err := netip.ParseAddr(subject); err == nil {
			suffixes = []string{":ip:" + lockout.IPKey(ip)}
		} else if u, err := findUser(ctx, s, subject); err == nil {
			// Password counters are keyed by email, code counters by user id.
			suffixes = []string{":acct:" + u.Email, ":acct:" + u.ID}
		} else {
			return usageError{fmt.Sprintf("blocks clear: %q is neither an IP address nor a user's email", subject)}
		}
		n := 0
		for _, suffix := range suffixes {
			k, err := s.ClearBlocks(ctx, suffix)
			if err != nil {
				return err
			}
			n += k
		}
		s.AddEvent(ctx, &storage.Event{Time: time.Now(), Type: "block.cleared", Detail: subject + " by an administrator (CLI)"})
		fmt.Fprintf(env.stdout, "cleared %d counter(s) for %s\n", n, subject)
		return nil
	})
}

// splitCounterKey splits "otp:ip:127.0.0.2" into step, kind and subject.
func splitCounterKey(key string) (step, kind, subject string) {
	parts := strings.SplitN(key, ":", 3)
	if len(parts) != 3 {
		return "", "", key
	}
	return parts[0], parts[1], parts[2]
}
