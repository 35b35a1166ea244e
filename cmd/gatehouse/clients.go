package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
	"github.com/gatehouse-idp/gatehouse/op"
)

// runClients runs gatehouse clients sub (create, list, show, update,
// disable, enable, delete or rotate-secret) through the admin service.
func runClients(ctx context.Context, sub string, rest []string, env *environ) error {
	switch sub {
	case "create":
		return clientsCreate(ctx, rest, env)
	case "update":
		return clientsUpdate(ctx, rest, env)
	case "list":
		return runList(ctx, "clients list", rest, env, (*admin.Service).ListClients, "CLIENT ID\tNAME\tTYPE\tACCESS TOKENS\tAUTH METHOD\tGRANT TYPES\tREDIRECT URIS",
			func(w io.Writer, c admin.ClientView) {
				typ := c.Type
				if c.Admin {
					typ += " (admin)"
				}
				method := c.TokenEndpointAuthMethod
				if method == "" {
					method = "legacy"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, c.AccessTokenFormat, method,
					strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
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
			fmt.Fprintf(tw, "grant types:\t%s\n", strings.Join(c.GrantTypes, " "))
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
			fmt.Fprintf(tw, "disabled:\t%t\n", c.Disabled)
			return tw.Flush()
		case "disable", "enable":
			if _, err := s.SetClientDisabled(ctx, id, sub == "disable"); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%sd client %s\n", sub, id)
			return nil
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
	grant := fs.String("grant", "", "client_credentials: a confidential client for that grant only, without redirect URIs (as --grant-type client_credentials)")
	var grants grantTypeList
	fs.Var(&grants, "grant-type", "a grant the client may use (repeatable, or comma-separated): authorization_code, refresh_token, client_credentials (confidential clients only); default authorization_code and refresh_token (an --admin client: client_credentials as well)")
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
	case *grant != "" && len(grants) > 0 && !slices.Equal(grants, grantTypeList{"client_credentials"}):
		return usageError{"clients create: --grant client_credentials contradicts --grant-type " + strings.Join(grants, ",")}
	case len(redirects) == 0 && !*adminClient && *grant == "" && (len(grants) == 0 || slices.Contains(grants, "authorization_code")):
		return usageError{"clients create: at least one --redirect-uri is required (or --grant-type client_credentials for a client without users)"}
	}
	var grantTypes []string
	if len(grants) > 0 {
		grantTypes = grants
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
			AccessTokenFormat: *format, ClientCredentialsOnly: *grant == "client_credentials", GrantTypes: grantTypes,
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
			out := map[string]any{"client_id": c.ID, "access_token_format": c.AccessTokenFormat,
				"token_endpoint_auth_method": c.TokenEndpointAuthMethod, "grant_types": c.GrantTypes}
			if c.Secret != "" {
				out["client_secret"] = c.Secret
			}
			return json.NewEncoder(env.stdout).Encode(out)
		}
		fmt.Fprintf(env.stdout, "client_id: %s\n", c.ID)
		if c.Secret != "" {
			fmt.Fprintf(env.stdout, "client_secret: %s\n(shown once: store it now)\n", c.Secret)
		}
		fmt.Fprintf(env.stdout, "grant types: %s\n", strings.Join(c.GrantTypes, " "))
		if c.Admin {
			fmt.Fprintf(env.stdout, "admin client: get an admin API token with grant_type=client_credentials&scope=%s\n", op.AdminScope)
		}
		return nil
	})
}

// grantTypeList is the repeatable --grant-type flag, which also takes a
// comma-separated list. An empty grant (--grant-type "", "a,,b") is
// refused rather than skipped: skipped, --grant-type "" would register
// the default grants the operator did not name.
type grantTypeList []string

func (l *grantTypeList) String() string { return strings.Join(*l, ",") }

func (l *grantTypeList) Set(v string) error {
	for g := range strings.SplitSeq(v, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			return errors.New("an empty grant type: give authorization_code, refresh_token or client_credentials")
		}
		*l = append(*l, g)
	}
	return nil
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
	var grants grantTypeList
	fs.Var(&grants, "grant-type", "a grant the client may use (repeatable, or comma-separated; the list replaces the current one): authorization_code, refresh_token, client_credentials (confidential clients only)")
	if err := parse(fs, flagsFirst(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return wrongArgs("clients update", fs, "client id")
	}
	id := fs.Arg(0)
	keys, err := jwksFlag("clients update", *jwks, *jwksFile)
	if err != nil {
		return err
	}
	uris := len(redirects) > 0 || len(logouts) > 0 || *clearLogouts
	auth := *method != "" || keys != nil || *jwksURI != ""
	set := settings.settings()
	if len(grants) > 0 {
		g := []string(grants)
		set.GrantTypes = &g
	}
	switch {
	case !uris && !auth && set.Empty():
		return usageError{"clients update: nothing to change: give at least one --redirect-uri (the list replaces the current one), a setting (--require-par, --consent, --dpop, --backchannel-logout-uri, --require-mfa, --signing-alg, --access-token-format, --grant-type) or --token-endpoint-auth-method"}
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
			if set.GrantTypes != nil {
				fmt.Fprintf(env.stdout, "grant types: %s\n", strings.Join(c.GrantTypes, " "))
			}
		}
		if auth {
			return clientsUpdateAuth(ctx, s, env, id, *method, keys, *jwksURI)
		}
		return nil
	})
}
