package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a test node (the SFU with WHIP/WHEP signaling on httptest) with an ingest Server,
// all on 127.0.0.1.
type env struct {
	*testnode.Node
	ingest  *Server
	rtmp    string // rtmp://127.0.0.1:port
	srtPort int
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, mod, nil)
}

// envHook adds a service to a test env (the HLS bridge): it registers its handlers on mux
// and runs under ctx; the returned wait blocks until it has ended, before the SFU closes.
type envHook func(ctx context.Context, media *sfu.SFU, mux *http.ServeMux, log *slog.Logger) (wait func())

func newEnvWith(t testing.TB, mod func(*Config), hook envHook) *env {
	t.Helper()
	return newEnvOn(t, testnode.Options{}, mod, hook)
}

// newEnvOn is newEnvWith on a test node of the given options.
func newEnvOn(t testing.TB, node testnode.Options, mod func(*Config), hook envHook) *env {
	t.Helper()
	n := testnode.Start(t, node)
	ctx, cancel := context.WithCancel(n.Ctx)
	hookDone := func() {}
	if hook != nil {
		hookDone = hook(ctx, n.SFU, n.Mux, n.Log)
	}
	cfg := Config{RTMPAddr: "127.0.0.1:0", SRTAddr: "127.0.0.1:0", IdleTimeout: 3 * time.Second,
		KeyframeTimeout: 4 * time.Second, Log: n.Log}
	if mod != nil {
		mod(&cfg)
	}
	ing, err := New(cfg, n.SFU)
	if err != nil {
		cancel()
		hookDone()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ing.Serve(ctx) }()
	t.Cleanup(func() { // before the node's own cleanup closes the SFU
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		hookDone()
	})
	return &env{Node: n, ingest: ing, rtmp: "rtmp://" + ing.RTMPAddr().String(),
		srtPort: ing.SRTAddr().(*net.UDPAddr).Port}
}

func (e *env) srtURL(streamID string, extra string) string {
	return fmt.Sprintf("srt://127.0.0.1:%d?streamid=%s&pkt_size=1316%s", e.srtPort, streamID, extra)
}

func (e *env) status(room string) (StreamStatus, bool) {
	for _, st := range e.ingest.Status() {
		if st.Room == room {
			return st, true
		}
	}
	return StreamStatus{}, false
}

// ffmpeg runs ffmpeg with args until the end of the test.
func ffmpeg(t *testing.T, args ...string) *testkit.Proc {
	t.Helper()
	return testkit.StartProc(t, testkit.ProcOptions{}, append([]string{"ffmpeg"}, args...)...)
}

// publishAndPlay pushes the test source (bframes: libx264's defaults) to room with ffmpeg,
// args its audio and output options, waits until the room is live and plays it.
func (e *env) publishAndPlay(t *testing.T, ctx context.Context, room string, bframes bool, args ...string) (*testkit.Proc, *testnode.Received) {
	t.Helper()
	ff := ffmpeg(t, append(source(bframes), args...)...)
	e.WaitLive(t, ctx, room)
	_, v := e.Play(t, ctx, room)
	return ff, v
}

// pushRoute is one way to push a room with ffmpeg: over RTMP or SRT, with or without B-frames.
type pushRoute struct {
	name    string
	bframes bool
	url     func(e *env) string
	format  string // ffmpeg's output format
}

// pushRoutes are the four ways to push room: RTMP and SRT, each with and without B-frames.
func pushRoutes(room string) []pushRoute {
	rtmp := func(e *env) string { return e.rtmp + "/live/" + room }
	srt := func(e *env) string { return e.srtURL("publish:"+room, "") }
	return []pushRoute{
		{"rtmp", false, rtmp, "flv"},
		{"rtmp b-frames", true, rtmp, "flv"},
		{"srt", false, srt, "mpegts"},
		{"srt b-frames", true, srt, "mpegts"},
	}
}

// source is the ffmpeg input and H.264 options: 320x240 testsrc2 + 440 Hz sine, 1 s GOP.
func source(bframes bool) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "300k"}
	if bframes {
		return append(args, "-preset", "veryfast", "-bf", "2")
	}
	return append(args, "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0")
}
