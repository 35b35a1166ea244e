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
	kids []keyName // the JWKS's keys, in order

	// The response's header values, made once: a document is served far
	// more often than it changes.
	etagValue, length, cacheControl []string
}

func newDocument(body []byte, cacheControl []string) *document {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return &document{body: body, etag: etag, etagValue: []string{etag}, length: []string{strconv.Itoa(len(body))},
		cacheControl: cacheControl}
}

// jsonType is the Content-Type of the documents.
var jsonType = []string{"application/json"}

// serve writes d, or 304 Not Modified when the request's If-None-Match
// names its tag, and returns the status it answered. The header values are
// shared, never appended to (each slice is full, so an append elsewhere
// would copy it).
func (d *document) serve(w http.ResponseWriter, r *http.Request) int {
	h := w.Header()
	h["Cache-Control"] = d.cacheControl
	h["Etag"] = d.etagValue
	if notModified(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	h["Content-Type"] = jsonType
	h["Content-Length"] = d.length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(d.body)
	}
	return http.StatusOK
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

// jwksDocument returns the serialised key set, made again only when the
// published keys change.
func (p *Provider) jwksDocument(ctx context.Context) (*document, error) {
	keys, err := p.storage.keys.publicKeys(ctx)
	if err != nil {
		return nil, err
	}
	d := p.jwks.Load()
	if d != nil && slices.EqualFunc(d.kids, keys, func(n keyName, k zopPublicKey) bool { return n == keyName{k.alg, k.id} }) {
		return d, nil
	}
	kids := make([]keyName, len(keys))
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(keys))}
	for i, k := range keys {
		kids[i] = keyName{k.alg, k.id}
		set.Keys[i] = jose.JSONWebKey{KeyID: k.id, Algorithm: string(k.alg), Use: k.Use(), Key: k.key}
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	d = newDocument(body, jwksCacheControl)
	d.kids = kids
	p.jwks.Store(d)
	return d, nil
}

// keyName identifies a published key.
type keyName struct {
	alg jose.SignatureAlgorithm
	id  string
}

// jwksCacheControl lets relying parties keep the key set jwksMaxAge.
var jwksCacheControl = []string{"public, max-age=" + strconv.Itoa(int(jwksMaxAge.Seconds()))}

// cachedJWKS serves /keys from the serialised key set; when the keys
// cannot be loaded, fallback (zitadel's handler) reports the failure.
func (p *Provider) cachedJWKS(fallback http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := p.jwksDocument(r.Context())
		if err != nil {
			fallback.ServeHTTP(w, r)
			return
		}
		d.serve(w, r)
	}
}

// ServeDocument serves a GET or HEAD of the discovery document (at
// DiscoveryPath or MetadataPath) or the JWKS from its serialised bytes,
// under the endpoints' CORS policy, and reports whether it did and with
// which status (200, or 304 for a matching If-None-Match). It does not
// when the request is for something else, the
// discovery document is not made yet (the first request makes it) or the
// keys cannot be loaded: ServeHTTP then answers, failures included. It
// lets the server answer these documents, which relying parties fetch as
// often as they like, ahead of the middleware of the other endpoints.
func (p *Provider) ServeDocument(w http.ResponseWriter, r *http.Request) (status int, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return 0, false
	}
	var d *document
	switch r.URL.Path {
	case DiscoveryPath, MetadataPath:
		if d = p.discoveryDoc.Load(); d == nil {
			return 0, false
		}
	case "/keys":
		var err error
		if d, err = p.jwksDocument(r.Context()); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	p.cors.HandlerFunc(w, r) // the CORS headers of the answer
	return d.serve(w, r), true
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
	// sessions maps grant ids to the session their sid derives from
	// ("" for none), read before a refresh token's rotation commits.
	sessions map[string]string
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
	memo.mu.Lock()
	u, ok := memo.users[id]
	memo.mu.Unlock()
	if !ok {
		var err error
		if u, err = m.Store.UserByID(ctx, id); err != nil {
			return nil, err
		}
		memo.putUser(u)
	}
	cp := *u
	return &cp, nil
}
