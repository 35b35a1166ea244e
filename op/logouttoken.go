package op

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds OpenID Connect Back-Channel Logout 1.0 on the token side:
// the sid claim of ID tokens, and the logout tokens sent when a session
// ends (backchannel.go sends them).

// BackchannelLogoutEvent is the member of a logout token's events claim
// (Back-Channel Logout §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenType is the typ header of logout tokens (§2.4).
const LogoutTokenType = "logout+jwt"

// LogoutTokenTTL is how long a logout token is valid: long enough for a
// delivery and the clock skew between Gatehouse and the client.
const LogoutTokenTTL = 2 * time.Minute

// sid returns the sid claim of the session sessionID: stable for the
// session, the same on every replica, and revealing nothing of the
// session's cookie or id (an HMAC under a key derived from the crypto
// key).
func (s *Storage) sid(sessionID string) string {
	m := hmac.New(sha256.New, s.sidKey)
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// sidKey derives the key of the sid claims from the crypto key.
func sidKey(cryptoKey [32]byte) []byte {
	k := hmac.New(sha256.New, cryptoKey[:])
	k.Write([]byte("gatehouse sid key"))
	return k.Sum(nil)
}

// grantSID returns the sid claim of the ID token of req, "" unless its
// grant was completed in a session that still runs.
func (s *Storage) grantSID(ctx context.Context, req zop.IDTokenRequest) (string, error) {
	var grant string
	switch r := req.(type) {
	case authRequest:
		grant = r.r.ID
	case *refreshRequest:
		grant = r.t.FamilyID
	default:
		return "", nil
	}
	id, err := s.grantSession(ctx, grant)
	if err != nil || id == "" {
		return "", err
	}
	return s.sid(id), nil
}

// grantSession returns the id the sid of grant's session derives from, ""
// when it has none, from the request's memo when rememberGrantSession put
// it there.
func (s *Storage) grantSession(ctx context.Context, grant string) (string, error) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo != nil {
		memo.mu.Lock()
		id, ok := memo.sessions[grant]
		memo.mu.Unlock()
		if ok {
			return id, nil
		}
	}
	id, err := s.store.GrantSession(ctx, grant)
	if errors.Is(err, storage.ErrNotFound) {
		id, err = "", nil
	}
	if err != nil {
		return "", fault(ctx, fmt.Errorf("grant session: %w", err))
	}
	rememberGrantSession(ctx, grant, id)
	return id, nil
}

// rememberGrantSession puts id, the id grant's sid derives from ("" for
// none), in the request's memo.
func rememberGrantSession(ctx context.Context, grant, id string) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo == nil {
		return
	}
	memo.mu.Lock()
	if memo.sessions == nil {
		memo.sessions = map[string]string{}
	}
	memo.sessions[grant] = id
	memo.mu.Unlock()
}

// logoutClaims are the claims of a logout token (§2.4). It never has a
// nonce.
type logoutClaims struct {
	Issuer   string                    `json:"iss"`
	Audience string                    `json:"aud"`
	IssuedAt int64                     `json:"iat"`
	Expiry   int64                     `json:"exp"`
	ID       string                    `json:"jti"`
	Subject  string                    `json:"sub"`
	SID      string                    `json:"sid"`
	Events   map[string]map[string]any `json:"events"`
}

// LogoutToken returns a logout token telling client c that the session
// sessionID of user userID ended, signed with the key of c's ID token
// algorithm, issued at now.
func (p *Provider) LogoutToken(ctx context.Context, c *storage.Client, userID, sessionID string, now time.Time) (string, error) {
	k, err := p.storage.keys.signingKeyFor(ctx, clientAlgorithm(c))
	if err != nil {
		return "", fmt.Errorf("op: logout token key: %w", err)
	}
	return k.sign(LogoutTokenType, logoutClaims{
		Issuer: p.issuer(), Audience: c.ID, IssuedAt: now.Unix(), Expiry: now.Add(LogoutTokenTTL).Unix(),
		ID: randomID(16), Subject: userID, SID: p.storage.sid(sessionID),
		Events: map[string]map[string]any{BackchannelLogoutEvent: {}},
	}, "logout token")
}
