package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite/sqlitetest"
)

// binary is the gatehouse binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	// A fuzz worker runs only a fuzz target, which needs no binary.
	for _, arg := range os.Args[1:] {
		if arg == "-test.fuzzworker" || arg == "-test.fuzzworker=true" {
			os.Exit(m.Run())
		}
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	// The flags of make build (static, no cgo, trimmed paths), so that
	// the packages this build compiles serve TestMakeBuild's and the
	// bench's from the build cache: only this package differs, by its
	// testclock files.
	build := exec.Command("go", "build", "-trimpath", "-tags", "testclock", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	pool := filepath.Join(dir, "rsa-keys.pem")
	if err := writeKeyPool(pool, 4); err != nil {
		fmt.Fprintln(os.Stderr, "RSA keys for the test servers:", err)
		os.Exit(1)
	}
	// Every server the tests start takes its RS256 key from this set (see
	// keygen_testclock.go) instead of generating one for half a second of
	// CPU; each database still gets distinct keys.
	os.Setenv("GATEHOUSE_TEST_RSA_KEYS", pool)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeKeyPool writes n fresh RSA-3072 keys to path, as PEM "PRIVATE
// KEY" blocks.
func writeKeyPool(path string, n int) error {
	blocks := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 3072)
			if err != nil {
				errs[i] = err
				return
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			blocks[i], errs[i] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.WriteFile(path, bytes.Join(blocks, nil), 0o600)
}

// backends are the databases every end-to-end test runs against.
var backends = []string{"sqlite", "postgres"}

// databaseURL returns a fresh database for backend.
func databaseURL(t *testing.T, backend string) string {
	if backend == "postgres" {
		// A copy of a schema migrated once (the migrations' own tests are
		// storage/postgres's): the server finds it at the last version.
		return pgtest.MigratedDSN(t, postgres.Migrate)
	}
	// SQLite likewise: a copy of a database migrated once (the tests of a
	// first start on no database at all make their own path).
	return "sqlite:" + sqlitetest.File(t, filepath.Join(t.TempDir(), "gatehouse.db"))
}

// gatehouse is a running gatehouse process and the environment its CLI
// shares.
type gatehouse struct {
	t      *testing.T
	base   string // the issuer, http://127.0.0.1:PORT
	admin  string // the admin listener, http://127.0.0.1:PORT
	env    []string
	args   []string // added after "serve", such as --demo
	outbox string   // the mail outbox, used without mail.smtp.host
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan error
}

// lastPort is the last port freeAddr handed out. The ports start at a
// random point of 20000–27999, below Linux's ephemeral range (32768 and
// up): a port chosen by the kernel for another listener on :0 or for an
// outgoing connection cannot then take a server's port between freeAddr
// and the server's bind, and no port is handed out twice in one test
// binary. (With ports from :0, a parallel test's server once took the port
// of another before it bound, and that test talked to the wrong server.)
var lastPort = func() *atomic.Int32 {
	p := new(atomic.Int32)
	p.Store(20000 + mrand.Int32N(8000))
	return p
}()

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lastPort.Add(1)))
		if err != nil {
			continue // taken
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port")
	return ""
}

// newGatehouse prepares a gatehouse with its own database and key file;
// extra holds additional GATEHOUSE_… variables. It is not started.
func newGatehouse(t *testing.T, dbURL string, extra ...string) *gatehouse {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	adminAddr := freeAddr(t)
	g := &gatehouse{t: t, base: "http://" + addr, admin: "http://" + adminAddr, outbox: filepath.Join(dir, "mail")}
	g.env = append(os.Environ(),
		"GATEHOUSE_ADMIN_ADDRESS="+adminAddr,
		"GATEHOUSE_CONFIG=",
		"GATEHOUSE_ISSUER="+g.base,
		"GATEHOUSE_HTTP_ADDRESS="+addr,
		"GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_SECRETS_KEY_FILE="+filepath.Join(dir, "secret.key"),
		"GATEHOUSE_LOG_LEVEL=debug",
		"GATEHOUSE_MAIL_OUTBOX_DIR="+g.outbox,
	)
	g.env = append(g.env, extra...)
	return g
}

// startGatehouse starts a fresh gatehouse on backend and waits until it is
// ready.
func startGatehouse(t *testing.T, backend string, extra ...string) *gatehouse {
	g := newGatehouse(t, databaseURL(t, backend), extra...)
	g.start()
	return g
}

func (g *gatehouse) start() {
	t := g.t
	t.Helper()
	g.cmd = exec.Command(binary, append([]string{"serve"}, g.args...)...)
	g.cmd.Env = g.env
	g.cmd.Stdout = &lockedWriter{mu: &g.mu, w: &g.logs}
	g.cmd.Stderr = g.cmd.Stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.exited = make(chan error, 1)
	go func() { g.exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gatehouse output:\n%s", g.output())
		}
	})
	// Ready is this process's /readyz answering 200 once it has logged its
	// own listener: whatever else answers on the port is not this server.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(g.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && g.listening() {
				return
			}
		}
		select {
		case err := <-g.exited:
			t.Fatalf("gatehouse exited early: %v\n%s", err, g.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("gatehouse not ready in time\n%s", g.output())
}

// listening reports whether this process has logged that it listens on
// g.base's address. A server that logs only warnings and errors says
// nothing of it: it is taken at its word.
func (g *gatehouse) listening() bool {
	if slices.ContainsFunc(g.env, func(kv string) bool {
		return kv == "GATEHOUSE_LOG_LEVEL=warn" || kv == "GATEHOUSE_LOG_LEVEL=error"
	}) {
		return true
	}
	addr := strings.TrimPrefix(g.base, "http://")
	for line := range strings.Lines(g.output()) {
		if strings.Contains(line, "gatehouse listening") && strings.Contains(line, addr) {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and returns the exit error (nil for exit status 0).
func (g *gatehouse) stop() error {
	if g.cmd == nil || g.cmd.Process == nil {
		return nil
	}
	select {
	case err := <-g.exited:
		g.exited <- err
		return err
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exited:
		g.exited <- err
		return err
	case <-time.After(40 * time.Second):
		g.cmd.Process.Kill()
		return fmt.Errorf("gatehouse did not stop on SIGTERM")
	}
}

func (g *gatehouse) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cli runs a gatehouse command against g's database and returns its
// standard output; it fails the test if the command fails.
func (g *gatehouse) cli(stdin string, args ...string) string {
	g.t.Helper()
	out, errOut, err := g.tryCLI(stdin, args...)
	if err != nil {
		g.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (g *gatehouse) tryCLI(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = g.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// allGrants are the grant types of a client that may use every grant
// (clients create --grant-type), as every confidential client could before
// grant types were registered.
const allGrants = "authorization_code,refresh_token,client_credentials"

// client is a registered client.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (g *gatehouse) createClient(args ...string) client {
	g.t.Helper()
	out := g.cli("", append([]string{"clients", "create", "--json"}, args...)...)
	var c client
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		g.t.Fatalf("clients create --json printed %q: %v", out, err)
	}
	return c
}

func (g *gatehouse) createUser(email, name, password string) {
	g.t.Helper()
	g.cli(password+"\n", "users", "create", "--email", email, "--name", name, "--password-stdin")
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see every hop.
type browser struct {
	t      *testing.T
	c      *http.Client
	header http.Header // added to every request
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, header: http.Header{}, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a fully read response.
type response struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) *response {
	b.t.Helper()
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(body)}
}

func (b *browser) get(u string) *response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow GETs u and follows redirects until one leaves for a URL starting
// with stopAt (returned, unrequested) or a page answers.
func (b *browser) follow(u, stopAt string) (*response, string) {
	b.t.Helper()
	for range 10 {
		if stopAt != "" && strings.HasPrefix(u, stopAt) {
			return nil, u
		}
		resp := b.get(u)
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp, u
		}
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			b.t.Fatalf("bad Location %q", resp.Header.Get("Location"))
		}
		u = next.String()
	}
	b.t.Fatalf("too many redirects")
	return nil, ""
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formFields returns the hidden inputs of page.
func formFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text() // 52 characters, 260 bits
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomString returns a random base32 string of 26 characters.
func randomString() string { return rand.Text() }

// wrongCodeFor returns a six-digit code other than c.
func wrongCodeFor(c string) string {
	n, _ := strconv.Atoi(c)
	return fmt.Sprintf("%06d", (n+123457)%1_000_000)
}

// redirectTarget returns resp's Location resolved against its request URL.
func redirectTarget(resp *response) string {
	u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return resp.Header.Get("Location")
	}
	return u.String()
}
