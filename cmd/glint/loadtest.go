package main

import (
	"bytes"
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

	"github.com/glint-video/glint/loadtest"
)

const loadtestUsage = `Usage: glint loadtest [--scenario file.yaml] [flags]

Publishes synthetic H.264 + Opus streams (a capture-time SEI in every frame) to one room
per publisher over WHIP, then measures each step of WebRTC viewers (WHEP) and LL-HLS
viewers: latency capture -> frame complete, join time, frames received vs sent, freezes,
loss, bitrate; the server's CPU and RSS (/metrics or --server-pid) and the load
generator's own CPU. Progress on stderr, the table on stdout, --json for the report.
A scenario file (YAML, the flag names with _ for -) sets the same options; flags
override it. See docs/loadtest.md.

Flags:
`

// loadtestOptions are the flags and, with the same names (_ for -), the scenario file.
type loadtestOptions struct {
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
	ServerPID     int           `yaml:"server_pid"`
	MetricsURL    string        `yaml:"metrics_url"`
	Loopback      bool          `yaml:"loopback"`
	JSON          string        `yaml:"json"`
	CPUProfile    string        `yaml:"cpu_profile"`
}

// newLoadtestFlags binds the flags to o, setting o to the defaults.
func newLoadtestFlags(o *loadtestOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("glint loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a bad flag is a one-line error; --help prints the flags
	fs.StringVar(&o.Scenario, "scenario", "", "YAML scenario file (flags given too override it)")
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the server (the default publish, play, HLS and metrics URLs hang off it)")
	fs.StringVar(&o.WHIPURL, "whip-url", "", "publish URL, {room} for the room name (default URL/whip/{room})")
	fs.StringVar(&o.WHEPURL, "whep-url", "", "play URL, {room} for the room name (default URL/whep/{room})")
	fs.StringVar(&o.HLSURL, "hls-url", "", "LL-HLS playlist URL, {room} for the room name (default URL/hls/{room}/index.m3u8)")
	fs.StringVar(&o.Room, "room", "load", "room to publish to and play from (ROOM-1, ROOM-2, ... with several publishers)")
	fs.StringVar(&o.Token, "token", "", "bearer token of the rooms, if they have one")
	fs.IntVar(&o.Publishers, "publishers", 1, "synthetic publishers, each in its own room")
	fs.StringVar(&o.Publisher, "publisher", loadtest.PublisherLoop, "publisher mode: loop (pre-encoded, nearly free) or live (libx264, IDR on keyframe request)")
	fs.StringVar(&o.Size, "size", "1280x720", "picture size WxH")
	fs.BoolVar(&o.Simulcast, "simulcast", false, "send three layers (rid h, m, l: full, half, quarter size and about 1, 1/4, 1/16 of the bitrate)")
	fs.IntVar(&o.Bitrate, "bitrate", 2500, "video bitrate in kbit/s")
	fs.IntVar(&o.FPS, "fps", 30, "video frames per second")
	o.Viewers = countList{1, 100, 300}
	fs.Var(&o.Viewers, "viewers", "WebRTC viewer count of each step, comma-separated (0 for none)")
	fs.IntVar(&o.HLSViewers, "hls-viewers", 0, "LL-HLS viewers, joined at the first step and kept")
	fs.StringVar(&o.Viewer, "viewer", loadtest.ViewerLight, "WebRTC viewer mode: light (pion, RTP headers + SEI), bare (no pion: batched reads, only frame starts decrypted; cheapest) or full (reassemble and check every frame)")
	fs.StringVar(&o.MaxLayer, "max-layer", "", "cap every WebRTC viewer at this simulcast layer (l, m, h, auto) through the WHEP layer endpoint")
	fs.StringVar(&o.HLSRendition, "hls-rendition", "", "LL-HLS variant to play: a substring of its URI (default the highest bandwidth)")
	fs.DurationVar(&o.Duration, "duration", 15*time.Second, "measurement time of each step")
	fs.DurationVar(&o.Duration, "step", 15*time.Second, "same as --duration")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "wait after the viewers joined, before measuring")
	fs.IntVar(&o.JoinBatch, "join-batch", 20, "viewers joined concurrently")
	fs.Float64Var(&o.RampRate, "ramp-rate", 0, "viewers joined per second at most (0: as fast as the batches go)")
	fs.BoolVar(&o.Capacity, "capacity", false, "ramp WebRTC viewers by --capacity-step until latency p95 or loss crosses its threshold; report the maximum held")
	fs.IntVar(&o.CapacityStep, "capacity-step", 50, "viewers added per step in capacity mode")
	fs.IntVar(&o.MaxViewers, "max-viewers", 2000, "capacity mode stops at this many viewers")
	fs.DurationVar(&o.MaxLatencyP95, "max-latency-p95", 400*time.Millisecond, "capacity threshold: WebRTC latency p95")
	fs.Float64Var(&o.MaxLoss, "max-loss", 1, "capacity threshold: WebRTC packet loss in percent")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "sample this process's CPU and RSS from /proc (server on this machine)")
	fs.StringVar(&o.MetricsURL, "metrics-url", "", "the server's Prometheus /metrics (default URL/metrics when it answers)")
	fs.BoolVar(&o.Loopback, "loopback", true, "use only 127.0.0.1 ICE candidates (server on this machine)")
	fs.StringVar(&o.JSON, "json", "", "also write the whole report as JSON to this file")
	fs.StringVar(&o.CPUProfile, "cpu-profile", "", "write a Go CPU profile of the load generator to this file (where its CPU goes)")
	return fs
}

// parseLoadtestArgs reads the flags, and the scenario file when one is named: defaults,
// then the file, then the flags given.
func parseLoadtestArgs(args []string, stderr io.Writer) (o loadtestOptions, help bool, err error) {
	fs := newLoadtestFlags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, loadtestUsage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return o, true, nil
		}
		return o, false, err
	}
	if fs.NArg() > 0 {
		return o, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Scenario == "" {
		return o, false, nil
	}
	path := o.Scenario
	fs = newLoadtestFlags(&o)
	data, err := os.ReadFile(path)
	if err != nil {
		return o, false, fmt.Errorf("scenario: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		return o, false, fmt.Errorf("scenario %s: %s", path, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := fs.Parse(args); err != nil {
		return o, false, err
	}
	return o, false, nil
}

// runLoadtest runs `glint loadtest`: progress on stderr, the table on stdout.
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, help, err := parseLoadtestArgs(args, stderr)
	if help {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	w, h, err := parseSize(o.Size)
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
	report, runErr := loadtest.Run(ctx, loadtest.Config{
		URL: o.URL, WHIPURL: o.WHIPURL, WHEPURL: o.WHEPURL, HLSURL: o.HLSURL, Room: o.Room, Token: o.Token,
		Publishers: o.Publishers, PublisherMode: o.Publisher, Width: w, Height: h, Simulcast: o.Simulcast, BitrateKbps: o.Bitrate, FPS: o.FPS,
		Viewers: o.Viewers, HLSViewers: o.HLSViewers, ViewerMode: o.Viewer, MaxLayer: o.MaxLayer, HLSRendition: o.HLSRendition,
		Step: o.Duration, Warmup: o.Warmup, JoinBatch: o.JoinBatch, RampRate: o.RampRate,
		Capacity: o.Capacity, CapacityStep: o.CapacityStep, MaxViewers: o.MaxViewers,
		MaxLatencyP95: o.MaxLatencyP95, MaxLossPercent: o.MaxLoss,
		ServerPID: o.ServerPID, MetricsURL: o.MetricsURL, LoopbackOnly: o.Loopback,
		Progress: stderr, ProgressBar: isTerminal(stderr),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if report == nil { // invalid configuration
		return fmt.Errorf("loadtest: %w", runErr)
	}
	if len(report.Steps) > 0 || report.Baseline != nil {
		if err := report.WriteTable(stdout); err != nil {
			return err
		}
	}
	if o.JSON != "" {
		if err := writeReport(o.JSON, report); err != nil {
			return err
		}
	}
	if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: what was measured is printed, every session closed
	}
	if runErr != nil {
		return fmt.Errorf("loadtest: %w", runErr)
	}
	return nil
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

func writeReport(path string, r *loadtest.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if err := r.WriteJSON(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("json %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("json %s: %w", path, err)
	}
	return nil
}
