package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/glint-video/glint/loadtest"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startGlint runs an SFU, signaling and /metrics on httptest, media on 127.0.0.1 only.
func startGlint(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Options{
		Transport: sfu.TransportConfig{UDPPort: 0, ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second},
		Logger:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	signaling.New(signaling.Options{SFU: media, Logger: log, Context: ctx}).Register(mux)
	mux.Handle("GET /metrics", metrics.Handler(media))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		cancel()
		hs.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := media.Close(closeCtx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return hs.URL
}

func TestRunReportsEveryStep(t *testing.T) {
	url := startGlint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	report, err := loadtest.Run(ctx, loadtest.Config{
		URL: url, Room: "load", Viewers: []int{1, 3}, Step: 2 * time.Second, Warmup: time.Second,
		BitrateKbps: 2500, FPS: 30, LoopbackOnly: true, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if report.Baseline == nil || report.Baseline.ServerCPUPercent <= 0 || report.Baseline.ServerRSSBytes <= 0 {
		t.Errorf("baseline = %+v, want server CPU and RSS", report.Baseline)
	}
	if len(report.Steps) != 2 {
		t.Fatalf("got %d steps, want 2", len(report.Steps))
	}
	for i, want := range []int{1, 3} {
		s := report.Steps[i]
		if s.Viewers != want || s.ViewersAlive != want || s.ServerViewers != want {
			t.Errorf("step %d: viewers %d, alive %d, at the server %d; want %d", i, s.Viewers, s.ViewersAlive, s.ServerViewers, want)
		}
		if s.PacketsSent == 0 || s.PacketsReceivedMin == 0 {
			t.Errorf("step %d: sent %d, fewest received by a viewer %d; want both > 0", i, s.PacketsSent, s.PacketsReceivedMin)
		}
		if s.TransitP50Ms <= 0 || s.TransitP99Ms < s.TransitP50Ms || s.TransitSamples == 0 {
			t.Errorf("step %d: transit p50 %v p99 %v (%d samples)", i, s.TransitP50Ms, s.TransitP99Ms, s.TransitSamples)
		}
		if s.E2EP50Ms <= 0 || s.E2EP99Ms < s.E2EP50Ms || s.E2ESamples == 0 {
			t.Errorf("step %d: e2e p50 %v p99 %v (%d samples)", i, s.E2EP50Ms, s.E2EP99Ms, s.E2ESamples)
		}
		if s.ServerCPUPercent <= 0 || s.LoadgenCPUPercent <= 0 || s.ServerRSSBytes <= 0 {
			t.Errorf("step %d: server CPU %v%%, RSS %d, loadgen CPU %v%%", i, s.ServerCPUPercent, s.ServerRSSBytes, s.LoadgenCPUPercent)
		}
		if s.ViewerKbps < 1000 {
			t.Errorf("step %d: %v kbit/s per viewer of a 2500 kbit/s stream", i, s.ViewerKbps)
		}
	}
	if p := report.Publisher; p.Keyframes == 0 || p.Packets == 0 {
		t.Errorf("publisher report = %+v", p)
	}
	if lines := strings.Count(progress.String(), "viewers ("); lines != 2 {
		t.Errorf("progress has %d step lines, want 2:\n%s", lines, progress.String())
	}

	var table, js bytes.Buffer
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "transit p50") || strings.Count(table.String(), "\n") != 2+2+3 {
		t.Errorf("table:\n%s", table.String())
	}
	if err := report.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back loadtest.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Steps) != 2 || back.Machine.GOMAXPROCS == 0 {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

func TestRunFailsFastWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there any more

	start := time.Now()
	_, err = loadtest.Run(context.Background(), loadtest.Config{
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
		{"zero viewers", func(c *loadtest.Config) { c.Viewers = []int{1, 0} }, "viewers"},
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
