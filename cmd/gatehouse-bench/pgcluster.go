package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// pgCluster is a PostgreSQL cluster of the bench's own: its data directory
// and unix socket live in a temporary directory, it listens on one
// loopback port, and it runs as the postgres user when the bench runs as
// root. Nothing else writes to it, so its WAL and statistics are the
// server's under test alone.
type pgCluster struct {
	*pgtest.Cluster
}

// startPGCluster initialises a cluster and starts it with settings that
// keep its counts the workload's: no autovacuum (its WAL and row counts
// would mix with the requests'), and checkpoints far apart, so that none
// falls inside a measured batch (each writes full-page images after it).
func startPGCluster() (*pgCluster, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	pc, err := pgtest.InitCluster("gatehouse-bench-pg-", p)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{pc}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c autovacuum=off -c checkpoint_timeout=1d -c max_wal_size=10GB", c.Port, c.Dir)
	if out, err := c.Run("pg_ctl", "start", "-D", c.Data(), "-w", "-t", "60", "-l", c.logPath(), "-o", opts); err != nil {
		log, _ := os.ReadFile(c.logPath())
		os.RemoveAll(c.Dir)
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return c, nil
}

func (c *pgCluster) logPath() string { return filepath.Join(c.Dir, "postgres.log") }

// addr is the cluster's TCP address.
func (c *pgCluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// stop stops the cluster and removes its directory.
func (c *pgCluster) stop() error {
	_, err := c.Run("pg_ctl", "stop", "-D", c.Data(), "-m", "fast", "-w")
	os.RemoveAll(c.Dir)
	return err
}
