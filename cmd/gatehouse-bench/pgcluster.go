package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// pgCluster is a PostgreSQL cluster of the bench's own: its data directory
// and unix socket live in a temporary directory, it listens on one
// loopback port, and it runs as the postgres user when the bench runs as
// root. Nothing else writes to it, so its WAL and statistics are the
// server's under test alone.
type pgCluster struct {
	bin  string // the directory of initdb and pg_ctl
	dir  string
	port int
	as   []string // the command prefix that runs a program as the cluster's owner
}

// startPGCluster initialises a cluster and starts it with settings that
// keep its counts the workload's: no autovacuum (its WAL and row counts
// would mix with the requests'), and checkpoints far apart, so that none
// falls inside a measured batch (each writes full-page images after it).
func startPGCluster() (*pgCluster, error) {
	bin := pgtest.BinDir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL's initdb and pg_ctl not found (install the postgresql package)")
	}
	// PostgreSQL refuses to run as root, and the postgres user cannot
	// enter the bench's own temporary directory: a directory of its own.
	dir, err := os.MkdirTemp("", "gatehouse-bench-pg-")
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	c.port, _ = strconv.Atoi(port)
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c autovacuum=off -c checkpoint_timeout=1d -c max_wal_size=10GB", c.port, dir)
	if out, err := c.run("pg_ctl", "start", "-D", c.data(), "-w", "-t", "60", "-l", c.logPath(), "-o", opts); err != nil {
		log, _ := os.ReadFile(c.logPath())
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return c, nil
}

func (c *pgCluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *pgCluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// addr is the cluster's TCP address.
func (c *pgCluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// run runs one of the cluster's programs as its owner.
func (c *pgCluster) run(prog string, args ...string) (string, error) {
	argv := append(slices.Clone(c.as), filepath.Join(c.bin, prog))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// stop stops the cluster and removes its directory.
func (c *pgCluster) stop() error {
	_, err := c.run("pg_ctl", "stop", "-D", c.data(), "-m", "fast", "-w")
	os.RemoveAll(c.dir)
	return err
}
