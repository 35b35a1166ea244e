package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// gatehouse is the server under test: a child process with its own
// database and key file, and the environment its CLI shares.
type gatehouse struct {
	binary string
	base   string // the issuer, http://127.0.0.1:PORT
	admin  string // the admin listener's address
	env    []string
	cmd    *exec.Cmd
	log    *os.File
	dropDB func() error // removes a PostgreSQL database made for the run
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startGatehouse starts binary in dir on a fresh database: a SQLite file
// in dir for "sqlite", or a new database on the PostgreSQL server of a
// postgres:// URL, dropped again by stop. extra holds GATEHOUSE_…
// variables of the run.
func startGatehouse(ctx context.Context, binary, dir, database string, extra []string) (*gatehouse, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	g := &gatehouse{binary: binary, base: "http://" + addr, admin: adminAddr}
	dbURL := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	if database != "sqlite" {
		dbURL, g.dropDB, err = freshPostgres(ctx, database)
		if err != nil {
			return nil, err
		}
	}
	g.env = append(os.Environ(),
		"GATEHOUSE_CONFIG=",
		"GATEHOUSE_ISSUER="+g.base,
		"GATEHOUSE_HTTP_ADDRESS="+addr,
		"GATEHOUSE_ADMIN_ADDRESS="+adminAddr,
		"GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_SECRETS_KEY_FILE="+filepath.Join(dir, "secret.key"),
		"GATEHOUSE_MAIL_OUTBOX_DIR="+filepath.Join(dir, "mail"), // not the current directory's data/mail
	)
	g.env = append(g.env, extra...)
	g.cmd = exec.Command(binary, "serve")
	g.cmd.Env = g.env
	if err := g.start(filepath.Join(dir, "gatehouse.log"), "/readyz"); err != nil {
		return nil, err
	}
	return g, nil
}

// start starts g.cmd with its output to a new file at logPath, and waits
// until g.base+ready answers 200 OK, 30 seconds at the most; otherwise it
// stops g and returns why.
func (g *gatehouse) start(logPath, ready string) error {
	var err error
	if g.log, err = os.Create(logPath); err != nil {
		g.stop()
		return err
	}
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.stop()
		return fmt.Errorf("start %s: %w", g.binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if resp, err := hc.Get(g.base + ready); err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			g.cmd = nil
			g.stop()
			return fmt.Errorf("%s exited at start (%v); its log is %s", g.binary, err, logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
	g.stop()
	return fmt.Errorf("%s did not answer %s within 30s; its log is %s", g.binary, ready, logPath)
}

// stop ends the server with SIGTERM and drops a database made for the run.
func (g *gatehouse) stop() error {
	var errs []error
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			g.cmd.Process.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			g.cmd.Process.Kill()
			errs = append(errs, errors.New("gatehouse did not stop on SIGTERM"))
		}
		g.cmd = nil
	}
	if g.log != nil {
		g.log.Close()
	}
	if g.dropDB != nil {
		errs = append(errs, g.dropDB())
	}
	return errors.Join(errs...)
}

// cli runs a gatehouse command on the server's database.
func (g *gatehouse) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(g.binary, args...)
	cmd.Env = g.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gatehouse %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// client is a registered client.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (g *gatehouse) createClient(args ...string) (client, error) {
	out, err := g.cli("", append([]string{"clients", "create", "--json"}, args...)...)
	if err != nil {
		return client{}, err
	}
	var c client
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		return client{}, fmt.Errorf("clients create --json printed %q", out)
	}
	return c, nil
}

func (g *gatehouse) createUser(email, password string) error {
	_, err := g.cli(password+"\n", "users", "create", "--email", email, "--name", "Bench User", "--password-stdin")
	return err
}

// rss returns the server's resident set size in bytes (Linux).
func (g *gatehouse) rss() (int64, error) { return g.status("VmRSS:") }

// peakRSS returns the server's largest resident set size so far.
func (g *gatehouse) peakRSS() (int64, error) { return g.status("VmHWM:") }

// cpu returns the CPU time (user and system) the server has used so far
// (Linux: /proc/PID/stat, in clock ticks of 10 ms).
func (g *gatehouse) cpu() (time.Duration, error) {
	if g.cmd == nil || g.cmd.Process == nil {
		return 0, errors.New("gatehouse is not running")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(g.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return procCPU(string(b))
}

// procCPU reads utime and stime from a /proc/PID/stat line: the 14th and
// 15th fields, counted after the command name, which is in parentheses and
// may hold spaces.
func procCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// machineCPU returns the CPU time every process of the machine has used
// so far, all CPUs together (Linux: the first line of /proc/stat, in clock
// ticks of 10 ms): user, nice, system, irq, softirq and steal.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return statCPU(string(b))
}

// statCPU reads the busy time of the "cpu" line of /proc/stat: its first
// three and its sixth to eighth fields (idle and iowait are not busy).
func statCPU(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("proc stat: no cpu line")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// A cpuWindow measures, over a phase, the CPU time of the server, of the
// load generator and of everything else the machine ran.
type cpuWindow struct {
	g                     *gatehouse
	start                 time.Time
	server, bench, all    time.Duration
	serverErr, machineErr error
}

func (g *gatehouse) cpuWindow() *cpuWindow {
	w := &cpuWindow{g: g, start: time.Now(), bench: selfCPU()}
	w.server, w.serverErr = g.cpu()
	w.all, w.machineErr = machineCPU()
	return w
}

// phaseCPU is what a cpuWindow measured: the server's and the load
// generator's CPU time, and the share of the machine's CPUs that other
// processes took (-1: unknown).
type phaseCPU struct {
	server, bench time.Duration
	others        float64
}

// end closes the window.
func (w *cpuWindow) end() phaseCPU {
	p := phaseCPU{bench: selfCPU() - w.bench, others: -1}
	server, err := w.g.cpu()
	if err != nil || w.serverErr != nil {
		return p
	}
	p.server = server - w.server
	all, err := machineCPU()
	if err != nil || w.machineErr != nil {
		return p
	}
	elapsed := time.Since(w.start).Seconds() * float64(runtime.NumCPU())
	p.others = max(0, (all-w.all-p.server-p.bench).Seconds()/elapsed)
	return p
}

// selfCPU returns the CPU time (user and system) the bench itself, the
// load generator, has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// status reads a size field of /proc/PID/status.
func (g *gatehouse) status(field string) (int64, error) {
	if g.cmd == nil || g.cmd.Process == nil {
		return 0, errors.New("gatehouse is not running")
	}
	f, err := os.Open("/proc/" + strconv.Itoa(g.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// freshPostgres creates an empty database on the server of adminURL and
// returns its URL and a function that drops it.
func freshPostgres(ctx context.Context, adminURL string) (string, func() error, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-database: want sqlite or a postgres:// URL, got %q", adminURL)
	}
	if h := u.Hostname(); h != "localhost" && !isLoopback(h) {
		return "", nil, fmt.Errorf("-database: the bench talks to loopback only, not %q", h)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	name := "gatehouse_bench_" + strings.ToLower(rand.Text()[:10])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	du := *u
	du.Path = "/" + name
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return du.String(), drop, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// profile fetches the server's CPU profile of the next d (at least a
// second) from its admin listener's /debug/pprof/ into file; the channel
// it returns says when it is written, or why not.
func (g *gatehouse) profile(ctx context.Context, file string, d time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		seconds := max(int(d.Round(time.Second)/time.Second), 1)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.admin, seconds)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: %s", url, resp.Status)
			return
		}
		f, err := os.Create(file)
		if err != nil {
			done <- err
			return
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			done <- err
			return
		}
		done <- f.Close()
	}()
	return done
}

// profileName is the file name of a phase's server profile: its name in
// lower case with dashes for anything but letters and digits.
func profileName(phase string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(phase))
	return name + ".pprof"
}

// ownCPU is the CPU time the load generator's own process has spent, user
// and system.
func ownCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
