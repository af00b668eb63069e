package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/dashboard"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/web"
)

// recentErrorRecords is how many WARN/ERROR log records the dashboard shows.
const recentErrorRecords = 200

// observed wraps the node's logger so that its recent WARN and ERROR records are kept for the
// dashboard.
func observed(log *slog.Logger) (*slog.Logger, *dashboard.RecentErrors) {
	recent := dashboard.NewRecentErrors(recentErrorRecords)
	return slog.New(recent.Handler(log.Handler())), recent
}

// addObservability mounts /metrics (the SFU's counters, per room, and every stage's
// collectors), GET /api/dashboard and the /dashboard page. The dashboard is for admins:
// n.admin decides who is one (loopback clients only unless auth says otherwise).
func (n *node) addObservability(collectors []prometheus.Collector) {
	if n.ingest != nil {
		collectors = append(collectors, n.ingest.Collectors()...)
	}
	if n.hlsServer != nil {
		collectors = append(collectors, n.hlsServer.Collectors()...)
	}
	if n.bridges != nil {
		collectors = append(collectors, n.bridges.Collectors()...)
	}
	if n.dvr != nil {
		collectors = append(collectors, n.dvr.Collectors()...)
	}
	collectors = append(collectors, newRefusalCollector(n))
	n.mux.Handle("GET /metrics", metrics.Handler(n.sfu, collectors...))
	admin := n.admin
	if admin == nil {
		admin = dashboard.Loopback
	}
	node := cluster.DefaultNode
	if n.redis != nil {
		node = n.redis.Node()
	}
	d := dashboard.New(dashboard.Options{Node: node, SFU: n.sfu, Ingest: n.ingest, HLS: n.hlsServer,
		Bridges: n.bridges, Errors: n.recentErrors, Allow: admin, Registry: n.clusterRegistry()})
	d.Register(n.mux)
	n.mux.Handle("GET /dashboard", d.Guard(web.Handler()))
}
