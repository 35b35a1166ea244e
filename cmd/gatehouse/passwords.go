package main

import (
	"fmt"
	"log/slog"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
)

// newHasher returns an argon2id hasher with the OWASP parameters that also
// refuses new passwords from the breached-password list of
// password.breached_file, if set. The list stays open for the life of the
// process; a list that is missing, unreadable or not in the Pwned Passwords
// format is refused with an error that names the key.
func newHasher(cfg *config.Config, logger *slog.Logger) (*password.Hasher, error) {
	h := password.NewHasher(password.OWASP)
	if cfg.Password.BreachedFile == "" {
		return h, nil
	}
	list, err := policy.OpenBreached(cfg.Password.BreachedFile, logger)
	if err != nil {
		return nil, fmt.Errorf("password.breached_file: %w", err)
	}
	h.Breached = list
	return h, nil
}
