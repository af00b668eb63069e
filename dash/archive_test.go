package dash

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

// fakeArchive holds, per rendition, stored segments numbered up to the live window's.
type fakeArchive struct {
	window time.Duration
	segs   map[string][]hls.SegmentView
	asked  []uint64 // the from of each Before
}

func (a *fakeArchive) Window(string) time.Duration { return a.window }

func (a *fakeArchive) Before(_ string, live hls.TrackView, from uint64) []hls.SegmentView {
	a.asked = append(a.asked, from)
	var out []hls.SegmentView
	for _, s := range a.segs[live.Rendition] {
		if s.MSN < live.Segments[0].MSN && s.Start+s.Ticks > from {
			out = append(out, s)
		}
	}
	return out
}

func (a *fakeArchive) ReadSegment(context.Context, string, hls.TrackView, uint64) ([]byte, error) {
	return nil, errors.New("not stored")
}

// segmentsFrom returns n segments of 2 s (timescale ts) numbered from msn, starting at
// decode time start and wall-clock time pdt.
func segmentsFrom(msn uint64, n int, ts uint32, start uint64, pdt time.Time) []hls.SegmentView {
	out := make([]hls.SegmentView, n)
	for i := range out {
		out[i] = hls.SegmentView{MSN: msn + uint64(i), Start: start + uint64(i)*2*uint64(ts), Ticks: 2 * uint64(ts),
			ProgramDateTime: pdt.Add(time.Duration(i) * 2 * time.Second)}
	}
	return out
}

// TestMPDReachesBackOverTheArchive: with an archive, each Representation's timeline starts
// at its oldest archived segment inside the DVR window (reachBack asks from the newest
// complete segment's end − window), numbers continue into the live window without a t, and
// timeShiftBufferDepth is the DVR window; a window shorter than the live one keeps the live
// window's depth.
func TestMPDReachesBackOverTheArchive(t *testing.T) {
	pdt := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	tm := hls.StreamTiming{SegmentDuration: 2 * time.Second, PartTarget: 333 * time.Millisecond, Window: 3, BlockTimeout: 6 * time.Second}
	all := segmentsFrom(100, 63, 90000, 0, pdt) // 126 s: 60 archived, 3 live
	video := hls.TrackView{Rendition: "source", Timescale: 90000, Codec: "avc1.42c01f", Width: 854, Height: 480, InitID: 1,
		Segments: all[60:], Live: &hls.SegmentView{MSN: 163, Start: 63 * 180000, Ticks: 30000}}
	arch := &fakeArchive{window: time.Minute, segs: map[string][]hls.SegmentView{"source": all[:60]}}
	in := manifestInput{views: []hls.TrackView{video}, timing: tm, now: pdt.Add(127 * time.Second), timeURL: "u",
		dvrWindow: arch.window, behind: func(v hls.TrackView) []hls.SegmentView { return reachBack(arch, "r", v, arch.window) }}
	m, err := buildMPD(in)
	if err != nil {
		t.Fatal(err)
	}
	if m.TimeShiftBufferDepth != "PT60S" {
		t.Errorf("timeShiftBufferDepth %s, want PT60S (the DVR window)", m.TimeShiftBufferDepth)
	}
	if len(arch.asked) != 1 || arch.asked[0] != (126-60)*90000 {
		t.Errorf("Before asked from %v, want %d (126 s − 60 s)", arch.asked, (126-60)*90000)
	}
	st := m.Periods[0].AdaptationSets[0].Representations[0].SegmentTemplate
	if st.StartNumber != 133 {
		t.Errorf("startNumber %d, want 133 (the first segment ending after 66 s)", st.StartNumber)
	}
	if s := st.Timeline.S; len(s) != 1 || s[0].T == nil || *s[0].T != 33*180000 || s[0].D != 180000 || s[0].R != 30 {
		t.Errorf("timeline %+v: want one run from 66 s: 27 archived + 3 live + the one being written", s)
	}
	if m.AvailabilityStartTime != "2026-12-06T03:00:00.000Z" {
		t.Errorf("availabilityStartTime %s: the archive must not move it", m.AvailabilityStartTime)
	}
	body, err := xml.Marshal(m)
	if err != nil || len(body) == 0 {
		t.Fatalf("marshal: %v", err)
	}

	arch.window = 2 * time.Second // shorter than the live window: the live window stays
	in.dvrWindow = arch.window
	m, _ = buildMPD(in)
	if m.TimeShiftBufferDepth != "PT6S" {
		t.Errorf("a 2 s DVR window: timeShiftBufferDepth %s, want the live window's PT6S", m.TimeShiftBufferDepth)
	}
}

// TestTimeURL: UTCTiming names signaling's clock on the host and scheme the player used.
func TestTimeURL(t *testing.T) {
	r := httptest.NewRequest("GET", "http://glint.example:8080/dash/r/manifest.mpd", nil)
	if got := timeURL(r); got != "http://glint.example:8080/api/time?format=iso" {
		t.Errorf("timeURL %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := timeURL(r); got != "https://glint.example:8080/api/time?format=iso" {
		t.Errorf("behind a TLS proxy: timeURL %q", got)
	}
}

// BenchmarkMPDTwoHourWindow: the MPD of a room with a 2-hour DVR window (3,600 segments of
// 2 s per track, lengths varying as keyframe-cut segments do) for a source, two rungs and
// audio, built and rendered as one request does.
func BenchmarkMPDTwoHourWindow(b *testing.B) {
	pdt := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	tm := hls.StreamTiming{SegmentDuration: 2 * time.Second, PartTarget: 333 * time.Millisecond, Window: 6, BlockTimeout: 6 * time.Second}
	arch := &fakeArchive{window: 2 * time.Hour, segs: map[string][]hls.SegmentView{}}
	var views []hls.TrackView
	for _, r := range []struct {
		name string
		ts   uint32
	}{{"source", 90000}, {"720p", 90000}, {"360p", 90000}, {hls.AudioRendition, 48000}} {
		segs := make([]hls.SegmentView, 3606)
		var start uint64
		for i := range segs { // keyframe-cut: lengths vary, so runs rarely merge
			ticks := 2*uint64(r.ts) + uint64(i%3)*uint64(r.ts)/30
			segs[i] = hls.SegmentView{MSN: uint64(i + 1), Start: start, Ticks: ticks, ProgramDateTime: pdt.Add(media.Duration(int64(start), r.ts))}
			start += ticks
		}
		arch.segs[r.name] = segs[:3600]
		views = append(views, hls.TrackView{Rendition: r.name, Audio: r.ts == 48000, Timescale: r.ts, Codec: "avc1.42c01f",
			Width: 1280, Height: 720, SampleRate: 48000, Channels: 2, InitID: 1, Segments: segs[3600:]})
	}
	in := manifestInput{views: views, timing: tm, now: pdt.Add(2 * time.Hour), timeURL: "u", dvrWindow: arch.window,
		behind: func(v hls.TrackView) []hls.SegmentView { return reachBack(arch, "r", v, arch.window) }}
	var size int
	for b.Loop() {
		m, err := buildMPD(in)
		if err != nil {
			b.Fatal(err)
		}
		body, err := xml.MarshalIndent(m, "", " ")
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/MPD")
}
