package broker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Auth failure reasons (label values of clawfleet_mqtt_auth_failures_total).
const (
	reasonBadCredentials   = "bad_credentials"
	reasonClientIDMismatch = "client_id_mismatch"
	reasonRateLimited      = "rate_limited"
	reasonMalformed        = "malformed"
)

// Rate limit scopes (label values of clawfleet_mqtt_connect_rate_limited_total).
const (
	scopeIP     = "ip"
	scopeClient = "client"
)

// ACL actions (label values of clawfleet_mqtt_acl_denials_total).
const (
	actionPublish   = "publish"
	actionSubscribe = "subscribe"
)

type metrics struct {
	authFailures    *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	aclDenials      *prometheus.CounterVec
	connected       prometheus.Gauge
	oversize        prometheus.Counter
	publishDropped  prometheus.Counter
	willsSuppressed prometheus.Counter
	retainStripped  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_auth_failures_total",
			Help: "MQTT connection attempts refused, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_connect_rate_limited_total",
			Help: "MQTT connection attempts refused by a rate limit, by scope (per source IP or per client ID).",
		}, []string{"scope"}),
		aclDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_acl_denials_total",
			Help: "Device publishes and subscriptions denied by the ACL.",
		}, []string{"action"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clawfleet_mqtt_connected_clients",
			Help: "Device clients currently connected to the MQTT broker.",
		}),
		oversize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_oversize_packets_total",
			Help: "Device connections closed because a packet exceeded the maximum packet size.",
		}),
		publishDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_publish_dropped_total",
			Help: "Messages to devices dropped because the device's outbound queue was full.",
		}),
		retainStripped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_retain_stripped_total",
			Help: "Device publishes whose retain flag was cleared (only the cloud retains messages).",
		}),
		willsSuppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawfleet_mqtt_wills_suppressed_total",
			Help: "Last Will messages not published because a newer session of the same device had taken over.",
		}),
	}
	for _, r := range []string{reasonBadCredentials, reasonClientIDMismatch, reasonRateLimited, reasonMalformed} {
		m.authFailures.WithLabelValues(r)
	}
	for _, s := range []string{scopeIP, scopeClient} {
		m.rateLimited.WithLabelValues(s)
	}
	for _, a := range []string{actionPublish, actionSubscribe} {
		m.aclDenials.WithLabelValues(a)
	}
	if reg == nil {
		return m, nil
	}
	cs := m.collectors()
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] { // Unregister matches by descriptor: only undo our own
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("broker: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.authFailures, m.rateLimited, m.aclDenials, m.connected, m.oversize, m.publishDropped, m.willsSuppressed, m.retainStripped}
}

// unregister removes the broker's collectors from reg, so that a new Broker
// can register them again. Only call it once they were registered.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
