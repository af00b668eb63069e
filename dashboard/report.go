package dashboard

import (
	"github.com/glint-video/glint/cluster"
	"runtime"
	"syscall"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/ingest"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/transcoder"
)

// Report is GET /api/dashboard: every node's report (one today; a cluster lists each of its
// nodes). Counters are cumulative: the page takes rates and means between two reports.
type Report struct {
	Time  time.Time    `json:"time"`
	Nodes []NodeReport `json:"nodes"`
	// Cluster is every node of the cluster's registry with the load it last reported (its
	// heartbeat): present only in a cluster.
	Cluster []cluster.NodeInfo `json:"cluster,omitempty"`
}

// NodeReport is one node's state.
type NodeReport struct {
	Node    string       `json:"node"`
	Time    time.Time    `json:"time"`
	Load    Load         `json:"load"`
	Totals  Totals       `json:"totals"`
	Latency Latencies    `json:"latency"`
	Encoder Encoder      `json:"encoder"`
	Rooms   []RoomReport `json:"rooms"`
	Errors  []Record     `json:"errors"`
}

// Load is the node's process load.
type Load struct {
	CPUSeconds float64 `json:"cpu_seconds"` // user + system CPU time since start
	Cores      int     `json:"cores"`
	Goroutines int     `json:"goroutines"`
	HeapBytes  uint64  `json:"heap_bytes"`
	Uptime     float64 `json:"uptime_seconds"`
}

// Totals are the node's counts.
type Totals struct {
	Rooms         int    `json:"rooms"`
	LiveRooms     int    `json:"live_rooms"`
	Publishers    int    `json:"publishers"`
	WebRTCViewers int    `json:"webrtc_viewers"`
	HLSViewers    int64  `json:"hls_viewers"` // requests waiting for a part: about one per LL-HLS player
	BytesIn       uint64 `json:"rtp_bytes_in"`
	BytesOut      uint64 `json:"rtp_bytes_out"`
}

// Latency is a cumulative latency count and sum (the page plots the mean between reports).
type Latency struct {
	Count      uint64  `json:"count"`
	SumSeconds float64 `json:"sum_seconds"`
}

// Latencies are the node's server-side latency measurements.
type Latencies struct {
	// Transit: packet arrival to its send to each WebRTC viewer.
	Transit Latency `json:"transit"`
	// CaptureToServer: capture (capture-time SEI) to arrival at the SFU.
	CaptureToServer Latency `json:"capture_to_server"`
	// HLSPart: capture (SEI, else arrival) to the LL-HLS part being published (video).
	HLSPart Latency `json:"hls_part"`
}

// Encoder is the LL-HLS ladder's H.264 encoder.
type Encoder struct {
	Name     string `json:"name"`
	Hardware bool   `json:"hardware"`
}

// RoomReport is one room.
type RoomReport struct {
	Room       string            `json:"room"`
	Live       bool              `json:"live"`
	Since      time.Time         `json:"since,omitzero"`
	Publisher  *Publisher        `json:"publisher,omitempty"`
	Viewers    Viewers           `json:"viewers"`
	Layers     map[string]int    `json:"layers"` // WebRTC video viewers per layer; "paused": none fits
	BytesIn    uint64            `json:"rtp_bytes_in"`
	BytesOut   uint64            `json:"rtp_bytes_out"`
	HLS        *HLSRoom          `json:"hls,omitempty"`
	Transcoder *TranscoderReport `json:"transcoder,omitempty"`
}

// Publisher is how the room is published.
type Publisher struct {
	Protocol string              `json:"protocol"` // webrtc, rtmp or srt
	Video    string              `json:"video,omitempty"`
	Audio    string              `json:"audio,omitempty"`
	Mode     string              `json:"mode,omitempty"`
	Ingest   *ingest.StreamStats `json:"ingest,omitempty"`
}

// Viewers counts a room's viewers per protocol.
type Viewers struct {
	WebRTC int   `json:"webrtc"`
	HLS    int64 `json:"hls"`
}

// HLSRoom is a room's LL-HLS output.
type HLSRoom struct {
	Requests    map[string]uint64 `json:"requests"`
	Blocked     int64             `json:"blocked_now"`
	PartLatency Latency           `json:"part_latency"`
}

// TranscoderReport is a room's ladder.
type TranscoderReport struct {
	Load         float64      `json:"load"` // wall time over media time; speed = 1/load
	CPU          float64      `json:"cpu"`  // CPU time over media time
	DroppedRungs int          `json:"dropped_rungs"`
	Dropped      uint64       `json:"dropped_packets"`
	Rungs        []RungReport `json:"rungs"`
}

// RungReport is one rung of a ladder.
type RungReport struct {
	Name        string  `json:"name"`
	Passthrough bool    `json:"passthrough"`
	Active      bool    `json:"active"`
	Frames      uint64  `json:"frames"`
	CPU         float64 `json:"cpu"`
}

func latencyOf(s stats.LatencySnapshot) Latency {
	return Latency{Count: s.Count, SumSeconds: s.Sum.Seconds()}
}

// load reads the process's CPU time and memory.
func load(started time.Time) Load {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Load{CPUSeconds: cpu.Seconds(), Cores: runtime.NumCPU(), Goroutines: runtime.NumGoroutine(),
		HeapBytes: ms.HeapAlloc, Uptime: time.Since(started).Seconds()}
}

// transit sums the SFU's transit histogram.
func transit(t sfu.Totals) Latency {
	var n uint64
	for _, c := range t.Transit {
		n += c
	}
	return Latency{Count: n, SumSeconds: time.Duration(t.TransitSumNs).Seconds()}
}

func transcoderReport(rs hlsbridge.RoomStats) *TranscoderReport {
	out := &TranscoderReport{Dropped: rs.DroppedPackets, Rungs: []RungReport{}}
	l := rs.Ladder
	if l == nil {
		return out
	}
	out.Load, out.CPU, out.DroppedRungs = l.Load, l.CPULoad, l.DroppedRungs
	for _, r := range l.Rungs {
		out.Rungs = append(out.Rungs, rungReport(r))
	}
	return out
}

func rungReport(r transcoder.RungStats) RungReport {
	return RungReport{Name: r.Name, Passthrough: r.Passthrough, Active: r.Active, Frames: r.Frames, CPU: r.CPULoad}
}

func hlsRoom(st hls.StreamStats) *HLSRoom {
	return &HLSRoom{Requests: st.Requests, Blocked: st.BlockedNow, PartLatency: latencyOf(st.PartLatency)}
}
