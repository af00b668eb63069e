package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/dashboard"
)

// TestServeObservability: `glint serve` mounts the dashboard page and its API (for a loopback
// client, the default admin check), and /metrics has every stage's metrics.
func TestServeObservability(t *testing.T) {
	addr, rtmp := freeTCPAddr(t), freeTCPAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--http-addr", addr, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
			"--rtmp-addr", rtmp, "--srt-addr=", "--data-dir", t.TempDir(), "--log-level", "warn"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err = client.Get("http://" + addr + path); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := get("/dashboard")
	if resp.StatusCode != 200 || !strings.Contains(body, `src="static/dashboard.js"`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /dashboard: %d, CSP %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}
	resp, body = get("/api/dashboard")
	var report dashboard.Report
	if err := json.Unmarshal([]byte(body), &report); resp.StatusCode != 200 || err != nil || len(report.Nodes) != 1 ||
		report.Nodes[0].Node != "local" || report.Nodes[0].Load.Cores == 0 {
		t.Errorf("GET /api/dashboard: %d %v: %s", resp.StatusCode, err, body)
	}
	_, body = get("/metrics")
	for _, want := range []string{`glint_ingest_streams{protocol="rtmp"} 0`, "glint_hls_streams 0",
		"glint_capture_to_server_seconds_count 0", `glint_hls_part_latency_seconds_count{kind="video"} 0`,
		"glint_dvr_queue_bytes 0", "glint_rooms 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
