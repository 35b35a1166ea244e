package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
)

// runUsers runs gatehouse users sub (create, list, show, disable, enable,
// reset-2fa, sign-out, grant-admin or revoke-admin) through the admin
// service.
func runUsers(ctx context.Context, sub string, rest []string, env *environ) error {
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
			fmt.Fprintf(tw, "id:\t%s\nemail:\t%s\nname:\t%s\nstatus:\t%s\nemail verified:\t%t\nadmin:\t%t\nauthenticator app:\t%s\nemail codes:\t%s\nsecurity keys:\t%d\ncreated:\t%s\n",
				u.ID, u.Email, u.Name, u.Status, u.EmailVerified, u.Admin, onOff(u.Factors.AuthenticatorApp), onOff(u.Factors.EmailCodes),
				u.Factors.SecurityKeys, rfc3339(u.CreatedAt))
			return tw.Flush()
		case "reset-2fa":
			u, err := s.ResetTwoFactor(ctx, email)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "two-factor authentication reset for %s: their sessions ended and their tokens were revoked; they sign in with the password alone until they enable a factor again\n", u.Email)
			return nil
		case "sign-out":
			n, err := s.SignOutEverywhere(ctx, email)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "signed %s out everywhere: %d sessions ended, tokens revoked\n", email, n)
			return nil
		case "grant-admin", "revoke-admin":
			u, err := s.SetUserAdmin(ctx, email, sub == "grant-admin")
			if err != nil {
				return err
			}
			if u.Admin {
				fmt.Fprintf(env.stdout, "%s has the administrator role: the admin console at /admin, after a second factor\n", u.Email)
			} else {
				fmt.Fprintf(env.stdout, "%s no longer has the administrator role\n", u.Email)
			}
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
			// The error says what is wrong, the address or the name;
			// withService names the command.
			return err
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
