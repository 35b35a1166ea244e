package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

// runBlocks runs gatehouse blocks sub: list the IP and account lockouts
// running now, or clear those of an IP address or a user.
func runBlocks(ctx context.Context, sub string, rest []string, env *environ) error {
	if sub == "list" {
		return runList(ctx, "blocks list", rest, env, (*admin.Service).Blocks, "KIND\tSTEP\tSUBJECT\tFAILURES\tBLOCKED UNTIL",
			func(w io.Writer, b admin.BlockView) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", b.Kind, b.Step, b.Subject, b.Failures, rfc3339(b.BlockedUntil))
			}, "(no active blocks)")
	}
	return withServiceArg(ctx, "blocks clear", rest, env, "IP address or email", func(s *admin.Service, subject string) error {
		n, err := s.ClearBlocks(ctx, subject)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "cleared %d counter(s) for %s\n", n, subject)
		return nil
	})
}
