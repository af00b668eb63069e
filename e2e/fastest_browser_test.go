package e2e

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// TestFastestRoomGlassToGlass: Chromium publishes its fake camera (H.264, one encoding) into a
// fastest room and a second Chromium watches it. The watch page negotiates playout-delay (0/0
// from the server) and abs-capture-time, and records every presented frame (web/static/sync.js,
// frametimes.js): its capture instant (the publisher's, through its sender reports and Glint's
// abs-capture-time) and, from requestVideoFrameCallback, when its last packet arrived, when it
// went to the compositor and when the browser expected it on screen. It logs, for
// BENCHMARKS.md, p50/p95 of capture → expected display over every frame (and as sampled every
// 250 ms, the earlier method), capture → presentation, and where the delay goes: the
// publisher's encode time and pacer delay (getStats), Glint's transit, and the viewer's
// breakdown. It asserts only that the page measured it and that the room is a fastest one, not
// how fast (tests never assert wall-clock speed).
func TestFastestRoomGlassToGlass(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	pub := startBrowser(t, "publish", srv.url("/publish/fast"), 60, "--query=codec=h264&simulcast=0")
	pub.waitState(30*time.Second, "live publisher sending video", func(s pageState) bool {
		return s.State == "live" && allEncoded(s.Outbound)
	})
	view := startBrowser(t, "watch", srv.url("/watch/fast"), 40)
	settled := waitPageSample(view, 30*time.Second, "the page measures its delay", func(s syncPageState) bool {
		return s.Sync.Latency == "fastest" && s.Sync.CaptureTimes && s.Sync.DelayMs != nil && s.T >= 5
	})
	if !sameSet(settled.Sync.Negotiated, "playout-delay", "abs-capture-time") {
		t.Errorf("the watch page negotiated %v, want playout-delay and abs-capture-time", settled.Sync.Negotiated)
	}
	time.Sleep(20 * time.Second)
	logFastestRoom(t, srv, pub, view, settled.T)
	if res := view.finish(); !res.OK {
		t.Errorf("watch: %s", res.Failure)
	}
	if res := pub.finish(); !res.OK {
		t.Errorf("publish: %s", res.Failure)
	}
}

func quantileOr(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return -1
	}
	return stats.Quantile(sorted, q)
}

// logFastestRoom logs the glass-to-glass delay of every frame the watch page presented since
// its sample from, as the page measured it before (its capture instant on screen every 250 ms)
// and per frame, and where the delay went: the publisher's encoder and pacer, Glint's transit,
// and the watch page's breakdown (web/static/frametimes.js).
func logFastestRoom(t *testing.T, srv *server, pub, view *browser, from int) {
	t.Helper()
	var sampled, buffers []float64
	for _, f := range shownSince(view, from) {
		sampled = append(sampled, f.DelayMs)
	}
	var session string
	for _, line := range view.Output() {
		var s syncPageState
		if decodeSample(line, &s) && s.T >= from && s.Sync.Buffers.Video.DelayMs != nil {
			buffers = append(buffers, *s.Sync.Buffers.Video.DelayMs)
		}
		var p pageState
		if json.Unmarshal([]byte(line), &p) == nil && p.Session != "" {
			session = p.Session
		}
	}
	frames := framesSince(view, from)
	if len(frames) < 100 {
		t.Fatalf("only %d presented frames from the watch page", len(frames))
	}
	sort.Float64s(sampled)
	sort.Float64s(buffers)
	perFrame := frameDelays(frames, 0)
	var presented []float64
	for _, f := range frames {
		presented = append(presented, f.Present+f.OffsetMs-f.Capture)
	}
	sort.Float64s(presented)
	t.Logf("fastest room, Chromium → Glint → Chromium, capture → expected display, every frame: %s", summary(perFrame))
	t.Logf("fastest room, capture → display sampled every 250 ms (the earlier method): %s; Chromium video jitter buffer p50 %.0f ms",
		summary(sampled), quantileOr(buffers, 0.5))
	t.Logf("fastest room, capture → presentation (handed to the compositor), every frame: %s", summary(presented))
	var encode, send []float64
	pubFrom := pub.lastSampleT() - 20 // the publisher's samples of the same 20 s
	for _, line := range pub.Output() {
		var s pageState
		if json.Unmarshal([]byte(line), &s) != nil || s.T < pubFrom || len(s.Outbound) == 0 {
			continue
		}
		if o := s.Outbound[0]; o.EncodeMs != nil && o.SendDelayMs != nil {
			encode, send = append(encode, *o.EncodeMs), append(send, *o.SendDelayMs)
		}
	}
	sort.Float64s(encode)
	sort.Float64s(send)
	p50, p99 := sessionTransit(t, srv, session)
	t.Logf("where it goes (medians): publisher encode %.1f ms/frame, pacer %.1f ms/packet; Glint transit p50 ≤ %.2f ms (p99 ≤ %.1f); viewer: %s",
		quantileOr(encode, 0.5), quantileOr(send, 0.5), p50, p99, breakdownMedians(view, from))
}
