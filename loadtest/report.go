package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of a Run.
type Report struct {
	Machine   Machine         `json:"machine"`
	Date      time.Time       `json:"date"`
	Params    Params          `json:"params"`
	Publisher PublisherReport `json:"publisher"`
	Baseline  *Step           `json:"baseline,omitempty"` // the publisher alone, no viewers
	Steps     []Step          `json:"steps"`
	Error     string          `json:"error,omitempty"`
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
	URL           string  `json:"url"`
	Room          string  `json:"room"`
	Viewers       []int   `json:"viewers"`
	StepSeconds   float64 `json:"step_seconds"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	BitrateKbps   int     `json:"bitrate_kbps"`
	FPS           int     `json:"fps"`
	JoinBatch     int     `json:"join_batch"`
	LoopbackOnly  bool    `json:"loopback_only"`
}

// PublisherReport counts what the synthetic publisher sent over the whole run.
type PublisherReport struct {
	Packets          uint64 `json:"packets"`
	Bytes            uint64 `json:"bytes"`
	Keyframes        uint64 `json:"keyframes"`
	KeyframeRequests uint64 `json:"keyframe_requests"`
}

// Step is one measured viewer count. Latencies are in milliseconds; per-viewer costs are
// the step's value minus the baseline's, divided by the viewer count. CPU 100% = one core.
type Step struct {
	Viewers       int     `json:"viewers"`
	ViewersAlive  int     `json:"viewers_alive"`  // still connected at the end of the step
	ServerViewers int     `json:"server_viewers"` // glint_subscribers at the end of the step
	JoinSeconds   float64 `json:"join_seconds"`   // time to bring the viewer count up to Viewers
	Seconds       float64 `json:"seconds"`        // measured wall time

	// Transit is the server's glint_transit_seconds: a packet's arrival to its send to a
	// viewer. Its buckets end at 5 s; a quantile among the slower samples (overflow)
	// reads as the last bound.
	TransitP50Ms           float64 `json:"transit_p50_ms"`
	TransitP99Ms           float64 `json:"transit_p99_ms"`
	TransitSamples         uint64  `json:"transit_samples"`
	TransitOverflowPercent float64 `json:"transit_overflow_percent"`
	E2EP50Ms               float64 `json:"e2e_p50_ms"` // publisher send to viewer read
	E2EP99Ms               float64 `json:"e2e_p99_ms"`
	E2ESamples             uint64  `json:"e2e_samples"`

	ServerCPUPercent          float64 `json:"server_cpu_percent"`
	ServerCPUPerViewerPercent float64 `json:"server_cpu_per_viewer_percent"`
	ServerRSSBytes            int64   `json:"server_rss_bytes"`
	ServerRSSPerViewerBytes   int64   `json:"server_rss_per_viewer_bytes"`
	ServerPacketsOutPerSec    float64 `json:"server_packets_out_per_sec"`
	ServerRetransmits         uint64  `json:"server_retransmits"` // packets resent to viewers (NACKs)
	ServerSkips               uint64  `json:"server_skips"`       // times a viewer fell a ring behind

	// Packet counts are of the packets the publisher sent during the step, wherever they
	// arrived; retransmissions that repaired a loss count as received.
	PacketsSent         uint64  `json:"packets_sent"`          // what each viewer should get
	PacketsReceivedMin  uint64  `json:"packets_received_min"`  // by the viewer that got the fewest
	PacketsReceivedMean float64 `json:"packets_received_mean"` // per viewer
	LossPercent         float64 `json:"loss_percent"`          // 1 - mean received / sent
	SequenceGaps        uint64  `json:"sequence_gaps"`         // packets missing in sequence on arrival, all viewers
	Duplicates          uint64  `json:"duplicates"`            // packets received twice (not counted), all viewers
	ViewerKbps          float64 `json:"viewer_kbps"`           // mean received bitrate per viewer

	LoadgenCPUPercent float64 `json:"loadgen_cpu_percent"`
	// LoadgenSaturated is set when the load generator used over 85% of the CPUs it may
	// use: its own queueing is then part of the e2e latency and the loss.
	LoadgenSaturated bool `json:"loadgen_saturated,omitempty"`
	// MachineCPUPercent is the busy time of all CPUs (Linux): server, load generator, the
	// kernel's loopback work and any other process. 100% = one core.
	MachineCPUPercent float64 `json:"machine_cpu_percent,omitempty"`
}

func newReport(cfg Config) *Report {
	return &Report{
		Machine: machine(), Date: time.Now().UTC().Truncate(time.Second),
		Params: Params{
			URL: cfg.URL, Room: cfg.Room, Viewers: cfg.Viewers, StepSeconds: cfg.Step.Seconds(),
			WarmupSeconds: cfg.Warmup.Seconds(), BitrateKbps: cfg.BitrateKbps, FPS: cfg.FPS,
			JoinBatch: cfg.JoinBatch, LoopbackOnly: cfg.LoopbackOnly,
		},
	}
}

// newStep computes a step from the snapshots at the start and the end of its measurement.
func newStep(n int, a, b snapshot, baseline *Step) (*Step, error) {
	wall := b.at.Sub(a.at).Seconds()
	window := time.Duration(b.mark - a.mark).Seconds() // of send time, for the packet counts
	transit, err := transitDelta(a.server, b.server)
	if err != nil {
		return nil, err
	}
	e2e := b.viewers.latency.sub(&a.viewers.latency)
	s := &Step{
		Viewers: n, ViewersAlive: b.viewers.alive, ServerViewers: int(b.server.viewers), Seconds: wall,
		TransitP50Ms: ms(bucketQuantile(transit, 0.5)), TransitP99Ms: ms(bucketQuantile(transit, 0.99)),
		TransitSamples: bucketTotal(transit), TransitOverflowPercent: 100 * overflowShare(transit),
		E2EP50Ms: ms(e2e.quantile(0.5)), E2EP99Ms: ms(e2e.quantile(0.99)), E2ESamples: e2e.total(),
		ServerCPUPercent:       100 * (b.server.cpuSeconds - a.server.cpuSeconds) / wall,
		ServerRSSBytes:         int64(b.server.rssBytes),
		ServerPacketsOutPerSec: (b.server.packetsOut - a.server.packetsOut) / wall,
		ServerRetransmits:      uint64(b.server.retransmit - a.server.retransmit),
		ServerSkips:            uint64(b.server.skips - a.server.skips),
		PacketsSent:            b.published - a.published,
		LoadgenCPUPercent:      100 * (b.selfCPU - a.selfCPU).Seconds() / wall,
		MachineCPUPercent:      100 * (b.machine - a.machine).Seconds() / wall,
	}
	if n > 0 {
		var received, bytes uint64
		s.PacketsReceivedMin = ^uint64(0)
		for i := range n {
			got := b.viewers.packets[i] - a.viewers.packets[i]
			received += got
			bytes += b.viewers.bytes[i] - a.viewers.bytes[i]
			s.PacketsReceivedMin = min(s.PacketsReceivedMin, got)
		}
		s.SequenceGaps = b.viewers.gaps - a.viewers.gaps
		s.Duplicates = b.viewers.duplicates - a.viewers.duplicates
		s.PacketsReceivedMean = float64(received) / float64(n)
		s.ViewerKbps = float64(bytes) * 8 / 1000 / window / float64(n)
		if s.PacketsSent > 0 {
			s.LossPercent = max(0, 100*(1-s.PacketsReceivedMean/float64(s.PacketsSent)))
		}
	}
	s.LoadgenSaturated = s.LoadgenCPUPercent > saturatedPercent*float64(runtime.GOMAXPROCS(0))
	if baseline != nil && n > 0 {
		s.ServerCPUPerViewerPercent = (s.ServerCPUPercent - baseline.ServerCPUPercent) / float64(n)
		s.ServerRSSPerViewerBytes = (s.ServerRSSBytes - baseline.ServerRSSBytes) / int64(n)
	}
	return s, nil
}

// saturatedPercent is the share of a core above which the load generator counts as saturated.
const saturatedPercent = 85

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// line is the step's one-line progress summary.
func (s *Step) line() string {
	if s.Viewers == 0 {
		return fmt.Sprintf("baseline, publisher only: server CPU %.1f%%, RSS %.1f MB | loadgen CPU %.1f%% | machine CPU %.1f%%",
			s.ServerCPUPercent, mb(s.ServerRSSBytes), s.LoadgenCPUPercent, s.MachineCPUPercent)
	}
	note := ""
	if s.LoadgenSaturated {
		note = " | LOAD GENERATOR SATURATED: e2e and loss include its own queueing"
	}
	return fmt.Sprintf("%d viewers (%d alive, joined in %.1f s): transit p50 %s ms p99 %s ms | e2e p50 %.2f ms p99 %.2f ms | "+
		"server CPU %.1f%% (%+.3f%%/viewer), RSS %.1f MB (%+.0f KB/viewer) | %.0f kbit/s/viewer, loss %.2f%% | "+
		"loadgen CPU %.1f%% | machine CPU %.1f%%%s",
		s.Viewers, s.ViewersAlive, s.JoinSeconds, s.transit(0.5), s.transit(0.99), s.E2EP50Ms, s.E2EP99Ms,
		s.ServerCPUPercent, s.ServerCPUPerViewerPercent, mb(s.ServerRSSBytes), float64(s.ServerRSSPerViewerBytes)/1024,
		s.ViewerKbps, s.LossPercent, s.LoadgenCPUPercent, s.MachineCPUPercent, note)
}

// transit formats the transit q-quantile, as ">X" when it lies above the last bucket.
func (s *Step) transit(q float64) string {
	v := s.TransitP50Ms
	if q > 0.5 {
		v = s.TransitP99Ms
	}
	if s.TransitOverflowPercent > 0 && s.TransitOverflowPercent >= 100*(1-q) {
		return fmt.Sprintf(">%.0f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// WriteTable writes the steps as an aligned text table, the machine and parameters above it.
func (r *Report) WriteTable(w io.Writer) error {
	m, p := r.Machine, r.Params
	fmt.Fprintf(w, "glint loadtest %s on %s: %s, %d CPUs (%s/%s), load generator on %d (GOMAXPROCS %d), %s\n",
		r.Date.Format(time.RFC3339), m.Hostname, orUnknown(m.CPUModel), m.CPUs, m.OS, m.Arch, m.NumCPU, m.GOMAXPROCS, m.GoVersion)
	fmt.Fprintf(w, "%s room %s: H.264 %d kbit/s %d fps + Opus, %gs per step after %gs warm-up\n",
		p.URL, p.Room, p.BitrateKbps, p.FPS, p.StepSeconds, p.WarmupSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "viewers\ttransit p50\tp99\te2e p50\tp99\tserver CPU\tper viewer\tserver RSS\tper viewer\trx/viewer\tloss\tloadgen CPU\tmachine CPU\t")
	fmt.Fprintln(tw, "\tms\tms\tms\tms\t%\t%\tMB\tKB\tkbit/s\t%\t%\t%\t")
	footnote := false
	rows := r.Steps
	if r.Baseline != nil {
		rows = append([]Step{*r.Baseline}, rows...)
	}
	for _, s := range rows {
		if s.Viewers == 0 {
			fmt.Fprintf(tw, "0\t-\t-\t-\t-\t%.1f\t-\t%.1f\t-\t-\t-\t%.1f\t%.1f\t\n",
				s.ServerCPUPercent, mb(s.ServerRSSBytes), s.LoadgenCPUPercent, s.MachineCPUPercent)
			continue
		}
		saturated := ""
		if s.LoadgenSaturated {
			saturated, footnote = "*", true
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%.2f\t%.1f\t%.3f\t%.1f\t%.0f\t%.0f\t%.2f\t%.1f%s\t%.1f\t\n",
			s.Viewers, s.transit(0.5), s.transit(0.99), s.E2EP50Ms, s.E2EP99Ms, s.ServerCPUPercent,
			s.ServerCPUPerViewerPercent, mb(s.ServerRSSBytes), float64(s.ServerRSSPerViewerBytes)/1024,
			s.ViewerKbps, s.LossPercent, s.LoadgenCPUPercent, saturated, s.MachineCPUPercent)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if footnote {
		fmt.Fprintln(w, "* load generator saturated: its own queueing is part of e2e latency and loss")
	}
	if r.Error != "" {
		_, err := fmt.Fprintf(w, "stopped early: %s\n", r.Error)
		return err
	}
	return nil
}

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
