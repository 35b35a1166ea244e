package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// logoutResults are the outcomes of back-channel logout deliveries.
var logoutResults = []string{"sent", "failed", "retried", "dropped"}

// LogoutDeliveries registers the back-channel logout metrics: deliveries by
// result, counted by the function it returns (op.LogoutSender's Observe),
// and the deliveries queued in store, counted at scrape time.
func (m *Metrics) LogoutDeliveries(store storage.BackchannelStore) (observe func(result string)) {
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "gatehouse", Name: "backchannel_logout_deliveries_total",
		Help: "Back-channel logout token deliveries by result: sent, failed (an attempt), retried (scheduled again), dropped (given up).",
	}, []string{"result"})
	for _, r := range logoutResults {
		deliveries.WithLabelValues(r)
	}
	m.reg.MustRegister(deliveries, logoutQueueCollector{store})
	return func(result string) { deliveries.WithLabelValues(result).Inc() }
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
