package op

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// tokenReadsFail is a store whose token reads fail, as a database that
// went away does, while fail is set.
type tokenReadsFail struct {
	storage.Store
	fail atomic.Bool
}

var errGone = errors.New("dial tcp: connection refused")

func (s *tokenReadsFail) AccessTokenAndUser(ctx context.Context, id string) (*storage.AccessToken, *storage.User, error) {
	if s.fail.Load() {
		return nil, nil, errGone
	}
	return s.Store.AccessTokenAndUser(ctx, id)
}

func (s *tokenReadsFail) RefreshTokenAndUser(ctx context.Context, hash []byte) (*storage.RefreshToken, *storage.User, error) {
	if s.fail.Load() {
		return nil, nil, errGone
	}
	return s.Store.RefreshTokenAndUser(ctx, hash)
}

// TestIntrospectDatabaseFailure: introspection whose token lookup failed
// with the database answers an error status, which the server turns into
// its 503 (protocolFaults), not {"active":false}, which would make the
// resource server drop a token that may be good. It was 200 inactive when
// the client came from the client cache, so that only the token's read
// reached the database.
func TestIntrospectDatabaseFailure(t *testing.T) {
	t.Parallel()
	store := &tokenReadsFail{Store: teststore.Open(t, teststore.Backends[0])}
	e := newBenchEnv(t, store)
	owner := e.clients[ES256]
	access, refresh := e.offlineTokens(t, owner)
	store.fail.Store(true)
	for name, token := range map[string]string{"access token": access, "refresh token": refresh, "garbage": "not-a-token"} {
		req := httptest.NewRequest(http.MethodPost, "https://id.example/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(owner, benchSecret)
		ctx, faulted := TrackFaults(req.Context())
		rec := httptest.NewRecorder()
		e.p.ServeHTTP(rec, req.WithContext(ctx))
		if !faulted.Load() || rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "server_error") {
			t.Errorf("%s with the database away = %d %s (fault recorded: %t), want 503 server_error", name, rec.Code, rec.Body, faulted.Load())
		}
	}
}
