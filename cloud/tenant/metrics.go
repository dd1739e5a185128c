package tenant

import (
	"context"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	startSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		startSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clawfleet_tenant_start_seconds",
			Help: "Time from a tenant's creation to its first running report.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 12)}),
	}
	if reg == nil {
		return m
	}
	tenants := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clawfleet_tenants", Help: "Tenants by status."}, []string{"status"})
	reg.MustRegister(m.startSeconds, collector{tenants, func(ch chan<- prometheus.Metric) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		counts, err := s.store.TenantCounts(ctx)
		if err != nil {
			return
		}
		for _, st := range store.TenantStatuses {
			g := tenants.WithLabelValues(st)
			g.Set(float64(counts[st]))
			ch <- g
		}
	}})
	return m
}

type collector struct {
	desc    prometheus.Collector
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { c.desc.Describe(ch) }
func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
