package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
)

// oidcProviderJS configures and starts oidc-provider (see the file).
//
//go:embed peers/oidc-provider.mjs
var oidcProviderJS []byte

// prepareOIDCProvider installs the oidc-provider package of -oidc-provider-version
// with npm under -work, unless it is there already, writes the bench's
// configuration beside it, and returns what starts it.
func (r *peerRun) prepareOIDCProvider(ctx context.Context) (func(context.Context) (*provider, error), error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	nodeVersion, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("node --version: %w", err)
	}
	version := r.o.npmVersion
	dir, err := filepath.Abs(filepath.Join(r.o.work, "oidc-provider-"+version))
	if err != nil {
		return nil, err
	}
	if installed(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")) != version {
		r.logf("installing oidc-provider %s with npm in %s", version, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true, "type": "module"}`+"\n"), 0o644); err != nil {
			return nil, err
		}
		npm := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "oidc-provider@"+version)
		npm.Dir = dir
		if err := runPrinting(npm); err != nil {
			return nil, fmt.Errorf("npm install oidc-provider@%s: %w", version, err)
		}
		if got := installed(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); got != version {
			return nil, fmt.Errorf("npm installed oidc-provider %q, not %s", got, version)
		}
	}
	// Next to its node_modules, where node resolves its import.
	script := filepath.Join(dir, "gatehouse-bench-oidc-provider.mjs")
	if err := os.WriteFile(script, oidcProviderJS, 0o644); err != nil {
		return nil, err
	}
	v := fmt.Sprintf("%s, node %s", version, strings.TrimSpace(string(nodeVersion)))
	return func(context.Context) (*provider, error) { return r.startOIDCProvider(node, script, v) }, nil
}

// installed returns the version in an npm package.json, or "".
func installed(packageJSON string) string {
	b, err := os.ReadFile(packageJSON)
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}

// startOIDCProvider starts node on the bench's configuration of
// oidc-provider, in one process (no cluster), listening on loopback.
func (r *peerRun) startOIDCProvider(node, script, version string) (*provider, error) {
	p := &provider{
		name: "oidc-provider", version: version,
		stores: "in memory (its development adapter: an LRU of about 2000 entries, older grants, codes and tokens dropped; lost on restart)",
		signs:  "development login: any account id, no password check; session cookie; RS256 2048-bit ID token",
		site:   &site{rp: client{ID: "web", Secret: rand.Text()}},
		cc:     client{ID: "cc", Secret: rand.Text()},
	}
	env := []string{"REDIRECT_URI=" + redirectURI, "CC_SECRET=" + p.cc.Secret, "WEB_SECRET=" + p.site.rp.Secret}
	if err := r.startPeer(p, []string{node, script}, filepath.Dir(script), env, "oidc-provider.log"); err != nil {
		return nil, err
	}
	baseURL, err := url.Parse(p.site.base)
	if err != nil {
		p.proc.stop()
		return nil, err
	}
	// The development login page posts to its own URL.
	actionRE := regexp.MustCompile(`<form autocomplete="off" action="([^"]+)" method="post">`)
	var next atomic.Int64
	p.login = func(ctx context.Context, b *browser, pg *page) (string, error) {
		m := actionRE.FindStringSubmatch(pg.body)
		if m == nil {
			return "", fmt.Errorf("no login form on oidc-provider's interaction page (%.200q)", pg.body)
		}
		action, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			return "", err
		}
		fields := url.Values{"prompt": {"login"}, "login": {fmt.Sprintf("peer%d", next.Add(1)%8)}, "password": {"any"}}
		return submit(ctx, b, baseURL.ResolveReference(action).String(), fields)
	}
	return p, nil
}
