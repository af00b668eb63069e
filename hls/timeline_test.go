package hls

import (
	"fmt"
	"testing"
	"time"
)

// TestTimelineContiguousAcrossLateFrames feeds 30 fps video, each frame carrying its
// expected duration as the bridge gives it, and audio, where the publisher skips a frame
// now and then, stalls for 400 ms once in a while, and some frames come late (capture jitter on a loaded machine): parts
// published early with their last frame's expected duration are then followed by a frame
// later than that. Every part of the video and audio renditions must start where the
// previous one ended, and no decode-time step may exceed twice the previous sample's
// duration (what Media Source Extensions treat as a discontinuity, dropping every video
// frame until the next keyframe: a hole of up to a segment in a browser's buffer, a stall),
// also after the publisher stalled for longer than a part.
func TestTimelineContiguousAcrossLateFrames(t *testing.T) {
	cfg := Config{SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, Window: 8}
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	video := s.track("hi")
	for {
		i, smp := f.peek()
		if smp.DTS >= 13*time.Second {
			break
		}
		n := f.next[i]
		f.next[i]++
		if f.tracks[i] == video && !smp.Keyframe {
			switch {
			case n%37 == 18 || n%37 == 19: // the publisher skipped this frame
				continue
			case n%97 > 80 && n%97 < 94: // the publisher stalled for 400 ms, then sent three frames at once
				continue
			case n%97 == 94 || n%97 == 95:
				smp.DTS -= time.Duration(n%97-93) * 10 * time.Millisecond
				smp.PTS = smp.DTS
			case n%37 == 20 || n%13 == 6: // late by two thirds of a frame
				smp.DTS += 22 * time.Millisecond
				smp.PTS = smp.DTS
			}
		}
		if err := f.tracks[i].WriteSample(smp); err != nil {
			t.Fatalf("%s sample %d: %v", f.kinds[i], f.next[i]-1, err)
		}
	}
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		var tl timelineCheck
		for _, seg := range pl.segments {
			if seg.complete { // its parts, one moof each
				tl.check(t, fmt.Sprintf("%s segment %d", r, seg.msn), []byte(mustGet(t, sv, "/hls/room1/"+r+"/"+seg.uri)))
			}
		}
		if tl.parts < 40 {
			t.Fatalf("%s: only %d parts checked", r, tl.parts)
		}
		t.Logf("%s: %d parts, %d samples contiguous", r, tl.parts, tl.samples)
	}
}

// timelineCheck follows one rendition's samples across its parts.
type timelineCheck struct {
	parts, samples int
	end            uint64 // decode time at which the previous part ended
	lastDTS        uint64
	lastDur        uint64
}

// check checks the parts (moofs) of a segment: each starts where the previous ended (within a tick of rounding) and
// each of its samples' decode-time steps is at most twice the sample before's duration.
func (c *timelineCheck) check(t *testing.T, name string, data []byte) {
	t.Helper()
	for _, moof := range moofs(t, data) {
		dts := moof.Traf.Tfdt.BaseMediaDecodeTime()
		if gap := int64(dts) - int64(c.end); c.parts > 0 && gap > 1 {
			t.Errorf("%s starts %d ticks after the previous part's end: a hole in the timeline", name, gap)
		}
		for _, smp := range moof.Traf.Trun.Samples {
			if step := dts - c.lastDTS; c.samples > 0 && step > 2*c.lastDur {
				t.Errorf("%s: decode time steps %d ticks after a sample of %d: a discontinuity to a browser", name, step, c.lastDur)
			}
			c.lastDTS, c.lastDur = dts, uint64(smp.Dur)
			dts += uint64(smp.Dur)
			c.samples++
		}
		c.end = dts
		c.parts++
	}
}
