package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// runKeys runs gatehouse keys sub: list the signing keys, or rotate them.
func runKeys(ctx context.Context, sub string, rest []string, env *environ) error {
	configPath, err := noArgs("keys "+sub, rest, env)
	if err != nil {
		return err
	}
	return withStore(ctx, configPath, env, func(cfg *config.Config, s storage.Store) error {
		keys, _, err := keyManager(ctx, cfg, s)
		if err != nil {
			return err
		}
		var infos []op.KeyInfo
		if sub == "rotate" {
			if infos, err = keys.Rotate(ctx); err == nil {
				err = auditRotation(ctx, s, infos)
			}
		} else {
			if err = keys.Ensure(ctx); err == nil {
				infos, err = keys.List(ctx)
			}
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tSIGNS FROM\tCREATED")
		for _, k := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, k.ActiveAt.UTC().Format(time.RFC3339), k.CreatedAt.UTC().Format(time.RFC3339))
		}
		if sub == "rotate" {
			fmt.Fprintf(tw, "\nNew keys are published now and sign from %s on; old keys stay published until their tokens expire.\n", op.PublishDelay)
		}
		return tw.Flush()
	})
}

// auditRotation records the rotation that added the keys of infos in the
// "next" state in the audit log, as every administrative action is.
func auditRotation(ctx context.Context, s storage.AuditStore, infos []op.KeyInfo) error {
	var added []string
	from := time.Time{}
	for _, k := range infos {
		if k.State == "next" {
			added = append(added, k.Algorithm+" "+k.ID)
			from = k.ActiveAt
		}
	}
	e := &storage.Event{Time: time.Now(), Type: storage.EventKeysRotated,
		Detail: fmt.Sprintf("new signing keys %s, signing from %s, by an administrator (CLI)", strings.Join(added, ", "), from.UTC().Format(time.RFC3339))}
	if err := s.AddEvent(ctx, e); err != nil {
		return fmt.Errorf("the keys were rotated, but the audit event was not stored: %w", err)
	}
	return nil
}
