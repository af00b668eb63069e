package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
)

// syncPageState is a watch page's per-second sample with its sync state (web/static/sync.js).
type syncPageState struct {
	T    int `json:"t"`
	Sync struct {
		Latency              string   `json:"latency"`
		TargetMs             float64  `json:"targetMs"`
		DelayMs              *float64 `json:"delayMs"`
		AudioDelayMs         *float64 `json:"audioDelayMs"`
		ErrorMs              *float64 `json:"errorMs"`
		JitterBufferTargetMs float64  `json:"jitterBufferTargetMs"`
		OffsetMs             float64  `json:"offsetMs"`
		RTTMs                float64  `json:"rttMs"`
		CaptureTimes         bool     `json:"captureTimes"`
		Negotiated           []string `json:"negotiated"`
		NACKs                int      `json:"nacks"`
		Buffers              struct {
			Video struct {
				DelayMs *float64 `json:"delayMs"`
			} `json:"video"`
		} `json:"buffers"`
		Shown        []shownFrame   `json:"shown"`
		Frames       []pageFrame    `json:"frames"`
		Breakdown    delayBreakdown `json:"breakdown"`
		ScriptMsPerS *float64       `json:"scriptMsPerS"`
	} `json:"sync"`
}

func (s syncPageState) sampleTime() int { return s.T }

// shownFrame is the capture instant (server clock) a page had on screen at atMs (page clock).
type shownFrame struct {
	AtMs      float64 `json:"atMs"`
	CaptureMs float64 `json:"captureMs"`
	DelayMs   float64 `json:"delayMs"`
}

// shownSince collects the page's on-screen samples (deduplicated by instant) from its samples
// with t >= from.
func shownSince(b *browser, from int) map[float64]shownFrame {
	out := map[float64]shownFrame{}
	for _, s := range samplesSince(b, from) {
		for _, f := range s.Sync.Shown {
			out[f.AtMs] = f
		}
	}
	return out
}

// samplesSince decodes the page's per-second samples with t >= from.
func samplesSince(b *browser, from int) []syncPageState {
	var out []syncPageState
	for _, line := range b.Output() {
		var s syncPageState
		if decodeSample(line, &s) && s.T >= from {
			out = append(out, s)
		}
	}
	return out
}

// TestSyncRoomHoldsViewersTogether: `glint demo` publishes into a sync room with a 400 ms
// target; two Chromium watch pages play it, one through a TURN relay that adds ≈ 50 ms to its
// path and one through a relay that adds ≈ 250 ms. Each page measures every presented frame's
// capture → display delay from abs-capture-time and the server clock (GET /api/time) and holds
// its video and its audio at the target with jitterBufferTarget (web/static/sync.js). Once
// settled, for every captured frame both pages presented, the instants at which each browser
// expected it on screen (rVFC expectedDisplayTime, the machine's one clock) must be ≤ 25 ms
// apart (median), and each page's delay must be within ±25 ms of the target (median). The tails
// (p90, p95, max) are logged, not asserted: on a loaded test machine they follow the machine's
// stalls, which the relays log as their own lateness; a run in which a relay itself passed more
// than 10% of its packets on over 20 ms late (the test process starved of CPU: the paths were
// not fixed delays) is logged, not asserted. The spread as measured before (the capture
// instants on screen at the same whole 250 ms) is logged beside it, and each page's breakdown
// of its delay and its lip sync (audio − video delay).
// The capture instants come from the pages' getSynchronizationSources
// (captureTimestamp of the frame presented, rVFC), not from reading pixels.
//
// GLINT_SYNC_TARGETS=250ms,400ms,800ms runs it at each target (for BENCHMARKS.md); a target
// that the slow page's path alone (250 ms + 100 ms for decoding and its own jitter buffer)
// exceeds is measured and logged but not asserted: jitterBufferTarget can only add delay.
func TestSyncRoomHoldsViewersTogether(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	targets := []time.Duration{400 * time.Millisecond}
	if env := os.Getenv("GLINT_SYNC_TARGETS"); env != "" {
		targets = targets[:0]
		for _, f := range strings.Split(env, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("GLINT_SYNC_TARGETS %q: %v", env, err)
			}
			targets = append(targets, d)
		}
	}
	for _, target := range targets {
		t.Run(target.String(), func(t *testing.T) { syncRoomRun(t, target) })
	}
}

// maxLateShare is the share of a delay relay's packets that may leave over lateLimit late for
// the run to count: beyond it the machine, not the path or Glint, set the delays.
const maxLateShare = 0.10

// syncPaths are the extra path delays of the two pages.
var syncPaths = map[string]time.Duration{"+50ms": 50 * time.Millisecond, "+250ms": 250 * time.Millisecond}

func syncRoomRun(t *testing.T, target time.Duration) {
	const tolerance = 25.0
	srv := startServer(t, "--latency-room", "auction=sync", "--sync-delay", target.String())
	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/auction"),
		"--size", "320x180", "--loopback") // small: three decoders and an encoder share the test machine
	srv.waitRoom(t, "auction", 20*time.Second, "live with video", func(r roomInfo) bool {
		_, ok := r.track("video")
		return r.Live && ok
	})
	pages, relays := map[string]*browser{}, map[string]*delayRelay{}
	for name, delay := range syncPaths {
		relays[name] = startDelayRelay(t, delay)
		b := startBrowser(t, "watch", srv.url("/watch/auction"), 50,
			fmt.Sprintf("--query=turn=%s&turn_user=%s&turn_pass=%s", relays[name].Addr, relayUser, relayPass))
		b.name = "watch " + name
		pages[name] = b
	}
	// The pages converge in a few seconds; the last 15 s of 30 are measured.
	for name, b := range pages {
		s := waitPageSample(b, 40*time.Second, name+": measuring its delay for 15 s", func(s syncPageState) bool {
			return s.Sync.Latency == "sync" && s.Sync.ErrorMs != nil && s.T >= 15
		})
		t.Logf("%s at t=%d: delay %.0f ms, jitterBufferTarget %.0f ms, clock offset %.1f ms (rtt %.1f ms)",
			name, s.T, *s.Sync.DelayMs, s.Sync.JitterBufferTargetMs, s.Sync.OffsetMs, s.Sync.RTTMs)
	}
	time.Sleep(15 * time.Second)
	reachable := syncReachable(t, pages["+250ms"], target)
	steady := true
	for _, name := range []string{"+50ms", "+250ms"} {
		worst, share := relays[name].Lateness()
		t.Logf("relay %s: %.2f%% of packets passed on more than %v late, the latest %v late", name, 100*share, lateLimit, worst)
		steady = steady && share <= maxLateShare
	}
	if !steady {
		t.Logf("NOT ASSERTED: more than %.0f%% of a relay's packets left over %v late (the test process was starved of CPU), so the paths were not the fixed delays this test is about; the numbers below are logged only", 100*maxLateShare, lateLimit)
	}
	checkSync(t, pages, float64(target.Milliseconds()), tolerance, reachable && steady)
	for _, b := range pages {
		if res := b.finish(); !res.OK {
			t.Errorf("%s: %s", b.name, res.Failure)
		}
	}
	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v", err)
	}
}

// syncReachable says whether the slow page can hold target at all: its path (250 ms) plus
// 100 ms for decoding and its own jitter buffer, plus, once it has NACKed frames, the round
// trip that libwebrtc then adds to its jitter buffer for 60 s (the relay delays one direction:
// RTT ≈ 250 ms). jitterBufferTarget can only add delay.
func syncReachable(t *testing.T, slow *browser, target time.Duration) bool {
	t.Helper()
	need := syncPaths["+250ms"] + 100*time.Millisecond
	nacks := 0
	for _, line := range slow.Output() {
		var s syncPageState
		if decodeSample(line, &s) {
			nacks = max(nacks, s.Sync.NACKs)
		}
	}
	if nacks >= 3 {
		need += syncPaths["+250ms"]
	}
	if target < need {
		t.Logf("NOT ASSERTED: the +250ms page needs at least %v (%d NACKs sent), more than the %v target", need, nacks, target)
	}
	return target >= need
}

// checkSync compares the pages over their last 15 s of samples. The spread is measured per
// frame: for every captured frame both pages presented, how far apart the instants were at
// which each browser expected it on screen (requestVideoFrameCallback's expectedDisplayTime,
// both pages on this machine's one clock). The earlier method, the capture instants on screen
// at the same whole 250 ms, is logged beside it.
func checkSync(t *testing.T, pages map[string]*browser, target, tolerance float64, assert bool) {
	t.Helper()
	from := 0
	for _, b := range pages {
		from = max(from, b.lastSampleT()-15)
	}
	logSampledSpread(t, pages, from, target)
	fast, slow := framesSince(pages["+50ms"], from), framesSince(pages["+250ms"], from)
	spread := displaySpread(fast, slow)
	if len(spread) < 100 {
		t.Fatalf("only %d frames presented by both pages (%d, %d)", len(spread), len(fast), len(slow))
	}
	p50, p95 := stats.Quantile(spread, 0.5), stats.Quantile(spread, 0.95)
	t.Logf("target %.0f ms: viewer-to-viewer spread, display instants of the same frame over %d frames (of %d, %d): p50 %.1f ms, p90 %.1f ms, p95 %.1f ms, max %.1f ms",
		target, len(spread), len(fast), len(slow), p50, stats.Quantile(spread, 0.9), p95, spread[len(spread)-1])
	if assert && p50 > tolerance {
		t.Errorf("the pages show the same frame %.1f ms apart (median), want ≤ %.0f ms", p50, tolerance)
	}
	for name, frames := range map[string][]pageFrame{"+50ms": fast, "+250ms": slow} {
		d := frameDelays(frames, target)
		m := stats.Quantile(d, 0.5)
		t.Logf("%s: error to target p50 %+.1f ms, p5 %+.1f, p95 %+.1f; %s", name, m, stats.Quantile(d, 0.05), stats.Quantile(d, 0.95),
			breakdownMedians(pages[name], from))
		if assert && math.Abs(m) > tolerance {
			t.Errorf("%s: median delay %.1f ms, want %.0f ± %.0f ms", name, target+m, target, tolerance)
		}
	}
}

// logSampledSpread logs the spread as measured before per-frame records: the capture instants
// the pages had on screen at the same whole 250 ms of the clock.
func logSampledSpread(t *testing.T, pages map[string]*browser, from int, target float64) {
	t.Helper()
	a, b := shownSince(pages["+50ms"], from), shownSince(pages["+250ms"], from)
	var spread []float64
	for at, fa := range a {
		if fb, ok := b[at]; ok {
			spread = append(spread, math.Abs(fa.CaptureMs-fb.CaptureMs))
		}
	}
	sort.Float64s(spread)
	if len(spread) == 0 {
		t.Logf("target %.0f ms: no common instants sampled every 250 ms", target)
		return
	}
	t.Logf("target %.0f ms: spread sampled every 250 ms (the earlier method) over %d instants: p50 %.1f ms, p95 %.1f ms, max %.1f ms",
		target, len(spread), stats.Quantile(spread, 0.5), stats.Quantile(spread, 0.95), spread[len(spread)-1])
}

// lastSampleT is the t of the page's latest per-second sample.
func (b *browser) lastSampleT() int {
	t := 0
	for _, line := range b.Output() {
		var s syncPageState
		if decodeSample(line, &s) && s.T > t {
			t = s.T
		}
	}
	return t
}

// decodeSample decodes one of browser.mjs's per-second lines; false for other lines.
func decodeSample(line string, s *syncPageState) bool {
	return json.Unmarshal([]byte(line), s) == nil && s.T > 0
}
