package fleet

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	heartbeats   prometheus.Counter
	registers    prometheus.Counter
	regBatch     prometheus.Histogram
	shared       prometheus.Counter
	bad          *prometheus.CounterVec
	dropped      prometheus.Counter
	flushSeconds prometheus.Histogram
	flushErrors  prometheus.Counter
	storeLatency prometheus.Histogram
	// tenantRefused (Refuse) and commands (CountCommand) keep the names
	// they had when the tenant service decoded reports and sent commands.
	tenantRefused *prometheus.CounterVec
	commands      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, f *Fleet) *metrics {
	m := &metrics{
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "clawfleet_heartbeats_received_total", Help: "Valid heartbeats received from agents."}),
		registers:  prometheus.NewCounter(prometheus.CounterOpts{Name: "clawfleet_registrations_total", Help: "Agent registrations (one per connect)."}),
		regBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clawfleet_registration_batch_size",
			Help: "Registrations stored in one transaction (many when a fleet reconnects at once).", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{Name: "clawfleet_host_credentials_shared_total",
			Help: "Registrations that show two devices using one host's credentials (a WireGuard key the host had before comes back)."}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_device_messages_refused_total",
			Help: "Device messages refused, by reason (malformed, too_large, version, invalid, topic, unknown_device, store)."}, []string{"reason"}),
		dropped:      prometheus.NewCounter(prometheus.CounterOpts{Name: "clawfleet_device_messages_dropped_total", Help: "Device messages dropped because the ingest queue was full."}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clawfleet_heartbeat_flush_seconds", Help: "Time to write one batch of heartbeats.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		flushErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "clawfleet_heartbeat_flush_errors_total", Help: "Failed heartbeat batch writes (retried)."}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clawfleet_heartbeat_store_latency_seconds",
			Help: "From an agent publishing a heartbeat (its sentAt) to the batch holding it being committed.", Buckets: prometheus.ExponentialBuckets(0.001, 1.5, 30)}),
		tenantRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_tenant_messages_refused_total",
			Help: "Agent tenant messages (reports, replies) refused, by reason (malformed, too_large, version, invalid, wrong_host, unknown_reply, queue_full)."}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_tenant_commands_total",
			Help: "Commands to hosts by op (desired, logs) and result (published, acked, refused, timeout, error; logs: ok, error, timeout, offline)."}, []string{"op", "result"}),
	}
	if reg == nil {
		return m
	}
	hosts := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clawfleet_hosts", Help: "Hosts by status."}, []string{"status"})
	reg.MustRegister(m.heartbeats, m.registers, m.regBatch, m.shared, m.bad, m.dropped, m.flushSeconds, m.flushErrors, m.storeLatency, m.tenantRefused, m.commands,
		collectorFunc(func(ch chan<- prometheus.Metric) {
			for status, n := range f.Counts() {
				g := hosts.WithLabelValues(status)
				g.Set(float64(n))
				ch <- g
			}
		}, hosts))
	return m
}

// collectorFunc adapts a function to prometheus.Collector, describing itself
// with the wrapped vector's descriptors.
type collectorFuncT struct {
	collect func(chan<- prometheus.Metric)
	desc    prometheus.Collector
}

func collectorFunc(fn func(chan<- prometheus.Metric), desc prometheus.Collector) prometheus.Collector {
	return collectorFuncT{collect: fn, desc: desc}
}

func (c collectorFuncT) Describe(ch chan<- *prometheus.Desc) { c.desc.Describe(ch) }
func (c collectorFuncT) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
