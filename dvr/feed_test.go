package dvr

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/transcoder"
)

const (
	feedFPS = 30
	feedGOP = 60 // an IDR every 2 s: one per segment
)

// clips are the test pictures per size: 4 s of testsrc2 in H.264 (Annex B), encoded once
// per test binary by transcoder's encoder.
var clips struct {
	mu  sync.Mutex
	aus map[string][]transcoder.Encoded
}

// clip returns the access units of a w x h clip.
func clip(t testing.TB, w, h int) []transcoder.Encoded {
	t.Helper()
	clips.mu.Lock()
	defer clips.mu.Unlock()
	key := fmt.Sprintf("%dx%d", w, h)
	if aus, ok := clips.aus[key]; ok {
		return aus
	}
	enc, err := transcoder.NewH264Encoder(transcoder.EncoderConfig{Width: w, Height: h, FPS: feedFPS,
		BitrateKbps: 300, GOP: feedGOP, Preset: "ultrafast", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src, err := transcoder.NewLavfiSource(fmt.Sprintf("testsrc2=size=%s:rate=%d,format=yuv420p", key, feedFPS), false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	frame := astiav.AllocFrame()
	defer frame.Free()
	var aus []transcoder.Encoded
	for len(aus) < 2*feedGOP {
		if err := src.Next(frame); err != nil {
			t.Fatal(err)
		}
		out, err := enc.Encode(frame, false)
		frame.Unref()
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, out...)
	}
	if clips.aus == nil {
		clips.aus = map[string][]transcoder.Encoded{}
	}
	clips.aus[key] = aus
	return aus
}

// feed writes looped clips into the video renditions of a real hls.Stream, in DTS order,
// each picture with a capture time of start + its DTS.
type feed struct {
	t      testing.TB
	stream *hls.Stream
	tracks []*hls.Track
	aus    [][]transcoder.Encoded
	next   int // pictures written per track
	start  time.Time
}

// newFeed opens a Stream of room with the sink and renditions "hi" (320x240) and "lo"
// (160x120).
func newFeed(t testing.TB, room string, sink hls.SegmentSink, start time.Time) *feed {
	t.Helper()
	s := hls.NewStream(room, hls.Config{Sink: sink}, nil)
	f := &feed{t: t, stream: s, start: start}
	for _, r := range []struct {
		name string
		w, h int
	}{{"hi", 320, 240}, {"lo", 160, 120}} {
		tr, err := s.AddVideo(r.name, hls.VideoTrackInfo{FPS: feedFPS})
		if err != nil {
			t.Fatal(err)
		}
		f.tracks, f.aus = append(f.tracks, tr), append(f.aus, clip(t, r.w, r.h))
	}
	return f
}

// until writes every picture before media time d.
func (f *feed) until(d time.Duration) {
	f.t.Helper()
	for {
		dts := time.Duration(f.next) * time.Second / feedFPS
		if dts >= d {
			return
		}
		for i, tr := range f.tracks {
			au := f.aus[i][f.next%len(f.aus[i])]
			smp := hls.Sample{Data: au.Data, DTS: dts, PTS: dts, Keyframe: au.Keyframe,
				Duration: time.Second / feedFPS, CaptureTime: f.start.Add(dts)}
			if err := tr.WriteSample(smp); err != nil {
				f.t.Fatalf("%s picture %d: %v", tr.Rendition(), f.next, err)
			}
		}
		f.next++
	}
}

// close closes the Stream (its sink hears StreamClosed).
func (f *feed) close() { f.stream.Close() }
