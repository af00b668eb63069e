package ingest

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// streamStats are one stream's counters: written on its connection's goroutine (one atomic
// add per frame), read at scrape time and by Status.
type streamStats struct {
	videoFrames, audioFrames atomic.Uint64
	videoBytes, audioBytes   atomic.Uint64
	jumps, stalls            atomic.Uint64 // timestamp jumps rebased; arrival stalls (> anchorJump late)
	lateNs                   atomic.Int64  // the latest frame's arrival after the stream clock's anchor
}

// StreamStats are a stream's counters since it connected (StreamStatus.Stats).
type StreamStats struct {
	VideoFrames uint64 `json:"video_frames"`
	AudioFrames uint64 `json:"audio_frames"`
	VideoBytes  uint64 `json:"video_bytes"`
	AudioBytes  uint64 `json:"audio_bytes"`
	// TimestampJumps counts decode-time jumps over 5 s that were rebased; Stalls counts
	// frames that arrived more than a second later than the stream's clock said.
	TimestampJumps uint64 `json:"timestamp_jumps"`
	Stalls         uint64 `json:"stalls"`
	// ClockOffset is how much later than the stream's clock (anchored on its least delayed
	// frame) the latest frame arrived: the path's current delay above its best.
	ClockOffset time.Duration `json:"clock_offset_ns"`
}

func (s *streamStats) snapshot() StreamStats {
	return StreamStats{
		VideoFrames: s.videoFrames.Load(), AudioFrames: s.audioFrames.Load(),
		VideoBytes: s.videoBytes.Load(), AudioBytes: s.audioBytes.Load(),
		TimestampJumps: s.jumps.Load(), Stalls: s.stalls.Load(), ClockOffset: time.Duration(s.lateNs.Load()),
	}
}

// frame counts one frame of kind with its payload size.
func (s *streamStats) frame(video bool, size int) {
	if video {
		s.videoFrames.Add(1)
		s.videoBytes.Add(uint64(size))
		return
	}
	s.audioFrames.Add(1)
	s.audioBytes.Add(uint64(size))
}

// Collectors returns the ingest metrics (per room: one connection holds a room), read at
// scrape time.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{ingestCollector{s}}
}

type ingestCollector struct{ s *Server }

var (
	descIngestStreams = prometheus.NewDesc("glint_ingest_streams", "RTMP/SRT connections holding a room.", []string{"protocol"}, nil)
	descIngestFrames  = prometheus.NewDesc("glint_ingest_frames_total", "Frames received from an RTMP/SRT publisher since it connected.", []string{"room", "protocol", "kind"}, nil)
	descIngestBytes   = prometheus.NewDesc("glint_ingest_bytes_total", "Payload bytes (access units, audio frames) received from an RTMP/SRT publisher since it connected; rate() is its bitrate.", []string{"room", "protocol", "kind"}, nil)
	descIngestGaps    = prometheus.NewDesc("glint_ingest_gaps_total", "Discontinuities of an RTMP/SRT stream: decode-time jumps rebased (timestamp_jump) and arrivals over a second late (stall).", []string{"room", "protocol", "kind"}, nil)
	descIngestOffset  = prometheus.NewDesc("glint_ingest_clock_offset_seconds", "How much later than the stream's clock (anchored on its least delayed frame) the latest frame arrived.", []string{"room", "protocol"}, nil)
)

func (c ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIngestStreams, descIngestFrames, descIngestBytes, descIngestGaps, descIngestOffset} {
		ch <- d
	}
}

func (c ingestCollector) Collect(ch chan<- prometheus.Metric) {
	perProto := map[string]int{"rtmp": 0, "srt": 0}
	for _, st := range c.s.Status() {
		perProto[st.Protocol]++
		counter := func(d *prometheus.Desc, v uint64, kind string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), st.Room, st.Protocol, kind)
		}
		x := st.Stats
		counter(descIngestFrames, x.VideoFrames, "video")
		counter(descIngestFrames, x.AudioFrames, "audio")
		counter(descIngestBytes, x.VideoBytes, "video")
		counter(descIngestBytes, x.AudioBytes, "audio")
		counter(descIngestGaps, x.TimestampJumps, "timestamp_jump")
		counter(descIngestGaps, x.Stalls, "stall")
		ch <- prometheus.MustNewConstMetric(descIngestOffset, prometheus.GaugeValue, x.ClockOffset.Seconds(), st.Room, st.Protocol)
	}
	for proto, n := range perProto {
		ch <- prometheus.MustNewConstMetric(descIngestStreams, prometheus.GaugeValue, float64(n), proto)
	}
}
