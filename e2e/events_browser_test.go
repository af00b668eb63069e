package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
)

// eventsPageState is one sample of the watch page with its event channel's state
// (window.glintWatch.events, web/static/events.js).
type eventsPageState struct {
	hlsPageState
	Events struct {
		Connected      bool         `json:"connected"`
		OffsetMs       *float64     `json:"offsetMs"`
		ClockVsDateMs  *float64     `json:"clockVsDateMs"`
		Jumps          int          `json:"jumps"`
		RTTMs          *float64     `json:"rttMs"`
		TargetMs       *float64     `json:"targetMs"`
		DelayMs        *float64     `json:"delayMs"`
		ErrorMs        *float64     `json:"errorMs"`
		FrameCaptureMs *float64     `json:"frameCaptureMs"`
		Rate           float64      `json:"rate"`
		PlayedRate     *float64     `json:"playedRate"`
		Shown          []eventShown `json:"shown"`
	} `json:"events"`
}

// eventShown is one event the page showed, with its alignment to its frame.
type eventShown struct {
	ID      string   `json:"id"`
	Type    string   `json:"type"`
	AlignMs float64  `json:"alignMs"`
	GapMs   *float64 `json:"gapMs"` // since the frame shown before it
	Late    bool     `json:"late"`
}

func (e eventShown) gap() string {
	if e.GapMs == nil {
		return "?"
	}
	return strconv.FormatFloat(*e.GapMs, 'f', 1, 64)
}

// onItsFrame reports whether an event was shown on the first frame at or after its instant:
// within one frame (33 ms at 30 fps), or, where the browser dropped frames, before the frame
// after the gap it shows in.
func (e eventShown) onItsFrame() bool {
	limit := 34.0
	if e.GapMs != nil {
		limit = max(limit, *e.GapMs)
	}
	return !e.Late && e.AlignMs >= 0 && e.AlignMs < limit
}

// syncHoldSeconds is how long the LL-HLS sync test measures: 20 s by default (CI), 60 s with
// GLINT_SYNC_SECONDS=60 (the bench, BENCHMARKS.md).
func syncHoldSeconds(t *testing.T) int {
	if v := os.Getenv("GLINT_SYNC_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 {
			t.Fatalf("GLINT_SYNC_SECONDS=%q: want a number of seconds, at least 5", v)
		}
		return n
	}
	return 20
}

// TestLLHLSSyncAndEvents: a demo publisher into a server with LL-HLS; the watch page in
// LL-HLS mode held at a 1.5 s target (?target=1500, what a sync room's hello sets):
//   - events.js nudges playbackRate until the capture → screen delay is within 100 ms of
//     1.5 s, then holds it: the glass-to-glass of hlsplayer.js (Date.now() − the PROGRAM-DATE-
//     TIME of the frame on screen; server and browser share this machine's clock) stays within
//     ± 100 ms of 1.5 s over the hold (20 s, or GLINT_SYNC_SECONDS, of samples the machine's
//     CPU did not stall: see holdErrors);
//   - the page's clock offset to the server (same machine: truly 0) is within 5 ms;
//   - a timed event posted with a capture time 2 s ahead is shown on the first frame at or
//     after it: within one frame (33 ms at 30 fps) of its video instant.
func TestLLHLSSyncAndEvents(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	requireHLSPlayer(t)
	srv := startServer(t, "--hls=true")
	room := "sync"
	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/"+room),
		"--size", "854x480", "--loopback")
	srv.waitRoom(t, room, 30*time.Second, "live with video", func(r roomInfo) bool {
		_, ok := r.track("video")
		return r.Live && ok
	})
	hold := syncHoldSeconds(t)
	start := time.Now()
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 3*hold+220, "--query=mode=hls", "--query=target=1500")
	wait := func(timeout time.Duration, what string, cond func(eventsPageState) bool) eventsPageState {
		t.Helper()
		return waitPageSample(view, timeout, what, cond)
	}
	within := func(s eventsPageState, ms float64) bool {
		return s.HLS.GlassToGlassMs != nil && s.Events.ErrorMs != nil &&
			math.Abs(*s.HLS.GlassToGlassMs-1500) <= ms && math.Abs(*s.Events.ErrorMs) <= ms
	}
	playing := wait(90*time.Second, "LL-HLS playing with a delay measured", func(s eventsPageState) bool {
		return s.Mode == "hls" && s.HLS.CurrentTime > 0 && s.Events.DelayMs != nil && s.Events.OffsetMs != nil
	})
	t.Logf("%.1fs: playing at t=%d, delay %.0f ms, rate %.3f", since(start), playing.T, *playing.Events.DelayMs, playing.Events.Rate)
	settled := wait(150*time.Second, "three samples in a row within 100 ms of 1.5 s", func() func(eventsPageState) bool {
		run := 0
		return func(s eventsPageState) bool {
			if within(s, 100) {
				run++
			} else {
				run = 0
			}
			return run >= 3
		}
	}())
	t.Logf("%.1fs: settled at t=%d: glass-to-glass %.0f ms, page delay %.0f ms, rate %.3f, %d jumps", since(start), settled.T,
		*settled.HLS.GlassToGlassMs, *settled.Events.DelayMs, settled.Events.Rate, settled.Events.Jumps)
	// The page's estimate of the server's clock against Date.now(): the same machine's clock.
	if c := settled.Events.ClockVsDateMs; c == nil || math.Abs(*c) > 5 {
		t.Errorf("the page's server clock is %v ms off Date.now() (rtt %v ms): want within 5 ms", c, *settled.Events.RTTMs)
	} else {
		t.Logf("clock offset error (page's server clock − Date.now()): %.1f ms, rtt %.1f ms", *c, *settled.Events.RTTMs)
	}

	eventID := postTestEvent(t, srv, room, time.Now().Add(2*time.Second))
	// A loaded machine stalls playback now and then, and holdErrors leaves those samples out:
	// the hold goes on until it has hold samples that measure the sync, for at most 3 × hold.
	end := wait(time.Duration(3*hold+30)*time.Second, fmt.Sprintf("%d s of hold", hold), func(s eventsPageState) bool {
		if s.T < settled.T+hold {
			return false
		}
		measured, _ := holdErrors(t, view.Output(), settled.T, s.T)
		return len(measured) >= hold || s.T >= settled.T+3*hold
	})
	held, stalled := holdErrors(t, view.Output(), settled.T, end.T)
	slices.Sort(held)
	out := 0
	for _, e := range held {
		if math.Abs(e) > 100 {
			out++
		}
	}
	t.Logf("hold: %d samples, %d in or just after a playback stall left out; glass-to-glass error to 1.5 s: median %.0f ms, p10 %.0f, p90 %.0f, min %.0f, max %.0f, %d outside ±100 ms; %d jumps in all",
		len(held)+stalled, stalled, stats.Quantile(held, 0.5), stats.Quantile(held, 0.1), stats.Quantile(held, 0.9),
		stats.Quantile(held, 0), stats.Quantile(held, 1), out, end.Events.Jumps)
	// The bound is on the median and on most samples: this machine is shared, and a loaded
	// one renders late now and then without stalling outright. A machine that stalled the
	// playback (or the server's parts) all through 3 × hold left too few samples to tell
	// whether the page holds its target: that is logged, not asserted.
	switch {
	case len(held) < hold/2:
		t.Logf("NOT ASSERTED: the hold: %d samples in %d s were not in or just after a playback stall (want %d): the machine's CPU decided, not the sync",
			len(held), end.T-settled.T, hold/2)
	case math.Abs(stats.Quantile(held, 0.5)) > 100 || out*10 > len(held)*3:
		t.Errorf("LL-HLS held 1.5 s ± 100 ms in %d of %d samples, median error %.0f ms: want the median within and at least 70%% of the samples",
			len(held)-out, len(held), stats.Quantile(held, 0.5))
	}

	found := false
	for _, sh := range end.Events.Shown {
		if sh.ID != eventID {
			continue
		}
		found = true
		t.Logf("event %s shown %.1f ms after its video instant (frame gap %s ms)", sh.ID, sh.AlignMs, sh.gap())
		if !sh.onItsFrame() {
			t.Errorf("event shown %.1f ms from its video instant (frame gap %s ms, late %v): want on the first frame at or after it", sh.AlignMs, sh.gap(), sh.Late)
		}
	}
	if !found {
		t.Errorf("event %s never shown: %+v", eventID, end.Events.Shown)
	}
	res := view.finish()
	if !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
	t.Run("webrtc", func(t *testing.T) { webrtcEventOnItsFrame(t, srv, room) })
	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v", err)
	}
}

// webrtcEventOnItsFrame: a WebRTC watch page measures its delay from the frames' capture
// times, and shows an event posted 1 s ahead on the first frame at or after it.
func webrtcEventOnItsFrame(t *testing.T, srv *server, room string) {
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 90, "--query=mode=webrtc")
	playing := waitPageSample(view, 60*time.Second, "WebRTC playing with a delay measured", func(s eventsPageState) bool {
		return s.Mode == "webrtc" && s.Video.FramesDecoded > 0 && s.Events.DelayMs != nil && s.Events.OffsetMs != nil
	})
	t.Logf("WebRTC page delay %.0f ms (capture → screen), clock rtt %.1f ms", *playing.Events.DelayMs, *playing.Events.RTTMs)
	id := postTestEvent(t, srv, room, time.Now().Add(time.Second))
	shown := waitPageSample(view, 20*time.Second, "the event shown", func(s eventsPageState) bool {
		return slices.ContainsFunc(s.Events.Shown, func(e eventShown) bool { return e.ID == id })
	})
	for _, sh := range shown.Events.Shown {
		if sh.ID == id {
			t.Logf("WebRTC: event shown %.1f ms after its video instant (frame gap %s ms)", sh.AlignMs, sh.gap())
			if !sh.onItsFrame() {
				t.Errorf("WebRTC: event shown %.1f ms from its video instant (frame gap %s ms, late %v): want on the first frame at or after it", sh.AlignMs, sh.gap(), sh.Late)
			}
		}
	}
	if res := view.finish(); !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
}

// postTestEvent posts a message event with capture time at and returns its id.
func postTestEvent(t *testing.T, srv *server, room string, at time.Time) string {
	t.Helper()
	body := fmt.Sprintf(`{"type":"message","payload":{"message":"e2e"},"at":%d}`, at.UnixMilli())
	resp, err := httpClient.Post(srv.url("/api/rooms/"+room+"/events"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &e) != nil {
		t.Fatalf("post event: %d %s", resp.StatusCode, b)
	}
	return e.ID
}

// Playback stalls, as holdErrors sees them.
const (
	// stallFPS: a page showing fewer frames a second than this falls behind the 30 fps source
	// (the slowest it plays is 0.95 × 30 = 28.5): the machine's CPU, not the sync, decides.
	stallFPS = 27
	// serverLateMs: a page whose newest buffered frame (glass-to-glass less what is buffered
	// ahead) is older than this cannot hold 1.5 s (it needs some buffer ahead to play on):
	// the server, starved of CPU, published its parts late.
	serverLateMs = 1200
	// stallSettle: the seconds after a stall always left out.
	stallSettle = 3
	// stallRecover: at most this many seconds after a stall are left out while the error is
	// still over 100 ms: the page makes a stall's lag up at 1.05 (20 s for 1 s, beyond which
	// it jumps). A page that has not come back by then counts against the hold.
	stallRecover = 20
)

// holdErrors returns the glass-to-glass error to 1.5 s (ms) of the samples in (from, to], and
// how many it left out: those at or within stallSettle seconds after a playback stall (under
// stallFPS frames per second shown, a jump to the target, or media published over serverLateMs
// late), and those after it until the error is back within 100 ms (up to stallRecover seconds).
func holdErrors(t *testing.T, lines []string, from, to int) (errs []float64, stalled int) {
	t.Helper()
	lastStall, jumps, recovering := -100, -1, false
	for _, line := range lines {
		var s eventsPageState
		if json.Unmarshal([]byte(line), &s) != nil || s.T == 0 || s.Mode != "hls" {
			continue
		}
		late := s.HLS.GlassToGlassMs != nil && s.HLS.BufferS != nil && *s.HLS.GlassToGlassMs-*s.HLS.BufferS*1000 > serverLateMs
		if s.Video.FramesPerSecond < stallFPS || (jumps >= 0 && s.Events.Jumps != jumps) || late {
			lastStall, recovering = s.T, true
		}
		jumps = s.Events.Jumps
		if s.HLS.GlassToGlassMs == nil {
			continue
		}
		e := *s.HLS.GlassToGlassMs - 1500
		if recovering && s.T-lastStall > stallSettle && math.Abs(e) <= 100 {
			recovering = false
		}
		if s.T <= from || s.T > to {
			continue
		}
		if s.T-lastStall <= stallSettle || (recovering && s.T-lastStall <= stallRecover) {
			stalled++
			continue
		}
		errs = append(errs, e)
	}
	return errs, stalled
}
