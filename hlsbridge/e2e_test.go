package hlsbridge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/demo"
	"github.com/glint-video/glint/internal/testkit"
)

const (
	testRoom = "e2e"
	testFPS  = 15
)

// testRooms keeps the suite light on two cores: every room's ladder is the 640x360 source
// passed through plus one re-encoded 240p rung (the default ladder has no rung below a
// 360p source).
func testRooms(string) config.RoomSettings {
	return config.RoomSettings{Ladder: &config.Ladder{Source: true, Rungs: []config.LadderRung{{Height: 240, Kbps: 300}}}}
}

// startDemo publishes the demo stream (ffmpeg: H.264 + Opus over WHIP) into the room; the
// returned stop ends it and waits.
func startDemo(t *testing.T, env *testEnv) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{WHIPURL: env.URL + "/whip/" + testRoom, Width: 640, Height: 360,
			FPS: testFPS, BitrateKbps: 800, LoopbackOnly: true, Logger: env.Log})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("demo: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestEndToEnd publishes real H.264 + Opus (the demo publisher: ffmpeg over WHIP) into an
// in-process SFU and checks the LL-HLS output with real clients: ffprobe decodes every
// rendition at its size, ffmpeg -xerror decodes the multivariant stream; a publisher
// reconnect continues the stream after EXT-X-DISCONTINUITY; the stream ends with
// EXT-X-ENDLIST when the publisher leaves. It measures capture → part available.
func TestEndToEnd(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 55*time.Second)
	env := newTestEnv(t)
	// The rungs come through the room policy (configured ladders), which overrides the
	// default ladder: the 240p rendition below exists only through it.
	rooms := func(room string) config.RoomSettings {
		if room != testRoom && room != "junk" {
			t.Errorf("room policy asked for room %q", room)
		}
		return testRooms(room)
	}
	m := env.runManager(t, context.Background(), Options{Rooms: rooms, Poll: 100 * time.Millisecond,
		StopAfter: 3 * time.Second, Linger: time.Second})

	stopDemo := startDemo(t, env)
	stopJunk := startJunkPublisher(t, env, "junk") // a broken room next door
	base := env.URL + "/hls/" + testRoom + "/"
	mv := env.waitFor(t, ctx, "multivariant playlist with both renditions and audio", base+"index.m3u8", func(b string) bool {
		return strings.Contains(b, "source/index.m3u8") && strings.Contains(b, "240p/index.m3u8") && strings.Contains(b, "TYPE=AUDIO")
	})
	t.Logf("multivariant playlist:\n%s", mv)
	if enc := m.Encoder(); enc.Name == "" {
		t.Errorf("no encoder probed")
	}

	var wg sync.WaitGroup
	check := func(name string, fn func() error) {
		wg.Go(func() {
			if err := fn(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	for _, r := range []string{"source", "240p", "a"} {
		check("ffprobe "+r, func() error { return probe(ctx, t, base+r+"/index.m3u8", r) })
	}
	check("ffmpeg -xerror", func() error {
		out, err := testkit.Command(ctx, 30*time.Second, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-xerror",
			"-i", base+"index.m3u8", "-map", "0", "-t", "4", "-f", "null", "-")
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	wg.Wait()

	// Capture → part available, measured by blocking-reload clients alone (the decoders
	// above would compete for the two cores).
	latCtx, stopLatency := context.WithTimeout(ctx, 6*time.Second)
	lat := map[string]*partLatency{"source": {}, "240p": {}}
	var latWG sync.WaitGroup
	for r, p := range lat {
		latWG.Go(func() { p.run(latCtx, env, base+r+"/index.m3u8", time.Second/testFPS) })
	}
	<-latCtx.Done()
	stopLatency()
	latWG.Wait()
	for _, r := range []string{"source", "240p"} {
		p50, p95, n := lat[r].percentiles()
		t.Logf("capture → part available, %s rendition: p50 %v, p95 %v over %d parts (%d failed requests)", r,
			p50.Round(time.Millisecond), p95.Round(time.Millisecond), n, lat[r].errs)
		if p95 > 300*time.Millisecond {
			t.Logf("%s samples: %v", r, lat[r].samples)
		}
		if n < 5 {
			t.Errorf("%s: only %d part latencies measured", r, n)
		}
	}

	// A publisher reconnect continues the same stream after a discontinuity.
	stopDemo()
	stopDemo = startDemo(t, env)
	for _, r := range []string{"source", "240p", "a"} {
		env.waitFor(t, ctx, r+": parts after a discontinuity", base+r+"/index.m3u8", func(b string) bool {
			_, after, ok := strings.Cut(b, "#EXT-X-DISCONTINUITY\n")
			return ok && strings.Count(after, "#EXT-X-PART:") >= 2
		})
	}
	out, err := testkit.Command(ctx, 30*time.Second, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-xerror",
		"-i", base+"index.m3u8", "-map", "0", "-t", "3", "-f", "null", "-")
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("ffmpeg -xerror after the reconnect: %v: %s", err, out)
	}
	if rooms := m.Rooms(); len(rooms) != 2 || rooms[0] != testRoom || rooms[1] != "junk" {
		t.Errorf("bridged rooms after the reconnect: %v, want [%s junk]", rooms, testRoom)
	}

	// The publishers leave: the streams end after StopAfter.
	stopDemo()
	stopJunk()
	env.waitFor(t, ctx, "EXT-X-ENDLIST", base+"source/index.m3u8", func(b string) bool {
		return strings.Contains(b, "#EXT-X-ENDLIST")
	})
	for deadline := time.Now().Add(5 * time.Second); len(m.Rooms()) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if rooms := m.Rooms(); len(rooms) != 0 {
		t.Errorf("bridges still running after the publishers left: %v", rooms)
	}
	if env.Logs.Contains("panic") {
		t.Error("a pipeline panicked")
	}
}

// probe has ffprobe decode three seconds of a media playlist and checks codec and size.
func probe(ctx context.Context, t *testing.T, url, rendition string) error {
	st, err := testkit.ProbeStream(ctx, url, 3*time.Second)
	if err != nil {
		return err
	}
	want := map[string]string{"source": "h264 640x360", "240p": "h264 426x240", "a": "aac 2ch 48000",
		"source-320": "h264 320x240"}[rendition]
	if got := st.String(); got != want || st.Frames <= 0 {
		return fmt.Errorf("ffprobe: %s, %d frames decoded; want %s and frames", got, st.Frames, want)
	}
	t.Logf("ffprobe %s: %s, %d frames decoded", rendition, st, st.Frames)
	return nil
}
