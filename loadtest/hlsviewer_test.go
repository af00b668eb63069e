package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/loadtest/llhls"
)

// The last frame of each part is the one before the first frame that arrived later.
func TestPartTrackerFindsEachPartsLastFrame(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(part int) time.Time { return base.Add(time.Duration(part) * 333 * time.Millisecond) }
	var p partTracker
	var lasts []time.Duration
	for i, part := range []int{0, 0, 0, 1, 1, 2, 3, 3} {
		f := llhls.Frame{Arrived: at(part), PTS: time.Duration(i) * 33 * time.Millisecond}
		if last, ok := p.next(f); ok {
			lasts = append(lasts, last.PTS)
		}
	}
	want := []time.Duration{66 * time.Millisecond, 132 * time.Millisecond, 165 * time.Millisecond}
	if len(lasts) != len(want) {
		t.Fatalf("last frames %v, want %v", lasts, want)
	}
	for i := range want {
		if lasts[i] != want[i] {
			t.Errorf("last frames %v, want %v", lasts, want)
		}
	}
}

// The step's part latency comes from the LL-HLS viewers' part histograms, and the table
// shows it under the rows.
func TestPartLatencyInStatsAndTable(t *testing.T) {
	a := snapshot{mark: 0, at: time.Unix(100, 0), published: []uint64{0}}
	b := snapshot{mark: int64(10 * time.Second), at: time.Unix(110, 0), published: []uint64{300}}
	a.hls = poolCounts{frames: []uint64{0}, rxBytes: []uint64{0}, rooms: []int{0}, joins: []time.Duration{0}}
	b.hls = poolCounts{frames: []uint64{300}, rxBytes: []uint64{1000}, rooms: []int{0}, joins: []time.Duration{time.Second}, alive: 1}
	for i := range 100 { // parts 401..500 ms after their last frame's capture
		b.hls.partLatency[bucketOf(uint64(time.Duration(401+i)*time.Millisecond))]++
	}
	a.hls.partLatency[bucketOf(uint64(450*time.Millisecond))]++ // one part before the step: not the step's
	b.hls.partLatency[bucketOf(uint64(450*time.Millisecond))]++
	c := clientStats(1, 0, &a, &b, &a.hls, &b.hls, false)
	if c.PartsMeasured != 100 || c.PartLatencyP50Ms < 430 || c.PartLatencyP50Ms > 470 || c.PartLatencyP95Ms < c.PartLatencyP50Ms || c.PartLatencyP95Ms > 530 {
		t.Errorf("part latency p50 %v p95 %v over %d parts", c.PartLatencyP50Ms, c.PartLatencyP95Ms, c.PartsMeasured)
	}
	if c := clientStats(1, 0, &a, &a, &a.hls, &a.hls, false); c.PartsMeasured != 0 || c.PartLatencyP50Ms != 0 {
		t.Errorf("no parts in the step: %+v", c)
	}
	r := &Report{Steps: []Step{{HLSViewers: 1, LLHLS: c}}}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "LL-HLS, 1 viewers: capture -> part available p50 ") {
		t.Errorf("table lacks the part latency:\n%s", table.String())
	}
}
