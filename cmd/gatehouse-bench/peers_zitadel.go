package main

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// zitadelModule is the module whose example server is the zitadel peer:
// the OpenID library Gatehouse is built on.
const zitadelModule = "github.com/zitadel/oidc/v3"

// prepareZitadel builds zitadel/oidc's example server, at the version
// Gatehouse's go.mod requires unless -zitadel-version says otherwise, in a
// module of its own under -work (Gatehouse's go.mod and go.sum are left as
// they are), and returns what starts it.
func (r *peerRun) prepareZitadel(ctx context.Context) (func(context.Context) (*provider, error), error) {
	version := r.o.zitadelVersion
	if version == "" {
		out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", zitadelModule).Output()
		if err != nil {
			return nil, fmt.Errorf("go list -m %s (run from Gatehouse's repository, or give -zitadel-version): %w", zitadelModule, err)
		}
		version = strings.TrimSpace(string(out))
	}
	dir, err := filepath.Abs(filepath.Join(r.o.work, "zitadel-oidc-"+version))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r.logf("building %s/example/server %s in %s", zitadelModule, version, dir)
	gomod := fmt.Sprintf("module gatehouse-bench/zitadel-example\n\ngo 1.26\n\nrequire %s %s\n", zitadelModule, version)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", "zitadel-example", zitadelModule+"/example/server")
	build.Dir = dir
	// -mod=mod lets the build add the example's own requirements to the
	// go.mod above; GOWORK=off keeps any workspace out of it.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "CGO_ENABLED=0")
	if err := runPrinting(build); err != nil {
		return nil, fmt.Errorf("go build %s/example/server: %w", zitadelModule, err)
	}
	bin := filepath.Join(dir, "zitadel-example")
	return func(context.Context) (*provider, error) { return r.startZitadel(bin, version) }, nil
}

// startZitadel starts the example server as it ships: its clients, users
// and keys are built in, and it keeps everything in memory.
func (r *peerRun) startZitadel(bin, version string) (*provider, error) {
	p := &provider{
		name: "zitadel example", version: version,
		stores: "in memory (Go maps, never pruned while it runs; lost on restart)",
		signs:  "plain-text password compare, no session cookie, RS256 2048-bit ID token",
		// The example's built-in clients: "web" (code flow,
		// client_secret_basic) and the service user "sid1"
		// (client_credentials, opaque access tokens).
		site: &site{rp: client{ID: "web", Secret: "secret"}},
		cc:   client{ID: "sid1", Secret: "verysecret"},
	}
	// The example listens on every interface of the port it is given (it
	// has no option for an address); the bench sends to loopback only.
	if err := r.startPeer(p, []string{bin}, r.dir, []string{"REDIRECT_URI=" + redirectURI}, "zitadel-example.log"); err != nil {
		return nil, err
	}
	// Its built-in user; the issuer's host names the user.
	const user, pass = "test-user@localhost", "verysecure"
	// The id of the auth request, on the example's login page.
	idRE := regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)
	p.login = func(ctx context.Context, b *browser, pg *page) (string, error) {
		m := idRE.FindStringSubmatch(pg.body)
		if m == nil {
			return "", fmt.Errorf("no auth request id on the example's login page (%.200q)", pg.body)
		}
		fields := url.Values{"id": {html.UnescapeString(m[1])}, "username": {user}, "password": {pass}}
		return submit(ctx, b, p.site.base+"/login/username", fields)
	}
	return p, nil
}
