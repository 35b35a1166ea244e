package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Config holds the provider's settings.
type Config struct {
	Issuer          string        // static public base URL
	CryptoKey       [32]byte      // encrypts authorization codes and opaque access tokens
	AccessTokenTTL  time.Duration // opaque access tokens
	IDTokenTTL      time.Duration
	RefreshTokenTTL time.Duration // absolute lifetime of a refresh family
	AuthCodeTTL     time.Duration // at most 60s
	AuthRequestTTL  time.Duration // how long a sign-in may take
	// DefaultAudience is the aud of JWT access tokens whose token request
	// names no resource (RFC 8707); "" means the issuer.
	DefaultAudience string
	// LoginURL is where /authorize sends the browser for an auth request.
	LoginURL func(authRequestID string) string
	// SignedOutURL is where end_session lands without a registered
	// post_logout_redirect_uri.
	SignedOutURL string
	// ACR returns the acr a sign-in with amr earned (login.ACRFor). A
	// refresh token keeps its sign-in's amr, and the ID tokens it gets
	// carry this acr, as the first one did (OpenID Connect Core §12.2);
	// nil leaves them without acr.
	ACR func(amr []string) string
	// PublicPushLimit counts a pushed authorization request of a public
	// client against the limit of the address that sent r (anyone may
	// push as a public client: it has no secret to prove) and returns how
	// long that address must wait, 0 to go on. nil counts nothing.
	PublicPushLimit func(r *http.Request) (time.Duration, error)
	Now             func() time.Time
}

// Provider is the OpenID provider: zitadel's protocol handlers over
// Gatehouse's storage.
type Provider struct {
	zp      *zop.Provider
	storage *Storage
	handler http.Handler
	// verified remembers the JWT access tokens whose signature is
	// verified (tokenverify.go).
	verified *verifiedKeySet
	// sealer is zitadel's Crypto: it seals codes and opaque tokens.
	sealer *tokenCrypto

	// The serialised discovery document and JWKS (documents.go), and the
	// endpoints' CORS policy, for ServeDocument.
	discoveryDoc atomic.Pointer[document]
	jwks         atomic.Pointer[document]
	cors         *cors.Cors
}

// The paths of the discovery document: OpenID Connect Discovery's, and
// the same document as RFC 8414's authorization server metadata.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	MetadataPath  = "/.well-known/oauth-authorization-server"
)

// The paths of the endpoints resource servers call with an access token:
// token introspection (RFC 7662) and userinfo.
const (
	IntrospectionPath = "/oauth/introspect"
	UserinfoPath      = "/userinfo"
)

// corsPaths are the endpoints that browsers may call cross-origin, without
// credentials. Authorize, end_session and the login pages get no CORS.
var corsPaths = []string{
	DiscoveryPath, MetadataPath, "/keys", "/oauth/token", UserinfoPath,
	IntrospectionPath, "/revoke",
}

// New builds the provider. keys must hold at least one key per algorithm
// (see Keys.Ensure).
func New(cfg Config, store Store, keys *Keys) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthCodeTTL <= 0 || cfg.AuthCodeTTL > time.Minute {
		return nil, errors.New("op: authorization codes must live between 0 and 60s")
	}
	st := &Storage{store: memoStore{store}, keys: keys, cfg: cfg, jwks: newJWKSCache(cfg.Now), sidKey: sidKey(cfg.CryptoKey)}
	zcfg := &zop.Config{
		CryptoKey:                cfg.CryptoKey,
		CryptoKeyId:              "gh1",
		DefaultLogoutRedirectURI: cfg.SignedOutURL,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English, language.Russian},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
			"at_hash", "c_hash", "email", "email_verified", "name"},
	}
	corsOptions := cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, _ string) (bool, []string) {
			return slices.Contains(corsPaths, r.URL.Path), nil
		},
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "DPoP"},
		AllowCredentials: false,
	}
	// zitadel verifies JWT access tokens (introspection, userinfo,
	// revocation) and id_token_hint with RS256, ES256 and PS256 unless
	// told otherwise: Gatehouse signs with EdDSA too.
	algs := []string{RS256, ES256, EdDSA}
	verified := newVerifiedKeySet(keys, cfg.Issuer, cfg.Now, verifiedCacheSize)
	st.verified = verified
	sealer, err := newTokenCrypto(cfg.CryptoKey, zcfg.CryptoKeyId, verified)
	if err != nil {
		return nil, err
	}
	opts := []zop.Option{
		zop.WithCrypto(sealer),
		zop.WithCORSOptions(&corsOptions),
		zop.WithAccessTokenKeySet(verified),
		zop.WithAccessTokenVerifierOpts(zop.WithSupportedAccessTokenSigningAlgorithms(algs...)),
		zop.WithIDTokenHintVerifierOpts(zop.WithSupportedIDTokenHintSigningAlgorithms(algs...), idTokenHintsOnly),
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, zop.WithAllowInsecure())
	}
	zp, err := zop.NewProvider(zcfg, st, zop.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	p := &Provider{zp: zp, storage: st, verified: verified, sealer: sealer, cors: cors.New(corsOptions)}
	p.handler = p.documents(p.cors, p.formPosts(p.authorizationResponses(withMemo(p.clientAuth(p.dpop(p.tokenClient(bearerErrors(p.jsonEndpoints(p.tokenExchanges(zp))))))))))
	return p, nil
}

// SignatureCacheStats reports the cache of verified JWT access token
// signatures (introspection, userinfo, revocation): the tokens answered
// from it, those verified, and how many it holds.
func (p *Provider) SignatureCacheStats() (hits, misses int64, entries int) { return p.verified.stats() }

// ServeHTTP serves the protocol endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// CallbackURL returns the URL the login flow sends the browser to once an
// auth request is done.
func (p *Provider) CallbackURL(ctx context.Context, authRequestID string) string {
	return zop.AuthCallbackURL(p.zp)(ctx, authRequestID)
}

// IssuerInterceptor puts the issuer into request contexts outside the
// provider's own routes (the login pages), as zitadel requires.
func (p *Provider) IssuerInterceptor(next http.Handler) http.Handler {
	return zop.NewIssuerInterceptor(p.zp.IssuerFromRequest).Handler(next)
}

// AuthRequestError sends an OAuth error for an auth request back to the
// client's redirect_uri (with state and the issuer, RFC 9207), as the login
// flow decides it. code is login_required, interaction_required,
// consent_required or access_denied.
func (p *Provider) AuthRequestError(w http.ResponseWriter, r *http.Request, authRequestID, code, description string) {
	ar, err := p.storage.AuthRequestByID(r.Context(), authRequestID)
	if err != nil {
		http.Error(w, "The sign-in request has expired. Please start again from the application.", http.StatusBadRequest)
		return
	}
	var e *oidc.Error
	switch code {
	case "login_required":
		e = oidc.ErrLoginRequired()
	case "interaction_required":
		e = oidc.ErrInteractionRequired()
	case "access_denied":
		e = oidc.ErrAccessDenied()
	case "consent_required":
		e = &oidc.Error{ErrorType: "consent_required"} // OpenID Connect Core 3.1.2.6; zitadel has no constructor
	default:
		e = oidc.ErrServerError()
	}
	w = formPostFor(w, r, ar) // response_mode=form_post (formpost.go)
	w = issuerWriter(w, p.issuer(), nil)
	zop.AuthRequestError(w, r, ar, e.WithDescription("%s", description), p.zp)
}

// tokenClient keeps the token of introspection and revocation requests in
// the context, and records the client_id of token requests there, so that
// the ID token is signed with the client's algorithm, with a code
// exchange's code_verifier and redirect_uri. The client has
// authenticated by then (clientAuth, which runs first, before zitadel can
// consume an authorization code): a confidential client comes as HTTP
// Basic with its id, a public one with client_id.
func (p *Provider) tokenClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == IntrospectionPath && confidentialClient(r.Context()) != "" {
			// jsonEndpoints answers it, with the token of its form.
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost && (r.URL.Path == IntrospectionPath || r.URL.Path == "/revoke") {
			// The token itself, for the claims of an unrecorded one
			// (clientcredentials.go), as the endpoint reads it: from the
			// body or the query, the first value at introspection
			// (introspect), the last at revocation (zitadel's decoder).
			// zitadel reports a malformed body.
			if r.ParseForm() == nil {
				token := r.Form.Get("token")
				if r.URL.Path == "/revoke" {
					token = lastValue(r.Form, "token")
				}
				r = r.WithContext(withRawToken(r.Context(), token))
			}
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/oauth/token" || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		id, _, basic := r.BasicAuth()
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r) // zitadel reports the malformed body
			return
		}
		// The resource server the access token is for (RFC 8707 §2.2),
		// from the body or the query, as zitadel reads every parameter.
		resource, rerr := tokenResource(r.Form)
		if rerr != nil {
			zop.RequestError(w, r, rerr, nil)
			return
		}
		if resource != "" {
			r = r.WithContext(withResource(r.Context(), resource))
		}
		// zitadel takes grant_type, like every parameter, from the body
		// or the query (r.FormValue): so does the test for a code exchange.
		// It would take the JWT bearer grant (RFC 7523 §2.1) as well,
		// which Gatehouse does not offer, and answer it as a bad
		// assertion: it is refused as unsupported, as other grants are.
		if gt := r.Form.Get("grant_type"); gt != "" && !slices.Contains(GrantTypes, gt) {
			zop.RequestError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("%s not supported", gt), nil)
			return
		}
		if r.Form.Get("grant_type") == string(oidc.GrantTypeCode) {
			// A code_verifier outside RFC 7636 §4.1's syntax is refused
			// before the code is looked at, which stays unused. zitadel
			// checks only that it hashes to the challenge.
			if v := lastValue(r.Form, "code_verifier"); v != "" && !codeVerifier(v) {
				zop.RequestError(w, r, oidc.ErrInvalidGrant().WithDescription("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 §4.1)"), nil)
				return
			}
			// What zitadel checks after the code's use, checked before
			// it (codeexchange.go).
			r = r.WithContext(withCodeExchange(r.Context(), r.Form))
		}
		if basic {
			// RFC 6749 §2.3.1: the credentials are form-encoded.
			id, _ = url.QueryUnescape(id)
		} else {
			id = r.PostForm.Get("client_id")
		}
		if id == "" {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(withClientID(r.Context(), id)))
	})
}

// documents serves discovery (at both its paths) and the JWKS from
// serialised bytes, with
// ETags and Cache-Control, under the same CORS policy as zitadel's
// handlers; other requests go to next.
func (p *Provider) documents(c *cors.Cors, next http.Handler) http.Handler {
	discovery := c.Handler(p.discovery(next))
	keys := c.Handler(p.cachedJWKS(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case DiscoveryPath, MetadataPath:
			discovery.ServeHTTP(w, r)
		case "/keys":
			keys.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// discovery trims zitadel's discovery document to what Gatehouse offers:
// the code flow only, the grants it implements, no device flow, the
// client authentication methods it offers; and it advertises the acr values it issues and
// the issuer in authorization responses (RFC 9207). The same document is
// the authorization server metadata of RFC 8414. The
// document depends on the configuration only, so it is made once, at the
// first request.
func (p *Provider) discovery(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d := p.discoveryDoc.Load(); d != nil {
			d.serve(w, r)
			return
		}
		rec := httptest.NewRecorder()
		plain := r.Clone(r.Context())
		plain.Method = http.MethodGet
		if plain.URL.Path != DiscoveryPath {
			// zitadel serves the document at DiscoveryPath only. Its
			// router (chi) routes by the routing state that a router
			// mounting the provider leaves in the context, rather than by
			// the URL: a request without one is routed afresh.
			plain = plain.WithContext(context.WithValue(plain.Context(), chi.RouteCtxKey, nil))
			plain.URL.Path, plain.URL.RawPath = DiscoveryPath, ""
		}
		plain.Header.Del("Origin") // CORS headers are the caller's, not the cache's
		plain.Header.Del("If-None-Match")
		next.ServeHTTP(rec, plain)
		var doc map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		delete(doc, "device_authorization_endpoint")
		// Client authentication (clientauth.go): every method at the
		// token and revocation endpoints, all but none at introspection
		// (a public client may not introspect), and the algorithms of
		// client assertions.
		for _, endpoint := range []string{"token_endpoint", "introspection_endpoint", "revocation_endpoint"} {
			methods := AuthMethods
			if endpoint == "introspection_endpoint" {
				methods = slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return m == AuthMethodNone })
			}
			doc[endpoint+"_auth_methods_supported"] = methods
			doc[endpoint+"_auth_signing_alg_values_supported"] = AssertionAlgorithms()
		}
		doc["response_types_supported"] = []string{"code"}
		doc["grant_types_supported"] = GrantTypes
		doc["response_modes_supported"] = []string{"query", ResponseModeFormPost}
		doc["acr_values_supported"] = ACRValues
		doc["code_challenge_methods_supported"] = []string{"S256"}
		// Every authorization response carries iss (authresponse.go).
		doc["authorization_response_iss_parameter_supported"] = true
		// Pushed authorization requests (par.go); some clients require them.
		doc["pushed_authorization_request_endpoint"] = p.issuer() + PushedAuthorizationPath
		doc["require_pushed_authorization_requests"] = false
		// OpenID Connect Back-Channel Logout 1.0 (logouttoken.go).
		doc["backchannel_logout_supported"] = true
		doc["backchannel_logout_session_supported"] = true
		if claims, ok := doc["claims_supported"].([]any); ok {
			doc["claims_supported"] = append(claims, "sid")
		}
		// DPoP proofs (RFC 9449 §5.1, dpop.go).
		doc["dpop_signing_alg_values_supported"] = DPoPAlgorithms
		body, err := json.Marshal(doc)
		if err != nil {
			http.Error(w, "discovery unavailable", http.StatusInternalServerError)
			return
		}
		d := newDocument(body, discoveryCacheControl)
		p.discoveryDoc.Store(d)
		d.serve(w, r)
	}
}

// GrantTypes are the grants the token endpoint offers, and discovery
// advertises; another grant_type is unsupported_grant_type.
var GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

// discoveryCacheControl lets relying parties keep the discovery document
// five minutes.
var discoveryCacheControl = []string{"public, max-age=300"}

// ACRValues are the acr values Gatehouse issues, weakest first: one
// factor, an emailed code on top, an authenticator app code on top, and a
// security key or passkey (see login/acr.go).
var ACRValues = []string{"urn:gatehouse:loa:1", "urn:gatehouse:loa:1:email", "urn:gatehouse:loa:2", "urn:gatehouse:loa:3"}
