package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// refusalCollector exports what the node refused: auth denials by reason
// (glint_auth_denials_total) and limit rejections by kind (glint_limit_rejections_total),
// read from the counters the Authorizer and the admission keep, at scrape time.
type refusalCollector struct {
	n                  *node
	denials, rejection *prometheus.Desc
}

func newRefusalCollector(n *node) *refusalCollector {
	return &refusalCollector{n: n,
		denials: prometheus.NewDesc("glint_auth_denials_total",
			"Requests and publishers refused by access control, by reason (no credential, expired, forbidden, bad signature, webhook, ...).", []string{"reason"}, nil),
		rejection: prometheus.NewDesc("glint_limit_rejections_total",
			"Requests refused by a limit, by kind (rate per IP or token, sessions, event streams, waiting LL-HLS requests per IP).", []string{"kind"}, nil),
	}
}

func (c *refusalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.denials; ch <- c.rejection }

func (c *refusalCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.n.auth.Denials() {
		ch <- prometheus.MustNewConstMetric(c.denials, prometheus.CounterValue, float64(n), reason)
	}
	a := c.n.admission
	kinds := map[string]interface{ Rejected() uint64 }{"sessions": a.sessions, "event_streams": a.watchers,
		"hls_waits": a.hlsWaits}
	if a.rate != nil {
		kinds["rate_ip"], kinds["rate_token"] = a.rate.PerIP, a.rate.PerToken
	}
	// Counter and RateLimiter answer Rejected on a nil receiver (a limit that is off) with 0.
	for kind, src := range kinds {
		ch <- prometheus.MustNewConstMetric(c.rejection, prometheus.CounterValue, float64(src.Rejected()), kind)
	}
}
