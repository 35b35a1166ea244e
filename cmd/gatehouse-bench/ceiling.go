package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/argon2"

	"github.com/gatehouse-idp/gatehouse/login/password"
)

// rsaBits is the size of Gatehouse's RS256 keys (op.Keys).
const rsaBits = 3072

// hashTime returns the time of one argon2id hash with p on one core: the
// fastest of n, which other work on the machine slows least.
func hashTime(p password.Params, n int) time.Duration {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	best := time.Duration(math.MaxInt64)
	for range n {
		start := time.Now()
		argon2.IDKey([]byte("correct horse battery staple"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		best = min(best, time.Since(start))
	}
	return best
}

// parallelHashRate returns the argon2id hashes per second with p that
// workers goroutines reach hashing at once, each perWorker times: the best
// of rounds. With one worker per CPU it is the hash ceiling as the machine
// delivers it, usually below CPUs / t_hash: the hashes share the memory
// bus and caches (19 MiB each), and virtual CPUs may be one core's two
// hardware threads.
func parallelHashRate(p password.Params, workers, perWorker, rounds int) float64 {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	var best float64
	for range rounds {
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for range perWorker {
					argon2.IDKey([]byte("correct horse battery staple"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				}
			})
		}
		wg.Wait()
		best = max(best, float64(workers*perWorker)/time.Since(start).Seconds())
	}
	return best
}

// newSigner returns a JWT signer for alg with a fresh key of the size
// Gatehouse uses.
func newSigner(alg jose.SignatureAlgorithm) (jose.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		key, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported algorithm %s", alg)
	}
	if err != nil {
		return nil, err
	}
	return jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "plain"))
}

// signTime returns the time of one JWT signature of payload with alg on
// one core: the mean of the fastest of n batches of ten.
func signTime(alg jose.SignatureAlgorithm, payload []byte, n int) (time.Duration, error) {
	s, err := newSigner(alg)
	if err != nil {
		return 0, err
	}
	best := time.Duration(math.MaxInt64)
	for range n {
		start := time.Now()
		for range 10 {
			obj, err := s.Sign(payload)
			if err != nil {
				return 0, err
			}
			if _, err := obj.CompactSerialize(); err != nil {
				return 0, err
			}
		}
		best = min(best, time.Since(start)/10)
	}
	return best, nil
}

// jwtPayload returns the decoded claims of a compact JWT.
func jwtPayload(jwt string) ([]byte, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// plainServer is the reference: a bare net/http server in a process of its
// own, like the server under test, serving the same bytes and signing the
// same JWTs with no storage behind it.
type plainServer struct {
	base string
	cmd  *exec.Cmd
}

// startPlain runs this binary's plain subcommand with the files of dir.
func startPlain(dir string) (*plainServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "plain", "-dir", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("plain server did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return &plainServer{base: "http://" + addr, cmd: cmd}, nil
}

// cpu returns the CPU time the plain server has used so far.
func (p *plainServer) cpu() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return procCPU(string(b))
}

func (p *plainServer) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

// runPlain is the plain subcommand: it serves /hello, /discovery and /jwks
// (the bytes of dir/discovery.json and dir/jwks.json) and /token/ES256 and
// /token/RS256, which sign dir/claims.json with fresh iat/exp.
func runPlain(args []string) error {
	fs := flag.NewFlagSet("plain", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory with discovery.json, jwks.json and claims.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(*dir, name)) }
	discovery, err := read("discovery.json")
	if err != nil {
		return err
	}
	jwks, err := read("jwks.json")
	if err != nil {
		return err
	}
	rawClaims, err := read("claims.json")
	if err != nil {
		return err
	}
	var claims map[string]any
	if err := json.Unmarshal(rawClaims, &claims); err != nil {
		return fmt.Errorf("claims.json: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "hello\n")
	})
	static := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}
	}
	mux.HandleFunc("GET /discovery", static(discovery))
	mux.HandleFunc("GET /jwks", static(jwks))
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		signer, err := newSigner(alg)
		if err != nil {
			return err
		}
		mux.HandleFunc("POST /token/"+string(alg), func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			c := make(map[string]any, len(claims)+1)
			for k, v := range claims {
				c[k] = v
			}
			now := time.Now().Unix()
			c["iat"], c["exp"] = now, now+3600
			payload, _ := json.Marshal(c)
			obj, err := signer.Sign(payload)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			jwt, _ := obj.CompactSerialize()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			json.NewEncoder(w).Encode(map[string]any{
				"access_token": rand.Text() + rand.Text(), "token_type": "Bearer", "expires_in": 900, "id_token": jwt,
			})
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signalContext()
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
