package e2e

import (
	"sort"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// TestFastestRoomGlassToGlass: Chromium publishes its fake camera (H.264, one encoding) into a
// fastest room and a second Chromium watches it. The watch page negotiates playout-delay (0/0
// from the server) and abs-capture-time, and measures every presented frame's capture →
// display delay (web/static/sync.js; the capture instant is the publisher's, through its
// sender reports). It reports p50/p95 of that glass-to-glass delay and Chromium's own video
// jitter buffer, for BENCHMARKS.md; it asserts only that the page measured it and that the
// room is a fastest one, not how fast (tests never assert wall-clock speed).
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
	var delays, buffers []float64
	for _, f := range shownSince(view, settled.T) {
		delays = append(delays, f.DelayMs)
	}
	for _, line := range view.Output() {
		var s syncPageState
		if decodeSample(line, &s) && s.T >= settled.T && s.Sync.Buffers.Video.DelayMs != nil {
			buffers = append(buffers, *s.Sync.Buffers.Video.DelayMs)
		}
	}
	if len(delays) < 20 {
		t.Fatalf("only %d delay samples from the watch page", len(delays))
	}
	sort.Float64s(delays)
	sort.Float64s(buffers)
	t.Logf("fastest room, Chromium → Glint → Chromium, capture → display over %d samples: p50 %.1f ms, p95 %.1f ms, min %.1f, max %.1f; Chromium video jitter buffer p50 %.0f ms",
		len(delays), stats.Quantile(delays, 0.5), stats.Quantile(delays, 0.95), delays[0], delays[len(delays)-1], quantileOr(buffers, 0.5))
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
