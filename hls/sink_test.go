package hls

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recordingSink keeps every event a Stream tells it.
type recordingSink struct {
	mu       sync.Mutex
	parts    map[string][]FinishedPart    // by rendition, in arrival order
	segments map[string][]FinishedSegment // by rendition, in arrival order
	closed   []string
}

func newRecordingSink() *recordingSink {
	return &recordingSink{parts: map[string][]FinishedPart{}, segments: map[string][]FinishedSegment{}}
}

func (r *recordingSink) PartFinished(p FinishedPart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parts[p.Rendition] = append(r.parts[p.Rendition], p)
}

func (r *recordingSink) SegmentFinished(s FinishedSegment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segments[s.Rendition] = append(r.segments[s.Rendition], s)
}

func (r *recordingSink) StreamClosed(room string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, room)
}

// TestSinkGetsEverySegmentAndPart: a real stream (video with a discontinuity, and audio)
// tells its sink of every segment and part once, in order, with the bytes, durations,
// program date-times and init segments the HTTP server serves for them, and each segment's
// decode time and ticks as its fragments carry them.
func TestSinkGetsEverySegmentAndPart(t *testing.T) {
	sink := newRecordingSink()
	cfg := testCfg
	cfg.Sink = sink
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	f.feedUntil(5 * time.Second)
	f.reconnect()
	f.start = f.start.Add(6 * time.Second)
	f.feedUntil(5 * time.Second)
	s.Close()
	if len(sink.closed) != 1 || sink.closed[0] != "room1" {
		t.Fatalf("StreamClosed calls: %v, want one for room1", sink.closed)
	}
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		segs := sink.segments[r]
		if len(segs) != len(pl.segments) || len(segs) < 4 {
			t.Fatalf("%s: %d segments told, playlist lists %d:\n%s", r, len(segs), len(pl.segments), pl.text)
		}
		checkSinkParts(t, sv, r, sink.parts[r], segs)
		discs := 0
		for i, seg := range segs {
			want := pl.segments[i]
			url := fmt.Sprintf("/hls/room1/%s/seg%d.m4s", r, seg.MSN)
			switch {
			case seg.MSN != want.msn || seg.Room != "room1":
				t.Fatalf("%s: segment %d is %s MSN %d, playlist has %d", r, i, seg.Room, seg.MSN, want.msn)
			case mustGet(t, sv, url) != string(seg.Data):
				t.Errorf("%s: segment %d bytes differ from %s", r, seg.MSN, url)
			case seg.Discontinuity != want.disc:
				t.Errorf("%s: segment %d discontinuity %v, playlist %v", r, seg.MSN, seg.Discontinuity, want.disc)
			case seg.ProgramDateTime.Sub(want.pdt).Abs() > time.Millisecond:
				t.Errorf("%s: segment %d PDT %v, playlist %v", r, seg.MSN, seg.ProgramDateTime, want.pdt)
			case (seg.Duration.Seconds()-want.dur) > 0.001 || (want.dur-seg.Duration.Seconds()) > 0.001:
				t.Errorf("%s: segment %d lasts %v, playlist %.3f s", r, seg.MSN, seg.Duration, want.dur)
			case !sinkTimingMatches(t, seg):
				t.Errorf("%s: segment %d timing told (timescale %d, decode time %d, %d ticks, start %v) is not its fragments'",
					r, seg.MSN, seg.Timescale, seg.DecodeTime, seg.Ticks, seg.Start)
			case r != AudioRendition && !seg.Independent:
				t.Errorf("%s: segment %d does not start with a keyframe", r, seg.MSN)
			}
			if seg.Discontinuity {
				discs++
			}
			if wantChanged := i == 0; seg.InitChanged != wantChanged {
				t.Errorf("%s: segment %d InitChanged %v, want %v", r, seg.MSN, seg.InitChanged, wantChanged)
			}
			initURL := fmt.Sprintf("/hls/room1/%s/init%d.mp4", r, seg.InitID)
			if mustGet(t, sv, initURL) != string(seg.Init) {
				t.Errorf("%s: segment %d init bytes differ from %s", r, seg.MSN, initURL)
			}
		}
		if discs != 1 {
			t.Errorf("%s: %d discontinuities told, want 1", r, discs)
		}
	}
}

// sinkTimingMatches reports whether a told segment's decode time and ticks are those of its
// fragments (the first tfdt, the sum of the sample durations) and agree with Start and
// Duration.
func sinkTimingMatches(t *testing.T, seg FinishedSegment) bool {
	var ticks uint64
	ms := moofs(t, seg.Data)
	for _, m := range ms {
		ticks += m.Traf.Trun.Duration(m.Traf.Tfhd.DefaultSampleDuration)
	}
	return seg.Timescale > 0 && seg.DecodeTime == ms[0].Traf.Tfdt.BaseMediaDecodeTime() && seg.Ticks == ticks &&
		seg.DecodeTime == toTicks(seg.Start, seg.Timescale) && ticksDur(seg.Ticks, seg.Timescale) == seg.Duration
}

// checkSinkParts checks that the parts told make up the segments told, in order, once,
// with the bytes served under their part URLs.
func checkSinkParts(t *testing.T, sv *Server, rendition string, parts []FinishedPart, segs []FinishedSegment) {
	t.Helper()
	next := 0
	for _, seg := range segs {
		var joined []byte
		for idx := range seg.Parts {
			if next >= len(parts) {
				t.Fatalf("%s: part %d.%d never told", rendition, seg.MSN, idx)
			}
			p := parts[next]
			next++
			if p.MSN != seg.MSN || p.Index != idx {
				t.Fatalf("%s: part told as %d.%d, want %d.%d", rendition, p.MSN, p.Index, seg.MSN, idx)
			}
			url := fmt.Sprintf("/hls/room1/%s/part%d.%d.m4s", rendition, p.MSN, p.Index)
			if mustGet(t, sv, url) != string(p.Data) {
				t.Errorf("%s: part %d.%d bytes differ from %s", rendition, p.MSN, p.Index, url)
			}
			if idx == 0 && p.Independent != seg.Independent {
				t.Errorf("%s: part %d.0 independent %v, segment %v", rendition, p.MSN, p.Independent, seg.Independent)
			}
			joined = append(joined, p.Data...)
		}
		if !bytes.Equal(joined, seg.Data) {
			t.Errorf("%s: parts of segment %d do not add up to it", rendition, seg.MSN)
		}
	}
	if next != len(parts) {
		t.Errorf("%s: %d parts told beyond the segments", rendition, len(parts)-next)
	}
}
