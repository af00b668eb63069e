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
	// The 240p rung's checks hold unless the transcoder reported dropping the rung because
	// encoding fell behind real time (by design, on a loaded machine): then its rendition
	// ends, and what needed it is logged NOT ASSERTED (a decode of every rendition then
	// decodes the source rendition alone).
	unlessDropped := func(since int, err error) error {
		if err != nil && rungDrops(env, rung240) > since {
			t.Logf("NOT ASSERTED (the transcoder dropped the %s rung for load): %v", rung240, err)
			return nil
		}
		return err
	}
	decodeAll := func(since int, seconds string) error {
		err := decode(ctx, base+"index.m3u8", seconds)
		if unlessDropped(since, err) == nil && err != nil {
			return decode(ctx, base+"source/index.m3u8", seconds)
		}
		return err
	}
	for _, r := range []string{"source", "240p", "a"} {
		check("ffprobe "+r, func() error {
			err := probe(ctx, t, base+r+"/index.m3u8", r)
			if r == rung240 {
				return unlessDropped(0, err)
			}
			return err
		})
	}
	check("ffmpeg -xerror", func() error { return decodeAll(0, "4") })
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
		if n < 5 && (r != rung240 || rungDrops(env, rung240) == 0) {
			t.Errorf("%s: only %d part latencies measured", r, n)
		} else if n < 5 {
			t.Logf("%s: only %d part latencies measured: NOT ASSERTED, the transcoder dropped the rung for load", r, n)
		}
	}

	// A publisher reconnect continues the same stream after a discontinuity.
	// The new source gets a new ladder: the 240p rung is back unless dropped again.
	stopDemo()
	dropsBefore := rungDrops(env, rung240)
	stopDemo = startDemo(t, env)
	for _, r := range []string{"source", "240p", "a"} {
		env.waitFor(t, ctx, r+": parts after a discontinuity", base+r+"/index.m3u8", func(b string) bool {
			_, after, ok := strings.Cut(b, "#EXT-X-DISCONTINUITY\n")
			return ok && strings.Count(after, "#EXT-X-PART:") >= 2 || r == rung240 && rungDrops(env, rung240) > dropsBefore
		})
	}
	if err := decodeAll(dropsBefore, "3"); err != nil {
		t.Errorf("ffmpeg -xerror after the reconnect: %v", err)
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

// rung240 is the re-encoded rung of testRooms.
const rung240 = "240p"

// rungDrops counts the transcoder's reports of dropping rung because encoding fell behind
// real time (transcoder.Ladder's load check).
func rungDrops(env *testEnv, rung string) int {
	n := 0
	for line := range strings.SplitSeq(env.Logs.String(), "\n") {
		if strings.Contains(line, "rung dropped") && strings.Contains(line, "rung="+rung+" ") {
			n++
		}
	}
	return n
}

// decode has ffmpeg -xerror decode seconds of every stream of the playlist at url.
func decode(ctx context.Context, url, seconds string) error {
	out, err := testkit.Command(ctx, 30*time.Second, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-xerror",
		"-i", url, "-map", "0", "-t", seconds, "-f", "null", "-")
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
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
