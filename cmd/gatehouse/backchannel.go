package main

import (
	"context"
	"log/slog"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// startLogoutSender starts the sender of back-channel logout tokens
// (op.LogoutSender) and its metrics. The returned function waits until
// it has stopped, once ctx has ended: sends in flight finish first.
func startLogoutSender(ctx context.Context, srv *server, store storage.Store, logger *slog.Logger) (wait func()) {
	sender := &op.LogoutSender{
		Store:    store,
		Provider: srv.provider,
		Now:      srv.now,
		Logger:   logger,
		Observe:  srv.metrics.LogoutDeliveries(store),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sender.Run(ctx)
	}()
	return func() { <-done }
}
