package hls

import (
	"testing"
	"time"
)

// TestProgramDateTimeAtDiscontinuity: a publisher reconnects and its capture clock is 400
// ms off the continued timeline (less than the drift that re-anchors PROGRAM-DATE-TIME
// within a source): the segment after EXT-X-DISCONTINUITY takes its first sample's capture
// time, on video and audio, and the segments before keep theirs.
func TestProgramDateTimeAtDiscontinuity(t *testing.T) {
	_, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(5 * time.Second)
	f.reconnect()
	oldStart := f.start
	f.start = f.start.Add(5*time.Second + 400*time.Millisecond)
	f.feedUntil(2500 * time.Millisecond)
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		before, after := 0, 0
		for _, seg := range pl.segments {
			switch {
			case seg.disc:
				after++
				if d := seg.pdt.Sub(f.start).Abs(); d > 2*time.Millisecond {
					t.Errorf("%s: PROGRAM-DATE-TIME after the discontinuity is %v, want the new capture time %v",
						r, seg.pdt.Format(time.TimeOnly+".000"), f.start.Format(time.TimeOnly+".000"))
				}
			case after == 0:
				before++
				if seg.pdt.Before(oldStart) || seg.pdt.After(oldStart.Add(5*time.Second)) {
					t.Errorf("%s: PROGRAM-DATE-TIME before the discontinuity %v out of the first source's time", r, seg.pdt)
				}
			}
		}
		if before == 0 || after != 1 {
			t.Errorf("%s: %d segments before, %d discontinuities:\n%s", r, before, after, pl.text)
		}
	}
}
