//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockSQLite takes the exclusive lock that makes one `gatehouse serve` the
// only server of an SQLite database: SQLite has a single writer and the
// process keeps state (rate-limit counters aside) that several servers on
// one file would not share safely. The lock is flock(2) on <path>.lock,
// next to the database, held until release is called or the process ends
// (the kernel drops it even after kill -9, so a stale file never blocks a
// restart). CLI commands do not take it: they may run beside the server.
func lockSQLite(path string) (release func(), err error) {
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o750); err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database.url: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another gatehouse serve is using %s (lock %s); SQLite supports one server — use PostgreSQL for several replicas",
				path, lockPath)
		}
		return nil, fmt.Errorf("database.url: lock %s: %w", lockPath, err)
	}
	// Record who holds it, for an operator looking at the file.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() { f.Close() }, nil
}
