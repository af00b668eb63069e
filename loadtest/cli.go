package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/loadtest/bare"
)

const usage = `Usage: glint loadtest [--scenario file.yaml] [flags]

Publishes synthetic H.264 + Opus streams (a capture-time SEI in every frame) to one room
per publisher over WHIP, then measures each step of WebRTC viewers (WHEP) and LL-HLS
viewers: latency capture -> frame complete, join time, frames received vs sent, freezes,
loss, bitrate; the server's CPU and RSS (/metrics or --server-pid) and the load
generator's own CPU. With --viewer-url (a cluster) the WebRTC viewers are spread over
several nodes and each node is reported on its own. Progress on stderr, the table on
stdout, --json for the report.
A scenario file (YAML, the flag names with _ for -) sets the same options; flags
override it. See docs/loadtest.md.

Flags:
`

// Options are what `glint loadtest` is told: the run's Config and what the command does
// around the run.
type Options struct {
	Config
	JSON       string // also write the whole report as JSON to this file
	CPUProfile string // write a Go CPU profile of the load generator to this file
}

// flagValues are the flags and, with the same names (_ for -), the scenario file.
type flagValues struct {
	Scenario      string        `yaml:"-"`
	URL           string        `yaml:"url"`
	WHIPURL       string        `yaml:"whip_url"`
	WHEPURL       string        `yaml:"whep_url"`
	HLSURL        string        `yaml:"hls_url"`
	Room          string        `yaml:"room"`
	Token         string        `yaml:"token"`
	Publishers    int           `yaml:"publishers"`
	Publisher     string        `yaml:"publisher"`
	Size          string        `yaml:"size"`
	Simulcast     bool          `yaml:"simulcast"`
	Bitrate       int           `yaml:"bitrate"`
	FPS           int           `yaml:"fps"`
	Viewers       countList     `yaml:"viewers"`
	HLSViewers    int           `yaml:"hls_viewers"`
	Viewer        string        `yaml:"viewer"`
	MaxLayer      string        `yaml:"max_layer"`
	ViewerReports time.Duration `yaml:"viewer_reports"`
	ViewerPoll    time.Duration `yaml:"viewer_poll"`
	HLSRendition  string        `yaml:"hls_rendition"`
	Duration      time.Duration `yaml:"duration"`
	Warmup        time.Duration `yaml:"warmup"`
	JoinBatch     int           `yaml:"join_batch"`
	RampRate      float64       `yaml:"ramp_rate"`
	Capacity      bool          `yaml:"capacity"`
	CapacityStep  int           `yaml:"capacity_step"`
	MaxViewers    int           `yaml:"max_viewers"`
	MaxLatencyP95 time.Duration `yaml:"max_latency_p95"`
	MaxLoss       float64       `yaml:"max_loss"`
	ServerPIDs    pidList       `yaml:"server_pid"`
	ViewerURLs    []string      `yaml:"viewer_urls"`
	MetricsURL    string        `yaml:"metrics_url"`
	Loopback      bool          `yaml:"loopback"`
	JSON          string        `yaml:"json"`
	CPUProfile    string        `yaml:"cpu_profile"`
}

// newFlagSet binds the flags to v, setting v to the defaults.
func newFlagSet(v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("glint loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a bad flag is a one-line error; --help prints the flags
	fs.StringVar(&v.Scenario, "scenario", "", "YAML scenario file (flags given too override it)")
	fs.StringVar(&v.URL, "url", "http://127.0.0.1:8080", "base URL of the server (the default publish, play, HLS and metrics URLs hang off it)")
	fs.StringVar(&v.WHIPURL, "whip-url", "", "publish URL, {room} for the room name (default URL/whip/{room})")
	fs.StringVar(&v.WHEPURL, "whep-url", "", "play URL, {room} for the room name (default URL/whep/{room})")
	fs.StringVar(&v.HLSURL, "hls-url", "", "LL-HLS playlist URL, {room} for the room name (default URL/hls/{room}/index.m3u8)")
	fs.StringVar(&v.Room, "room", "load", "room to publish to and play from (ROOM-1, ROOM-2, ... with several publishers)")
	fs.StringVar(&v.Token, "token", "", "bearer token of the rooms, if they have one")
	fs.IntVar(&v.Publishers, "publishers", 1, "synthetic publishers, each in its own room")
	fs.StringVar(&v.Publisher, "publisher", PublisherLoop, "publisher mode: loop (pre-encoded, nearly free) or live (libx264, IDR on keyframe request)")
	fs.StringVar(&v.Size, "size", "1280x720", "picture size WxH")
	fs.BoolVar(&v.Simulcast, "simulcast", false, "send three layers (rid h, m, l: full, half, quarter size and about 1, 1/4, 1/16 of the bitrate)")
	fs.IntVar(&v.Bitrate, "bitrate", 2500, "video bitrate in kbit/s")
	fs.IntVar(&v.FPS, "fps", 30, "video frames per second")
	v.Viewers = countList{1, 100, 300}
	fs.Var(&v.Viewers, "viewers", "WebRTC viewer count of each step, comma-separated (0 for none)")
	fs.IntVar(&v.HLSViewers, "hls-viewers", 0, "LL-HLS viewers, joined at the first step and kept")
	fs.StringVar(&v.Viewer, "viewer", ViewerLight, "WebRTC viewer mode: light (pion, RTP headers + SEI), bare (no pion: batched reads, only frame starts decrypted; cheapest) or full (reassemble and check every frame)")
	fs.DurationVar(&v.ViewerReports, "viewer-reports", 0, "bare viewers send an RTCP receiver report (with SDES CNAME) this often, e.g. 1s, as real players do; 0: none, at least 100ms (light and full viewers are pion clients that send pion's own RTCP)")
	fs.DurationVar(&v.ViewerPoll, "viewer-poll", bare.DefaultPollInterval, "bare viewers' sockets are read this often (kernel receive times, so latency is unaffected; shorter costs the generator more empty reads), 1ms-250ms")
	fs.StringVar(&v.MaxLayer, "max-layer", "", "cap every WebRTC viewer at this simulcast layer (l, m, h, auto) through the WHEP layer endpoint")
	fs.StringVar(&v.HLSRendition, "hls-rendition", "", "LL-HLS variant to play: a substring of its URI (default the highest bandwidth)")
	fs.DurationVar(&v.Duration, "duration", 15*time.Second, "measurement time of each step")
	fs.DurationVar(&v.Duration, "step", 15*time.Second, "same as --duration")
	fs.DurationVar(&v.Warmup, "warmup", 3*time.Second, "wait after the viewers joined, before measuring")
	fs.IntVar(&v.JoinBatch, "join-batch", 20, "viewers joined concurrently")
	fs.Float64Var(&v.RampRate, "ramp-rate", 0, "viewers joined per second at most (0: as fast as the batches go)")
	fs.BoolVar(&v.Capacity, "capacity", false, "ramp WebRTC viewers by --capacity-step until latency p95 or loss crosses its threshold; report the maximum held")
	fs.IntVar(&v.CapacityStep, "capacity-step", 50, "viewers added per step in capacity mode")
	fs.IntVar(&v.MaxViewers, "max-viewers", 2000, "capacity mode stops at this many viewers")
	fs.DurationVar(&v.MaxLatencyP95, "max-latency-p95", 400*time.Millisecond, "capacity threshold: WebRTC latency p95")
	fs.Float64Var(&v.MaxLoss, "max-loss", 1, "capacity threshold: WebRTC packet loss in percent")
	fs.Var(&listFlag[int]{items: (*[]int)(&v.ServerPIDs), parse: parsePID}, "server-pid",
		"sample this process's CPU and RSS from /proc (server on this machine); with --viewer-url one per node, comma-separated or repeated: --url's first, then each other viewer URL's")
	viewerURLs := &listFlag[string]{items: &v.ViewerURLs, parse: func(s string) (string, error) { return s, nil }}
	fs.Var(viewerURLs, "viewer-url", "a cluster run: base URL of a node the WebRTC viewers play from, in turn (repeat it, or --viewer-urls a,b,c); the publishers keep --url")
	fs.Var(viewerURLs, "viewer-urls", "same as --viewer-url, comma-separated")
	fs.StringVar(&v.MetricsURL, "metrics-url", "", "the server's Prometheus /metrics (default URL/metrics when it answers)")
	fs.BoolVar(&v.Loopback, "loopback", true, "use only 127.0.0.1 ICE candidates (server on this machine)")
	fs.StringVar(&v.JSON, "json", "", "also write the whole report as JSON to this file")
	fs.StringVar(&v.CPUProfile, "cpu-profile", "", "write a Go CPU profile of the load generator to this file (where its CPU goes)")
	return fs
}

// ParseFlags reads `glint loadtest`'s flags, and the scenario file when one is named:
// defaults, then the file, then the flags given. On --help it prints the usage and the
// flags to stderr and returns flag.ErrHelp. Errors are one line.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	var v flagValues
	fs := newFlagSet(&v)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if v.Scenario != "" {
		if err := v.readScenario(args); err != nil {
			return Options{}, err
		}
	}
	return v.options()
}

// readScenario resets v to the defaults, reads the scenario file over them, then the
// flags given over the file.
func (v *flagValues) readScenario(args []string) error {
	path := v.Scenario
	fs := newFlagSet(v)
	if err := config.ReadYAMLFile("scenario", path, v); err != nil {
		return err
	}
	return fs.Parse(args)
}

// options turns the values read into a run's Options.
func (v *flagValues) options() (Options, error) {
	w, h, err := config.ParseSize(v.Size)
	if err != nil {
		return Options{}, err
	}
	o := Options{JSON: v.JSON, CPUProfile: v.CPUProfile, Config: Config{
		URL: v.URL, WHIPURL: v.WHIPURL, WHEPURL: v.WHEPURL, HLSURL: v.HLSURL, Room: v.Room, Token: v.Token,
		Publishers: v.Publishers, PublisherMode: v.Publisher, Width: w, Height: h, Simulcast: v.Simulcast,
		BitrateKbps: v.Bitrate, FPS: v.FPS,
		Viewers: v.Viewers, HLSViewers: v.HLSViewers, ViewerMode: v.Viewer, MaxLayer: v.MaxLayer, HLSRendition: v.HLSRendition,
		ViewerReports: v.ViewerReports, ViewerPoll: v.ViewerPoll, Step: v.Duration, Warmup: v.Warmup, JoinBatch: v.JoinBatch, RampRate: v.RampRate,
		Capacity: v.Capacity, CapacityStep: v.CapacityStep, MaxViewers: v.MaxViewers,
		MaxLatencyP95: v.MaxLatencyP95, MaxLossPercent: v.MaxLoss,
		MetricsURL: v.MetricsURL, LoopbackOnly: v.Loopback, ViewerURLs: v.ViewerURLs,
	}}
	if len(v.ServerPIDs) > 0 {
		o.ServerPID = v.ServerPIDs[0]
	}
	if len(v.ServerPIDs) > 1 {
		o.ServerPIDs = v.ServerPIDs
	}
	return o, nil
}

// countList is a comma-separated flag of viewer counts, e.g. 1,100,300.
type countList []int

func (c *countList) String() string {
	if c == nil {
		return ""
	}
	s := make([]string, len(*c))
	for i, n := range *c {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (c *countList) Set(v string) error {
	var counts []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("want counts (0 or more) separated by commas, e.g. 1,100,300")
		}
		counts = append(counts, n)
	}
	*c = counts
	return nil
}

// listFlag is a flag of values separated by commas that may also be repeated; the first
// value given on the command line replaces what a scenario file said.
type listFlag[T any] struct {
	items    *[]T
	parse    func(string) (T, error)
	replaced bool
}

func (l *listFlag[T]) String() string {
	if l == nil || l.items == nil {
		return ""
	}
	s := make([]string, len(*l.items))
	for i, v := range *l.items {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

func (l *listFlag[T]) Set(v string) error {
	if !l.replaced {
		*l.items, l.replaced = nil, true
	}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		item, err := l.parse(f)
		if err != nil {
			return err
		}
		*l.items = append(*l.items, item)
	}
	return nil
}

func parsePID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want process ids (0 or more) separated by commas")
	}
	return n, nil
}

// pidList is --server-pid: in a scenario file one PID or a list.
type pidList []int

// UnmarshalYAML takes `server_pid: 123` as well as `server_pid: [123, 456]`.
func (p *pidList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		var one int
		if err := node.Decode(&one); err != nil {
			return err
		}
		*p = pidList{one}
		return nil
	}
	var many []int
	if err := node.Decode(&many); err != nil {
		return err
	}
	*p = many
	return nil
}

// Command runs `glint loadtest` with its arguments: progress on stderr, the table on
// stdout. An interrupt (ctx cancelled) prints what was measured and returns nil.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer stop()
	}
	o.Progress, o.ProgressBar = stderr, isTerminal(stderr)
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	report, runErr := Run(ctx, o.Config)
	if report == nil { // invalid configuration
		return fmt.Errorf("loadtest: %w", runErr)
	}
	if err := o.writeResults(report, stdout); err != nil {
		return err
	}
	if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: what was measured is printed, every session closed
	}
	if runErr != nil {
		return fmt.Errorf("loadtest: %w", runErr)
	}
	return nil
}

// writeResults prints the table (when anything was measured) and writes the JSON report
// when asked.
func (o *Options) writeResults(report *Report, stdout io.Writer) error {
	if len(report.Steps) > 0 || report.Baseline != nil {
		if err := report.WriteTable(stdout); err != nil {
			return err
		}
	}
	if o.JSON == "" {
		return nil
	}
	f, err := os.Create(o.JSON)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if err := report.WriteJSON(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("json %s: %w", o.JSON, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("json %s: %w", o.JSON, err)
	}
	return nil
}

// startCPUProfile profiles this process into path until the returned func is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
