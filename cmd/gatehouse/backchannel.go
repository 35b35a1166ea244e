package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// logoutResults are the outcomes of back-channel logout deliveries.
var logoutResults = []string{"sent", "failed", "retried", "dropped"}

// startLogoutSender starts the sender of back-channel logout tokens
// (op.LogoutSender) and its metrics. The returned function waits until
// it has stopped, once ctx has ended: sends in flight finish first.
func startLogoutSender(ctx context.Context, srv *server, store storage.Store, logger *slog.Logger) (wait func()) {
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "gatehouse", Name: "backchannel_logout_deliveries_total",
		Help: "Back-channel logout token deliveries by result: sent, failed (an attempt), retried (scheduled again), dropped (given up).",
	}, []string{"result"})
	for _, r := range logoutResults {
		deliveries.WithLabelValues(r)
	}
	srv.metrics.reg.MustRegister(deliveries, logoutQueueCollector{store})
	sender := &op.LogoutSender{
		Store:    store,
		Provider: srv.provider,
		Now:      srv.now,
		Logger:   logger,
		Observe:  func(result string) { deliveries.WithLabelValues(result).Inc() },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sender.Run(ctx)
	}()
	return func() { <-done }
}

// logoutQueueCollector reports the back-channel logout deliveries queued
// (on every replica: counted in the database at scrape time).
type logoutQueueCollector struct{ store storage.BackchannelStore }

var logoutQueuedDesc = prometheus.NewDesc("gatehouse_backchannel_logout_queued",
	"Back-channel logout deliveries waiting to be sent or retried (counted in the database at scrape time).", nil, nil)

func (c logoutQueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- logoutQueuedDesc }

func (c logoutQueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	n, err := c.store.CountLogoutDeliveries(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(logoutQueuedDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(logoutQueuedDesc, prometheus.GaugeValue, float64(n))
}

// checkBackchannelLogoutURI checks a back-channel logout URI ("" is none)
// like a confidential client's redirect URI: absolute, no fragment, https
// or http to a loopback host. Gatehouse posts to it from the server, so
// nothing else is allowed.
func checkBackchannelLogoutURI(raw string) error {
	if raw == "" {
		return nil
	}
	if err := checkRedirectURI(raw, false); err != nil {
		return failf(errInvalid, "back-channel logout URI %s", err)
	}
	return nil
}
