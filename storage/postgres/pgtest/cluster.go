package pgtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
)

// A Cluster is a PostgreSQL cluster of a test's or a benchmark's own, made
// with initdb in a temporary directory (Dir) and not started: its owner
// starts it with pg_ctl (Run) on Port, with the options it needs. As root,
// its programs run as the postgres user, since PostgreSQL refuses root.
type Cluster struct {
	Bin  string // the directory of initdb and pg_ctl (BinDir)
	Dir  string
	Port int
	As   []string // the command prefix that runs a program as the cluster's owner
}

// InitCluster makes a cluster that will listen on port, in a new
// temporary directory named after prefix (which the postgres user can
// enter); the caller removes Dir when done.
func InitCluster(prefix string, port int) (*Cluster, error) {
	bin := BinDir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL's initdb and pg_ctl not found (install the postgresql package)")
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Dir: dir, Port: port}
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
		c.As = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := c.Run("initdb", "-D", c.Data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return c, nil
}

// Data is the cluster's data directory.
func (c *Cluster) Data() string { return filepath.Join(c.Dir, "data") }

// Run runs one of the cluster's programs (prog, in Bin) as its owner, in
// Dir, and returns what it printed.
func (c *Cluster) Run(prog string, args ...string) (string, error) {
	argv := append(slices.Clone(c.As), filepath.Join(c.Bin, prog))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
