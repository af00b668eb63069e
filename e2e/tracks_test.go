package e2e

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/glint-video/glint/client"
)

// TestWatchPageGetsLateVideo: a room goes live with its publisher's first track. A pion
// publisher sends Opus at once and VP8 only 3 s later, so a Chromium viewer that was waiting
// for the room joins with audio only (the answer rejects its video). When the room's events
// list the video track, the watch page reconnects by itself and plays the video.
func TestWatchPageGetsLateVideo(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	start := time.Now()
	ivf := vp8File(t)
	var args []string
	if serverHasFlag(t, "hls") {
		args = append(args, "--hls=false")
	}
	srv := startServer(t, args...)
	room := "late-video"

	view := startBrowser(t, "watch", srv.url("/watch/"+room), 40)
	view.waitState(20*time.Second, "a page waiting for the publisher", func(s pageState) bool { return s.State == "waiting" })

	pub := publishLateVideo(t, srv.url("/whip/"+room), ivf, 3*time.Second)
	first := view.waitState(15*time.Second, "a session", func(s pageState) bool { return s.Session != "" })
	t.Logf("%.1fs: viewer joined %s", since(start), first.Session)
	srv.waitRoom(t, room, 10*time.Second, "live with VP8 video", func(r roomInfo) bool {
		v, ok := r.track("video")
		return r.Live && ok && strings.EqualFold(v.Codec, "VP8")
	})
	t.Logf("%.1fs: video started at the publisher", since(start))
	got := view.waitState(20*time.Second, "decoded VP8 video", func(s pageState) bool {
		return s.State == "live" && s.Video.Codec == "VP8" && s.Video.FramesDecoded > 10 && s.Video.FrameWidth == 320
	})
	t.Logf("%.1fs: viewer plays %dx%d %s in %s (%d frames)", since(start), got.Video.FrameWidth, got.Video.FrameHeight,
		got.Video.Codec, got.Session, got.Video.FramesDecoded)
	if got.Session == first.Session {
		t.Logf("the first session already had video (the viewer joined after the video started)")
	}
	if res := view.finish(); !res.OK {
		t.Errorf("viewer: %s", res.Failure)
	}
	pub.stop(t)
}

// vp8File encodes 4 s of a 320x180 test pattern at 30 fps to VP8 (a keyframe every 15 frames).
func vp8File(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pattern.ivf")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=320x180:rate=30", "-t", "4", "-c:v", "libvpx", "-g", "15", "-b:v", "300k",
		"-deadline", "realtime", "-f", "ivf", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg (libvpx) for the VP8 test file: %v\n%s", err, b)
	}
	return out
}

// latePublisher is a pion WHIP publisher whose video starts after its audio.
type latePublisher struct {
	sess   *client.Session
	cancel context.CancelFunc
	wg     sync.WaitGroup
	err    error // the first write error, after wg.Wait
}

// publishLateVideo publishes Opus silence at once and the VP8 frames of ivf (looped) after delay.
func publishLateVideo(t *testing.T, whipURL, ivf string, delay time.Duration) *latePublisher {
	t.Helper()
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "late")
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "late")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := client.Publish(ctx, whipURL, []webrtc.TrackLocal{audio, video}, client.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatalf("WHIP publish: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	p := &latePublisher{sess: sess, cancel: stop}
	t.Cleanup(func() { p.stop(t) })
	var errMu sync.Mutex
	setErr := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if p.err == nil && err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.err = err
		}
	}
	p.wg.Add(2)
	go func() { // 20 ms Opus silence frames (RFC 6716 section 3.1: a CELT silence frame)
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				setErr(audio.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}))
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		select {
		case <-runCtx.Done():
			return
		case <-time.After(delay):
		}
		setErr(loopIVF(runCtx, ivf, video))
	}()
	return p
}

// loopIVF writes the frames of the IVF file to track at 30 fps, from the start again at its end,
// until ctx ends.
func loopIVF(ctx context.Context, path string, track *webrtc.TrackLocalStaticSample) error {
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		r, _, err := ivfreader.NewWith(f)
		if err != nil {
			_ = f.Close()
			return err
		}
		for {
			frame, _, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = f.Close()
				return err
			}
			select {
			case <-ctx.Done():
				_ = f.Close()
				return nil
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: frame, Duration: time.Second / 30}); err != nil {
				_ = f.Close()
				return err
			}
		}
		_ = f.Close()
	}
}

// stop ends the media and the WHIP session (DELETE); it reports a write error, once.
func (p *latePublisher) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.sess.Close(ctx); err != nil {
		t.Errorf("WHIP publisher close: %v", err)
	}
	if p.err != nil {
		t.Errorf("publisher write: %v", p.err)
	}
}
