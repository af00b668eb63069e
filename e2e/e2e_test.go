package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/glint-video/glint/internal/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestBrowserPublishAndWatch: Chromium publishes its fake camera and microphone through
// /publish/{room} (simulcast l/m/h) and a second Chromium plays /watch/{room}, once per codec.
func TestBrowserPublishAndWatch(t *testing.T) {
	requireBrowser(t)
	for _, tc := range []struct {
		name, codec, mime, encoder string
	}{
		{name: "H264", codec: "h264", mime: "H264", encoder: "OpenH264"},
		{name: "VP8", codec: "vp8", mime: "VP8", encoder: "libvpx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			srv := startServer(t)
			room := "browser-" + tc.codec

			pub := startBrowser(t, "publish", srv.url("/publish/"+room), 120, "--query=codec="+tc.codec)
			live := pub.waitState(30*time.Second, "live publisher sending video", func(s pageState) bool {
				return s.State == "live" && len(s.Outbound) > 0 && s.Outbound[0].FramesEncoded > 0
			})
			t.Logf("%.1fs: publisher live at its t=%ds", since(start), live.T)
			srv.waitRoom(t, room, 10*time.Second, "live with "+tc.mime+" video and audio", func(r roomInfo) bool {
				v, ok := r.track("video")
				_, hasAudio := r.track("audio")
				return r.Live && ok && hasAudio && strings.EqualFold(v.Codec, tc.mime)
			})

			view := startBrowser(t, "watch", srv.url("/watch/"+room), 60)
			first := view.waitState(30*time.Second, "decoded video", func(s pageState) bool {
				return s.Video.FramesDecoded > 0 && s.Video.FrameWidth > 0
			})
			srv.waitRoom(t, room, 5*time.Second, "live with 1 viewer", func(r roomInfo) bool {
				return r.Live && r.Viewers == 1
			})
			later := view.waitState(10*time.Second, "more decoded frames", func(s pageState) bool {
				return s.T > first.T && s.Video.FramesDecoded > first.Video.FramesDecoded
			})
			t.Logf("%.1fs: viewer: %d frames at t=%ds, %d at t=%ds, %dx%d %s, %.0f fps",
				since(start), first.Video.FramesDecoded, first.T, later.Video.FramesDecoded, later.T,
				later.Video.FrameWidth, later.Video.FrameHeight, later.Video.Codec, later.Video.FramesPerSecond)
			if later.State != "live" || later.Video.Codec != tc.mime {
				t.Errorf("viewer: state %q codec %q, want live %s", later.State, later.Video.Codec, tc.mime)
			}
			res := view.finish()
			if !res.OK {
				t.Fatalf("viewer: %s", res.Failure)
			}
			// Leaving the page DELETEs the WHEP session.
			srv.waitRoom(t, room, 15*time.Second, "without viewers after the viewer left", func(r roomInfo) bool {
				return r.Viewers == 0
			})

			// Chrome may hold back the costly top layer for a while when the CPUs are busy (other
			// test packages run beside this one): wait for every layer only now.
			all := pub.waitState(45*time.Second, "frames on every simulcast layer (l, m, h)", func(s pageState) bool {
				return s.State == "live" && len(s.Outbound) == 3 && allEncoded(s.Outbound)
			})
			t.Logf("%.1fs: viewer gone; publisher had frames on every layer at its t=%ds", since(start), all.T)
			srv.waitRoom(t, room, 10*time.Second, "listing layers l, m, h", func(r roomInfo) bool {
				v, ok := r.track("video")
				return r.Live && ok && sameSet(v.Layers, "l", "m", "h")
			})
			pres := pub.finish()
			if !pres.OK {
				t.Fatalf("publisher: %s", pres.Failure)
			}
			rids := make([]string, 0, len(pres.Outbound))
			for _, o := range pres.Outbound {
				rids = append(rids, o.RID)
				if !strings.Contains(o.EncoderImplementation, tc.encoder) {
					t.Errorf("publisher layer %s: encoder %q, want %s", o.RID, o.EncoderImplementation, tc.encoder)
				}
			}
			if !sameSet(rids, "l", "m", "h") {
				t.Errorf("publisher encodings %v, want l, m, h", rids)
			}
			t.Logf("%.1fs: publisher ended: %+v", since(start), pres.Outbound)
		})
	}
}

// TestGStreamerWHIPPublisher: the GStreamer webrtcbin publisher (H.264 + Opus, the OBS stand-in)
// publishes over WHIP; a pion WHEP viewer gets its H.264 (with a keyframe) and Opus RTP, and
// Chromium's /watch page decodes the H.264.
func TestGStreamerWHIPPublisher(t *testing.T) {
	requireBrowser(t)
	requireGStreamer(t)
	srv := startServer(t)
	room := "obs"

	gst := testkit.StartProc(t, testkit.ProcOptions{Name: "gst_whip.py"}, "/usr/bin/python3", "gst_whip.py", srv.url("/whip/"+room),
		"--seconds=60", "--size=640x360")
	gst.WaitLine(20*time.Second, "WHIP 201 and ICE connected", func(line string) bool {
		var l gstLine
		return jsonInto(line, &l) && (l.ICE == "connected" || l.ICE == "completed")
	})
	info := srv.waitRoom(t, room, 10*time.Second, "live with H264 video and Opus audio", func(r roomInfo) bool {
		v, okV := r.track("video")
		a, okA := r.track("audio")
		return r.Live && okV && okA && strings.EqualFold(v.Codec, "H264") && strings.EqualFold(a.Codec, "opus")
	})
	t.Logf("room: %+v", info)

	sess, tally := playWHEP(t, srv.url("/whep/"+room))
	tally.waitFor(t, 10*time.Second, "H.264 keyframe and 50 video + 25 audio packets", func() bool {
		return tally.keyframe() && tally.video >= 50 && tally.audio >= 25
	})
	tally.mu.Lock()
	vmime, amime := tally.videoMime, tally.audioMime
	tally.mu.Unlock()
	if !strings.EqualFold(vmime, "video/H264") || !strings.EqualFold(amime, "audio/opus") {
		t.Errorf("pion viewer got %s + %s, want video/H264 + audio/opus", vmime, amime)
	}
	t.Logf("pion viewer: %s", tally)
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sess.Close(closeCtx); err != nil {
		t.Errorf("pion viewer close (DELETE): %v", err)
	}

	watchH264(t, startBrowser(t, "watch", srv.url("/watch/"+room), 60), "decoded H.264 video")

	err := gst.Stop(20 * time.Second)
	var gres gstResult
	resultLine(t, gst, &gres)
	if err != nil || !gres.OK || len(gres.PacketsSent) != 2 {
		t.Fatalf("gst_whip.py: exit %v, result %+v (want ok with two RTP streams)", err, gres)
	}
	t.Logf("gst_whip.py: %+v", gres)
}

// TestDemoPublisherPlaysInBrowser: `glint demo` (ffmpeg test pattern + tone over WHIP) publishes
// and Chromium's /watch/demo decodes it; the screenshot option of browser.mjs saves the frame.
func TestDemoPublisherPlaysInBrowser(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	srv := startServer(t)

	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/demo"),
		"--size", "640x360", "--loopback")
	srv.waitRoom(t, "demo", 20*time.Second, "live with H264 video and audio", func(r roomInfo) bool {
		v, okV := r.track("video")
		_, okA := r.track("audio")
		return r.Live && okV && okA && strings.EqualFold(v.Codec, "H264")
	})

	shot := filepath.Join(t.TempDir(), "demo.png")
	watchH264(t, startBrowser(t, "watch", srv.url("/watch/demo"), 60, "--screenshot="+shot), "decoded video")
	if png, err := os.ReadFile(shot); err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot %s: %d bytes, %v (want a PNG)", shot, len(png), err)
	}

	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v (want exit status 0)", err)
	}
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }

func allEncoded(out []outbound) bool {
	for _, o := range out {
		if o.FramesEncoded <= 0 {
			return false
		}
	}
	return len(out) > 0
}

// sameSet reports whether got holds exactly the strings of want, in any order.
func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// watchH264 waits until the watch page view decodes video (what), then more frames and
// audio, ends it and checks that it played H.264 at 640x360.
func watchH264(t *testing.T, view *browser, what string) {
	t.Helper()
	s := view.waitState(30*time.Second, what, func(s pageState) bool {
		return s.Video.FramesDecoded > 0 && s.Video.FrameWidth > 0
	})
	view.waitState(10*time.Second, "more decoded frames and audio", func(n pageState) bool {
		return n.Video.FramesDecoded > s.Video.FramesDecoded && n.Audio.PacketsReceived > 0
	})
	res := view.finish()
	if !res.OK {
		t.Fatalf("Chromium viewer: %s", res.Failure)
	}
	if res.Video.Codec != "H264" || res.Video.FrameWidth != 640 || res.Video.FrameHeight != 360 {
		t.Errorf("Chromium viewer: %s %dx%d, want H264 640x360", res.Video.Codec, res.Video.FrameWidth, res.Video.FrameHeight)
	}
	t.Logf("Chromium viewer: %d frames %dx%d %s, %d audio packets", res.Video.FramesDecoded,
		res.Video.FrameWidth, res.Video.FrameHeight, res.Video.Codec, res.Audio.PacketsReceived)
}
