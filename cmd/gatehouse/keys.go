package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// runKeys runs gatehouse keys sub: list the signing keys, or rotate them.
func runKeys(ctx context.Context, sub string, rest []string, env *environ) error {
	fs, configPath := flags("keys "+sub, env)
	if err := parse(fs, rest); err != nil {
		return err
	}
	return withStore(ctx, *configPath, env, func(cfg *config.Config, s storage.Store) error {
		keys, _, err := keyManager(ctx, cfg, s)
		if err != nil {
			return err
		}
		var infos []op.KeyInfo
		if sub == "rotate" {
			infos, err = keys.Rotate(ctx)
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
