package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/glint-video/glint/internal/stats"
)

// pageFrame is one presented video frame of a watch page (web/static/frametimes.js): its capture
// instant on the server's clock (abs-capture-time) and, on the page's clock, when its last packet
// arrived (rVFC receiveTime), when it went to the compositor (presentationTime) and when the
// browser expected it on screen (expectedDisplayTime). All ms.
type pageFrame struct {
	Capture  float64  `json:"c"`
	Receive  *float64 `json:"r"`
	Present  float64  `json:"p"`
	Display  float64  `json:"d"`
	OffsetMs float64  `json:"-"` // server clock − page clock of the sample that carried it
}

// delayBreakdown is window.glintWatch.sync.breakdown: per-frame medians or averages of the last
// period (ms; nil where the browser gave nothing).
type delayBreakdown struct {
	CaptureToReceiveMs *float64 `json:"captureToReceiveMs"`
	ReceiveToPresentMs *float64 `json:"receiveToPresentMs"`
	PresentToDisplayMs *float64 `json:"presentToDisplayMs"`
	JitterBufferMs     *float64 `json:"jitterBufferMs"`
	DecodeMs           *float64 `json:"decodeMs"`
	ProcessingMs       *float64 `json:"processingMs"`
	AssemblyMs         *float64 `json:"assemblyMs"`
}

// framesSince collects the page's presented frames (deduplicated by capture instant, in capture
// order) from its samples with t >= from.
func framesSince(b *browser, from int) []pageFrame {
	byCapture := map[float64]pageFrame{}
	for _, s := range samplesSince(b, from) {
		for _, f := range s.Sync.Frames {
			f.OffsetMs = s.Sync.OffsetMs
			byCapture[f.Capture] = f
		}
	}
	out := make([]pageFrame, 0, len(byCapture))
	for _, f := range byCapture {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Capture < out[j].Capture })
	return out
}

// displaySpread pairs the frames two pages presented of the same capture instant (within
// 5 ms: frames are ≥ 16 ms apart) and returns, sorted, how far apart their expected display
// instants were. Both pages run on this machine, so their page clocks are one clock.
func displaySpread(a, b []pageFrame) []float64 {
	var spread []float64
	for _, fa := range a {
		i := sort.Search(len(b), func(i int) bool { return b[i].Capture >= fa.Capture-5 })
		if i < len(b) && math.Abs(b[i].Capture-fa.Capture) <= 5 {
			spread = append(spread, math.Abs(fa.Display-b[i].Display))
		}
	}
	sort.Float64s(spread)
	return spread
}

// frameDelays returns, sorted, each frame's capture → expected display delay less minus (ms).
func frameDelays(frames []pageFrame, minus float64) []float64 {
	d := make([]float64, len(frames))
	for i, f := range frames {
		d[i] = f.Display + f.OffsetMs - f.Capture - minus
	}
	sort.Float64s(d)
	return d
}

// summary formats p50/p95/max of sorted values.
func summary(sorted []float64) string {
	if len(sorted) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, min %.1f, max %.1f (%d frames)",
		stats.Quantile(sorted, 0.5), stats.Quantile(sorted, 0.95), sorted[0], sorted[len(sorted)-1], len(sorted))
}

// breakdownMedians is, for each field of the page's breakdown, the median over its samples with
// t >= from, formatted for the log.
func breakdownMedians(b *browser, from int) string {
	fields := map[string][]float64{}
	add := func(name string, v *float64) {
		if v != nil {
			fields[name] = append(fields[name], *v)
		}
	}
	for _, s := range samplesSince(b, from) {
		bd := s.Sync.Breakdown
		add("capture→receive", bd.CaptureToReceiveMs)
		add("receive→present", bd.ReceiveToPresentMs)
		add("present→display", bd.PresentToDisplayMs)
		add("jitter buffer", bd.JitterBufferMs)
		add("decode", bd.DecodeMs)
		add("processing", bd.ProcessingMs)
		add("assembly", bd.AssemblyMs)
		add("sync.js ms/s", s.Sync.ScriptMsPerS)
		if s.Sync.AudioDelayMs != nil && s.Sync.DelayMs != nil {
			lipSync := *s.Sync.AudioDelayMs - *s.Sync.DelayMs
			add("audio − video", &lipSync)
		}
	}
	var parts []string
	for _, name := range []string{"capture→receive", "receive→present", "present→display", "jitter buffer", "decode", "processing", "assembly", "sync.js ms/s", "audio − video"} {
		v := fields[name]
		sort.Float64s(v)
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", name, stats.Quantile(v, 0.5)))
		}
	}
	return strings.Join(parts, ", ")
}

// sessionTransit returns the server's transit p50/p99 (ms) of the video the session at location
// (a WHEP session's Location) receives, from GET /api/sessions/{id}.
func sessionTransit(t *testing.T, srv *server, location string) (p50, p99 float64) {
	t.Helper()
	resp, err := httpClient.Get(srv.url("/api/sessions/" + path.Base(location)))
	if err != nil {
		t.Logf("GET session: %v", err)
		return -1, -1
	}
	defer resp.Body.Close()
	var info struct {
		Tracks []struct {
			Kind string  `json:"kind"`
			P50  float64 `json:"transit_p50_ms"`
			P99  float64 `json:"transit_p99_ms"`
		} `json:"tracks"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil {
		t.Logf("GET session %s: HTTP %d", location, resp.StatusCode)
		return -1, -1
	}
	for _, tr := range info.Tracks {
		if tr.Kind == "video" {
			return tr.P50, tr.P99
		}
	}
	return -1, -1
}
