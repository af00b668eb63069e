// Package metrics owns /metrics: a Prometheus registry (not the global one) with the SFU's
// counters collected at scrape time, so that the media path never touches a shared metric.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/glint-video/glint/sfu"
)

// TotalsSource is what the collector reads (implemented by *sfu.SFU).
type TotalsSource interface{ Totals() sfu.Totals }

// Handler returns the /metrics handler for src, with Go runtime and process metrics, the
// per-room series when src is a RoomSource, and any extra collectors (e.g.
// NewEncoderCollector, each stage's Collectors).
func Handler(src TotalsSource, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newCollector(src))
	if rooms, ok := src.(RoomSource); ok {
		reg.MustRegister(newRoomCollector(rooms))
	}
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct {
	src                                             TotalsSource
	rooms, liveRooms, publishers, subscribers       *prometheus.Desc
	packets, bytes, nacks, retransmits, plis, skips *prometheus.Desc
	transit, transitUnpaced, ingestLost             *prometheus.Desc
	layer, paused, estimate, probes                 *prometheus.Desc
	joins, sendCalls, sendPackets, relays           *prometheus.Desc
}

func newCollector(src TotalsSource) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("glint_"+name, help, labels, nil)
	}
	return &collector{
		src:         src,
		rooms:       d("rooms", "Rooms on this node (live or waiting for a publisher)."),
		liveRooms:   d("rooms_live", "Rooms with a connected publisher."),
		publishers:  d("publishers", "Publisher sessions."),
		subscribers: d("subscribers", "Viewer sessions."),
		packets:     d("rtp_packets_total", "RTP packets received from publishers (in) and sent to viewers (out).", "direction"),
		bytes:       d("rtp_bytes_total", "RTP bytes received from publishers (in) and sent to viewers (out).", "direction"),
		nacks:       d("nacks_total", "NACKed packets: from viewers (received) and to publishers for what the cache lacked (upstream).", "direction"),
		retransmits: d("retransmits_total", "Packets retransmitted to viewers from the packet cache."),
		plis:        d("plis_total", "Keyframe requests: from viewers (received) and sent to publishers after throttling (upstream).", "direction"),
		skips:       d("viewer_skips_total", "Times a viewer fell a packet cache behind and skipped to the next keyframe."),
		transit:     d("transit_seconds", "Time from a packet's arrival to its send to each viewer."),
		transitUnpaced: d("transit_unpaced_seconds",
			"Transit less the time the viewer's pacer held the packet back (what the SFU itself took: fan-out and socket queue)."),
		ingestLost:  d("ingest_lost_packets_total", "Packets publishers sent (by sequence number) that never reached the SFU."),
		layer:       d("viewers_by_layer", "Video viewers per simulcast layer the allocator put them on (layer=\"\" without simulcast).", "layer"),
		paused:      d("viewers_paused", "Video viewers whose bandwidth does not carry even the lowest layer (audio only)."),
		estimate:    d("viewer_estimate_bits_sum", "Sum of the video viewers' bandwidth estimates in bit/s (divide by viewers for the mean)."),
		probes:      d("bwe_probe_packets_total", "Packets resent as bandwidth probes."),
		relays:      d("relays", "Relay sessions between nodes: other nodes' relays of this node's rooms (out) and this node's relays of other nodes' rooms (in); not in glint_subscribers or glint_publishers.", "direction"),
		joins:       d("viewer_joins_total", "Video viewers' starts: at the source's cached keyframe (cache) or at a keyframe asked for (keyframe_request).", "start"),
		sendCalls:   d("udp_send_calls_total", "sendmmsg calls of the media socket's batched sender (packets per call = udp_sent_packets_total / this)."),
		sendPackets: d("udp_sent_packets_total", "Packets the media socket's batched sender sent."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rooms, c.liveRooms, c.publishers, c.subscribers, c.packets, c.bytes, c.nacks, c.retransmits, c.plis, c.skips, c.transit, c.transitUnpaced, c.ingestLost, c.layer, c.paused, c.estimate, c.probes, c.joins, c.sendCalls, c.sendPackets, c.relays} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	t := c.src.Totals()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.rooms, t.Rooms)
	gauge(c.liveRooms, t.LiveRooms)
	gauge(c.publishers, t.Publishers)
	gauge(c.subscribers, t.Viewers)
	ch <- prometheus.MustNewConstMetric(c.relays, prometheus.GaugeValue, float64(t.RelaysOut), "out")
	ch <- prometheus.MustNewConstMetric(c.relays, prometheus.GaugeValue, float64(t.RelaysIn), "in")
	counter(c.packets, t.PacketsIn, "in")
	counter(c.packets, t.PacketsOut, "out")
	counter(c.bytes, t.BytesIn, "in")
	counter(c.bytes, t.BytesOut, "out")
	counter(c.nacks, t.NACKsIn, "received")
	counter(c.nacks, t.NACKsUpstream, "upstream")
	counter(c.retransmits, t.Retransmits)
	counter(c.plis, t.PLIsIn, "received")
	counter(c.plis, t.PLIsUpstream, "upstream")
	counter(c.skips, t.Skips)
	counter(c.ingestLost, t.IngestLost)
	counter(c.probes, t.Probes)
	counter(c.joins, t.JoinsFromCache, "cache")
	counter(c.joins, t.JoinsWithKeyframeRequest, "keyframe_request")
	counter(c.sendCalls, t.SendCalls)
	counter(c.sendPackets, t.SendPackets)
	gauge(c.paused, t.PausedViewers)
	ch <- prometheus.MustNewConstMetric(c.estimate, prometheus.GaugeValue, float64(t.EstimateSum))
	for layer, n := range t.ViewersByLayer {
		ch <- prometheus.MustNewConstMetric(c.layer, prometheus.GaugeValue, float64(n), layer)
	}
	ch <- transitHistogram(c.transit, t.Transit[:], t.TransitSumNs)
	ch <- transitHistogram(c.transitUnpaced, t.TransitUnpaced[:], t.TransitUnpacedSumNs)
}

// transitHistogram is a histogram of the SFU's transit buckets (sfu.TransitBounds and an
// overflow bucket).
func transitHistogram(desc *prometheus.Desc, counts []uint64, sumNs uint64) prometheus.Metric {
	buckets := map[float64]uint64{}
	var cum uint64
	bounds := sfu.TransitBounds()
	for i, b := range bounds {
		cum += counts[i]
		buckets[b.Seconds()] = cum
	}
	cum += counts[len(bounds)]
	return prometheus.MustNewConstHistogram(desc, cum, float64(sumNs)/float64(time.Second), buckets)
}
