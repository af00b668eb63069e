package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// hlsPageState is one sample of window.glintWatch with the fields of the LL-HLS player
// (web/static/hlsplayer.js), as browser.mjs prints it.
type hlsPageState struct {
	pageState
	ModeChoice string `json:"modeChoice"` // auto, webrtc or hls
	Mode       string `json:"mode"`       // what plays: webrtc or hls
	Fallback   string `json:"fallback"`   // why auto mode left WebRTC
	HLS        struct {
		Engine         string   `json:"engine"`
		CurrentTime    float64  `json:"currentTime"`
		Latency        *float64 `json:"latency"`
		TargetLatency  *float64 `json:"targetLatency"`
		GlassToGlassMs *float64 `json:"glassToGlassMs"`
		BufferS        *float64 `json:"bufferS"`
		Level          *struct {
			Index   int `json:"index"`
			Width   int `json:"width"`
			Height  int `json:"height"`
			Bitrate int `json:"bitrate"`
		} `json:"level"`
		Levels     int    `json:"levels"`
		Auto       bool   `json:"auto"`
		LowLatency *bool  `json:"lowLatency"`
		Error      string `json:"error"`
		Recoveries int    `json:"recoveries"`
	} `json:"hls"`
}

// waitHLS waits for a per-second sample of the watch page for which cond holds.
func (b *browser) waitHLS(timeout time.Duration, what string, cond func(hlsPageState) bool) hlsPageState {
	b.t.Helper()
	return waitPageSample(b, timeout, what, cond)
}

// hlsSamples returns the samples printed so far from sample t=from on that were playing LL-HLS.
func (b *browser) hlsSamples(from int) []hlsPageState {
	var out []hlsPageState
	for _, line := range b.Output() {
		var s hlsPageState
		if json.Unmarshal([]byte(line), &s) == nil && s.T >= from && s.Mode == "hls" && s.HLS.CurrentTime > 0 {
			out = append(out, s)
		}
	}
	return out
}

// requireHLSPlayer fails the test when hls.js was not put into web/static/vendor/ (`make web`),
// so the glint binary embeds no LL-HLS player.
func requireHLSPlayer(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("..", "web", "static", "vendor", "hls.min.js")); err != nil {
		t.Fatalf("web/static/vendor/hls.min.js is missing (%v): run `make web` before building glint", err)
	}
}

// TestWatchPageLLHLS: a demo publisher (ffmpeg test pattern, 854x480 H.264 + Opus over WHIP)
// into a server with LL-HLS on, whose ladder is then the 480p source plus a 360p rung.
//   - /watch/{room}?mode=hls: hls.js plays the multivariant playlist in low-latency mode,
//     currentTime advances, hls.latency comes under llhlsLatency (2.5 s) and hls.js aims
//     under it, "Low" in the quality menu puts the lowest level on screen, and playback is
//     back under llhlsLatency after the switch.
//   - the mode menu: auto plays WebRTC; LL-HLS, then WebRTC again, as the viewer picks them.
//   - ?mode=hls where the server has no hls.js (404): the page says that the LL-HLS player is
//     not built and to run make.
//   - auto mode with WebRTC broken in the page (RTCPeerConnection throws; ICE fails; or
//     setRemoteDescription fails after the WHEP answer): the page falls back to LL-HLS by
//     itself and plays.
func TestWatchPageLLHLS(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	requireHLSPlayer(t)
	srv := startServer(t, "--hls=true")
	checkServesHLSPlayer(t, srv)
	room := "llhls"
	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/"+room),
		"--size", "854x480", "--loopback")
	srv.waitRoom(t, room, 30*time.Second, "live with H264 video and audio", func(r roomInfo) bool {
		v, okV := r.track("video")
		_, okA := r.track("audio")
		return r.Live && okV && okA && strings.EqualFold(v.Codec, "H264")
	})

	t.Run("mode=hls", func(t *testing.T) { playLLHLS(t, srv, room) })
	t.Run("switch", func(t *testing.T) { switchModes(t, srv, room) })
	t.Run("not-built", func(t *testing.T) { hlsPlayerNotBuilt(t, srv, room) })
	t.Run("stall", func(t *testing.T) { recoverFromStall(t, srv, room) })
	// Short subtest names: Chromium's profile goes under t.TempDir(), and its socket path must
	// stay under 108 bytes.
	for _, tc := range []struct{ name, script string }{
		{"fallback/nopc", // RTCPeerConnection throws
			`window.RTCPeerConnection = function () { throw new Error('WebRTC broken by the test'); };`},
		{"fallback/ice", // a wrong ICE password in the answer: every connectivity check fails
			`const apply = RTCPeerConnection.prototype.setRemoteDescription;
			RTCPeerConnection.prototype.setRemoteDescription = function (d) {
				const sdp = d.sdp.replace(/^a=ice-pwd:.*$/gm, 'a=ice-pwd:' + 'x'.repeat(24));
				return apply.call(this, { type: d.type, sdp });
			};`},
		{"fallback/sdp", // setRemoteDescription fails
			`RTCPeerConnection.prototype.setRemoteDescription = function () {
				return Promise.reject(new DOMException('broken by the test', 'OperationError'));
			};`},
	} {
		t.Run(tc.name, func(t *testing.T) { fallBackToLLHLS(t, srv, room, tc.script) })
	}

	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v (want exit status 0)", err)
	}
}

// checkServesHLSPlayer: the binary embeds hls.js and serves it as JavaScript.
func checkServesHLSPlayer(t *testing.T, srv *server) {
	t.Helper()
	resp, err := httpClient.Get(srv.url("/static/vendor/hls.min.js"))
	if err != nil {
		t.Fatalf("GET /static/vendor/hls.min.js: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		len(body) < 100000 {
		t.Fatalf("GET /static/vendor/hls.min.js: %d %q, %d bytes; want the embedded hls.js (make web, then build)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// llhlsLatency is what low-latency playback must reach on loopback, when it starts and
// again after a level switch: hls.js aims at PART-HOLD-BACK (3 parts, 1 s with the default
// 333 ms parts) behind the live edge and measures 1.3-1.7 s here. Plain HLS cannot get under
// it: a client without parts sees only whole segments and holds back 3 target durations
// (HOLD-BACK, 6 s with 2 s segments), and even playing from the start of the newest segment
// would put it 2 s or more behind. It is not a bound on every sample: on a loaded machine
// playback stalls now and then for a second or two, and hls.js then plays faster
// (maxLiveSyncPlaybackRate) until it is back near the live edge, hence waits, not a median.
const llhlsLatency = 2.5

func playLLHLS(t *testing.T, srv *server, room string) {
	start := time.Now()
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 150, "--query=mode=hls")
	first := view.waitHLS(90*time.Second, "hls.js playing both levels", func(s hlsPageState) bool {
		return s.Mode == "hls" && s.HLS.CurrentTime > 0 && s.Video.FrameWidth > 0 && s.HLS.Levels >= 2
	})
	t.Logf("%.1fs: playing at t=%d: %s", since(start), first.T, first.describeHLS())
	settled := view.waitHLS(20*time.Second, fmt.Sprintf("hls.latency under %.1f s", llhlsLatency), underLLHLSLatency)
	later := view.waitHLS(30*time.Second, "currentTime 3 s further", func(s hlsPageState) bool {
		return s.HLS.CurrentTime >= settled.HLS.CurrentTime+3
	})
	if later.HLS.Engine != "hls.js" || later.HLS.LowLatency == nil || !*later.HLS.LowLatency || later.State != "live" {
		t.Errorf("engine %q, low-latency playlist %v, state %q: want hls.js on an LL-HLS playlist, live",
			later.HLS.Engine, later.HLS.LowLatency, later.State)
	}
	if tl := later.HLS.TargetLatency; tl == nil || *tl >= llhlsLatency {
		t.Errorf("%s: want hls.targetLatency under %.1f s (PART-HOLD-BACK, not 3 segments)", later.describeHLS(), llhlsLatency)
	}

	view.Send("quality l")
	low := view.waitHLS(60*time.Second, "the lowest level on screen", func(s hlsPageState) bool {
		l := s.HLS.Level
		return s.Quality == "l" && l != nil && l.Index == 0 && !s.HLS.Auto && s.Video.FrameHeight == l.Height
	})
	afterSwitch := view.waitHLS(30*time.Second, "currentTime 2 s further on the low level", func(s hlsPageState) bool {
		return s.HLS.CurrentTime >= low.HLS.CurrentTime+2 && s.Video.FrameHeight == low.HLS.Level.Height
	})
	if low.HLS.Level.Height >= 480 {
		t.Errorf("the lowest level is %dp: want a re-encoded rung below the 480p source", low.HLS.Level.Height)
	}
	t.Logf("%.1fs: Low: level %+v on screen at t=%d, %dx%d at t=%d", since(start), *low.HLS.Level, low.T,
		afterSwitch.Video.FrameWidth, afterSwitch.Video.FrameHeight, afterSwitch.T)
	// Back near the live edge after the switch (waitHLS reads the samples from the first on,
	// hence the T bound).
	caughtUp := view.waitHLS(20*time.Second, fmt.Sprintf("hls.latency under %.1f s again on the low level", llhlsLatency),
		func(s hlsPageState) bool {
			return s.T >= afterSwitch.T && underLLHLSLatency(s) && s.Video.FrameHeight == low.HLS.Level.Height
		})

	samples := view.hlsSamples(first.T)
	lat, g2g := hlsLatencies(samples)
	t.Logf("hls.latency over %d samples: median %.2f s, max %.2f s, %.2f s at t=%d (after the switch); glass-to-glass (PDT): median %.0f ms, max %.0f ms",
		len(samples), hlsMedian(lat), slices.Max(append(lat, 0)), *caughtUp.HLS.Latency, caughtUp.T,
		hlsMedian(g2g)*1000, slices.Max(append(g2g, 0))*1000)
	res := view.finish()
	if !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
}

// underLLHLSLatency: the sample plays LL-HLS with hls.latency under llhlsLatency.
func underLLHLSLatency(s hlsPageState) bool {
	return s.Mode == "hls" && s.HLS.Latency != nil && *s.HLS.Latency < llhlsLatency
}

func fallBackToLLHLS(t *testing.T, srv *server, room, script string) {
	start := time.Now()
	path := filepath.Join(t.TempDir(), "break-webrtc.js")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 120, "--init-script="+path)
	first := view.waitHLS(90*time.Second, "fallen back to LL-HLS and playing", func(s hlsPageState) bool {
		return s.Mode == "hls" && s.HLS.CurrentTime > 0 && s.Video.FramesDecoded > 0
	})
	if first.ModeChoice != "auto" || first.Fallback == "" {
		t.Errorf("mode choice %q, fallback %q: want auto, with the reason WebRTC failed", first.ModeChoice, first.Fallback)
	}
	later := view.waitHLS(30*time.Second, "currentTime 3 s further", func(s hlsPageState) bool {
		return s.HLS.CurrentTime >= first.HLS.CurrentTime+3
	})
	t.Logf("%.1fs: fell back (%q) and played: currentTime %.1f at t=%d, %.1f at t=%d, %dx%d",
		since(start), first.Fallback, first.HLS.CurrentTime, first.T, later.HLS.CurrentTime, later.T,
		later.Video.FrameWidth, later.Video.FrameHeight)
	res := view.finish()
	if !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
}

// hangLevelPlaylists is a page script: once the video has played 3 s, the LL-HLS media
// playlists' requests go unanswered for 20 s (a stuck origin or path), so hls.js stalls
// on them with errors it may deem non-fatal.
const hangLevelPlaylists = `(() => {
	let since = 0;
	const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
	XMLHttpRequest.prototype.open = function (method, url, ...rest) {
		this.glintURL = String(url);
		return open.call(this, method, url, ...rest);
	};
	XMLHttpRequest.prototype.send = function (...args) {
		const video = document.querySelector('video');
		if (!since && video && video.currentTime > 3) since = Date.now();
		const hung = since && Date.now() - since < 20000;
		if (hung && /\/hls\/[^/]+\/[^/]+\/index\.m3u8/.test(this.glintURL)) return; // never answered
		return send.apply(this, args);
	};
})();`

// recoverFromStall: the media playlists hang for 20 s (hangLevelPlaylists) while LL-HLS
// plays; the player's no-progress watchdog restarts playback (counted in
// hls.recoveries) and the page plays on once they are answered again.
func recoverFromStall(t *testing.T, srv *server, room string) {
	start := time.Now()
	path := filepath.Join(t.TempDir(), "hang-playlists.js")
	if err := os.WriteFile(path, []byte(hangLevelPlaylists), 0o644); err != nil {
		t.Fatal(err)
	}
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 150, "--query=mode=hls", "--init-script="+path)
	view.waitHLS(90*time.Second, "hls.js playing", func(s hlsPageState) bool { return s.Mode == "hls" && s.HLS.CurrentTime > 3 })
	stalled := view.waitHLS(60*time.Second, "the watchdog restarting a stalled player", func(s hlsPageState) bool {
		return s.HLS.Recoveries > 0
	})
	again := view.waitHLS(90*time.Second, "playing 3 s further after the stall", func(s hlsPageState) bool {
		// a restarted player's first sample may already show the live edge's currentTime before
		// it has decoded a frame: playing means frames decoded too
		return s.T > stalled.T && s.Mode == "hls" && s.HLS.CurrentTime >= stalled.HLS.CurrentTime+3 &&
			s.Video.FramesDecoded > 0
	})
	t.Logf("%.1fs: restarted at t=%d (currentTime %.1f, last error %q), playing again at t=%d (currentTime %.1f, %d restarts)",
		since(start), stalled.T, stalled.HLS.CurrentTime, stalled.HLS.Error, again.T, again.HLS.CurrentTime, again.HLS.Recoveries)
	res := view.finish()
	if !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
}

// hlsLatencies returns the hls.latency (s) and glass-to-glass (s) values of samples.
func hlsLatencies(samples []hlsPageState) (latency, g2g []float64) {
	for _, s := range samples {
		if s.HLS.Latency != nil {
			latency = append(latency, *s.HLS.Latency)
		}
		if s.HLS.GlassToGlassMs != nil {
			g2g = append(g2g, *s.HLS.GlassToGlassMs/1000)
		}
	}
	return latency, g2g
}

func hlsMedian(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func switchModes(t *testing.T, srv *server, room string) {
	start := time.Now()
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 150)
	rtc := view.waitHLS(60*time.Second, "WebRTC playing (auto)", func(s hlsPageState) bool {
		return s.ModeChoice == "auto" && s.Mode == "webrtc" && s.Session != "" && s.Video.FramesDecoded > 0
	})
	view.Send("mode hls")
	hls := view.waitHLS(60*time.Second, "LL-HLS playing after the viewer picked it", func(s hlsPageState) bool {
		return s.ModeChoice == "hls" && s.Mode == "hls" && s.Session == "" && s.HLS.CurrentTime > 1 && s.Video.FramesDecoded > 0
	})
	view.Send("mode webrtc")
	back := view.waitHLS(60*time.Second, "WebRTC playing again", func(s hlsPageState) bool {
		return s.ModeChoice == "webrtc" && s.Mode == "webrtc" && s.Session != "" && s.Video.FramesDecoded > 0 &&
			s.HLS.Engine == ""
	})
	t.Logf("%.1fs: WebRTC at t=%d, LL-HLS at t=%d (%s), WebRTC again at t=%d", since(start), rtc.T, hls.T,
		hls.describeHLS(), back.T)
	if res := view.finish(); !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
}

func hlsPlayerNotBuilt(t *testing.T, srv *server, room string) {
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 60, "--query=mode=hls",
		"--not-found=/static/vendor/hls.min.js")
	s := view.waitHLS(30*time.Second, "the page saying the LL-HLS player is not built", func(s hlsPageState) bool {
		return s.State == "error" && strings.Contains(s.Error, "not built") && strings.Contains(s.Error, "run make")
	})
	t.Logf("page error at t=%d: %q", s.T, s.Error)
	_ = view.Stop(30 * time.Second) // no media, so browser.mjs exits 1 by design
}

// describeHLS is the LL-HLS part of a sample, for logs.
func (s hlsPageState) describeHLS() string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', 2, 64)
	}
	level := "-"
	if l := s.HLS.Level; l != nil {
		level = fmt.Sprintf("%d/%d %dx%d %d kbit/s", l.Index, s.HLS.Levels, l.Width, l.Height, l.Bitrate/1000)
	}
	return fmt.Sprintf("%s currentTime %.1f latency %s s (target %s s) glass-to-glass %s ms buffer %s s level %s auto %v",
		s.HLS.Engine, s.HLS.CurrentTime, f(s.HLS.Latency), f(s.HLS.TargetLatency), f(s.HLS.GlassToGlassMs),
		f(s.HLS.BufferS), level, s.HLS.Auto)
}
