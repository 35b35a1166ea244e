package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A BackupInfo describes a backup that Backup wrote.
type BackupInfo struct {
	// Source is the path of the database that was copied.
	Source string
	// Size is the backup file's size in bytes.
	Size int64
	// Version is the schema version (the last migration applied) of the
	// copy; Dirty reports a migration that failed half-way.
	Version int64
	Dirty   bool
}

// Backup writes a consistent copy of the database named by url to the new
// file dest, with VACUUM INTO, while servers and commands may go on reading
// and writing the database: the copy is the database as one read
// transaction sees it, every write committed before it began and none after.
//
// Backup never overwrites: it fails if dest exists. It claims the name
// first (an empty file of mode 0600), copies into a temporary file beside it,
// checks the copy with PRAGMA quick_check, syncs it and renames it over the
// claimed name, so that dest never holds a partial copy; on failure it
// removes what it created. The copy's mode is 0600 whatever the umask: it
// holds password hashes, sessions and sealed secrets. Backup neither
// creates nor migrates the database.
func Backup(ctx context.Context, url, dest string) (BackupInfo, error) {
	path, err := filePath(url)
	if err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{Source: path}
	if fi, err := os.Stat(path); err != nil {
		return info, fmt.Errorf("sqlite: no database to back up at %s: %w", path, err)
	} else if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("sqlite: %s is not a database file", path)
	}
	dir := filepath.Dir(dest)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("sqlite: the backup's directory %s does not exist", dir)
	} else if err != nil {
		return info, fmt.Errorf("sqlite: the backup's directory: %w", err)
	} else if !fi.IsDir() {
		return info, fmt.Errorf("sqlite: the backup's directory %s is not a directory", dir)
	}

	// Claim dest: O_EXCL fails if it exists, even if another process
	// creates it at the same moment.
	claim, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return info, fmt.Errorf("sqlite: %s already exists: a backup never overwrites a file; name a new one", dest)
	}
	if err != nil {
		return info, fmt.Errorf("sqlite: create the backup: %w", err)
	}
	claim.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(dest)
		}
	}()
	tmpFile, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".*.partial")
	if err != nil {
		return info, fmt.Errorf("sqlite: create the backup: %w", err)
	}
	tmp := tmpFile.Name()
	tmpFile.Close()
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()

	if err := vacuumInto(ctx, path, tmp); err != nil {
		return info, err
	}
	if info.Version, info.Dirty, err = checkCopy(ctx, tmp); err != nil {
		return info, err
	}
	if info.Size, err = syncFile(tmp); err != nil {
		return info, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	done = true
	// The rename is durable once the directory is synced; a failure
	// here leaves a complete backup that may not survive a power cut.
	if err := syncDir(dir); err != nil {
		return info, err
	}
	return info, nil
}

// filePath returns the database file that url names, having checked the
// form of url; unlike dataSource, it creates nothing.
func filePath(url string) (string, error) {
	path := strings.TrimPrefix(url, "sqlite:")
	switch {
	case path == "":
		return "", errors.New("sqlite: empty database path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("sqlite: %q: want a file path, as in sqlite:data/gatehouse.db", url)
	case strings.Contains(path, "?"):
		return "", fmt.Errorf("sqlite: %q: the path must not contain '?'", url)
	}
	return path, nil
}

// vacuumInto copies the database at path into the empty file dest. Its
// connection waits for locks as the server's do and changes nothing: in
// WAL mode a reader neither blocks the writer nor waits for it.
func vacuumInto(ctx context.Context, path, dest string) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("sqlite: backup: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("sqlite: backup: VACUUM INTO: %w", err)
	}
	return db.Close()
}

// checkCopy checks the database file at path with PRAGMA quick_check and
// returns its schema version.
func checkCopy(ctx context.Context, path string) (version int64, dirty bool, err error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: check the backup: %w", err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result); err != nil {
		return 0, false, fmt.Errorf("sqlite: check the backup: %w", err)
	}
	if result != "ok" {
		return 0, false, fmt.Errorf("sqlite: check the backup: quick_check: %s", result)
	}
	err = db.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil // not migrated yet
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: check the backup: schema version: %w", err)
	}
	return version, dirty, db.Close()
}

// syncFile flushes the file at path to stable storage and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sqlite: backup: sync: %w", err)
	}
	return fi.Size(), f.Close()
}

// syncDir flushes the directory dir, so that a rename in it lasts.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sqlite: backup: sync %s: %w", dir, err)
	}
	return nil
}
