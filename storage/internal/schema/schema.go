// Package schema applies Gatehouse's migrations with golang-migrate, for
// the backends in storage/postgres and storage/sqlite.
package schema

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// Migrate opens a driver with open and applies the migrations in the
// directory dir of fsys that the database behind it (registered with
// golang-migrate as driverName) lacks, and closes the driver. Its errors,
// open's too, start with "<backend>: migrate: ". When ctx ends it stops
// after the migration under way and returns ctx.Err().
func Migrate(ctx context.Context, backend string, fsys fs.FS, dir, driverName string, open func() (database.Driver, error)) error {
	driver, err := open()
	if err == nil {
		err = up(ctx, fsys, dir, driverName, driver)
	}
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", backend, err)
	}
	return ctx.Err()
}

// UpToDate reports whether a database is at the last migration in the
// directory dir of fsys, read by version (golang-migrate's schema_migrations:
// the version applied and whether it failed half-way). Opening a store
// then skips golang-migrate, whose setup (its version table's check, an
// advisory lock, its reads) every process paid at every start, each CLI
// command included, for a database already migrated. Anything else (no
// version table, a failed or older or newer version, an error) is false:
// Migrate decides, and says what is wrong.
func UpToDate(ctx context.Context, fsys fs.FS, dir string, version func(context.Context) (v int64, dirty bool, err error)) bool {
	last, err := lastVersion(fsys, dir)
	if err != nil {
		return false
	}
	v, dirty, err := version(ctx)
	return err == nil && !dirty && v == int64(last)
}

// lastVersion is the version of the last migration in the directory dir
// of fsys.
func lastVersion(fsys fs.FS, dir string) (uint, error) {
	src, err := iofs.New(fsys, dir)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	last, err := src.First()
	for err == nil {
		var next uint
		next, err = src.Next(last)
		if err == nil {
			last = next
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return last, nil
}

func up(ctx context.Context, fsys fs.FS, dir, driverName string, driver database.Driver) error {
	src, err := iofs.New(fsys, dir)
	if err != nil {
		driver.Close()
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, driverName, driver)
	if err != nil {
		src.Close()
		driver.Close()
		return err
	}
	if err := checkNotNewer(m, src); err != nil {
		m.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	err = m.Up()
	stop()
	srcErr, dbErr := m.Close()
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return errors.Join(srcErr, dbErr)
}

// checkNotNewer refuses a database whose schema version is past the last
// migration in src: a newer Gatehouse migrated it, and this one neither
// knows its tables nor can step it back.
func checkNotNewer(m *migrate.Migrate, src source.Driver) error {
	cur, _, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return nil // a new database
	}
	if err != nil {
		return err
	}
	last, err := src.First()
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for {
		next, err := src.Next(last)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("read migrations: %w", err)
		}
		last = next
	}
	if cur > last {
		return fmt.Errorf("the database's schema version %d is newer than this Gatehouse's (%d): a newer Gatehouse migrated it; "+
			"run that version (or a later one), or restore the backup taken before the upgrade", cur, last)
	}
	return nil
}
