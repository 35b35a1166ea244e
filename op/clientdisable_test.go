package op

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// disabledInFlight disables client the first time a code is used, between
// the exchange's read of the client and the commit of its tokens: what an
// administrator's `clients disable` does to a token request in flight.
type disabledInFlight struct {
	storage.Store
	client string
	once   sync.Once
}

func (s *disabledInFlight) RedeemAuthCode(ctx context.Context, hash []byte, clientID string, now time.Time, issue func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error)) (*storage.AuthRequest, *storage.User, string, error) {
	var err error
	s.once.Do(func() { err = s.Store.SetClientDisabled(ctx, s.client, true, now) })
	if err != nil {
		return nil, nil, "", err
	}
	return s.Store.RedeemAuthCode(ctx, hash, clientID, now, issue)
}

// TestTokenOfClientDisabledInFlight: a token whose commit followed the
// disabling of its client (which revoked the client's tokens then) opens
// userinfo no more than the tokens that the disabling revoked: the
// token's client is checked at each use.
func TestTokenOfClientDisabledInFlight(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			store := &disabledInFlight{Store: teststore.Open(t, backend)}
			e := newBenchEnv(t, store)
			store.client = e.clients[ES256]
			at := e.accessToken(t, e.clients[ES256])
			c, err := store.Store.ClientByID(t.Context(), e.clients[ES256])
			if err != nil || !c.Disabled {
				t.Fatalf("the client after the exchange: %v %+v, want disabled", err, c)
			}
			if rec := get(e, t, "/userinfo", http.Header{"Authorization": {"Bearer " + at}}); rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), e.user) {
				t.Errorf("userinfo with a token of a disabled client: %d %s, want a refusal", rec.Code, rec.Body)
			}
		})
	}
}
