package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/loadtest"
	"github.com/glint-video/glint/sfu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startGlint runs a test node with /metrics, at the SFU's default PLI interval (the one
// `glint serve` has), and returns its URL.
func startGlint(t *testing.T) string {
	t.Helper()
	return testnode.Start(t, testnode.Options{Metrics: true, SFU: func(o *sfu.Options) { o.PLIInterval = 0 }}).URL
}

func TestRunReportsEveryStep(t *testing.T) {
	url := startGlint(t)
	report, progress := runLoadtest(t, loadtest.Config{
		URL: url, Room: "load", Viewers: []int{1, 3}, Step: 2 * time.Second, Warmup: time.Second,
		BitrateKbps: 2500, FPS: 30,
	})
	if report.Baseline == nil || report.Baseline.ServerCPUPercent <= 0 || report.Baseline.ServerRSSBytes <= 0 {
		t.Errorf("baseline = %+v, want server CPU and RSS (from /metrics)", report.Baseline)
	}
	if len(report.Steps) != 2 {
		t.Fatalf("got %d steps, want 2", len(report.Steps))
	}
	for i, want := range []int{1, 3} {
		s := report.Steps[i]
		checkClientStats(t, fmt.Sprintf("step %d", i), s.WebRTC, want)
		if s.LLHLS != nil {
			t.Errorf("step %d: LL-HLS stats without LL-HLS viewers", i)
		}
		if s.ServerViewers == nil || *s.ServerViewers != want {
			t.Errorf("step %d: server viewers %v, want %d", i, s.ServerViewers, want)
		}
		if s.TransitP50Ms <= 0 || s.TransitP99Ms < s.TransitP50Ms || s.TransitSamples == 0 {
			t.Errorf("step %d: transit p50 %v p99 %v (%d samples)", i, s.TransitP50Ms, s.TransitP99Ms, s.TransitSamples)
		}
		// Less the pacer's hold, never more than the whole.
		if s.TransitUnpacedP50Ms <= 0 || s.TransitUnpacedP50Ms > s.TransitP50Ms || s.TransitUnpacedP99Ms > s.TransitP99Ms {
			t.Errorf("step %d: unpaced transit p50 %v p99 %v, transit p50 %v p99 %v", i,
				s.TransitUnpacedP50Ms, s.TransitUnpacedP99Ms, s.TransitP50Ms, s.TransitP99Ms)
		}
		if s.ServerCPUPercent <= 0 || s.LoadgenCPUPercent <= 0 || s.ServerRSSBytes <= 0 {
			t.Errorf("step %d: server CPU %v%%, RSS %d, loadgen CPU %v%%", i, s.ServerCPUPercent, s.ServerRSSBytes, s.LoadgenCPUPercent)
		}
	}
	if len(report.Publishers) != 1 || report.Publishers[0].Keyframes == 0 || report.Publishers[0].Frames == 0 {
		t.Errorf("publisher report = %+v", report.Publishers)
	}
	if lines := strings.Count(progress, "LL-HLS viewers (joined"); lines != 2 {
		t.Errorf("progress has %d step lines, want 2:\n%s", lines, progress)
	}

	var table, js bytes.Buffer
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "latency p50") || strings.Count(table.String(), "\n") != 2+2+3 {
		t.Errorf("table:\n%s", table.String())
	}
	if err := report.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back loadtest.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Steps) != 2 || back.Machine.GOMAXPROCS == 0 || back.Steps[1].WebRTC == nil {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

// TestRunLivePublisherFullViewers runs the live encoder (IDR on keyframe request) with
// viewers that reassemble and check every access unit, and samples the server by PID
// (the in-process server is this process).
func TestRunLivePublisherFullViewers(t *testing.T) {
	url := startGlint(t)
	report, _ := runLoadtest(t, loadtest.Config{
		URL: url, Room: "live", Viewers: []int{2}, Step: 2 * time.Second, Warmup: time.Second,
		BitrateKbps: 1000, FPS: 30, Width: 640, Height: 360, PublisherMode: loadtest.PublisherLive,
		ViewerMode: loadtest.ViewerFull, ServerPID: os.Getpid(), MetricsURL: url + "/metrics",
	})
	s := report.Steps[0]
	checkClientStats(t, "live", s.WebRTC, 2)
	if s.WebRTC.CorruptFrames != 0 {
		t.Errorf("%d access units failed the full viewer's checks", s.WebRTC.CorruptFrames)
	}
	if s.ServerRSSBytes <= 0 || s.ServerCPUPercent <= 0 {
		t.Errorf("server by PID: CPU %v%%, RSS %d", s.ServerCPUPercent, s.ServerRSSBytes)
	}
	// Viewers may start at the SFU's cached keyframe without asking for one (sfu/keycache.go),
	// so keyframe requests can be none; the live encoder's keyframes must be there.
	if p := report.Publishers[0]; p.Keyframes == 0 {
		t.Errorf("publisher %+v: want keyframes", p)
	} else {
		t.Logf("publisher: %d keyframes, %d keyframe requests answered", p.Keyframes, p.KeyframeRequests)
	}
}

// TestRunSimulcastLayerCap publishes three simulcast layers and caps the viewers (pion's,
// then bare ones) at the lowest through the WHEP layer endpoint: they get its frames, at its
// bitrate.
func TestRunSimulcastLayerCap(t *testing.T) {
	for _, tc := range []struct {
		name, room, mode string
		noLoss           bool // bare viewers lose nothing on loopback
	}{
		{"simulcast", "sim", "", false},
		{"bare simulcast", "baresim", loadtest.ViewerBare, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startGlint(t)
			report, _ := runLoadtest(t, loadtest.Config{
				URL: url, Room: tc.room, Viewers: []int{2}, Step: 3 * time.Second, Warmup: 2 * time.Second,
				BitrateKbps: 1600, FPS: 30, Width: 640, Height: 360, Simulcast: true, MaxLayer: "l",
				ViewerMode: tc.mode,
			})
			c := report.Steps[0].WebRTC
			checkClientStats(t, tc.name, c, 2)
			// l is 160x90 at 100 kbit/s (h 1600); with Opus a viewer of l gets well under 400.
			if c.BitrateKbps > 400 {
				t.Errorf("%v kbit/s per viewer capped at layer l, want the l layer's ~150", c.BitrateKbps)
			}
			if tc.noLoss && c.LossPercent != 0 {
				t.Errorf("loss %v%% of bare viewers capped at layer l, want none", c.LossPercent)
			}
		})
	}
}

// runLoadtest runs the load test cfg over loopback, for at most two minutes, and returns its
// report and progress output; the test fails, showing the progress, if Run fails.
func runLoadtest(t *testing.T, cfg loadtest.Config) (*loadtest.Report, string) {
	t.Helper()
	ctx := testkit.Context(t, 120*time.Second)
	var progress bytes.Buffer
	cfg.LoopbackOnly, cfg.Progress = true, &progress
	report, err := loadtest.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	return report, progress.String()
}

// checkClientStats asserts that every one of want viewers got decodable frames with
// capture times, and that the statistics are filled in and consistent.
func checkClientStats(t *testing.T, name string, c *loadtest.ClientStats, want int) {
	t.Helper()
	if c == nil {
		t.Fatalf("%s: no client stats", name)
	}
	if c.Viewers != want || c.Alive != want || c.Joined != want {
		t.Errorf("%s: viewers %d, alive %d, joined %d; want %d", name, c.Viewers, c.Alive, c.Joined, want)
	}
	if c.FramesSent <= 0 || c.FramesReceivedMin == 0 || c.FramesPercent <= 0 {
		t.Errorf("%s: frames sent %v, fewest received by a viewer %d (%.1f%%); want every viewer to get frames",
			name, c.FramesSent, c.FramesReceivedMin, c.FramesPercent)
	}
	if c.LatencySamples == 0 || c.LatencyP50Ms <= 0 || c.LatencyP95Ms < c.LatencyP50Ms || c.LatencyP99Ms < c.LatencyP95Ms || c.LatencyMaxMs < c.LatencyP99Ms {
		t.Errorf("%s: latency p50 %v p95 %v p99 %v max %v (%d samples)", name, c.LatencyP50Ms, c.LatencyP95Ms, c.LatencyP99Ms, c.LatencyMaxMs, c.LatencySamples)
	}
	if c.JoinsMeasured == 0 || c.JoinP50Ms <= 0 || c.JoinP95Ms < c.JoinP50Ms {
		t.Errorf("%s: join p50 %v p95 %v (%d measured)", name, c.JoinP50Ms, c.JoinP95Ms, c.JoinsMeasured)
	}
	if c.BitrateKbps <= 100 || c.FramesWithoutCapture != 0 {
		t.Errorf("%s: %v kbit/s per viewer, %d frames without capture time", name, c.BitrateKbps, c.FramesWithoutCapture)
	}
}

func TestRunFailsFastWithoutServer(t *testing.T) {
	addr := closedAddr(t)
	start := time.Now()
	_, err := loadtest.Run(context.Background(), loadtest.Config{
		URL: "http://" + addr, Room: "load", Viewers: []int{1}, Step: time.Second,
		BitrateKbps: 2500, FPS: 30, LoopbackOnly: true,
	})
	if err == nil {
		t.Fatal("Run against a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to fail", d)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q: want one line naming %s", err, addr)
	}
}

func TestConfigValidate(t *testing.T) {
	good := loadtest.Config{URL: "http://127.0.0.1:8080", Room: "load", Viewers: []int{1}, Step: time.Second, BitrateKbps: 2500, FPS: 30}
	tests := []struct {
		name string
		mod  func(*loadtest.Config)
		want string
	}{
		{"ok", func(*loadtest.Config) {}, ""},
		{"no scheme", func(c *loadtest.Config) { c.URL = "127.0.0.1:8080" }, "url"},
		{"bad room", func(c *loadtest.Config) { c.Room = "a b" }, "room"},
		{"no steps", func(c *loadtest.Config) { c.Viewers = nil }, "viewers"},
		{"negative viewers", func(c *loadtest.Config) { c.Viewers = []int{1, -1} }, "viewers"},
		{"publisher mode", func(c *loadtest.Config) { c.PublisherMode = "file" }, "publisher"},
		{"viewer mode", func(c *loadtest.Config) { c.ViewerMode = "heavy" }, "viewer"},
		{"bare viewers", func(c *loadtest.Config) { c.ViewerMode = loadtest.ViewerBare }, ""},
		{"layer", func(c *loadtest.Config) { c.MaxLayer = "x" }, "max layer"},
		{"whep template", func(c *loadtest.Config) { c.Publishers, c.WHEPURL = 2, "http://h/whep/one" }, "whep-url"},
		{"capacity", func(c *loadtest.Config) { c.Capacity, c.CapacityStep, c.MaxViewers = true, 50, 10 }, "capacity"},
		{"odd size", func(c *loadtest.Config) { c.Width = 641 }, "size"},
		{"short step", func(c *loadtest.Config) { c.Step = time.Millisecond }, "step"},
		{"bitrate", func(c *loadtest.Config) { c.BitrateKbps = 0 }, "bitrate"},
		{"fps", func(c *loadtest.Config) { c.FPS = 500 }, "fps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want prefix %q", err, tt.want)
			}
		})
	}
}
