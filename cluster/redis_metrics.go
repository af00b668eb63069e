package cluster

import "github.com/prometheus/client_golang/prometheus"

// redisMetrics are the glint_cluster_* metrics of a Redis directory.
type redisMetrics struct {
	errors, renewals, reasserted, lost prometheus.Counter
	nodes                              prometheus.Gauge
	held                               func() int
}

func newRedisMetrics() *redisMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "glint", Subsystem: "cluster", Name: name, Help: help})
	}
	return &redisMetrics{
		errors:     counter("redis_errors_total", "Redis operations that failed (unreachable, timeout, error reply)."),
		renewals:   counter("lease_renewals_total", "Room leases renewed (re-assertions included)."),
		reasserted: counter("leases_reasserted_total", "Room leases written again after they had expired or Redis had lost them, with their token."),
		lost:       counter("leases_lost_total", "Room leases found taken by another holder at renewal: their publishes were ended."),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "glint", Subsystem: "cluster", Name: "nodes",
			Help: "Nodes with a live heartbeat, as of this node's last heartbeat."}),
	}
}

// Collectors are the Redis directory's metrics, for /metrics.
func (r *Redis) Collectors() []prometheus.Collector {
	m := r.metrics
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "glint", Subsystem: "cluster", Name: "leases_held",
		Help: "Room leases this node holds and renews."}, func() float64 { return float64(m.held()) })
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "glint", Subsystem: "cluster", Name: "redis_up",
		Help: "1 when the last Redis operation succeeded."}, func() float64 {
		if r.Available() {
			return 1
		}
		return 0
	})
	return []prometheus.Collector{m.errors, m.renewals, m.reasserted, m.lost, m.nodes, held, up}
}
