package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Layer widths of the publish page's simulcast (l = /4, m = /2, h = full) from Chromium's fake
// 1280x720 camera. The encoder may align a scaled size, hence the tolerance.
var layerWidth = map[string]int{"l": 320, "m": 640, "h": 1280}

const widthTolerance = 16

// TestQualityMenuBrowser: Chromium publishes simulcast (l/m/h) from its fake camera through
// /publish/{room}?minKbps=2500, so that all three layers run from the start. Two Chromium
// viewers open /watch/{room}?quality=m and ?quality=l: the page caps its WHEP session through
// the layer extension (the Link of the 201 answer) before it applies the answer, and each viewer
// plays the capped layer: getStats frameWidth of that layer, the page's server statistics
// (GET /api/sessions/{id}) on that layer and the API reporting that cap. The medium viewer then
// picks High in the page's quality menu and plays 1280 px in the same session. On l and after
// the switch to h, frames must still be decoded a second later.
//
// The order of the steps keeps the test about the cap, not about the SFU's bandwidth estimate or
// Chrome's keyframe throttling:
//   - The medium viewer starts with the publisher and waits for it (the page follows the room's
//     events), and switches to High as soon as it plays m: a 2-core machine under load often
//     makes the viewer's delay-based estimate collapse to about 0.85 × the rate it receives
//     (~500 kbit/s on m) after a few seconds, and from there the SFU climbs to h (~1.1 Mbit/s
//     here) only slowly or not at all. While the estimate is still the initial 3 Mbit/s, lifting
//     the cap to h is enough.
//   - The low viewer starts only then, so that its keyframe request is seconds away from the
//     other viewer's: Chrome ignores a keyframe request that comes within 300 ms of the previous
//     one for the same sender (any of its layers), and the SFU does not repeat the request that
//     starts a viewer's first layer, so that viewer would wait for video for ever.
//
// Both VP8 (libvpx, Chromium's default) and H.264 (OpenH264) run, each in about 15-25 s on 2
// cores. H.264 used to fail about 1 run in 4 under load, with the server staying on m after the
// viewer picked High: the SFU's allocator had taken the viewer's cap (m) as the ceiling of its
// own decision, so lifting the cap meant climbing through the allocator's 1.5 s up-hold, and a
// delay-based estimate that collapsed meanwhile (see above) kept it on m. The allocator now
// decides what the network carries whatever the cap (the viewer gets the lower of the two), so
// High takes effect at the next keyframe of h. (A switch starts at the SPS/PPS packet of the
// target's IDR: the uptrack marks only a picture's first keyframe-start packet as an entry.)
// What can still fail on a starved machine is the browsers' own estimates: the publishing
// Chrome may stop sending h (qualityLimitationReason "bandwidth"), or a viewer's estimate may
// fall below its layer; the logs show both.
func TestQualityMenuBrowser(t *testing.T) {
	requireBrowser(t)
	t.Run("VP8", func(t *testing.T) { qualityMenu(t, "vp8") })
	t.Run("H264", func(t *testing.T) { qualityMenu(t, "h264") })
}

func qualityMenu(t *testing.T, codec string) {
	start := time.Now()
	args := []string{"--log-level", "debug"} // layer switches and allocations, in the log of a failed run
	if serverHasFlag(t, "hls") {
		// The LL-HLS ladder re-encodes every room (two x264 encodes): on 2 cores that starves the
		// browsers, and the viewers' delay-based estimates collapse. This test is about WebRTC.
		args = append(args, "--hls=false")
	}
	srv := startServer(t, args...)
	room := "quality-" + codec

	pub := startBrowser(t, "publish", srv.url("/publish/"+room), 50, "--query=minKbps=2500&codec="+codec)
	mid := startBrowser(t, "watch", srv.url("/watch/"+room), 50, "--query=quality=m")
	mid.name = "chromium watch ?quality=m"
	pub.waitState(30*time.Second, "a live publisher", func(s pageState) bool { return s.State == "live" })
	srv.waitRoom(t, room, 15*time.Second, "live with audio and video layers l, m, h", func(r roomInfo) bool {
		v, ok := r.track("video")
		_, hasAudio := r.track("audio")
		return r.Live && ok && hasAudio && sameSet(v.Layers, "l", "m", "h")
	})
	t.Logf("%.1fs: publisher live with l, m, h", since(start))

	// The first sample on m is enough here (the low viewer's and the switched one's pictures are
	// checked for going on): every second counts before the estimate may collapse.
	m := waitOnLayer(t, mid, "m", "m", 30*time.Second)
	checkCap(t, srv, m.Session, "m")
	// The medium viewer picks High in the menu: the page POSTs {"maxLayer":"h"}.
	mid.Send("quality h")
	t.Logf("%.1fs: medium viewer plays m at its t=%ds: %s", since(start), m.T, describe(m))
	h := waitLayer(t, mid, "h", "h", 20*time.Second)
	t.Logf("%.1fs: medium viewer plays h at its t=%ds: %s", since(start), h.T, describe(h))
	if h.Session != m.Session {
		t.Errorf("switching the quality changed the WHEP session (%s → %s): want the same session", m.Session, h.Session)
	}
	checkCap(t, srv, h.Session, "h")

	low := startBrowser(t, "watch", srv.url("/watch/"+room), 50, "--query=quality=l")
	low.name = "chromium watch ?quality=l"
	l := waitLayer(t, low, "l", "l", 30*time.Second)
	t.Logf("%.1fs: low viewer plays l at its t=%ds: %s", since(start), l.T, describe(l))
	checkCap(t, srv, l.Session, "l")

	// End all three at once (each leaves its page, which DELETEs its session).
	for _, b := range []*browser{low, mid, pub} {
		b.Terminate()
	}
	for _, end := range []struct {
		b       *browser
		quality string // the menu's value at the end ("" for the publisher)
	}{{low, "l"}, {mid, "h"}, {pub, ""}} {
		res := end.b.finish()
		if !res.OK {
			t.Errorf("%s: %s", end.b.name, res.Failure)
		}
		if res.Quality != end.quality {
			t.Errorf("%s: quality %q at the end, want %q", end.b.name, res.Quality, end.quality)
		}
	}
	t.Logf("%.1fs: done", since(start))
}

// waitLayer waits for a watch page that plays layer with its quality menu at quality: a sample
// with the server forwarding layer and the decoder at that layer's width, then one (within 5 s)
// that is still so and has decoded at least 10 more frames (a layer switch that leaves Chrome's
// decoder stuck shows here). It returns the first.
func waitLayer(t *testing.T, b *browser, quality, layer string, timeout time.Duration) pageState {
	t.Helper()
	first := waitOnLayer(t, b, quality, layer, timeout)
	b.waitState(5*time.Second, "layer "+layer+", still decoding", func(s pageState) bool {
		return onLayer(s, quality, layer) && s.Session == first.Session && s.Video.FramesDecoded >= first.Video.FramesDecoded+10
	})
	return first
}

// waitOnLayer waits for the first sample of waitLayer.
func waitOnLayer(t *testing.T, b *browser, quality, layer string, timeout time.Duration) pageState {
	t.Helper()
	return b.waitState(timeout, "quality "+quality+", server layer "+layer+" and frameWidth "+strconv.Itoa(layerWidth[layer]),
		func(s pageState) bool { return onLayer(s, quality, layer) })
}

func onLayer(s pageState, quality, layer string) bool {
	return s.State == "live" && s.Quality == quality && s.Server.Layer == layer && !s.Server.Paused &&
		s.Video.FramesDecoded > 0 && abs(s.Video.FrameWidth-layerWidth[layer]) <= widthTolerance
}

func describe(s pageState) string {
	return fmt.Sprintf("%dx%d %s, %d frames, %.0f fps; server: layer %s, cap %s, estimate %.0f kbit/s, RTT %.1f ms",
		s.Video.FrameWidth, s.Video.FrameHeight, s.Video.Codec, s.Video.FramesDecoded, s.Video.FramesPerSecond,
		s.Server.Layer, s.Server.MaxLayer, s.Server.EstimateKbps, s.Server.RTTMs)
}

// checkCap asks the API (GET /api/sessions/{id}) for the viewer's video track: its cap must be
// maxLayer. (Its layer may be lower by now: the bandwidth estimate has its say below the cap.)
func checkCap(t *testing.T, srv *server, location, maxLayer string) {
	t.Helper()
	id := path.Base(location)
	resp, err := httpClient.Get(srv.url("/api/sessions/" + id))
	if err != nil {
		t.Fatalf("GET /api/sessions/%s: %v", id, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/sessions/%s: %d %s", id, resp.StatusCode, body)
	}
	var info struct {
		Role   string `json:"role"`
		Tracks []struct {
			Kind     string `json:"kind"`
			MaxLayer string `json:"max_layer"`
		} `json:"tracks"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("GET /api/sessions/%s: %v in %s", id, err, body)
	}
	for _, tr := range info.Tracks {
		if tr.Kind == "video" {
			if info.Role != "viewer" || tr.MaxLayer != maxLayer {
				t.Errorf("GET /api/sessions/%s: role %q, video cap %q; want a viewer capped at %q (%s)", id, info.Role, tr.MaxLayer, maxLayer, body)
			}
			return
		}
	}
	t.Errorf("GET /api/sessions/%s: no video track (%s)", id, body)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// serverHasFlag reports whether `glint serve --help` lists -name.
func serverHasFlag(t *testing.T, name string) bool {
	t.Helper()
	out, _ := exec.Command(glintBin(t), "serve", "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s+--?` + regexp.QuoteMeta(name) + `\b`).Match(out)
}
