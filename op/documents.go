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

	jose "github.com/go-jose/go-jose/v4"
)

// This file holds the documents relying parties fetch most (discovery and
// the JWKS): serialised once and revalidated with ETags.

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
