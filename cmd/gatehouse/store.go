package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// openStore opens (and migrates) the configured database.
func openStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	driver, dsn := cfg.DatabaseDriver()
	switch driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, cfg.Database.URL)
		if err != nil {
			return nil, fmt.Errorf("database.url: open sqlite %s: %w", dsn, err)
		}
		return s, nil
	case "postgres":
		s, err := postgres.OpenWith(ctx, dsn, postgres.Options{MaxConns: int32(cfg.Database.MaxConns)})
		if err != nil {
			return nil, fmt.Errorf("database.url: open postgres: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("database.url: unsupported database")
}

func runMigrate(ctx context.Context, args []string, env *environ) error {
	fs, configPath := flags("migrate", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, env)
	if err != nil {
		return err
	}
	driver, dsn := cfg.DatabaseDriver()
	switch driver {
	case "sqlite":
		err = sqlite.Migrate(ctx, cfg.Database.URL)
	case "postgres":
		err = postgres.Migrate(ctx, dsn)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(env.stdout, "database migrated (%s)\n", driver)
	return nil
}

// keyManager opens the secrets key and returns the signing-key manager.
func keyManager(cfg *config.Config, store storage.KeyStore) (*op.Keys, *seal.Box, error) {
	master, err := seal.LoadOrCreateKey(cfg.Secrets.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	box, err := seal.New(master)
	if err != nil {
		return nil, nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return op.NewKeys(store, box, time.Now, keyRetention(cfg)), box, nil
}

// openSealBox opens the secrets key of cfg, which seals the secrets of
// client_secret_jwt clients.
func openSealBox(cfg *config.Config) (*seal.Box, error) {
	master, err := seal.LoadOrCreateKey(cfg.Secrets.KeyFile)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(master)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return box, nil
}
