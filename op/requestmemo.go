package op

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// requestMemo remembers the clients and users loaded during one protocol
// request, so that the several checks zitadel makes of one client (and
// the signing key that follows its algorithm) cost one query. It lives in
// the request's context only: nothing is kept across requests, so a
// rotated secret, a deleted client or a disabled user takes effect with
// the next request, on every replica.
type requestMemo struct {
	mu      sync.Mutex
	clients map[string]*storage.Client
	users   map[string]*storage.User
	// sessions maps grant ids to the session their sid derives from
	// ("" for none), read before a refresh token's rotation commits.
	sessions map[string]string
}

type memoKey struct{}

// withMemo gives each request a memo, and the storage's RequestCounts.
func withMemo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := storage.WithRequestCounts(context.WithValue(r.Context(), memoKey{}, &requestMemo{}))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// memoStore answers ClientByID and UserByID from the request's memo when
// it has one. Errors are not remembered.
type memoStore struct{ Store }

// A disabled client is not found: every protocol endpoint refuses it as
// if it did not exist.
func (m memoStore) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	var (
		c   *storage.Client
		err error
	)
	if memo, _ := ctx.Value(memoKey{}).(*requestMemo); memo == nil {
		c, err = m.Store.ClientByID(ctx, id)
	} else {
		c, err = remembered(&memo.mu, &memo.clients, id, func() (*storage.Client, error) { return m.Store.ClientByID(ctx, id) })
	}
	if err == nil && c.Disabled {
		return nil, fmt.Errorf("client %s is disabled: %w", id, storage.ErrNotFound)
	}
	return c, err
}

// remembered returns a copy of the value under id in *values, which mu
// guards, loading it with load and remembering it first when it is not
// there.
func remembered[T any](mu *sync.Mutex, values *map[string]*T, id string, load func() (*T, error)) (*T, error) {
	mu.Lock()
	v, ok := (*values)[id]
	mu.Unlock()
	if !ok {
		var err error
		if v, err = load(); err != nil {
			return nil, err
		}
		mu.Lock()
		if *values == nil {
			*values = map[string]*T{}
		}
		(*values)[id] = v
		mu.Unlock()
	}
	cp := *v
	return &cp, nil
}

// rememberUser puts u, read together with something else, in the request's
// memo, so that the request's next lookup of u reads nothing.
func rememberUser(ctx context.Context, u *storage.User) {
	if memo, _ := ctx.Value(memoKey{}).(*requestMemo); memo != nil {
		cp := *u
		memo.putUser(&cp)
	}
}

// putUser remembers u, which the memo owns from now on.
func (m *requestMemo) putUser(u *storage.User) {
	m.mu.Lock()
	if m.users == nil {
		m.users = map[string]*storage.User{}
	}
	m.users[u.ID] = u
	m.mu.Unlock()
}

func (m memoStore) UserByID(ctx context.Context, id string) (*storage.User, error) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo == nil {
		return m.Store.UserByID(ctx, id)
	}
	return remembered(&memo.mu, &memo.users, id, func() (*storage.User, error) { return m.Store.UserByID(ctx, id) })
}
