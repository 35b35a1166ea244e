package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BinDir finds the directory of PostgreSQL's server programs (initdb,
// pg_ctl), for tests and benchmarks that run a cluster of their own: the
// newest of Debian's /usr/lib/postgresql/<version>/bin, else pg_config's
// bindir, else the directory of an initdb on $PATH; "" when there is none.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va < vb:
			return 1
		case va > vb:
			return -1
		}
		return 0
	})
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if Executable(filepath.Join(d, "initdb")) && Executable(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

// Executable reports whether path is a regular file someone may execute.
func Executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
