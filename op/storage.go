package op

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Store is the part of storage.Store the provider uses: clients, users,
// auth requests, pushed requests and grants, the sessions of back-channel
// logout, signing keys, single-use JWT identifiers and the database's
// health.
type Store interface {
	storage.UserStore
	storage.ClientStore
	storage.JTIStore
	storage.AuthRequestStore
	storage.PushedRequestStore
	storage.GrantStore
	storage.BackchannelStore
	storage.KeyStore
	Ping(ctx context.Context) error
}

// Storage implements zop.Storage over a Store.
type Storage struct {
	store Store
	keys  *Keys
	cfg   Config
	jwks  *jwksCache // clients' jwks_uri key sets (clientjwks.go)
	// sidKey makes the sid claim of a session (logouttoken.go).
	sidKey []byte
	// verified is the provider's cache of verified JWT access tokens
	// (tokenverify.go), which holds the claims of unrecorded ones.
	verified *verifiedKeySet
}

var (
	_ zop.Storage                        = (*Storage)(nil)
	_ zop.ClientCredentialsStorage       = (*Storage)(nil)
	_ zop.CanSetUserinfoFromRequest      = (*Storage)(nil)
	_ zop.CanTerminateSessionFromRequest = (*Storage)(nil)
	_ zop.CanGetPrivateClaimsFromRequest = (*Storage)(nil)
)

// hashSecret is the stored form of codes, refresh tokens and client secrets:
// all are 256-bit random values, so a plain SHA-256 is enough.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// HashClientSecret returns the stored form of a client secret.
func HashClientSecret(secret string) []byte { return hashSecret(secret) }

// NewClientSecret returns a fresh 256-bit client secret.
func NewClientSecret() string { return randomID(32) }

// NewClientID returns a fresh client id.
func NewClientID() string { return randomID(16) }

// UnavailableDescription is the error_description of an answer that a
// database failure caused (temporarily_unavailable, or a 503): the same
// words whatever failed, since the database's own error text (hosts,
// SQLSTATE codes, statements) is for the log, not for clients.
const UnavailableDescription = "temporarily unavailable, try again"

// fault marks the request's fault tracker (see TrackFaults) when err is an
// infrastructure failure rather than a missing object.
func fault(ctx context.Context, err error) error {
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrReplayed) {
		if f, ok := ctx.Value(faultKey{}).(*atomic.Bool); ok {
			f.Store(true)
		}
		slog.ErrorContext(ctx, "storage failure", "err", err)
	}
	return err
}

type faultKey struct{}

// TrackFaults returns a context in which the storage adapter records
// database failures, and the flag it sets. The HTTP layer uses it to answer
// 503 instead of a protocol error when the database was the cause.
func TrackFaults(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, faultKey{}, f), f
}

type flowBindingKey struct{}

// WithFlowBinding returns a context carrying the hash of the flow cookie
// that /authorize set in the browser sending the request: the auth request
// created in that context belongs to that browser alone.
func WithFlowBinding(ctx context.Context, hash []byte) context.Context {
	return context.WithValue(ctx, flowBindingKey{}, hash)
}

type clientIDKey struct{}

// withClientID records the client a token request is for, so the signing
// key can follow the client's algorithm.
func withClientID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientIDKey{}, id)
}

func (s *Storage) now() time.Time { return s.cfg.Now() }

// CreateAuthRequest stores a validated authorization request. It refuses
// PKCE methods other than S256.
func (s *Storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (zop.AuthRequest, error) {
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if req.CodeChallenge == "" && req.CodeChallengeMethod != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	}
	if req.CodeChallenge != "" && !s256Challenge(req.CodeChallenge) {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge must be a base64url SHA-256 (43 characters)")
	}
	if req.CodeChallenge == "" {
		c, err := s.store.ClientByID(ctx, req.ClientID)
		if err != nil {
			return nil, fault(ctx, fmt.Errorf("load client: %w", err))
		}
		if c.Public {
			return nil, oidc.ErrInvalidRequest().WithDescription("PKCE (S256) is required for public clients")
		}
	}
	// A request without a browser to belong to could be finished by
	// anyone who learns its id: refuse it (the HTTP layer binds every
	// /authorize, WithFlowBinding).
	binding, _ := ctx.Value(flowBindingKey{}).([]byte)
	if len(binding) == 0 {
		return nil, fault(ctx, errors.New("create auth request: no browser binding"))
	}
	jkt, err := authorizeJKT(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ar := &storage.AuthRequest{
		ID:                  sortableID(now),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              req.Scopes,
		State:               req.State,
		Nonce:               req.Nonce,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		LoginHint:           req.LoginHint,
		ACRValues:           req.ACRValues,
		HintSubject:         userID,
		BindingHash:         binding,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.cfg.AuthRequestTTL),
		DPoPJKT:             jkt,
	}
	if req.MaxAge != nil {
		d := maxAgeDuration(*req.MaxAge)
		ar.MaxAge = &d
	}
	for _, t := range req.UILocales {
		ar.UILocales = append(ar.UILocales, t.String())
	}
	if err := s.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, fault(ctx, fmt.Errorf("create auth request: %w", err))
	}
	return authRequest{r: ar}, nil
}

// maxAgeDuration returns max_age seconds as a duration, the longest one
// for a max_age longer: no session is that old.
func maxAgeDuration(seconds uint) time.Duration {
	if uint64(seconds) > math.MaxInt64/uint64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(seconds) * time.Second
}

// s256Challenge reports whether c can be an S256 code_challenge: the
// unpadded base64url encoding of a SHA-256 hash, 43 characters of
// [A-Za-z0-9_-] (RFC 7636 §4.2). Any other challenge no code_verifier
// could match.
func s256Challenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	for i := range len(c) {
		switch b := c[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

// codeVerifier reports whether v is a code_verifier as RFC 7636 §4.1
// defines it: 43 to 128 characters of [A-Za-z0-9-._~]. A shorter one
// lacks the entropy PKCE rests on: whoever reads the code_challenge in
// the authorization request could find the verifier by trying.
func codeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		switch b := v[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '.', b == '_', b == '~':
		default:
			return false
		}
	}
	return true
}

// AuthRequestByID loads a request that has not expired.
func (s *Storage) AuthRequestByID(ctx context.Context, id string) (zop.AuthRequest, error) {
	ar, err := s.store.AuthRequestByID(ctx, id)
	if err != nil {
		return nil, fault(ctx, fmt.Errorf("auth request: %w", err))
	}
	if !s.now().Before(ar.ExpiresAt) {
		return nil, errors.New("auth request expired")
	}
	noteResponseMode(ctx, ar.RedirectURI, ar.ResponseMode)
	return authRequest{r: ar}, nil
}

// SaveAuthCode stores the hash of code for the request.
func (s *Storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.store.SaveAuthCode(ctx, &storage.AuthCode{
		Hash:          hashSecret(code),
		AuthRequestID: id,
		ExpiresAt:     s.now().Add(s.cfg.AuthCodeTTL),
	})
	return fault(ctx, err)
}

// AuthRequestByCode consumes code: it succeeds once. A second use revokes
// the tokens issued from the first.
func (s *Storage) AuthRequestByCode(ctx context.Context, code string) (zop.AuthRequest, error) {
	// The exchange's access token is created in the commit that uses the
	// code. So is the refresh token, when zitadel will ask for one
	// (refreshIssued): a failed
	// write then leaves the code unused, and the client may exchange it
	// again. What zitadel would refuse after this call (a wrong
	// code_verifier or redirect_uri, codeexchange.go), and a code bound to
	// a DPoP key the request did not prove, is refused before the code's
	// use, which leaves the code to its client's right exchange.
	//
	// What the answer reads is read before the commit: the signing keys
	// here, the grant's user and session with the code's use (into the
	// request's memo), and the client when zitadel authenticated it. A
	// read failing after the commit (the database lost, a failover) would
	// answer 503 for a code that was used, and the client's retry would be
	// refused as a replay, which revokes the grant.
	if _, err := s.keys.load(ctx, false); err != nil {
		return nil, fault(ctx, err)
	}
	var (
		tok     *storage.AccessToken
		refresh *storage.RefreshToken
		value   string
		refused *storage.AuthRequest // the request of a code zitadel will refuse
	)
	issue := func(ar *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
		if err := checkCodeBinding(ctx, ar); err != nil {
			return nil, nil, err
		}
		if err := s.exchangeRefusal(ctx, ar); err != nil {
			refused = ar
			return nil, nil, errExchangeRefused
		}
		req := authRequest{r: ar}
		tok = s.accessToken(ctx, ar.ClientID, ar.ID, req)
		if s.refreshIssued(ctx, req) {
			refresh, value = s.refreshFamily(req)
			refresh.DPoPJKT = s.refreshBinding(ctx, ar.ClientID)
		}
		return tok, refresh, nil
	}
	// The client is the one clientAuth authenticated: a code another
	// client presents is refused before its use, and stays its client's.
	ar, u, sid, err := s.store.RedeemAuthCode(ctx, hashSecret(code), authenticatedClient(ctx), s.now(), issue)
	switch {
	case errors.Is(err, errExchangeRefused):
		// zitadel refuses the request in its own words, and nothing can
		// be issued from it (unused).
		return authRequest{r: refused, unused: true}, nil
	case errors.Is(err, storage.ErrReplayed):
		slog.WarnContext(ctx, "authorization code replayed; grant revoked")
		return nil, err
	case errors.Is(err, errCodeUnbound):
		return nil, err
	case err != nil:
		return nil, fault(ctx, fmt.Errorf("redeem auth code: %w", err))
	}
	rememberUser(ctx, u)
	rememberGrantSession(ctx, ar.ID, sid)
	return authRequest{r: ar, token: tok, refresh: value}, nil
}

// refreshIssued reports whether zitadel asks for a refresh token with the
// code exchange of req (its needsRefreshToken): offline_access in a code
// flow, for a client allowed the refresh_token grant. The client is the
// one the exchange authenticated, in the request's memo.
func (s *Storage) refreshIssued(ctx context.Context, req authRequest) bool {
	if !slices.Contains(req.r.Scopes, oidc.ScopeOfflineAccess) || req.GetResponseType() != oidc.ResponseTypeCode {
		return false
	}
	c, err := s.store.ClientByID(ctx, req.r.ClientID)
	return err == nil && c.AllowsGrant(storage.GrantRefreshToken)
}

// DeleteAuthRequest does nothing: zitadel calls it once the code
// exchange has issued the tokens, and the exchange removed the request
// already (RedeemAuthCode), in the commit that used the code. The code's
// tombstone stays, for replay detection.
func (s *Storage) DeleteAuthRequest(context.Context, string) error { return nil }

// CreateAccessToken stores an access token for req.
func (s *Storage) CreateAccessToken(ctx context.Context, req zop.TokenRequest) (string, time.Time, error) {
	var clientID, grantID string
	switch r := req.(type) {
	case authRequest:
		clientID, grantID = r.r.ClientID, r.r.ID
	case *refreshRequest:
		clientID, grantID = r.t.ClientID, r.t.FamilyID
	case clientCredentialsRequest:
		clientID = r.clientID
		c, err := s.store.ClientByID(ctx, clientID) // the request's memo has it
		if err != nil {
			return "", time.Time{}, fault(ctx, fmt.Errorf("client: %w", err))
		}
		if c.AccessTokenFormat == AccessTokenJWT {
			// A JWT that carries all it grants: not recorded (clientcredentials.go).
			return s.unrecordedToken(ctx, c, req)
		}
	default:
		return "", time.Time{}, fmt.Errorf("op: unsupported token request %T", req)
	}
	t, err := s.exchangeAccessToken(ctx, clientID, grantID, req)
	if err != nil {
		return "", time.Time{}, err
	}
	id, err := s.issuedID(ctx, clientID, t)
	if err != nil {
		return "", time.Time{}, err
	}
	return id, t.ExpiresAt, nil
}

// accessToken returns a new access token for req, not stored yet.
func (s *Storage) accessToken(ctx context.Context, clientID, grantID string, req zop.TokenRequest) *storage.AccessToken {
	now := s.now()
	return &storage.AccessToken{
		ID:        sortableID(now),
		ClientID:  clientID,
		Subject:   req.GetSubject(),
		Scopes:    req.GetScopes(),
		Audience:  s.tokenAudience(ctx, clientID, req),
		GrantID:   grantID,
		ExpiresAt: now.Add(s.cfg.AccessTokenTTL),
		CreatedAt: now,
		DPoPJKT:   dpopKeyFrom(ctx),
	}
}

func (s *Storage) newAccessToken(ctx context.Context, clientID, grantID string, req zop.TokenRequest) (*storage.AccessToken, error) {
	t := s.accessToken(ctx, clientID, grantID, req)
	if err := s.store.CreateAccessToken(ctx, t); err != nil {
		return nil, fault(ctx, fmt.Errorf("create access token: %w", err))
	}
	return t, nil
}

// exchangeAccessToken returns the access token created with the code's
// use, or stores a new one.
func (s *Storage) exchangeAccessToken(ctx context.Context, clientID, grantID string, req zop.TokenRequest) (*storage.AccessToken, error) {
	if r, ok := req.(authRequest); ok && r.token != nil {
		return r.token, nil
	}
	if err := issuable(ctx, req); err != nil {
		return nil, err
	}
	return s.newAccessToken(ctx, clientID, grantID, req)
}

// refreshFamily returns the first refresh token of the family that r's
// code starts, and its value.
func (s *Storage) refreshFamily(r authRequest) (*storage.RefreshToken, string) {
	now := s.now()
	value := randomID(32)
	return &storage.RefreshToken{
		ID: sortableID(now), Hash: hashSecret(value),
		FamilyID: r.r.ID, ClientID: r.r.ClientID, UserID: r.r.UserID,
		Scopes: r.r.Scopes, Audience: r.GetAudience(), AMR: r.r.AMR, AuthTime: r.r.AuthTime,
		ExpiresAt: now.Add(s.cfg.RefreshTokenTTL), CreatedAt: now,
	}, value
}

// CreateAccessAndRefreshTokens starts a refresh family (code flow with
// offline_access) or rotates the presented refresh token.
func (s *Storage) CreateAccessAndRefreshTokens(ctx context.Context, req zop.TokenRequest, current string) (string, string, time.Time, error) {
	switch r := req.(type) {
	case authRequest:
		if err := issuable(ctx, r); err != nil {
			return "", "", time.Time{}, err
		}
		value := r.refresh
		if value == "" { // not created with the code's use
			var next *storage.RefreshToken
			next, value = s.refreshFamily(r)
			next.DPoPJKT = s.refreshBinding(ctx, r.r.ClientID)
			if err := s.store.CreateRefreshToken(ctx, next); err != nil {
				return "", "", time.Time{}, fault(ctx, fmt.Errorf("create refresh token: %w", err))
			}
		}
		at, err := s.exchangeAccessToken(ctx, r.r.ClientID, r.r.ID, req)
		if err != nil {
			return "", "", time.Time{}, err
		}
		id, err := s.issuedID(ctx, r.r.ClientID, at)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return id, value, at.ExpiresAt, nil
	case *refreshRequest:
		now, value, old := s.now(), randomID(32), r.t
		next := &storage.RefreshToken{
			ID: sortableID(now), Hash: hashSecret(value),
			FamilyID: old.FamilyID, ClientID: old.ClientID, UserID: old.UserID,
			// The presented token's scope, not a narrower one the request
			// asked for, which is the access token's only (RFC 6749 §6).
			Scopes: old.Scopes, Audience: old.Audience, AMR: old.AMR, AuthTime: old.AuthTime,
			// The family's absolute lifetime does not slide with rotation.
			ExpiresAt: old.ExpiresAt, CreatedAt: now,
			DPoPJKT: old.DPoPJKT,
		}
		// The access token goes in the rotation's commit: if either fails,
		// the presented refresh token stays unused and the client can retry.
		// What the answer reads (the grant's session, for the ID token's
		// sid, and the signing keys) is read before: a read failing after
		// the commit (the database lost, a failover) would answer 503 for
		// a rotation that happened, and the client's retry would present a
		// used token and revoke its family.
		at := s.accessToken(ctx, next.ClientID, next.FamilyID, req)
		if slices.Contains(r.scopes, oidc.ScopeOpenID) {
			if _, err := s.grantSession(ctx, next.FamilyID); err != nil {
				return "", "", time.Time{}, err
			}
		}
		if _, err := s.keys.load(ctx, false); err != nil {
			return "", "", time.Time{}, fault(ctx, err)
		}
		err := s.store.RotateRefreshToken(ctx, hashSecret(current), next, at, now)
		if errors.Is(err, storage.ErrReplayed) || errors.Is(err, storage.ErrNotFound) {
			slog.WarnContext(ctx, "refresh token reused or expired", "family", old.FamilyID)
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token is invalid")
		}
		if err != nil {
			return "", "", time.Time{}, fault(ctx, fmt.Errorf("rotate refresh token: %w", err))
		}
		id, err := s.issuedID(ctx, next.ClientID, at)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return id, value, at.ExpiresAt, nil
	default:
		return "", "", time.Time{}, fmt.Errorf("op: unsupported refresh request %T", req)
	}
}

// TokenRequestByRefreshToken loads a live refresh token. Presenting one
// that was already rotated revokes its family.
func (s *Storage) TokenRequestByRefreshToken(ctx context.Context, value string) (zop.RefreshTokenRequest, error) {
	// The user comes with the token, in one read, and stays in the
	// request's memo for the ID token.
	t, u, err := s.store.RefreshTokenAndUser(ctx, hashSecret(value))
	if err != nil {
		return nil, fault(ctx, fmt.Errorf("refresh token: %w", err))
	}
	now := s.now()
	switch {
	case t.ClientID != authenticatedClient(ctx):
		// Another client's token is refused as zitadel would refuse it,
		// but before reuse detection: that client could not have used
		// the token, and may not revoke its family.
		return nil, errors.New("refresh token of another client")
	case t.RevokedAt != nil:
		return nil, errors.New("refresh token revoked")
	case t.UsedAt != nil:
		slog.WarnContext(ctx, "rotated refresh token reused; family revoked", "family", t.FamilyID, "client_id", t.ClientID)
		if err := s.store.RevokeGrant(ctx, t.FamilyID, now); err != nil {
			return nil, fault(ctx, fmt.Errorf("revoke family: %w", err))
		}
		return nil, errors.New("refresh token reused")
	case !now.Before(t.ExpiresAt):
		return nil, errors.New("refresh token expired")
	}
	if u.Disabled {
		return nil, errors.New("user disabled")
	}
	if err := checkRefreshBinding(ctx, t); err != nil {
		return nil, err
	}
	rememberUser(ctx, u)
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest replaces it.
func (s *Storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return nil
}

// TerminateSessionFromRequest is not reached: /end_session is the login's
// (login/logout.go), which validates the request with ValidateEndSession
// and ends the browser's session itself. It ends nothing and returns the
// validated redirect.
func (s *Storage) TerminateSessionFromRequest(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	return req.RedirectURI, nil
}

// refreshIDPrefix marks the token ids GetRefreshTokenInfo hands to
// RevokeToken, which zitadel passes back with the user id set, just like
// access token ids.
const refreshIDPrefix = "rt:"

// RevokeToken revokes an access token (by id) or a refresh token (by the
// id GetRefreshTokenInfo made, with its whole family, access tokens
// included). Tokens of other clients are refused; unknown tokens are not
// an error (RFC 7009).
func (s *Storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	now := s.now()
	if hexHash, ok := strings.CutPrefix(tokenOrID, refreshIDPrefix); ok {
		hash, err := hex.DecodeString(hexHash)
		if err != nil {
			return nil
		}
		return s.revokeRefresh(ctx, hash, clientID, now)
	}
	if userID == "" { // a refresh token value zitadel could not identify
		return s.revokeRefresh(ctx, hashSecret(tokenOrID), clientID, now)
	}
	t, err := s.store.AccessTokenByID(ctx, tokenOrID)
	if errors.Is(err, storage.ErrNotFound) {
		if isUnrecorded(tokenOrID) {
			return s.revokeUnrecorded(ctx, tokenOrID, userID, clientID, now)
		}
		return nil
	}
	return revokeOwned(ctx, err, func() string { return t.ClientID }, clientID, func() error {
		return s.store.RevokeAccessToken(ctx, t.ID, now)
	})
}

func (s *Storage) revokeRefresh(ctx context.Context, hash []byte, clientID string, now time.Time) *oidc.Error {
	t, err := s.store.RefreshTokenByHash(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return revokeOwned(ctx, err, func() string { return t.ClientID }, clientID, func() error {
		return s.store.RevokeGrant(ctx, t.FamilyID, now)
	})
}

// revokeOwned finishes the revocation of a token that was looked up with
// the error err (any but storage.ErrNotFound): it revokes the token with
// revoke when the lookup succeeded and owner, the client it was issued to,
// is clientID.
func revokeOwned(ctx context.Context, err error, owner func() string, clientID string, revoke func() error) *oidc.Error {
	if err != nil {
		fault(ctx, err)
		return oidc.ErrServerError()
	}
	if owner() != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was issued to another client")
	}
	if err := revoke(); err != nil {
		fault(ctx, err)
		return oidc.ErrServerError()
	}
	return nil
}

// GetRefreshTokenInfo identifies a refresh token for revocation.
func (s *Storage) GetRefreshTokenInfo(ctx context.Context, clientID, value string) (string, string, error) {
	hash := hashSecret(value)
	t, err := s.store.RefreshTokenByHash(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", zop.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", fault(ctx, err)
	}
	return t.UserID, refreshIDPrefix + hex.EncodeToString(hash), nil
}

// SigningKey returns the key that signs for the client of the current
// token request: its registered algorithm, RS256 by default.
func (s *Storage) SigningKey(ctx context.Context) (zop.SigningKey, error) {
	alg := RS256
	if id, _ := ctx.Value(clientIDKey{}).(string); id != "" {
		if c, err := s.store.ClientByID(ctx, id); err == nil && c.SigningAlgorithm != "" {
			alg = c.SigningAlgorithm
		}
	}
	k, err := s.keys.signingKeyFor(ctx, alg)
	if err != nil {
		return nil, fault(ctx, err)
	}
	return k, nil
}

// SignatureAlgorithms lists the algorithms ID tokens may be signed with.
func (s *Storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	out := make([]jose.SignatureAlgorithm, len(algorithms))
	for i, alg := range algorithms {
		out[i] = jose.SignatureAlgorithm(alg)
	}
	return out, nil
}

// KeySet returns the published public keys.
func (s *Storage) KeySet(ctx context.Context) ([]zop.Key, error) {
	keys, err := s.keys.publicKeys(ctx)
	if err != nil {
		return nil, fault(ctx, err)
	}
	out := make([]zop.Key, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, nil
}

// GetClientByClientID loads a client. An unknown client is invalid_client.
func (s *Storage) GetClientByClientID(ctx context.Context, id string) (zop.Client, error) {
	c, err := s.store.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		fault(ctx, err)
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return s.zopClient(c), nil
}

// AuthorizeClientIDSecret accepts exactly the client that clientAuth
// authenticated for this request with its registered method
// (clientauth.go); zitadel passes the empty secret clientAuth left it.
func (s *Storage) AuthorizeClientIDSecret(ctx context.Context, id, _ string) error {
	if id == "" || authenticatedClient(ctx) != id {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// ClientCredentials authenticates a confidential client for the
// client_credentials grant.
func (s *Storage) ClientCredentials(ctx context.Context, id, secret string) (zop.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	c, err := s.store.ClientByID(ctx, id)
	if err != nil {
		fault(ctx, err)
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if c.Public {
		return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return s.zopClient(c), nil
}

// ClientCredentialsTokenRequest builds the token request of the
// client_credentials grant. The OIDC scopes describe a user and make no
// sense here and are dropped; AdminScope is granted to admin clients and
// refused (invalid_scope) to every other client.
func (s *Storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (zop.TokenRequest, error) {
	granted, err := s.clientCredentialsScopes(ctx, id, scopes)
	if err != nil {
		return nil, err
	}
	return clientCredentialsRequest{clientID: id, scopes: granted}, nil
}

// SetUserinfoFromScopes is deprecated upstream and intentionally empty.
func (s *Storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims, sid and a
// refresh's acr among them, for zitadel's CreateIDToken. Gatehouse's own
// token endpoint (tokenresponse.go) calls idTokenUserinfo instead.
func (s *Storage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req zop.IDTokenRequest, scopes []string) error {
	sid, acr, err := s.idTokenUserinfo(ctx, ui, req, scopes)
	if err != nil {
		return err
	}
	if sid != "" {
		ui.AppendClaims("sid", sid)
	}
	if acr != "" {
		ui.AppendClaims("acr", acr)
	}
	return nil
}

// idTokenUserinfo fills ui with the user claims of req's ID token that
// scopes grant, and returns the two claims zitadel's UserInfo has no field
// for: the sid of the session the sign-in belongs to (logouttoken.go), ""
// for none, and the acr of a refresh's ID token, which zitadel sets from
// an auth request only ("" otherwise: a refresh's comes from the
// sign-in's amr).
func (s *Storage) idTokenUserinfo(ctx context.Context, ui *oidc.UserInfo, req zop.IDTokenRequest, scopes []string) (sid, acr string, err error) {
	if sid, err = s.grantSID(ctx, req); err != nil {
		return "", "", err
	}
	if r, ok := req.(*refreshRequest); ok && s.cfg.ACR != nil {
		acr = s.cfg.ACR(r.GetAMR())
	}
	return sid, acr, s.fillUserinfoByID(ctx, ui, req.GetSubject(), scopes)
}

// errNoOpenID refuses userinfo to a live access token of a grant without
// the openid scope: insufficient_scope (RFC 6750 §3.1), not invalid_token,
// which would have its client refresh the token and try again.
var errNoOpenID = errors.New("access token without the openid scope")

// SetUserinfoFromToken serves /userinfo for a live access token.
func (s *Storage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	t, u, err := s.liveUserToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if u == nil {
		return errors.New("client_credentials tokens have no user")
	}
	if err := checkAccessBinding(ctx, t); err != nil {
		return err
	}
	if !slices.Contains(t.Scopes, oidc.ScopeOpenID) {
		// A grant without openid is OAuth 2.0: no userinfo (OIDC Core §5.3).
		return errNoOpenID
	}
	fillUserinfo(ui, u, t.Scopes)
	return nil
}

// liveUserToken loads a live access token and, when it was issued to a
// user, the user, in one read; u is nil for a client_credentials token.
func (s *Storage) liveUserToken(ctx context.Context, id, subject string) (t *storage.AccessToken, u *storage.User, err error) {
	t, u, err = s.store.AccessTokenAndUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		// A client_credentials token, or none.
		t, err = s.liveAccessToken(ctx, id, subject)
		return t, nil, err
	}
	if err != nil {
		return nil, nil, fault(ctx, fmt.Errorf("access token: %w", err))
	}
	if !s.active(t, subject) {
		return nil, nil, errors.New("access token is not active")
	}
	if u.Disabled {
		// Disabling a user revokes their tokens too, in a write of its
		// own: this holds even if that write failed.
		return nil, nil, errors.New("user disabled")
	}
	if err := s.clientLive(ctx, t.ClientID); err != nil {
		return nil, nil, err
	}
	return t, u, nil
}

// clientLive refuses a token of a client that is disabled or deleted.
// Disabling a client revokes its tokens in its commit, but a token request
// in flight then, which read the client before, commits its token after:
// the token's client is looked up at each use (from the client cache).
func (s *Storage) clientLive(ctx context.Context, id string) error {
	_, err := s.store.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return errors.New("the token's client is disabled or gone")
	}
	if err != nil {
		return fault(ctx, fmt.Errorf("the token's client: %w", err))
	}
	return nil
}

// active reports whether t is unrevoked, unexpired and issued to subject.
func (s *Storage) active(t *storage.AccessToken, subject string) bool {
	return t.RevokedAt == nil && s.now().Before(t.ExpiresAt) && t.Subject == subject
}

func (s *Storage) liveAccessToken(ctx context.Context, id, subject string) (*storage.AccessToken, error) {
	t, err := s.store.AccessTokenByID(ctx, id)
	if err != nil {
		return nil, fault(ctx, fmt.Errorf("access token: %w", err))
	}
	if !s.active(t, subject) {
		return nil, errors.New("access token is not active")
	}
	if err := s.clientLive(ctx, t.ClientID); err != nil {
		return nil, err
	}
	return t, nil
}

// SetIntrospectionFromToken answers introspection for the token's own
// client or a client in its audience; anything else sees active=false.
func (s *Storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	live, err := s.accessIntrospection(ctx, rawToken(ctx), tokenID, subject, clientID)
	if err != nil {
		return err
	}
	live.fill(resp)
	return nil
}

// accessIntrospection returns what introspection reports of a live access
// token to clientID, its own client or a client in its audience, and an
// error for anything else. raw is the token, whose jti and subject are
// tokenID and subject.
func (s *Storage) accessIntrospection(ctx context.Context, raw, tokenID, subject, clientID string) (*introspected, error) {
	if isUnrecorded(tokenID) {
		return s.unrecordedIntrospection(ctx, raw, tokenID, subject, clientID)
	}
	var (
		t   *storage.AccessToken
		u   *storage.User
		err error
	)
	if subject == clientID {
		// The caller's own client_credentials token: no user to join.
		t, err = s.liveAccessToken(ctx, tokenID, subject)
	} else {
		t, u, err = s.liveUserToken(ctx, tokenID, subject)
	}
	if err != nil {
		return nil, err
	}
	if t.ClientID != clientID && !slices.Contains(t.Audience, clientID) {
		return nil, errors.New("caller is not in the token's audience")
	}
	live := &introspected{tokenType: oidc.BearerToken, clientID: t.ClientID, subject: t.Subject, dpopJKT: t.DPoPJKT,
		scopes: t.Scopes, audience: t.Audience, issued: t.CreatedAt, expires: t.ExpiresAt}
	if u != nil {
		live.username = u.Email
	}
	return live, nil
}

// introspected is what introspection reports of a live token (RFC 7662
// §2.2).
type introspected struct {
	tokenType, clientID, subject, username, dpopJKT string
	scopes, audience                                []string
	issued, expires                                 time.Time
}

// fill makes resp the active answer for the token. A token bound to a
// DPoP key says so (RFC 9449 §6.2): the key's thumbprint in cnf, and an
// access token's token_type is DPoP.
func (t *introspected) fill(resp *oidc.IntrospectionResponse) {
	resp.Active = true
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Subject = t.subject
	resp.Username = t.username
	resp.Audience = t.audience
	resp.Expiration = oidc.FromTime(t.expires)
	resp.IssuedAt = oidc.FromTime(t.issued)
	resp.TokenType = t.tokenType
	if t.dpopJKT == "" {
		return
	}
	if t.tokenType == oidc.BearerToken {
		resp.TokenType = "DPoP"
	}
	if resp.Claims == nil {
		resp.Claims = map[string]any{}
	}
	resp.Claims["cnf"] = dpopConfirmation{JKT: t.dpopJKT}
}

// appendJSON appends the introspection answer for t to b: {"active":false}
// for nil, else what fill sets, byte for byte as zitadel's
// IntrospectionResponse encodes it (its MarshalJSON, then its JSON
// encoder's newline), without that encoding's cost: an encoding of the
// whole response struct by reflection, compacted again by the encoder.
// Its fields are in the struct's order, each left out when empty; with a
// cnf claim, which zitadel merges in through a map, the keys are in sorted
// order, and the strings are those its first encoding decoded to.
func (t *introspected) appendJSON(b []byte) []byte {
	if t == nil {
		return append(b, `{"active":false}`+"\n"...)
	}
	exp, iat := int64(oidc.FromTime(t.expires)), int64(oidc.FromTime(t.issued))
	b = append(b, `{"active":true`...)
	if t.dpopJKT == "" {
		if len(t.scopes) > 0 { // [""] too: zitadel leaves out no scope only
			b = append(b, `,"scope":`...)
			b = appendJSONString(b, strings.Join(t.scopes, " "))
		}
		b = appendJSONField(b, "client_id", t.clientID)
		b = appendJSONField(b, "token_type", t.tokenType)
		b = appendJSONNumber(b, "exp", exp)
		b = appendJSONNumber(b, "iat", iat)
		b = appendJSONField(b, "sub", t.subject)
		b = appendJSONStrings(b, "aud", t.audience, nil)
		b = appendJSONField(b, "username", t.username)
		return append(b, "}\n"...)
	}
	// zitadel's second encoding writes U+FFFD, which its first wrote for
	// invalid UTF-8 as \ufffd, as it is; cnf, a value of its map, is
	// encoded once.
	valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	tokenType := t.tokenType
	if tokenType == oidc.BearerToken {
		tokenType = "DPoP"
	}
	b = appendJSONStrings(b, "aud", t.audience, valid)
	b = appendJSONField(b, "client_id", valid(t.clientID))
	b = append(b, `,"cnf":{"jkt":`...)
	b = appendJSONString(b, t.dpopJKT)
	b = append(b, '}')
	b = appendJSONNumber(b, "exp", exp)
	b = appendJSONNumber(b, "iat", iat)
	if len(t.scopes) > 0 {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, valid(strings.Join(t.scopes, " ")))
	}
	b = appendJSONField(b, "sub", valid(t.subject))
	b = appendJSONField(b, "token_type", valid(tokenType))
	b = appendJSONField(b, "username", valid(t.username))
	return append(b, "}\n"...)
}

// appendJSONField appends ,"name":value to b unless value is empty.
func appendJSONField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	return appendJSONString(b, value)
}

// appendJSONNumber appends ,"name":n to b unless n is 0.
func appendJSONNumber(b []byte, name string, n int64) []byte {
	if n == 0 {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	return strconv.AppendInt(b, n, 10)
}

// appendJSONStrings appends ,"name":[values...] to b unless values is
// empty, each value through each (nil: as it is).
func appendJSONStrings(b []byte, name string, values []string, each func(string) string) []byte {
	if len(values) == 0 {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":[`...)
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		if each != nil {
			v = each(v)
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

// appendJSONString appends s to b as encoding/json writes a string. The
// strings of an answer are printable ASCII without the characters it
// escapes, which are copied as they are; any other is left to
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always encodes
			return append(b, j...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// refreshTokenType is the token_type introspection reports for a refresh
// token: it is not one of RFC 6749 §7.1's access token types, and is
// presented to the token endpoint only.
const refreshTokenType = "refresh_token"

// refreshIntrospection answers introspection of a refresh token (RFC
// 7662 §2.1) for the client it was issued to: its facts when it is live,
// as the refresh grant would accept it (TokenRequestByRefreshToken), and an
// error for one unknown, rotated away, revoked, expired, of a disabled
// user, or issued to another client. It only reads: the token is not used,
// rotated or extended, and presenting a rotated-away one here revokes
// nothing (only its client's refresh does).
func (s *Storage) refreshIntrospection(ctx context.Context, value, clientID string) (*introspected, error) {
	t, u, err := s.store.RefreshTokenAndUser(ctx, hashSecret(value))
	if err != nil {
		return nil, fault(ctx, fmt.Errorf("refresh token: %w", err))
	}
	switch {
	case t.ClientID != clientID:
		return nil, errors.New("refresh token of another client")
	case t.RevokedAt != nil, t.UsedAt != nil:
		return nil, errors.New("refresh token revoked or used")
	case !s.now().Before(t.ExpiresAt):
		return nil, errors.New("refresh token expired")
	case u.Disabled:
		return nil, errors.New("user disabled")
	}
	return &introspected{tokenType: refreshTokenType, clientID: t.ClientID, subject: t.UserID, username: u.Email,
		dpopJKT: t.DPoPJKT, scopes: t.Scopes, audience: t.Audience, issued: t.CreatedAt, expires: t.ExpiresAt}, nil
}

// GetPrivateClaimsFromScopes adds no private claims.
func (s *Storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest adds the claims of a JWT access token that
// zitadel does not set itself: scope (RFC 9068 §2.2.3), every scope
// granted, as introspection reports them.
func (s *Storage) GetPrivateClaimsFromRequest(_ context.Context, req zop.TokenRequest, _ []string) (map[string]any, error) {
	scopes := req.GetScopes()
	if len(scopes) == 0 {
		return nil, nil
	}
	return map[string]any{"scope": strings.Join(scopes, " ")}, nil
}

// GetKeyByIDAndClientID refuses: clients do not register public keys, so
// private_key_jwt and the JWT bearer grant are not available.
func (s *Storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("client public keys are not supported")
}

// ValidateJWTProfileScopes refuses the JWT bearer grant.
func (s *Storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT bearer grant is not supported")
}

// Health reports whether the database answers.
func (s *Storage) Health(ctx context.Context) error { return s.store.Ping(ctx) }

// fillUserinfoByID sets the claims of user id that scopes allow.
func (s *Storage) fillUserinfoByID(ctx context.Context, ui *oidc.UserInfo, id string, scopes []string) error {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return fault(ctx, fmt.Errorf("userinfo: %w", err))
	}
	fillUserinfo(ui, u, scopes)
	return nil
}

// fillUserinfo sets the claims of u that scopes grant.
func fillUserinfo(ui *oidc.UserInfo, u *storage.User, scopes []string) {
	ui.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			ui.Email = u.Email
			ui.EmailVerified = oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			ui.Name = u.Name
		}
	}
}
