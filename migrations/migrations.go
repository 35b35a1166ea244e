// Package migrations holds Gatehouse's database schema as SQL files, one
// directory per dialect, embedded into the binary.
//
// Files follow golang-migrate's naming, NNNN_name.up.sql and
// NNNN_name.down.sql, and both dialects carry the same version numbers so
// that a version means the same schema on either database. The backends in
// storage/postgres and storage/sqlite apply them.
package migrations

import (
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// Dialect directory names inside FS.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// FS holds the migrations of every dialect, under the directories Postgres
// and SQLite.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS

// A Migration is one schema version of one dialect.
type Migration struct {
	Version uint   // from the file name; starts at 1
	Name    string // the part of the file name after the version
	Up      string // path in FS of the file that applies it
	Down    string // path in FS of the file that reverts it
}

// List returns the migrations of dialect in version order. It fails if a
// file is misnamed, if two files claim the same version and direction, or if
// a version lacks its up or down file.
func List(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(FS, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	byVersion := make(map[uint]*Migration)
	for _, e := range entries {
		v, name, dir, ok := parseName(e.Name())
		if !ok || e.IsDir() {
			return nil, fmt.Errorf("migrations: %s/%s: name does not match NNNN_name.(up|down).sql", dialect, e.Name())
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: name}
			byVersion[v] = mig
		}
		if mig.Name != name {
			return nil, fmt.Errorf("migrations: %s: version %d has two names, %q and %q", dialect, v, mig.Name, name)
		}
		file, path := &mig.Up, dialect+"/"+e.Name()
		if dir == "down" {
			file = &mig.Down
		}
		if *file != "" {
			return nil, fmt.Errorf("migrations: %s and %s have the same version", *file, path)
		}
		*file = path
	}
	list := make([]Migration, 0, len(byVersion))
	for _, mig := range byVersion {
		if mig.Up == "" || mig.Down == "" {
			return nil, fmt.Errorf("migrations: %s: version %d lacks its up or down file", dialect, mig.Version)
		}
		list = append(list, *mig)
	}
	slices.SortFunc(list, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return list, nil
}

// parseName splits a file name of the form NNNN_name.up.sql or
// NNNN_name.down.sql into its version, name and direction.
func parseName(file string) (version uint, name, dir string, ok bool) {
	rest, ok := strings.CutSuffix(file, ".sql")
	if !ok {
		return 0, "", "", false
	}
	rest, dir, ok = cutLast(rest, ".")
	if !ok || dir != "up" && dir != "down" {
		return 0, "", "", false
	}
	num, name, ok := strings.Cut(rest, "_")
	if !ok || name == "" || strings.ContainsAny(name, ". ") {
		return 0, "", "", false
	}
	v, err := strconv.ParseUint(num, 10, 32)
	if err != nil || v == 0 {
		return 0, "", "", false
	}
	return uint(v), name, dir, true
}

// cutLast slices s around the last instance of sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
