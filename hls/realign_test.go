package hls

import (
	"testing"
	"time"
)

// TestSegmentsRealignAfterACutWithoutKeyframe: a publisher whose GOP (2 s) is longer than a
// segment may grow (1 s target + 0.5 s) gets segments cut without a keyframe; each of those
// ends at the next keyframe, so the segment after it starts with one again (before, the
// segments could stay out of step with the keyframes for good, and a player joining at
// such a segment could not decode it).
func TestSegmentsRealignAfterACutWithoutKeyframe(t *testing.T) {
	cfg := Config{SegmentDuration: time.Second, PartDuration: 333 * time.Millisecond, Window: 12}
	_, sv, f := newTestStream(t, cfg, "hi")
	f.feedUntil(12 * time.Second)
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	unaligned := 0
	for i, seg := range pl.segments {
		if len(seg.parts) == 0 || seg.parts[0].independent || !seg.complete || i+1 >= len(pl.segments) {
			continue
		}
		unaligned++
		next := pl.segments[i+1]
		if len(next.parts) > 0 && !next.parts[0].independent {
			t.Errorf("segment %d starts without a keyframe and so does the next one, %d:\n%s", seg.msn, next.msn, pl.text)
		}
		if seg.dur > 1.0 {
			t.Errorf("segment %d starts without a keyframe and lasts %.3f s: it should end at the next keyframe (every 2 s)", seg.msn, seg.dur)
		}
	}
	if unaligned == 0 {
		t.Fatalf("no segment was cut without a keyframe: the test does not test anything:\n%s", pl.text)
	}
}
