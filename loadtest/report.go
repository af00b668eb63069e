package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is the result of a Run.
type Report struct {
	Machine    Machine           `json:"machine"`
	Date       time.Time         `json:"date"`
	Params     Params            `json:"params"`
	Publishers []PublisherReport `json:"publishers"`
	Baseline   *Step             `json:"baseline,omitempty"` // the publishers alone, no viewers
	Steps      []Step            `json:"steps"`
	Capacity   *CapacityResult   `json:"capacity,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// Machine describes where the load generator ran (the server's machine when both share it).
type Machine struct {
	Hostname   string `json:"hostname"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
	CPUs       int    `json:"cpus,omitempty"` // logical CPUs of the machine
	NumCPU     int    `json:"num_cpu"`        // CPUs this process may use (taskset)
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
}

// Params are the run's parameters.
type Params struct {
	URL            string   `json:"url"`
	WHIPURL        string   `json:"whip_url"`
	WHEPURL        string   `json:"whep_url"`
	HLSURL         string   `json:"hls_url"`
	Room           string   `json:"room"`
	Publishers     int      `json:"publishers"`
	PublisherMode  string   `json:"publisher_mode"`
	Width          int      `json:"width"`
	Height         int      `json:"height"`
	Simulcast      bool     `json:"simulcast,omitempty"`
	BitrateKbps    int      `json:"bitrate_kbps"`
	FPS            int      `json:"fps"`
	Viewers        []int    `json:"viewers"`
	HLSViewers     int      `json:"hls_viewers"`
	ViewerMode     string   `json:"viewer_mode"`
	MaxLayer       string   `json:"max_layer,omitempty"`
	ViewerReportMs float64  `json:"viewer_reports_ms,omitempty"` // bare viewers' receiver report interval (0: none)
	ViewerPollMs   float64  `json:"viewer_poll_ms,omitempty"`    // bare viewers' socket poll interval
	StepSeconds    float64  `json:"step_seconds"`
	WarmupSeconds  float64  `json:"warmup_seconds"`
	JoinBatch      int      `json:"join_batch"`
	RampRate       float64  `json:"ramp_rate,omitempty"`
	Capacity       bool     `json:"capacity,omitempty"`
	ServerPID      int      `json:"server_pid,omitempty"`
	ViewerURLs     []string `json:"viewer_urls,omitempty"` // cluster run: viewers play from these in turn
	ServerPIDs     []int    `json:"server_pids,omitempty"` // cluster run: per node, URL first
	MetricsURL     string   `json:"metrics_url,omitempty"`
	LoopbackOnly   bool     `json:"loopback_only"`
	FreezeGapMs    float64  `json:"freeze_gap_ms"`
	MaxLatencyP95  float64  `json:"capacity_max_latency_p95_ms,omitempty"`
	MaxLossPercent float64  `json:"capacity_max_loss_percent,omitempty"`
}

// PublisherReport counts what one synthetic publisher sent over the whole run.
type PublisherReport struct {
	Room             string `json:"room"`
	Frames           uint64 `json:"frames"`
	Packets          uint64 `json:"packets"`
	Bytes            uint64 `json:"bytes"`
	Keyframes        uint64 `json:"keyframes"`
	KeyframeRequests uint64 `json:"keyframe_requests"`
	Error            string `json:"error,omitempty"`
}

// CapacityResult is the outcome of a capacity run.
type CapacityResult struct {
	MaxViewersHeld  int     `json:"max_viewers_held"`    // the largest step within the thresholds
	FailedAt        int     `json:"failed_at,omitempty"` // the first step that crossed one
	Reason          string  `json:"reason"`
	MaxLatencyP95Ms float64 `json:"max_latency_p95_ms"`
	MaxLossPercent  float64 `json:"max_loss_percent"`
}

// ClientStats is what the viewers of one kind saw during a step. Latency is capture (the
// SEI stamp, or PROGRAM-DATE-TIME for LL-HLS without one) to the frame complete at the
// viewer; join time is the request to the first decodable frame. Per-viewer values are
// means over the kind's viewers.
type ClientStats struct {
	Viewers        int     `json:"viewers"`
	Alive          int     `json:"alive"`  // still connected / playing at the end
	Joined         int     `json:"joined"` // have had a decodable frame
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP95Ms   float64 `json:"latency_p95_ms"`
	LatencyP99Ms   float64 `json:"latency_p99_ms"`
	LatencyMaxMs   float64 `json:"latency_max_ms"` // upper bound of the highest histogram bucket (±9%)
	LatencySamples uint64  `json:"latency_samples"`
	JoinP50Ms      float64 `json:"join_p50_ms"` // of the viewers that joined in this step
	JoinP95Ms      float64 `json:"join_p95_ms"`
	JoinsMeasured  int     `json:"joins_measured"`
	// Frames captured during the step: sent by the viewer's publisher, and received
	// complete and decodable (after the viewer's first keyframe).
	FramesSent           float64 `json:"frames_sent"`
	FramesReceivedMean   float64 `json:"frames_received_mean"`
	FramesReceivedMin    uint64  `json:"frames_received_min"`
	FramesPercent        float64 `json:"frames_percent"`
	FreezesPerMinute     float64 `json:"freezes_per_minute"` // shown-frame gaps > 200 ms, per viewer
	LossPercent          float64 `json:"loss_percent"`       // WebRTC: RTP packets never received; LL-HLS: frames missing
	BitrateKbps          float64 `json:"bitrate_kbps"`       // received, per viewer
	IncompleteFrames     uint64  `json:"incomplete_frames,omitempty"`
	CorruptFrames        uint64  `json:"corrupt_frames,omitempty"` // full viewer mode: failed the checks
	FramesWithoutCapture uint64  `json:"frames_without_capture,omitempty"`
	Duplicates           uint64  `json:"duplicates,omitempty"`
	// LL-HLS only: capture of a part's last frame → the part downloaded. The viewers
	// request each part before it exists (EXT-X-PRELOAD-HINT), so this is when the origin
	// made it available.
	PartLatencyP50Ms float64 `json:"part_latency_p50_ms,omitempty"`
	PartLatencyP95Ms float64 `json:"part_latency_p95_ms,omitempty"`
	PartsMeasured    uint64  `json:"parts_measured,omitempty"`
}

// Step is one measured viewer count. CPU 100% = one core; per-viewer server costs are the
// step's value minus the baseline's, divided by the viewer count (both kinds).
type Step struct {
	Viewers     int          `json:"viewers"`      // WebRTC
	HLSViewers  int          `json:"hls_viewers"`  // LL-HLS
	JoinSeconds float64      `json:"join_seconds"` // time to bring the viewer counts up
	Seconds     float64      `json:"seconds"`      // measured wall time
	WebRTC      *ClientStats `json:"webrtc,omitempty"`
	LLHLS       *ClientStats `json:"llhls,omitempty"`
	Held        *bool        `json:"held,omitempty"` // capacity mode: within the thresholds

	ServerCPUPercent          float64 `json:"server_cpu_percent"` // 0 when neither /metrics nor a PID told
	ServerCPUPerViewerPercent float64 `json:"server_cpu_per_viewer_percent"`
	ServerRSSBytes            int64   `json:"server_rss_bytes"`
	ServerRSSPerViewerBytes   int64   `json:"server_rss_per_viewer_bytes"`
	ServerViewers             *int    `json:"server_viewers,omitempty"` // glint_subscribers (Glint only)
	ServerPacketsOutPerSec    float64 `json:"server_packets_out_per_sec,omitempty"`
	ServerRetransmits         uint64  `json:"server_retransmits,omitempty"`
	ServerSkips               uint64  `json:"server_skips,omitempty"`
	ServerHLSRequestsPerSec   float64 `json:"server_hls_requests_per_sec,omitempty"` // glint_hls_requests_total
	// Nodes is a cluster run's nodes (--viewer-url), the publish node first; the server
	// figures above are then their sums.
	Nodes []NodeStats `json:"nodes,omitempty"`
	// Transit is Glint's glint_transit_seconds: a packet's arrival to its send to a
	// viewer (absent on other servers). A quantile among the overflow reads as the last bound.
	TransitP50Ms           float64 `json:"transit_p50_ms,omitempty"`
	TransitP99Ms           float64 `json:"transit_p99_ms,omitempty"`
	TransitSamples         uint64  `json:"transit_samples,omitempty"`
	TransitOverflowPercent float64 `json:"transit_overflow_percent,omitempty"`
	// TransitUnpaced is glint_transit_unpaced_seconds: transit less the time each viewer's
	// pacer held the packet back (the SFU's own fan-out and socket queue).
	TransitUnpacedP50Ms float64 `json:"transit_unpaced_p50_ms,omitempty"`
	TransitUnpacedP99Ms float64 `json:"transit_unpaced_p99_ms,omitempty"`

	LoadgenCPUPercent float64 `json:"loadgen_cpu_percent"`
	// LoadgenSaturated is set when the load generator used over 85% of the CPUs it may
	// use: its own queueing is then part of the latency and the loss.
	LoadgenSaturated bool `json:"loadgen_saturated,omitempty"`
	// MachineCPUPercent is the busy time of all CPUs (Linux). 100% = one core.
	MachineCPUPercent float64 `json:"machine_cpu_percent,omitempty"`
}

func newReport(cfg Config) *Report {
	cfg = cfg.withDefaults()
	p := Params{
		URL: cfg.URL, WHIPURL: cfg.WHIPURL, WHEPURL: cfg.WHEPURL, HLSURL: cfg.HLSURL, Room: cfg.Room,
		Publishers: cfg.Publishers, PublisherMode: cfg.PublisherMode, Width: cfg.Width, Height: cfg.Height, Simulcast: cfg.Simulcast,
		BitrateKbps: cfg.BitrateKbps, FPS: cfg.FPS, Viewers: cfg.Viewers, HLSViewers: cfg.HLSViewers,
		ViewerMode: cfg.ViewerMode, MaxLayer: cfg.MaxLayer, ViewerReportMs: ms(cfg.ViewerReports), ViewerPollMs: ms(bareOnly(cfg.ViewerMode, cfg.ViewerPoll)), StepSeconds: cfg.Step.Seconds(),
		WarmupSeconds: cfg.Warmup.Seconds(), JoinBatch: cfg.JoinBatch, RampRate: cfg.RampRate,
		Capacity: cfg.Capacity, ServerPID: cfg.ServerPID, MetricsURL: cfg.MetricsURL,
		ViewerURLs: cfg.ViewerURLs, ServerPIDs: cfg.ServerPIDs,
		LoopbackOnly: cfg.LoopbackOnly, FreezeGapMs: ms(freezeGap),
	}
	if cfg.Capacity {
		p.MaxLatencyP95, p.MaxLossPercent = ms(cfg.MaxLatencyP95), cfg.MaxLossPercent
	}
	return &Report{Machine: machine(), Date: time.Now().UTC().Truncate(time.Second), Params: p}
}

// line is the step's one-line progress summary.
func (s *Step) line() string {
	server := fmt.Sprintf("server CPU %.1f%%, RSS %.1f MB", s.ServerCPUPercent, mb(s.ServerRSSBytes))
	if s.ServerRSSBytes == 0 {
		server = "server CPU/RSS unknown (give --server-pid or --metrics-url)"
	}
	if s.Viewers+s.HLSViewers == 0 {
		return fmt.Sprintf("baseline, publishers only: %s | loadgen CPU %.1f%%", server, s.LoadgenCPUPercent) + s.nodeLines()
	}
	out := fmt.Sprintf("%d WebRTC + %d LL-HLS viewers (joined in %.1f s):", s.Viewers, s.HLSViewers, s.JoinSeconds)
	for _, k := range []struct {
		name string
		c    *ClientStats
	}{{KindWebRTC, s.WebRTC}, {KindLLHLS, s.LLHLS}} {
		if c := k.c; c != nil {
			out += fmt.Sprintf(" %s latency p50 %.0f p95 %.0f ms, join p50 %.0f ms, frames %.1f%%, loss %.2f%%, %.1f freezes/min |",
				k.name, c.LatencyP50Ms, c.LatencyP95Ms, c.JoinP50Ms, c.FramesPercent, c.LossPercent, c.FreezesPerMinute)
		}
	}
	note := ""
	if s.LoadgenSaturated {
		note = " | LOAD GENERATOR SATURATED"
	}
	return fmt.Sprintf("%s %s | loadgen CPU %.1f%%%s", out, server, s.LoadgenCPUPercent, note) + s.nodeLines()
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// WriteJSON writes the whole report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}

func machine() Machine {
	host, _ := os.Hostname()
	model, cpus := cpuInfo()
	return Machine{
		Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: model, CPUs: cpus,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
	}
}

// cpuInfo returns the first "model name" of /proc/cpuinfo and its count of processors
// ("", 0 where there is no such file).
func cpuInfo() (model string, cpus int) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "", 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "processor":
			cpus++
		case k == "model name" && model == "":
			model = strings.TrimSpace(v)
		}
	}
	return model, cpus
}

// bareOnly is d for bare viewers and 0 for others (a setting that only bare viewers have).
func bareOnly(mode string, d time.Duration) time.Duration {
	if mode != ViewerBare {
		return 0
	}
	return d
}
