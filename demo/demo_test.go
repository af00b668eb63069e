package demo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/client/clienttest"
	"github.com/glint-video/glint/demo"
	"github.com/glint-video/glint/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runDemo runs demo.Run against whipURL for d and returns its error. The tests that run
// ffmpeg fail (never skip) without it: the demo is part of `make run`.
func runDemo(t *testing.T, whipURL string, d time.Duration) error {
	t.Helper()
	logger, _ := testkit.NewLogger(t)
	return runDemoWith(d, demo.Options{WHIPURL: whipURL, Logger: logger})
}

// runDemoWith runs demo.Run for d with the test's small video defaults.
func runDemoWith(d time.Duration, opts demo.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	opts.Width, opts.Height, opts.FPS, opts.BitrateKbps = 320, 240, 15, 300
	opts.LoopbackOnly = true
	return demo.Run(ctx, opts)
}

func assertMediaArrived(t *testing.T, srv *clienttest.Server) {
	t.Helper()
	if n := srv.Packets(webrtc.MimeTypeH264); n < 20 {
		t.Errorf("H.264 packets received = %d, want at least 20", n)
	}
	if n := srv.Packets(webrtc.MimeTypeOpus); n < 50 {
		t.Errorf("Opus packets received = %d, want at least 50", n)
	}
	if !srv.H264KeyframeSeen() {
		t.Error("no H.264 keyframe (NAL type 5 or 7) received")
	}
	// -g FPS: an IDR every second, each with SPS and PPS in band, so a
	// viewer joining late (or sending a PLI) gets a picture within a second.
	if n := srv.H264NALUnits(7); n < 2 {
		t.Errorf("SPS NAL units received = %d, want at least 2 (one per keyframe)", n)
	}
}

func TestRunPublishesH264AndOpus(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	srv := clienttest.NewServer(t, clienttest.Config{})

	if err := runDemo(t, srv.WHIPURL("demo"), 4*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}

	assertMediaArrived(t, srv)
	if n := srv.ConnectedSessions(); n != 1 {
		t.Errorf("sessions that connected = %d, want 1", n)
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("sessions left on the server after Run returned = %d, want 0 (DELETE on stop)", n)
	}
}

func TestRunPublishesAgainAfterErrors(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	srv := clienttest.NewServer(t, clienttest.Config{})
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The first two offers get a 503, later requests reach the server.
	proxy := httputil.NewSingleHostReverseProxy(target)
	var offers atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && offers.Add(1) <= 2 {
			http.Error(w, `{"error":"starting up"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	// Backoff 0.5 s + 1 s before the third offer, then ~3.5 s of media.
	if err := runDemo(t, front.URL+"/whip/demo", 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if n := offers.Load(); n != 3 {
		t.Errorf("offers = %d, want 3 (two rejected, one accepted)", n)
	}
	assertMediaArrived(t, srv)
	if n := srv.Sessions(); n != 0 {
		t.Errorf("sessions left on the server after Run returned = %d, want 0", n)
	}
}

func TestRunPublishesAgainWhenServerDropsSession(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	srv := clienttest.NewServer(t, clienttest.Config{})
	logger, _ := testkit.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{
			WHIPURL: srv.WHIPURL("demo"), Logger: logger, LoopbackOnly: true,
			Width: 320, Height: 240, FPS: 15, BitrateKbps: 300,
		})
	}()
	testkit.Eventually(t, ctx, "the first session to connect", func() bool { return srv.ConnectedSessions() == 1 })
	dropped := time.Now()
	srv.DropSessions()
	testkit.Eventually(t, ctx, "a second session to connect", func() bool { return srv.ConnectedSessions() == 2 })
	t.Logf("published again %v after the server dropped the session", time.Since(dropped).Round(time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRunRestartsAfterFFmpegCrash(t *testing.T) {
	srv := clienttest.NewServer(t, clienttest.Config{})
	crasher := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\necho 'fake ffmpeg: boom' >&2\nexit 3\n"
	if err := os.WriteFile(crasher, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	logger, logs := testkit.NewLogger(t)

	// Attempts start at 0 s, 0.5 s and 1.5 s (backoff 0.5 s, then 1 s).
	err := runDemoWith(2*time.Second, demo.Options{WHIPURL: srv.WHIPURL("demo"), FFmpeg: crasher, Logger: logger})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	var posts, deletes int
	for _, req := range srv.Requests() {
		switch req.Method {
		case http.MethodPost:
			posts++
		case http.MethodDelete:
			deletes++
		}
	}
	if posts < 2 || deletes != posts {
		t.Errorf("offers = %d, deletes = %d; want at least 2 attempts, each deleted", posts, deletes)
	}
	for _, want := range []string{"fake ffmpeg: boom", `ffmpeg exited: exit status 3 (last output \"fake ffmpeg: boom\")`, "publishing again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts demo.Options
		want string
	}{
		{"no url", demo.Options{}, "no WHIP URL"},
		{"no ffmpeg", demo.Options{WHIPURL: "http://127.0.0.1:1/whip/demo", FFmpeg: "/nonexistent/ffmpeg"}, "ffmpeg not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := demo.Run(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
