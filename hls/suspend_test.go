package hls

import (
	"strings"
	"testing"
	"time"
)

// feedSkipping writes every sample with DTS before until, except those of track skip (-1:
// none); with startAtKey, track skip's samples are written again from its next keyframe on.
func (f *feeder) feedSkipping(until time.Duration, skip int, startAtKey bool) {
	f.t.Helper()
	resumed := false
	for {
		i, smp := f.peek()
		if smp.DTS >= until {
			return
		}
		if i == skip && !(startAtKey && (resumed || smp.Keyframe)) {
			f.next[i]++
			continue
		}
		resumed = resumed || i == skip
		if err := f.writeNext(); err != nil {
			f.t.Fatal(err)
		}
	}
}

// A suspended follower leaves the multivariant playlist and comes back aligned with the
// leader: the same media sequence numbers, discontinuity sequence and PROGRAM-DATE-TIME for
// the same media, and numbers above every one it served before.
func TestSuspendedRenditionResumesAligned(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", "lo", AudioRendition)
	f.feedUntil(8 * time.Second)
	before := parseMedia(t, mustGet(t, sv, "/hls/room1/lo/index.m3u8"))
	lastServed := before.segments[len(before.segments)-1].msn
	if err := s.track("hi").Suspend(); err == nil {
		t.Error("the leading rendition was suspended")
	}
	if err := s.track("lo").Suspend(); err != nil {
		t.Fatal(err)
	}
	f.feedSkipping(16*time.Second, 1, false)
	if s.track("lo").ready() {
		t.Fatal("a suspended rendition is still ready")
	}
	if mv := mustGet(t, sv, "/hls/room1/index.m3u8"); strings.Contains(mv, "lo/index.m3u8") || !strings.Contains(mv, "hi/index.m3u8") {
		t.Fatalf("multivariant while suspended:\n%s", mv)
	}
	f.feedSkipping(26*time.Second, 1, true)
	lo := parseMedia(t, mustGet(t, sv, "/hls/room1/lo/index.m3u8"))
	hi := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	if len(lo.segments) < 2 || lo.segments[0].msn <= lastServed {
		t.Fatalf("resumed playlist starts at %d (served up to %d before):\n%s", lo.segments[0].msn, lastServed, lo.text)
	}
	if lo.discSeq != hi.discSeq {
		t.Errorf("discontinuity sequence %d, leader %d", lo.discSeq, hi.discSeq)
	}
	leader := map[uint64]plSegment{}
	for _, seg := range hi.segments {
		leader[seg.msn] = seg
	}
	for _, seg := range lo.segments {
		l, ok := leader[seg.msn]
		if !ok {
			t.Errorf("segment %d is not in the leader's playlist", seg.msn)
			continue
		}
		if d := seg.pdt.Sub(l.pdt); d.Abs() > 50*time.Millisecond {
			t.Errorf("segment %d: PROGRAM-DATE-TIME %v, leader %v", seg.msn, seg.pdt, l.pdt)
		}
	}
	if mv := mustGet(t, sv, "/hls/room1/index.m3u8"); !strings.Contains(mv, "lo/index.m3u8") {
		t.Fatalf("multivariant after resuming:\n%s", mv)
	}
}
