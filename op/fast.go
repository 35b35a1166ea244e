package op

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds what keeps the protocol endpoints cheap: documents
// serialised once and revalidated with ETags, and one database lookup per
// client and user within a request.

// jwksMaxAge is how long relying parties may cache the JWKS: a new key is
// published PublishDelay before it signs, and a replica may serve keys
// keyCacheTTL old, so a cache this long still fetches a key before the
// first token it signs.
const jwksMaxAge = PublishDelay - keyCacheTTL

// document is a serialised response body and its entity tag.
type document struct {
	body []byte
	etag string
	kids []string // the JWKS's key ids, in order
}

func newDocument(body []byte) *document {
	sum := sha256.Sum256(body)
	return &document{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

// serve writes d, or 304 Not Modified when the request's If-None-Match
// names its tag.
func (d *document) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", d.etag)
	if notModified(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(d.body)))
	if r.Method != http.MethodHead {
		w.Write(d.body)
	}
}

// notModified reports whether an If-None-Match header matches etag (weak
// comparison, RFC 9110 §13.1.2).
func notModified(header, etag string) bool {
	if header == "" {
		return false
	}
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// cachedJWKS serves /keys from a serialised key set, made again only when
// the published keys change.
func (p *Provider) cachedJWKS(fallback http.Handler) http.HandlerFunc {
	var cur atomic.Pointer[document]
	return func(w http.ResponseWriter, r *http.Request) {
		keys, err := p.storage.keys.publicKeys(r.Context())
		if err != nil {
			fallback.ServeHTTP(w, r) // reports the failure
			return
		}
		kids := make([]string, len(keys))
		for i, k := range keys {
			kids[i] = string(k.alg) + ":" + k.id
		}
		d := cur.Load()
		if d == nil || !slices.Equal(d.kids, kids) {
			set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(keys))}
			for i, k := range keys {
				set.Keys[i] = jose.JSONWebKey{KeyID: k.id, Algorithm: string(k.alg), Use: k.Use(), Key: k.key}
			}
			body, err := json.Marshal(set)
			if err != nil {
				fallback.ServeHTTP(w, r)
				return
			}
			d = newDocument(body)
			d.kids = kids
			cur.Store(d)
		}
		d.serve(w, r, "public, max-age="+strconv.Itoa(int(jwksMaxAge.Seconds())))
	}
}

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
}

type memoKey struct{}

// withMemo gives each request a memo.
func withMemo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), memoKey{}, &requestMemo{})))
	})
}

// memoStore answers ClientByID and UserByID from the request's memo when
// it has one. Errors are not remembered.
type memoStore struct{ storage.Store }

func (m memoStore) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo == nil {
		return m.Store.ClientByID(ctx, id)
	}
	memo.mu.Lock()
	c, ok := memo.clients[id]
	memo.mu.Unlock()
	if !ok {
		var err error
		if c, err = m.Store.ClientByID(ctx, id); err != nil {
			return nil, err
		}
		memo.mu.Lock()
		if memo.clients == nil {
			memo.clients = map[string]*storage.Client{}
		}
		memo.clients[id] = c
		memo.mu.Unlock()
	}
	cp := *c
	return &cp, nil
}

func (m memoStore) UserByID(ctx context.Context, id string) (*storage.User, error) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo == nil {
		return m.Store.UserByID(ctx, id)
	}
	memo.mu.Lock()
	u, ok := memo.users[id]
	memo.mu.Unlock()
	if !ok {
		var err error
		if u, err = m.Store.UserByID(ctx, id); err != nil {
			return nil, err
		}
		memo.mu.Lock()
		if memo.users == nil {
			memo.users = map[string]*storage.User{}
		}
		memo.users[id] = u
		memo.mu.Unlock()
	}
	cp := *u
	return &cp, nil
}
