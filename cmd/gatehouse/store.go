package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	configPath, err := noArgs("migrate", args, env)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(configPath, env)
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
func keyManager(ctx context.Context, cfg *config.Config, store storage.KeyStore) (*op.Keys, *seal.Box, error) {
	box, err := openSealBox(ctx, cfg, store)
	if err != nil {
		return nil, nil, err
	}
	keys := op.NewKeys(store, box, time.Now, keyRetention(cfg))
	if g := keyGeneratorFromEnv(os.Getenv); g != nil {
		keys.SetGenerator(g)
	}
	return keys, box, nil
}

// openSealBox opens the secrets key of cfg, which seals the signing keys
// and the secrets of client_secret_jwt clients. It creates the key file
// only for a database that holds no signing key yet (a new deployment): a
// fresh key next to keys sealed with another one (a CLI command run with
// the wrong secrets.key_file, or from another directory) would seal new
// signing keys or client secrets that no server can open.
func openSealBox(ctx context.Context, cfg *config.Config, store storage.KeyStore) (*seal.Box, error) {
	path := cfg.Secrets.KeyFile
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		keys, err := store.SigningKeys(ctx, time.Now())
		if err != nil {
			return nil, fmt.Errorf("secrets.key_file: %w", err)
		}
		if len(keys) > 0 {
			return nil, fmt.Errorf("secrets.key_file: %s does not exist, but the database holds signing keys sealed with the server's secrets key: set secrets.key_file (GATEHOUSE_SECRETS_KEY_FILE) to the server's key file", path)
		}
	}
	master, err := seal.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(master)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return box, nil
}
