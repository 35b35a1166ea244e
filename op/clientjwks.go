package op

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The limits of a client's JWK Set, inline or fetched from its jwks_uri.
const (
	maxClientKeys   = 20
	maxJWKSBytes    = 64 << 10
	jwksFetchTimout = 5 * time.Second
	// jwksTTL is how long fetched keys are used before they are fetched
	// again; jwksMinRefetch how long after a fetch (good or not) an
	// unknown kid may cause another, so that a caller cannot make
	// Gatehouse hammer a client's jwks_uri.
	jwksTTL        = 5 * time.Minute
	jwksMinRefetch = 10 * time.Second
	// maxJWKSEntries bounds the cache; past it, the cache starts afresh.
	maxJWKSEntries = 1000
)

// ParseClientJWKS parses a client's JWK Set and checks that it holds
// between one and 20 public signing keys Gatehouse can verify with: RSA
// of at least 2048 bits, EC P-256, or Ed25519. A private or symmetric key
// is refused, so that a secret pasted by mistake is not stored.
func ParseClientJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("the JWK Set is larger than %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the JWK Set holds no key")
	}
	if len(set.Keys) > maxClientKeys {
		return nil, fmt.Errorf("the JWK Set holds more than %d keys", maxClientKeys)
	}
	for i, k := range set.Keys {
		name := fmt.Sprintf("key %d", i+1)
		if k.KeyID != "" {
			name = fmt.Sprintf("key %q", k.KeyID)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("%s is a private or symmetric key: register public keys only", name)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("%s: use %q, want sig", name, k.Use)
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				return nil, fmt.Errorf("%s: RSA keys must have at least 2048 bits", name)
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return nil, fmt.Errorf("%s: EC keys must be on P-256 (ES256)", name)
			}
		case ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("%s: unsupported key type %T", name, k.Key)
		}
	}
	return &set, nil
}

// CheckJWKSURI checks a client's jwks_uri: an absolute https URL, or http
// to a loopback address (a development setup), without user information
// or fragment.
func CheckJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q: must be an absolute URL", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q: must have no user information or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q: must be https (http only to a loopback address)", raw)
	}
	return fmt.Errorf("%q: must be https", raw)
}

// jwksCache holds the key sets fetched from clients' jwks_uri, per URL.
type jwksCache struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex // held while fetching: one fetch per URL at a time
	set     *jose.JSONWebKeySet
	fetched time.Time // of set
	tried   time.Time // the last fetch, good or not
	err     error     // of the last fetch
}

func newJWKSCache(now func() time.Time) *jwksCache {
	return &jwksCache{
		now:     now,
		entries: map[string]*jwksEntry{},
		client: &http.Client{
			Timeout: jwksFetchTimout,
			// A redirect could lead anywhere; the registered URL is the one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// keys returns the key set at uri: the cached one while fresh, else
// fetched; refresh asks for a fetch even when fresh (an unknown kid). A
// fetch happens at most once per jwksMinRefetch per URL; a failed one
// leaves the keys fetched before in use.
func (c *jwksCache) keys(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	c.mu.Lock()
	e := c.entries[uri]
	if e == nil {
		if len(c.entries) >= maxJWKSEntries {
			c.entries = map[string]*jwksEntry{}
		}
		e = &jwksEntry{}
		c.entries[uri] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	stale := e.set == nil || now.Sub(e.fetched) >= jwksTTL
	if (stale || refresh) && (e.tried.IsZero() || now.Sub(e.tried) >= jwksMinRefetch) {
		e.tried = now
		set, err := c.fetch(ctx, uri)
		if err != nil {
			slog.WarnContext(ctx, "client jwks_uri fetch failed", "jwks_uri", uri, "err", err)
			e.err = err
		} else {
			e.set, e.fetched, e.err = set, now, nil
		}
	}
	if e.set == nil {
		if e.err == nil {
			return nil, errors.New("jwks_uri: no keys")
		}
		return nil, e.err
	}
	return e.set, nil
}

func (c *jwksCache) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	if err := CheckJWKSURI(uri); err != nil {
		return nil, fmt.Errorf("jwks_uri %w", err)
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	set, err := ParseClientJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return set, nil
}
