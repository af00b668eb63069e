package hlsbridge

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/transcoder"
)

// observations are the Manager's node-wide measurements, shared by its bridges.
type observations struct {
	// captureToServer is, per video frame with a capture-time SEI, the time from its
	// capture to its last packet's arrival at the SFU: the server side's share of a
	// WebRTC viewer's glass-to-glass latency before forwarding (glint_transit_seconds).
	captureToServer stats.Latency
}

// RoomStats are one bridged room's LL-HLS pipeline counters (Manager.Stats).
type RoomStats struct {
	Room string
	// DroppedPackets are RTP packets dropped because the room's pipeline was behind.
	DroppedPackets uint64
	// Ladder is the transcoder ladder's state; nil before the first keyframe.
	Ladder *transcoder.LadderStats
}

// Stats returns the bridged rooms' counters, by room name.
func (m *Manager) Stats() []RoomStats {
	m.mu.Lock() // not held while reading: sync holds it while a bridge stops
	bridges := make([]*bridge, 0, len(m.bridges))
	for _, rb := range m.bridges {
		bridges = append(bridges, rb.b)
	}
	m.mu.Unlock()
	out := make([]RoomStats, 0, len(bridges))
	for _, b := range bridges {
		rs := RoomStats{Room: b.room, DroppedPackets: uint64(b.dropped.Load())}
		if l := b.ladder.Load(); l != nil {
			s := l.Stats()
			rs.Ladder = &s
		}
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// CaptureToServer returns the capture → arrival latencies observed so far.
func (m *Manager) CaptureToServer() stats.LatencySnapshot {
	return m.opts.obs.captureToServer.Snapshot()
}

// Collectors returns the LL-HLS bridge and transcoder metrics, read at scrape time, per
// room and rung where labelled (the encoder in use is metrics.NewEncoderCollector's).
func (m *Manager) Collectors() []prometheus.Collector {
	return []prometheus.Collector{bridgeCollector{m}}
}

type bridgeCollector struct{ m *Manager }

var (
	descQueueDrops   = prometheus.NewDesc("glint_hls_bridge_dropped_packets_total", "RTP packets the room's LL-HLS pipeline dropped because it was behind.", []string{"room"}, nil)
	descLoad         = prometheus.NewDesc("glint_transcoder_load_ratio", "Transcoder wall time over media time in the latest 2 s window (above 1: behind real time; speed is 1/load).", []string{"room"}, nil)
	descCPULoad      = prometheus.NewDesc("glint_transcoder_cpu_ratio", "Transcoder CPU time over media time in the latest 2 s window (cores used).", []string{"room"}, nil)
	descRungCPU      = prometheus.NewDesc("glint_transcoder_rung_cpu_ratio", "A re-encoded rung's CPU time over media time in the latest window.", []string{"room", "rung"}, nil)
	descRungFrames   = prometheus.NewDesc("glint_transcoder_frames_total", "Frames output per rung (passthrough rungs included).", []string{"room", "rung"}, nil)
	descRungActive   = prometheus.NewDesc("glint_transcoder_rung_active", "1 while the rung produces output, 0 once dropped for load.", []string{"room", "rung"}, nil)
	descDroppedRungs = prometheus.NewDesc("glint_transcoder_dropped_rungs", "Rungs of the room's ladder dropped because encoding fell behind real time.", []string{"room"}, nil)
	descCorrupt      = prometheus.NewDesc("glint_transcoder_corrupt_frames_total", "Source frames the decoder refused (dropped).", []string{"room"}, nil)
	descCapture      = prometheus.NewDesc("glint_capture_to_server_seconds", "Per video frame with a capture-time SEI: capture to its arrival at the SFU (add glint_transit_seconds for the server's share of WebRTC glass-to-glass).", nil, nil)
)

func (c bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDrops, descLoad, descCPULoad, descRungCPU, descRungFrames, descRungActive, descDroppedRungs, descCorrupt, descCapture} {
		ch <- d
	}
}

func (c bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	for _, rs := range c.m.Stats() {
		metric(descQueueDrops, prometheus.CounterValue, float64(rs.DroppedPackets), rs.Room)
		l := rs.Ladder
		if l == nil {
			continue
		}
		metric(descLoad, prometheus.GaugeValue, l.Load, rs.Room)
		metric(descCPULoad, prometheus.GaugeValue, l.CPULoad, rs.Room)
		metric(descDroppedRungs, prometheus.GaugeValue, float64(l.DroppedRungs), rs.Room)
		metric(descCorrupt, prometheus.CounterValue, float64(l.CorruptFrames), rs.Room)
		for _, r := range l.Rungs {
			active := 0.0
			if r.Active {
				active = 1
			}
			metric(descRungFrames, prometheus.CounterValue, float64(r.Frames), rs.Room, r.Name)
			metric(descRungActive, prometheus.GaugeValue, active, rs.Room, r.Name)
			if !r.Passthrough {
				metric(descRungCPU, prometheus.GaugeValue, r.CPULoad, rs.Room, r.Name)
			}
		}
	}
	ch <- c.m.CaptureToServer().Metric(descCapture)
}
