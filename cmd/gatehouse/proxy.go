package main

// gatehouse proxy: a small round-robin reverse proxy for trying several
// replicas on one machine (make cluster). It is not a production load
// balancer, but does what one must: it sends requests only to replicas whose
// /readyz answers 200, so a replica that drains on SIGTERM or dies stops
// receiving requests within a second, and it sets X-Forwarded-For.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proxyHealthInterval is how often the proxy polls each backend's /readyz.
const proxyHealthInterval = time.Second

// backendFlag collects repeated --backend flags.
type backendFlag []string

func (b *backendFlag) String() string     { return strings.Join(*b, ",") }
func (b *backendFlag) Set(v string) error { *b = append(*b, v); return nil }

func runProxy(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("gatehouse proxy", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	var backends backendFlag
	fs.Var(&backends, "backend", "backend base URL, e.g. http://127.0.0.1:8081 (repeat for each replica)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(backends) == 0 {
		return usageError{"proxy: at least one --backend is required"}
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	p, err := newRoundRobin(backends, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	go p.watch(hctx, proxyHealthInterval)

	hs := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(env.stdout, "Gatehouse proxy on http://%s, round-robin over %s\n", ln.Addr(), strings.Join(backends, " "))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("proxy: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}

// proxyBackend is one replica behind the proxy.
type proxyBackend struct {
	url   *url.URL
	proxy *httputil.ReverseProxy
	ready atomic.Bool
}

// retriedKey marks a request the proxy already sent to a failed replica.
type retriedKey struct{}

// roundRobin spreads requests over the ready backends in turn.
type roundRobin struct {
	backends []*proxyBackend
	next     atomic.Uint64
	logger   *slog.Logger
	client   *http.Client
}

func newRoundRobin(urls []string, logger *slog.Logger) (*roundRobin, error) {
	rr := &roundRobin{logger: logger, client: &http.Client{Timeout: 2 * time.Second}}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError{fmt.Sprintf("proxy: --backend %q is not an http(s) URL", s)}
		}
		b := &proxyBackend{url: u}
		b.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Host = pr.In.Host // the issuer's host, for origin checks
				pr.SetXForwarded()       // X-Forwarded-For: the client's address
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if b.ready.Swap(false) {
					logger.Warn("backend failed, taken out of rotation", "backend", u.String(), "err", err)
				}
				if errors.Is(err, context.Canceled) {
					return
				}
				// Nothing was sent yet: a request without a body can go to
				// another replica.
				if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Context().Value(retriedKey{}) == nil {
					rr.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), retriedKey{}, true)))
					return
				}
				http.Error(w, "bad gateway: the replica did not answer", http.StatusBadGateway)
			},
		}
		rr.backends = append(rr.backends, b)
	}
	return rr, nil
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := uint64(len(rr.backends))
	start := rr.next.Add(1)
	for i := range n {
		if b := rr.backends[(start+i)%n]; b.ready.Load() {
			b.proxy.ServeHTTP(w, r)
			return
		}
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "no replica is ready", http.StatusServiceUnavailable)
}

// watch polls every backend's /readyz now and then every interval until
// ctx ends.
func (rr *roundRobin) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, b := range rr.backends {
			wg.Go(func() { rr.check(ctx, b) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (rr *roundRobin) check(ctx context.Context, b *proxyBackend) {
	ready, why := false, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.JoinPath("/readyz").String(), nil)
	if err == nil {
		var resp *http.Response
		if resp, err = rr.client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
			why = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		why = err.Error()
	}
	if was := b.ready.Swap(ready); was != ready {
		if ready {
			rr.logger.Info("backend ready", "backend", b.url.String())
		} else {
			rr.logger.Warn("backend not ready, taken out of rotation", "backend", b.url.String(), "readyz", why)
		}
	}
}
