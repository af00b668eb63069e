package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/hlsbridge"
)

// TestServeShowsTheHLSEncoder: with LL-HLS on, the encoder the ladder probed at start
// (libx264 on a machine without a hardware encoder, as here) is shown by GET /api/hls and as
// glint_hls_encoder_info in /metrics; the DVR (on by default) has its metrics there too.
func TestServeShowsTheHLSEncoder(t *testing.T) {
	addr := freeTCPAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--http-addr", addr, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
			"--rtmp-addr=", "--srt-addr=", "--data-dir", t.TempDir(), "--log-level", "warn"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	var status hlsbridge.Status
	for deadline := time.Now().Add(30 * time.Second); status.Encoder == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("GET /api/hls: no encoder within 30 s")
		}
		if body, err := get("/api/hls"); err == nil {
			if err := json.Unmarshal([]byte(body), &status); err != nil {
				t.Fatalf("GET /api/hls: %v: %q", err, body)
			}
		}
	}
	if status.Rooms == nil || (status.Encoder == "libx264") == status.Hardware {
		t.Errorf("GET /api/hls = %+v, want the probed encoder, whether it is hardware, and a room list", status)
	}
	body, err := get("/metrics")
	want := fmt.Sprintf(`glint_hls_encoder_info{encoder=%q,hardware="%t"} 1`, status.Encoder, status.Hardware)
	if err != nil || !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s (err %v)", want, err)
	}
	for _, want := range []string{"glint_dvr_queue_bytes 0", "glint_dvr_store_full 0", "glint_dvr_dropped_segments_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks the DVR's %s", want)
		}
	}
}
