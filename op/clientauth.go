package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
)

// Client authentication methods at the token, introspection and
// revocation endpoints (RFC 7591 §2). A client registers exactly one;
// the endpoints accept no other.
const (
	AuthMethodBasic         = "client_secret_basic" // the secret in HTTP Basic (RFC 6749 §2.3.1)
	AuthMethodPost          = "client_secret_post"  // the secret in the form body
	AuthMethodSecretJWT     = "client_secret_jwt"   // a JWT signed with HMAC under the secret (RFC 7523, OIDC Core §9)
	AuthMethodPrivateKeyJWT = "private_key_jwt"     // a JWT signed with one of the client's registered keys
	AuthMethodNone          = "none"                // a public client: no authentication
)

// AuthMethods are the client authentication methods Gatehouse offers, as
// discovery lists them.
var AuthMethods = []string{AuthMethodBasic, AuthMethodPost, AuthMethodSecretJWT, AuthMethodPrivateKeyJWT, AuthMethodNone}

// IsAuthMethod reports whether m is a client authentication method.
func IsAuthMethod(m string) bool { return slices.Contains(AuthMethods, m) }

// PrivateKeyJWTAlgorithms are the algorithms a private_key_jwt assertion
// may be signed with; SecretJWTAlgorithms those of a client_secret_jwt
// assertion. "none" is neither.
var (
	PrivateKeyJWTAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}
	SecretJWTAlgorithms     = []string{"HS256", "HS384", "HS512"}
)

// AssertionAlgorithms are every algorithm a client assertion may be signed
// with, as discovery lists them.
func AssertionAlgorithms() []string {
	return slices.Concat(PrivateKeyJWTAlgorithms, SecretJWTAlgorithms)
}

// ClientAuthMethod returns how c authenticates: none for a public client,
// the registered method otherwise; "" (legacy) for a confidential client
// registered before the method could be chosen, which may use
// client_secret_basic or client_secret_post.
func ClientAuthMethod(c *storage.Client) string {
	if c.Public {
		return AuthMethodNone
	}
	return c.TokenEndpointAuthMethod
}

// clientAuthPaths are the endpoints at which clients authenticate. An
// endpoint that authenticates clients is added here, and then sees only
// requests whose client authenticated with its registered method.
var clientAuthPaths = map[string]bool{
	"/oauth/token":    true,
	IntrospectionPath: true,
	"/revoke":         true,
}

// The limits of a client assertion: its lifetime from now, the clock skew
// allowed either way, and its size and jti length.
const (
	assertionMaxLifetime = 10 * time.Minute
	assertionSkew        = 30 * time.Second
	assertionMaxBytes    = 16 << 10
	assertionMaxJTI      = 256
)

type authenticatedClientKey struct{}

// withAuthenticatedClient returns ctx saying that clientAuth authenticated
// c, which no one changes from then on.
func withAuthenticatedClient(ctx context.Context, c *storage.Client) context.Context {
	return context.WithValue(ctx, authenticatedClientKey{}, c)
}

// authenticatedClient returns the id of the client that clientAuth
// authenticated for this request, or "".
func authenticatedClient(ctx context.Context) string {
	if c, _ := ctx.Value(authenticatedClientKey{}).(*storage.Client); c != nil {
		return c.ID
	}
	return ""
}

// confidentialClient returns the id of the confidential client that
// clientAuth authenticated for this request, or "".
func confidentialClient(ctx context.Context) string {
	if c, _ := ctx.Value(authenticatedClientKey{}).(*storage.Client); c != nil && !c.Public {
		return c.ID
	}
	return ""
}

// clientAuth authenticates the client of every request to the token,
// introspection and revocation endpoints with the method it registered,
// before zitadel sees the request, for every grant. A request with more
// than one method is invalid_request (RFC 6749 §2.3); a method other than
// the registered one, or credentials that do not verify, invalid_client.
//
// zitadel then sees an authenticated confidential client as one using
// HTTP Basic with an empty secret, and Storage.AuthorizeClientIDSecret
// accepts exactly the client authenticated here (the request's context
// says which); a public client keeps its client_id. So zitadel's own
// client authentication, which knows neither the registered method nor
// assertions' replay, never decides.
func (p *Provider) clientAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !clientAuthPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r) // zitadel reports the malformed body, and authenticates no one
			return
		}
		c, err := p.storage.authenticateRequest(r)
		if err != nil {
			zop.RequestError(w, r, err, nil)
			return
		}
		if r.URL.Path == IntrospectionPath && !c.Public {
			// jsonEndpoints answers it, and reads nothing but the
			// token: zitadel will not see the request.
			next.ServeHTTP(w, r.WithContext(withAuthenticatedClient(r.Context(), c)))
			return
		}
		next.ServeHTTP(w, asAuthenticated(r, c))
	})
}

// asAuthenticated returns r for zitadel once c has authenticated: its
// credentials removed, and c named the way zitadel expects.
func asAuthenticated(r *http.Request, c *storage.Client) *http.Request {
	r = r.WithContext(withAuthenticatedClient(r.Context(), c))
	r.Header = r.Header.Clone()
	r.Header.Del("Authorization")
	strip := func(v url.Values) url.Values {
		v = cloneValues(v)
		for _, k := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
			delete(v, k)
		}
		if c.Public {
			v.Set("client_id", c.ID)
		}
		return v
	}
	r.Form, r.PostForm = strip(r.Form), strip(r.PostForm)
	if !c.Public {
		r.SetBasicAuth(url.QueryEscape(c.ID), "")
	}
	return r
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// errClientAuth is the answer to credentials that do not verify, whatever
// the reason (the log has it). A new error each time: zitadel's errors
// are changed in place (WithParent).
func errClientAuth() *oidc.Error {
	return oidc.ErrInvalidClient().WithDescription("client authentication failed")
}

// BasicScheme reports whether r's Authorization header uses the Basic
// scheme (case-insensitive, RFC 9110 §11.1), whether or not its
// credentials can be read: a client that tried HTTP Basic and failed gets
// a Basic challenge with its 401 (RFC 6749 §5.2).
func BasicScheme(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

// authenticateRequest authenticates the client of r, whose form is
// parsed, and returns it.
func (s *Storage) authenticateRequest(r *http.Request) (*storage.Client, error) {
	ctx := r.Context()
	form := r.PostForm
	if r.URL.RawQuery != "" {
		query := r.URL.Query()
		for _, k := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
			if query.Has(k) {
				return nil, oidc.ErrInvalidRequest().WithDescription("client credentials belong in the request body, not the URL")
			}
		}
	}
	user, pass, basic := r.BasicAuth()
	if !basic && strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "basic ") {
		return nil, oidc.ErrInvalidClient().WithDescription("malformed Basic credentials")
	}
	post := form.Get("client_secret") != ""
	assertion := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	if n := countTrue(basic, post, assertion); n > 1 {
		return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
	}
	formID := form.Get("client_id")
	var (
		id, used, secret string
		claims           *jwt.JSONWebToken
	)
	switch {
	case basic:
		var err1, err2 error
		id, err1 = url.QueryUnescape(user)
		secret, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("malformed Basic credentials")
		}
		used = AuthMethodBasic
	case post:
		id, secret, used = formID, form.Get("client_secret"), AuthMethodPost
	case assertion:
		if form.Get("client_assertion_type") != oidc.ClientAssertionTypeJWTAssertion {
			return nil, oidc.ErrInvalidClient().WithDescription("client_assertion_type must be " + oidc.ClientAssertionTypeJWTAssertion)
		}
		raw := form.Get("client_assertion")
		if raw == "" || len(raw) > assertionMaxBytes {
			return nil, oidc.ErrInvalidRequest().WithDescription("client_assertion is missing or too large")
		}
		tok, err := jwt.ParseSigned(raw, signatureAlgorithms(AssertionAlgorithms()))
		if err != nil {
			slog.InfoContext(ctx, "client assertion refused", "reason", err)
			return nil, errClientAuth()
		}
		var unverified jwt.Claims
		if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Subject == "" {
			return nil, errClientAuth()
		}
		id, claims, used = unverified.Subject, tok, "jwt"
	default:
		id, used = formID, AuthMethodNone
	}
	if id == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("no client authentication")
	}
	if formID != "" && formID != id {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the client's credentials")
	}
	c, err := s.store.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		// Spend the same work as a real comparison.
		subtle.ConstantTimeCompare(hashSecret(secret), make([]byte, sha256.Size))
		return nil, errClientAuth()
	}
	if err != nil {
		fault(ctx, err)
		return nil, oidc.ErrServerError().WithParent(err)
	}
	registered := ClientAuthMethod(c)
	if used == AuthMethodBasic && secret == "" && registered == AuthMethodNone {
		// A public client naming itself in Basic with no password (as
		// x/oauth2 does in header mode) presents no credentials.
		used = AuthMethodNone
	}
	switch {
	case used == AuthMethodBasic || used == AuthMethodPost:
		if registered != used && registered != "" {
			slog.InfoContext(ctx, "client authentication refused", "client_id", id, "reason", "used "+used+", registered "+registered)
			return nil, errClientAuth()
		}
		if len(c.SecretHash) != sha256.Size || subtle.ConstantTimeCompare(hashSecret(secret), c.SecretHash) != 1 {
			return nil, errClientAuth()
		}
	case used == "jwt":
		if registered != AuthMethodPrivateKeyJWT && registered != AuthMethodSecretJWT {
			slog.InfoContext(ctx, "client authentication refused", "client_id", id, "reason", "used a client assertion, registered "+cmpOr(registered, "legacy"))
			return nil, errClientAuth()
		}
		if err := s.verifyAssertion(ctx, c, claims, r.URL.Path); err != nil {
			var oe *oidc.Error
			if errors.As(err, &oe) {
				return nil, oe
			}
			slog.InfoContext(ctx, "client assertion refused", "client_id", id, "reason", err)
			return nil, errClientAuth()
		}
	default: // none
		if registered != AuthMethodNone {
			return nil, oidc.ErrInvalidClient().WithDescription("no client authentication")
		}
	}
	return c, nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func signatureAlgorithms(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// verifyAssertion checks a client assertion of c (RFC 7523 §3, OIDC Core
// §9) at the endpoint path: its signature with an algorithm of c's method
// and a key of c's, iss = sub = client_id, an audience naming Gatehouse,
// its times, and that its jti was never used before. An error that is an
// *oidc.Error is answered as it is (the database failed); any other is
// invalid_client.
func (s *Storage) verifyAssertion(ctx context.Context, c *storage.Client, tok *jwt.JSONWebToken, path string) error {
	if len(tok.Headers) != 1 {
		return errors.New("not a single-signature JWS")
	}
	h := tok.Headers[0]
	var allowed []string
	if c.TokenEndpointAuthMethod == AuthMethodSecretJWT {
		allowed = SecretJWTAlgorithms
	} else {
		allowed = PrivateKeyJWTAlgorithms
	}
	if !slices.Contains(allowed, h.Algorithm) {
		return fmt.Errorf("algorithm %q is not allowed for %s", h.Algorithm, c.TokenEndpointAuthMethod)
	}
	var claims jwt.Claims
	if c.TokenEndpointAuthMethod == AuthMethodSecretJWT {
		secret, err := s.clientJWTSecret(ctx, c)
		if err != nil {
			return err
		}
		if err := tok.Claims(secret, &claims); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
	} else if err := s.verifyWithClientKeys(ctx, c, tok, &claims); err != nil {
		return err
	}

	now := s.now()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return errors.New("iss and sub must both be the client_id")
	case !slices.ContainsFunc(claims.Audience, s.assertionAudience(path)):
		return fmt.Errorf("audience %q names neither the issuer nor the endpoint", []string(claims.Audience))
	case claims.Expiry == nil:
		return errors.New("exp is missing")
	case claims.Expiry.Time().Before(now.Add(-assertionSkew)):
		return errors.New("expired")
	case claims.Expiry.Time().After(now.Add(assertionMaxLifetime + assertionSkew)):
		return fmt.Errorf("exp is more than %s ahead", assertionMaxLifetime)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)):
		return errors.New("not valid yet (nbf)")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)):
		return errors.New("issued in the future (iat)")
	case claims.ID == "" || len(claims.ID) > assertionMaxJTI:
		return errors.New("jti is missing or too long")
	}
	sum := sha256.Sum256([]byte(c.ID + "\x00" + claims.ID))
	key := "client-assertion:" + hex.EncodeToString(sum[:])
	err := s.store.UseJTI(ctx, key, claims.Expiry.Time().Add(assertionSkew), now)
	if errors.Is(err, storage.ErrReplayed) {
		return errors.New("jti already used")
	}
	if err != nil {
		fault(ctx, err)
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// assertionAudience returns whether an audience names Gatehouse for an
// assertion sent to path: the issuer, the token endpoint or the endpoint
// itself (OIDC Core §9 asks for the token endpoint, RFC 7523 §3 allows
// the issuer).
func (s *Storage) assertionAudience(path string) func(string) bool {
	base := strings.TrimSuffix(s.cfg.Issuer, "/")
	return func(aud string) bool {
		return aud == s.cfg.Issuer || aud == base || aud == base+"/oauth/token" || aud == base+path
	}
}

// verifyWithClientKeys verifies tok with the registered key of c that its
// header names (or each key that fits, without a kid), and decodes its
// claims. The keys of a jwks_uri are fetched again once for a kid they do
// not hold (rate-limited, clientjwks.go).
func (s *Storage) verifyWithClientKeys(ctx context.Context, c *storage.Client, tok *jwt.JSONWebToken, claims *jwt.Claims) error {
	h := tok.Headers[0]
	for attempt := range 2 {
		var set *jose.JSONWebKeySet
		var err error
		switch {
		case c.JWKS != "":
			if attempt > 0 {
				return fmt.Errorf("no registered key with kid %q", h.KeyID)
			}
			set, err = ParseClientJWKS([]byte(c.JWKS))
		case c.JWKSURI != "":
			set, err = s.jwks.keys(ctx, c.JWKSURI, attempt > 0)
		default:
			return errors.New("the client has no registered keys")
		}
		if err != nil {
			return err
		}
		candidates := set.Keys
		if h.KeyID != "" {
			candidates = set.Key(h.KeyID)
		}
		tried := 0
		for _, k := range candidates {
			if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
				continue
			}
			if tried++; tried > maxClientKeys {
				break
			}
			if err := tok.Claims(k.Key, claims); err == nil {
				return nil
			}
		}
		if h.KeyID == "" || len(candidates) > 0 {
			return errors.New("the signature verifies with no registered key")
		}
	}
	return fmt.Errorf("no registered key with kid %q", h.KeyID)
}

// NewJWTClientSecret returns a fresh secret for a client_secret_jwt
// client: 512 bits, so that it is long enough a key for HS512 too.
func NewJWTClientSecret() string { return randomID(64) }

// SealClientSecret seals the secret of the client_secret_jwt client id
// for storage (storage.ClientJWTSecretStore), bound to that client.
func SealClientSecret(box *seal.Box, id, secret string) []byte {
	return box.Seal([]byte(secret), clientSecretAAD(id))
}

func clientSecretAAD(id string) []byte { return []byte("client-jwt-secret:" + id) }

// clientJWTSecret returns the secret of the client_secret_jwt client c,
// unsealed, if it is still the secret whose hash c holds.
func (s *Storage) clientJWTSecret(ctx context.Context, c *storage.Client) ([]byte, error) {
	sealed, err := s.store.ClientJWTSecret(ctx, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errors.New("no secret is stored for this client_secret_jwt client")
	}
	if err != nil {
		fault(ctx, err)
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if s.keys == nil || s.keys.box == nil {
		return nil, errors.New("no key to open client secrets")
	}
	secret, err := s.keys.box.Open(sealed, clientSecretAAD(c.ID))
	if err != nil {
		slog.ErrorContext(ctx, "a client_secret_jwt secret does not open (secrets key changed?)", "client_id", c.ID)
		return nil, err
	}
	if len(c.SecretHash) != sha256.Size || subtle.ConstantTimeCompare(hashSecret(string(secret)), c.SecretHash) != 1 {
		return nil, errors.New("the sealed secret is not the client's current secret")
	}
	return secret, nil
}
