package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// errBackupPostgres is what gatehouse backup answers for a PostgreSQL
// database, whose backups are PostgreSQL's own business.
var errBackupPostgres = errors.New("backup: database.url is PostgreSQL, and gatehouse backup copies SQLite databases only: " +
	"back PostgreSQL up with its own tools — pg_dump for a copy, base backups with WAL archiving for point-in-time recovery — " +
	"and keep secrets.key_file with them (README, Deployment: Backups)")

// runBackup is `gatehouse backup FILE`: a consistent copy of the SQLite
// database, made while servers and commands go on using it (sqlite.Backup).
// Like the other commands it takes no lock, so it runs beside the server.
func runBackup(ctx context.Context, args []string, env *environ) error {
	dest, configPath, err := oneArg("backup", args, env, "backup file name")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(configPath, env)
	if err != nil {
		return err
	}
	if driver, _ := cfg.DatabaseDriver(); driver != "sqlite" {
		return errBackupPostgres
	}
	info, err := sqlite.Backup(ctx, cfg.Database.URL, dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dirty := ""
	if info.Dirty {
		dirty = ", dirty: a migration failed half-way"
	}
	fmt.Fprintf(env.stdout, "backed up %s to %s (%d bytes, schema version %d%s)\n", info.Source, dest, info.Size, info.Version, dirty)
	fmt.Fprintf(env.stdout, "keep secrets.key_file (%s) with it: without that key the TOTP secrets and signing keys in the backup cannot be read\n",
		cfg.Secrets.KeyFile)
	return nil
}
